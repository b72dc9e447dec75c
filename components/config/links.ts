/**
 * What joins the clusters of a supercluster stack, derived from the clusters themselves rather than written by hand:
 * the stack knows every cluster's servers, so each cluster's gateway remotes are the other clusters' members at their
 * gateway ports, a leaf cluster's hub URLs are its hub's members at their leafnode ports, and a hub expects every
 * member of its leaf clusters. Pure (no Pulumi): the decoder validates with it (hosts from stack config), and
 * NatsSupercluster builds the specs with it once the platform's hosts are known.
 */
import { DEFAULT_GATEWAY_PORT, DEFAULT_LEAFNODE_PORT } from "../../engine/defaults";
import type { ExpectedLeaf, GatewaySpec, HubSpec, LeafNodeSpec, ServerEndpoint } from "../../engine/spec";

/** A cluster of the stack as links are derived from it. */
export interface LinkedCluster {
  /** `cluster.name`: the gateway name too. */
  readonly name: string;
  /** Its members with their hosts (a member's own `gatewayPort`/`leafnodePort` when it sets one). */
  readonly members: ReadonlyArray<ServerEndpoint>;
  /** The gateway port of a server that does not set its own. */
  readonly gatewayPort?: number;
  /** Leaf connections it accepts: the port, and the leaves to wait for (default: every member of its leaf clusters). */
  readonly leafnodes?: { readonly port?: number; readonly expected?: ReadonlyArray<ExpectedLeaf> };
  /** The cluster (by name) this one is a leaf of. */
  readonly hub?: string;
}

/** One cluster's share of the links, in the engine's words. */
export interface ClusterLinks {
  readonly gateways?: GatewaySpec;
  readonly leafnodes?: LeafNodeSpec;
  readonly hub?: HubSpec;
}

/** A member's gateway URL, `nats://host:port`. */
export function gatewayUrl(cluster: LinkedCluster, member: ServerEndpoint): string {
  return `nats://${member.host}:${member.gatewayPort ?? cluster.gatewayPort ?? DEFAULT_GATEWAY_PORT}`;
}

/** A member's leafnode URL, `nats-leaf://host:port`. */
export function leafnodeUrl(cluster: LinkedCluster, member: ServerEndpoint): string {
  return `nats-leaf://${member.host}:${member.leafnodePort ?? cluster.leafnodes?.port ?? DEFAULT_LEAFNODE_PORT}`;
}

/**
 * Every cluster's links, in the order given. The clusters without a hub are joined by gateways when there are two
 * or more of them (each lists the others, by name, with all their members' gateway URLs); a leaf cluster joins no
 * gateway (it reaches the supercluster through its hub). A cluster that is a hub, or sets `leafnodes`, accepts leaf
 * connections. A hub that names no cluster of the stack is left out here (the decoder refuses it).
 */
export function superclusterLinks(clusters: ReadonlyArray<LinkedCluster>): ClusterLinks[] {
  const joined = clusters.filter((c) => c.hub === undefined);
  const byName = new Map(clusters.map((c) => [c.name, c]));
  return clusters.map((cluster) => {
    const links: { gateways?: GatewaySpec; leafnodes?: LeafNodeSpec; hub?: HubSpec } = {};
    if (cluster.hub === undefined && joined.length > 1) {
      links.gateways = {
        ...(cluster.gatewayPort !== undefined ? { port: cluster.gatewayPort } : {}),
        remotes: joined
          .filter((other) => other !== cluster)
          .map((other) => ({ name: other.name, urls: other.members.map((m) => gatewayUrl(other, m)) })),
      };
    }
    const leaves = clusters.filter((c) => c.hub === cluster.name && c !== cluster);
    if (cluster.leafnodes !== undefined || leaves.length > 0) {
      const expected =
        cluster.leafnodes?.expected ?? leaves.flatMap((leaf) => leaf.members.map((m) => ({ name: m.name })));
      links.leafnodes = {
        ...(cluster.leafnodes?.port !== undefined ? { port: cluster.leafnodes.port } : {}),
        ...(expected.length > 0 ? { expected } : {}),
      };
    }
    const hub = cluster.hub === undefined ? undefined : byName.get(cluster.hub);
    if (hub && hub !== cluster) links.hub = { urls: hub.members.map((m) => leafnodeUrl(hub, m)) };
    return links;
  });
}
