/**
 * The other clusters of a supercluster, as one cluster's rollout sees them: one JetStream meta group spans every
 * cluster joined by gateways, so this cluster's gates, observation and batch planner must know the others' servers
 * (their names are expected meta peers, the meta leader may be one of them, the group's quorum counts them). Filled
 * by the supercluster runner (engine/supercluster/); a lone cluster has none.
 */
import { HostDriver } from "../hosts/driver";
import { ClusterSpec } from "../spec";

/** Another cluster of the supercluster: its spec (its servers, how to reach their monitors) and its hosts. */
export interface OtherCluster {
  readonly spec: ClusterSpec;
  readonly driver: HostDriver;
}

/** What a cluster rolled as part of a supercluster is told of the rest of it. */
export interface SuperclusterPeers {
  /** Every other cluster of the supercluster (leaf clusters included: they are simply not JetStream peers). */
  readonly others: ReadonlyArray<OtherCluster>;
}

/**
 * Which of the other clusters' JetStream servers this cluster's gates expect in the meta group: `expected`, every
 * member that answers or that the meta group already lists (it must be current, like a member of this cluster);
 * `optional`, every other one (a member not started yet, a JetStream surge server): allowed in the group, not
 * required. A peer neither here nor in this cluster is unexpected, a ghost, as before.
 */
export interface OtherMetaPeers {
  readonly expected: ReadonlyArray<string>;
  readonly optional: ReadonlyArray<string>;
}

export const NO_OTHER_PEERS: OtherMetaPeers = { expected: [], optional: [] };

export function otherMetaPeers(
  others: ReadonlyArray<{
    readonly members: ReadonlyArray<{ readonly name: string; readonly reachable: boolean }>;
    readonly surge?: { readonly name: string };
  }>,
  /** The meta group's peers as this cluster's servers list them (membership-plan.ts metaPeersSeen). */
  listed: ReadonlySet<string>,
): OtherMetaPeers {
  const expected: string[] = [];
  const optional: string[] = [];
  for (const other of others) {
    for (const m of other.members) (m.reachable || listed.has(m.name) ? expected : optional).push(m.name);
    if (other.surge) optional.push(other.surge.name);
  }
  return { expected, optional };
}
