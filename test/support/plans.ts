import { StepKind } from "../../engine/rollout/events";
import { PLAN_SCHEMA, PlanDocument } from "../../engine/rollout/plan-json";

/**
 * The plan of route TLS turned on (or off) for a running cluster of `members`: every member loads it by reload
 * first, then the surge server joins and each member restarts (engine/rollout/plan.ts, routeTlsLoads).
 */
export function routeTlsChangeSteps(members: number): StepKind[] {
  return [
    "preflight",
    ...Array<StepKind>(members).fill("load-route-tls"),
    "surge-up",
    ...Array<StepKind>(members).fill("restart-member"),
    "surge-down",
    "final-check",
  ];
}

/** The plan of a version change of a running cluster of `members`: the surge server joins, each member restarts. */
export function rollingUpgradeSteps(members: number): StepKind[] {
  return ["preflight", "surge-up", ...Array<StepKind>(members).fill("restart-member"), "surge-down", "final-check"];
}

/**
 * A plan document (`nats-cluster/plan@1`) of a rolling upgrade of `members` from `from` to `to`, observed, not
 * refused: the steps of {@link rollingUpgradeSteps} numbered from 1, every member restarted once, `from` → `to`.
 */
export function expectRollingUpgradeDocument(
  doc: PlanDocument,
  members: ReadonlyArray<string>,
  from: string,
  to: string,
): void {
  expect(doc).toMatchObject({ schema: PLAN_SCHEMA, kind: "rollout", targetVersion: to, surgeVersion: from });
  expect(doc).toMatchObject({ observed: true, refusals: [] });
  expect(doc.steps.map((s) => s.kind)).toEqual(rollingUpgradeSteps(members.length));
  expect(doc.steps.map((s) => s.index)).toEqual(doc.steps.map((_, i) => i + 1));
  const restarts = doc.steps.filter((s) => s.kind === "restart-member");
  expect(restarts.map((s) => s.server).sort()).toEqual([...members].sort());
  for (const s of restarts) expect(s).toMatchObject({ from, to });
  expect(doc.estimatedSeconds).toBeGreaterThan(0);
}
