/**
 * A problem at a path: where (the offending field, setting or config key, with the path inside its value, e.g.
 * `members[1].clientPort`) and what is wrong, with the fix. The spec's and the policy's validation, every platform's
 * settings check and the stack config's decoder report problems in this one shape; the Pulumi providers turn them
 * into Pulumi's check failures in one place (components/check-failures.ts).
 */
export interface Problem {
  /** Where, e.g. `members[1].clientPort`; empty for the whole value. */
  readonly field: string;
  /** What is wrong and how to fix it. */
  readonly message: string;
}

/** How a check records a problem as it goes, so it reports every problem at once. */
export type AddProblem = (field: string, message: string) => void;
