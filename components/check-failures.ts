/**
 * Pulumi's shape of a check failure, and the one place the providers' problems (engine/problem.ts: a field and a
 * message) become it. Only a plain function, so Pulumi's closure serializer captures it with the providers.
 */
import type { Problem } from "../engine/problem";

/** A check failure, as Pulumi's dynamic provider protocol takes it: the input property and why. */
export interface CheckFailure {
  /** The input property path, e.g. `spec.members[1].clientPort`. */
  readonly property: string;
  /** What is wrong and how to fix it. */
  readonly reason: string;
}

/** Problems at input paths as the failures a dynamic provider's `check` returns. */
export function checkFailures(problems: ReadonlyArray<Problem>): CheckFailure[] {
  return problems.map((p) => ({ property: p.field, reason: p.message }));
}
