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
