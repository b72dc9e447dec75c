/**
 * A supercluster's plan as data: the order the clusters are rolled in, why each comes where it does, and each
 * cluster's own plan as its `nats-cluster/plan@1` document (engine/rollout/plan-json.ts). What `pulumi preview
 * --json` shows in the SuperclusterRollout's new state (`plannedRollout`), for a dashboard or a CI gate, as the
 * RollingUpgrade shows one cluster's. Versioned by `schema` under the same rule: fields are only ever added.
 *
 * Deterministic, as a cluster's document: the same plan gives the same document, so a preview with nothing to do
 * shows no change.
 */
import { PlanDocument, planDocument } from "../rollout/plan-json";
import { SuperclusterPlan } from "./types";

export const SUPERCLUSTER_PLAN_SCHEMA = "nats-cluster/supercluster-plan@1";

export interface SuperclusterPlanDocument {
  readonly schema: typeof SUPERCLUSTER_PLAN_SCHEMA;
  /** The JetStream meta leader the servers agree on, and its cluster (rolled last); absent when unknown. */
  readonly metaLeader?: { readonly server: string; readonly cluster: string };
  /** Why the run must not start, each naming its cluster: nothing is touched when there is any. */
  readonly refusals: ReadonlyArray<string>;
  /** Every cluster in the order it is rolled (decided again from the servers before each cluster). */
  readonly clusters: ReadonlyArray<{
    /** Its place in the order, from 1. */
    readonly index: number;
    readonly cluster: string;
    /** Why it comes here (a leaf before its hub, the meta leader's cluster last, …). */
    readonly why: string;
    readonly plan: PlanDocument;
  }>;
  /** Rough duration of the whole run, in seconds: the clusters' estimates added up (they roll one at a time). */
  readonly estimatedSeconds: number;
}

/** The supercluster's plan as its JSON document. */
export function superclusterPlanDocument(plan: SuperclusterPlan): SuperclusterPlanDocument {
  return {
    schema: SUPERCLUSTER_PLAN_SCHEMA,
    ...(plan.metaLeader !== undefined ? { metaLeader: { ...plan.metaLeader } } : {}),
    refusals: [...plan.refusals],
    clusters: plan.order.map((o, i) => ({
      index: i + 1,
      cluster: o.cluster,
      why: o.why,
      plan: planDocument(o.plan, o.cluster),
    })),
    estimatedSeconds: plan.order.reduce((sum, o) => sum + o.plan.estimatedSeconds, 0),
  };
}
