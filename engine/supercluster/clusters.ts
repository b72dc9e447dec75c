/** Each cluster's RolloutOptions within the supercluster run: its own, the run-wide ones, and the others' specs. */
import { RolloutOptions } from "../rollout/execute";
import { SuperclusterOptions } from "./types";

/** The options one cluster is rolled (or previewed) with; `onEvent` is the run's sink for that cluster. */
export function clusterOptions(
  run: SuperclusterOptions,
  index: number,
  onEvent: RolloutOptions["onEvent"] = run.onEvent,
): RolloutOptions {
  const cluster = run.clusters[index];
  // A supercluster of one is a lone cluster, rolled exactly as reconcile rolls it: no other cluster to know.
  const others = run.clusters.filter((_, i) => i !== index).map((c) => ({ spec: c.spec, driver: c.driver }));
  return {
    ...cluster,
    onEvent,
    stopRequested: run.stopRequested,
    seams: run.seams,
    ...(run.clusters.length > 1 ? { supercluster: { others } } : {}),
  };
}
