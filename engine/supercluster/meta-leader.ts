/**
 * Where the supercluster's one JetStream meta leader is: the server most JetStream servers of every cluster name
 * (`/varz` jetstream.meta.leader, as each cluster's observation read it), and the cluster it belongs to.
 */
import { ClusterSpec } from "../spec";
import { ObservedCluster } from "../rollout/observe";
import { MetaLeaderSeen } from "./order";

export function superclusterMetaLeader(
  seen: ReadonlyArray<{ readonly spec: ClusterSpec; readonly observed: ObservedCluster }>,
): MetaLeaderSeen | undefined {
  const votes = new Map<string, number>();
  for (const { spec, observed } of seen) {
    if (!spec.jetstream.enabled || observed.assumed !== undefined) continue;
    for (const m of observed.members)
      if (m.reachable && m.metaLeader) votes.set(m.metaLeader, (votes.get(m.metaLeader) ?? 0) + 1);
  }
  const server = [...votes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  if (server === undefined) return undefined;
  const holder = seen.find(({ spec }) => [...spec.members, spec.surge].some((s) => s.name === server));
  // A leader no spec names (a ghost peer, a server of another stack): known, in no cluster of this run.
  return { server, cluster: holder?.spec.name ?? "(no cluster of this supercluster)" };
}
