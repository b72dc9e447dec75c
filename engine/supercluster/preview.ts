/**
 * What `pulumi preview` shows of a supercluster: every cluster observed (each within the preview deadline, falling
 * back to its last recorded versions like previewReconcile) and planned, in rollout order. Touches nothing.
 */
import { describeError } from "../util/async";
import { previewReconcile, ReconcilePreview } from "../rollout/reconcile";
import { clusterOptions } from "./clusters";
import { superclusterMetaLeader } from "./meta-leader";
import { rolloutOrder, startTogether, togetherWhy } from "./order";
import { assertValidSupercluster } from "./validate";
import {
  specsOf,
  SuperclusterOptions,
  SuperclusterPlan,
  SuperclusterPreview,
  SuperclusterPreviewFallback,
} from "./types";

/** The supercluster's plan from each cluster's preview (observed or assumed). */
export function superclusterPlanOf(
  options: Pick<SuperclusterOptions, "clusters">,
  previews: ReadonlyArray<ReconcilePreview>,
): SuperclusterPlan {
  const specs = specsOf(options.clusters);
  const metaLeader = superclusterMetaLeader(specs.map((spec, i) => ({ spec, observed: previews[i].observed })));
  const together = startTogether(
    specs,
    previews.map((p) => p.plan),
  );
  const order = rolloutOrder(specs, metaLeader).map((o) => {
    const plan = previews[specs.findIndex((s) => s.name === o.cluster)].plan;
    return { ...o, why: o.why + togetherWhy(together, o.cluster), plan };
  });
  const refusals = order.flatMap((o) => o.plan.refusals.map((r) => `cluster ${o.cluster}: ${r}`));
  return { order, refusals, ...(metaLeader ? { metaLeader } : {}) };
}

/** Observe (per cluster, within a deadline) and plan every cluster, touching nothing. */
export async function previewSupercluster(
  options: SuperclusterOptions,
  fallback: SuperclusterPreviewFallback = {},
): Promise<SuperclusterPreview> {
  const specs = specsOf(options.clusters);
  assertValidSupercluster(specs);
  const previews: ReconcilePreview[] = [];
  // One cluster after the other: a preview must not open every cluster's connections at once.
  for (let i = 0; i < specs.length; i++) {
    try {
      previews.push(await previewReconcile(clusterOptions(options, i), fallback[specs[i].name]));
    } catch (err) {
      throw new Error(`previewing cluster ${specs[i].name}: ${describeError(err)}`, { cause: err });
    }
  }
  return {
    plan: superclusterPlanOf(options, previews),
    observed: previews.map((p, i) => ({ cluster: specs[i].name, observed: p.observed })),
  };
}
