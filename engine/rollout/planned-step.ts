/**
 * The steps a plan is made of, as a discriminated union on `kind`: a step carries exactly the fields its kind
 * uses (a member step always names its member), so the executor needs no assertions to read them.
 */
import { StepKind } from "./events";

/** What the planner plans: every step kind but a rollback, which is only ever done after a failure. */
export type PlannedStepKind = Exclude<StepKind, "rollback-member">;

/**
 * The fields every step has. Those a kind does not use are declared `undefined` so that code looking at any step
 * (`step.server ?? ""`) reads them without narrowing, while code that narrowed on `kind` gets them typed exactly.
 */
interface StepBase {
  /** Why this step is in the plan, in words an operator reads in `pulumi preview`. */
  readonly reason: string;
  readonly server?: undefined;
  readonly from?: undefined;
  readonly to?: undefined;
  readonly batch?: undefined;
}

/** First deployment: every member starts at `to` together. */
export interface StartClusterStep extends Omit<StepBase, "to"> {
  readonly kind: "start-cluster";
  readonly to: string;
}

/** A look at every member: pre-flight before anything is touched, the final check after. */
export interface CheckStep extends StepBase {
  readonly kind: "preflight" | "final-check";
}

/** The surge server joins (at `to`, the version the cluster ran) or leaves. */
export interface SurgeStep extends Omit<StepBase, "server" | "to"> {
  readonly kind: "surge-up" | "surge-down";
  readonly server: string;
  readonly to?: string;
}

type MemberStepKind = "recover-member" | "add-member" | "restart-member" | "reload-member" | "load-route-tls";
type ChangeKind = "restart-member" | "reload-member";

/** One member changed. */
interface MemberStepOf<K extends MemberStepKind> extends Omit<StepBase, "server" | "from" | "to" | "batch"> {
  readonly kind: K;
  readonly server: string;
  readonly from?: string;
  readonly to?: string;
  /**
   * Member steps of a batched rollout (rollout.maxUnavailable > 1): the batch, from 1. The members of one batch are
   * down together; the next batch starts when every one of them passed its gates. Absent at maxUnavailable 1, and
   * on the steps a batch is never made of (recoveries, route TLS loads).
   */
  readonly batch?: K extends ChangeKind ? number : undefined;
}

/** One variant per kind, so that a `switch` on `kind` narrows a step to exactly its own. */
export type MemberStep = { [K in MemberStepKind]: MemberStepOf<K> }[MemberStepKind];

/** A restart or a reload of a member: what a batch is made of. */
export type ChangeStep = MemberStepOf<ChangeKind>;

/** A member step of a batched rollout, with its batch. */
export type BatchedStep = ChangeStep & { readonly batch: number };

/**
 * A server that left the spec leaves the cluster (engine/rollout/removal.ts): lame duck, stop, peer-removed from
 * the JetStream meta group, its streams' replicas whole again on the remaining members, then its host removed.
 * `server` is not a member of the spec: it is one of the leaving servers the caller named.
 */
export interface RemoveMemberStep extends Omit<StepBase, "server" | "from" | "to"> {
  readonly kind: "remove-member";
  readonly server: string;
  /** The version it runs (or had installed), for the report. */
  readonly from?: string;
  readonly to: "removed";
}

export type PlannedStep = StartClusterStep | CheckStep | SurgeStep | MemberStep | RemoveMemberStep;

export function isBatched(step: PlannedStep): step is BatchedStep {
  return step.batch !== undefined;
}

/** What a running member needs to reach the spec (see memberChange in plan.ts). */
export interface MemberChange {
  readonly kind: "restart-member" | "reload-member";
  readonly reason: string;
}

/** The config each server should have: rendered text (compared by restart digest and then by text). */
export type DesiredConfigs = ReadonlyMap<string, string>;
