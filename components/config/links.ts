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
  /** The user (of the stack's client auth) a leaf cluster's servers connect to their hub as; never its password. */
  readonly hubUser?: string;
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
    // TLS to the hub is the engine's default (on when clients must use TLS: the stack's TLS is every cluster's, so
    // the hub's leafnode port is TLS exactly then); the user's password is rendered from auth, never put here.
    if (hub && hub !== cluster)
      links.hub = {
        urls: hub.members.map((m) => leafnodeUrl(hub, m)),
        ...(cluster.hubUser !== undefined ? { user: cluster.hubUser } : {}),
      };
    return links;
  });
}

/** A cluster as its firewall links are derived: only names and ports matter (hosts may not be known yet). */
export interface PortedCluster {
  readonly name: string;
  readonly members: ReadonlyArray<Pick<ServerEndpoint, "gatewayPort" | "leafnodePort">>;
  /** The surge server: it joins the gateways too (clients moved onto it still reach the other clusters). */
  readonly surge?: Pick<ServerEndpoint, "gatewayPort">;
  readonly gatewayPort?: number;
  readonly leafnodes?: { readonly port?: number };
  readonly hub?: string;
}

/** The ports one cluster's hosts must accept from another's, where a platform has a firewall between them. */
export interface ClusterLinkPorts {
  /** The cluster whose hosts connect. */
  readonly from: string;
  /** The cluster whose hosts listen. */
  readonly to: string;
  readonly kind: "gateway" | "leafnode";
  /** Distinct ports, ascending. */
  readonly ports: ReadonlyArray<number>;
}

/**
 * Every link a firewall must let through, from the same rules as {@link superclusterLinks}: gateways both ways
 * between every two joined clusters (a server connects out to every server of the other cluster that gossip names,
 * the surge server included, and is connected to the same way), and a leaf cluster's servers to its hub's members'
 * leafnode ports (one way: the leaf connects out).
 */
export function clusterLinkPorts(clusters: ReadonlyArray<PortedCluster>): ClusterLinkPorts[] {
  const distinct = (ports: number[]) => [...new Set(ports)].sort((a, b) => a - b);
  const gatewayPorts = (c: PortedCluster) =>
    distinct(
      [...c.members, ...(c.surge ? [c.surge] : [])].map((s) => s.gatewayPort ?? c.gatewayPort ?? DEFAULT_GATEWAY_PORT),
    );
  const joined = clusters.filter((c) => c.hub === undefined);
  const links: ClusterLinkPorts[] = [];
  if (joined.length > 1) {
    for (const to of joined) {
      for (const from of joined.filter((c) => c !== to)) {
        links.push({ from: from.name, to: to.name, kind: "gateway", ports: gatewayPorts(to) });
      }
    }
  }
  for (const leaf of clusters.filter((c) => c.hub !== undefined)) {
    const hub = clusters.find((c) => c.name === leaf.hub && c !== leaf);
    if (!hub) continue;
    const ports = distinct(hub.members.map((m) => m.leafnodePort ?? hub.leafnodes?.port ?? DEFAULT_LEAFNODE_PORT));
    links.push({ from: leaf.name, to: hub.name, kind: "leafnode", ports });
  }
  return links;
}
