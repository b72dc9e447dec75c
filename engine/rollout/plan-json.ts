/**
 * The plan as data: the one JSON shape of a RolloutPlan, for a dashboard or a CI gate (`nats-rollout plan --json`,
 * the RollingUpgrade's `plannedRollout` output that `pulumi preview --json` shows). Versioned by `schema`: a field
 * is only ever added under the same version; renaming or removing one makes a new version.
 *
 * Deterministic: the same plan always gives the same document (no timestamp, no machine-specific value), so the
 * Pulumi output holding it stays the same from one preview to the next while nothing changes.
 */
import { RolloutPlan } from "./plan";
import { PlannedStepKind } from "./planned-step";

export const PLAN_SCHEMA = "nats-cluster/plan@1";

/** One step of the plan, in plan order. Fields a step's kind does not use are absent. */
export interface PlanDocumentStep {
  /** Its number in the plan, from 1 (as the text plan numbers it). */
  readonly index: number;
  readonly kind: PlannedStepKind;
  /** The server it changes (absent on pre-flight, the final check and a cluster's start). */
  readonly server?: string;
  /** The version the server runs now, when known. */
  readonly from?: string;
  /** The version it will run (`removed` for a server that leaves). */
  readonly to?: string;
  /** Why the step is in the plan, in words. */
  readonly reason: string;
  /** Its batch, from 1, in a batched rollout (rollout.maxUnavailable > 1). */
  readonly batch?: number;
}

export interface PlanDocument {
  readonly schema: typeof PLAN_SCHEMA;
  /** The cluster's `cluster.name`. */
  readonly cluster: string;
  /** `bootstrap`: no member runs, all start together; `rollout`: a rolling change of a running cluster. */
  readonly kind: RolloutPlan["kind"];
  readonly targetVersion: string;
  /** The version the surge server runs, when the plan brings one up. */
  readonly surgeVersion?: string;
  /** Whether the servers were observed. False: the plan is from the stack's inputs, and `assumed` says why. */
  readonly observed: boolean;
  readonly assumed?: string;
  /** Reasons the rollout must not start: nothing is touched when there is any. */
  readonly refusals: ReadonlyArray<string>;
  /** Empty when every member already runs the target with the desired config. */
  readonly steps: ReadonlyArray<PlanDocumentStep>;
  /** Rough duration in seconds. */
  readonly estimatedSeconds: number;
}

/** The plan of a cluster as its JSON document. */
export function planDocument(plan: RolloutPlan, cluster: string): PlanDocument {
  return {
    schema: PLAN_SCHEMA,
    cluster,
    kind: plan.kind,
    targetVersion: plan.targetVersion,
    ...(plan.surgeVersion !== undefined ? { surgeVersion: plan.surgeVersion } : {}),
    observed: plan.assumed === undefined,
    ...(plan.assumed !== undefined ? { assumed: plan.assumed } : {}),
    refusals: [...plan.refusals],
    steps: plan.steps.map((s, i) => ({
      index: i + 1,
      kind: s.kind,
      ...(s.server !== undefined ? { server: s.server } : {}),
      ...(s.from !== undefined ? { from: s.from } : {}),
      ...(s.to !== undefined ? { to: s.to } : {}),
      reason: s.reason,
      ...(s.batch !== undefined ? { batch: s.batch } : {}),
    })),
    estimatedSeconds: plan.estimatedSeconds,
  };
}
