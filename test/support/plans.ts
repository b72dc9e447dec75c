import { StepKind } from "../../engine/rollout/events";

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
