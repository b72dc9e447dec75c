/**
 * The order clusters are rolled in, decided from the specs and the meta leader the servers report, again before
 * each cluster (a re-run, or an election during the run, may move the leader):
 *
 * 1. leaf clusters, before their hub (engine/defaults.ts LEAF_ROLLOUT_ORDER, "leaves-before-hub": a hub's
 *    `min_version` may refuse a leaf older than it names, nothing refuses a leaf newer than its hub);
 * 2. the clusters joined by gateways that do not hold the JetStream meta leader, in config order;
 * 3. the cluster holding the meta leader, last: its own plan restarts the leader last of all (steps down first), so
 *    the whole supercluster elects a new meta leader once.
 */
import { ClusterSpec } from "../spec";
import { hubOf } from "./validate";

export interface OrderedCluster {
  readonly cluster: string;
  readonly why: string;
}

/** Where the meta leader is, as the servers report it. */
export interface MetaLeaderSeen {
  readonly server: string;
  readonly cluster: string;
}

/**
 * `specs` (the clusters still to roll, in config order) in rollout order, with why each comes where it does;
 * `all` is every cluster of the supercluster (a leaf's hub may already be done).
 */
export function rolloutOrder(
  specs: ReadonlyArray<ClusterSpec>,
  metaLeader: MetaLeaderSeen | undefined,
  all: ReadonlyArray<ClusterSpec> = specs,
): OrderedCluster[] {
  const leaves = specs.filter((s) => s.hub !== undefined);
  const joined = specs.filter((s) => s.hub === undefined);
  const holder = metaLeader && joined.find((s) => s.name === metaLeader.cluster);
  const leafWhy = (s: ClusterSpec) => {
    const hub = hubOf(s, all);
    return (
      `leaf cluster${hub ? ` of ${hub}` : ""}: leaves are rolled before their hub (a hub's leafnodes.min_version ` +
      "may refuse a leaf older than it names; nothing refuses a leaf newer than its hub)"
    );
  };
  const jetstream = joined.some((s) => s.jetstream.enabled);
  const order: OrderedCluster[] = [
    ...leaves.map((s) => ({ cluster: s.name, why: leafWhy(s) })),
    ...joined
      .filter((s) => s !== holder)
      .map((s) => ({
        cluster: s.name,
        why: !jetstream
          ? "joined by gateways, in config order"
          : metaLeader
            ? `does not hold the JetStream meta leader (${metaLeader.server} in ${metaLeader.cluster}): config order`
            : "no JetStream meta leader reported: config order",
      })),
  ];
  if (holder)
    order.push({
      cluster: holder.name,
      why:
        `holds the JetStream meta leader ${metaLeader!.server}: last, its leader last of all, so the supercluster ` +
        "elects a new meta leader once",
    });
  return order;
}

/**
 * The clusters of a first start that start together: the JetStream clusters joined by gateways whose plan is a
 * bootstrap (no member runs). Seen with 2.14.9: one such cluster started alone never reports a meta leader ("JetStream
 * has not established contact with a meta leader") until the other clusters of its gateways run, so starting them one
 * after the other would halt the first.
 */
export function startTogether(
  specs: ReadonlyArray<ClusterSpec>,
  plans: ReadonlyArray<{ readonly kind: "bootstrap" | "rollout" }>,
): string[] {
  const names = specs
    .filter((s, i) => s.hub === undefined && s.jetstream.enabled && plans[i].kind === "bootstrap")
    .map((s) => s.name);
  return names.length > 1 ? names : [];
}

/** The words a cluster that starts together with others gets after its place in the order. */
export const togetherWhy = (together: ReadonlyArray<string>, cluster: string): string =>
  together.includes(cluster)
    ? `; first start together with ${together.filter((c) => c !== cluster).join(", ")} (JetStream across gateways ` +
      "elects its one meta leader only once the clusters run)"
    : "";
