/**
 * `nats-cluster:clusters`: the clusters of a supercluster stack, each `{ name, members, surge, routeMode?, seeds?,
 * version?, jetstream?, gatewayPort?, leafnodes?: { port?, expected? }, hub? }`, with everything else (platform,
 * version, TLS, auth, lame duck, rollout, …) shared at the top level. The gateways and hub URLs are derived (links.ts),
 * never written. What only the whole stack can tell is checked here: names, hubs, and servers of different clusters
 * on the same host and port; each cluster's own rules are the engine's (decode.ts runs them on every cluster's spec).
 */
import { clientTlsMode, DEFAULT_GATEWAY_PORT, DEFAULT_LEAFNODE_PORT, ExpectedLeaf } from "../../engine";
import { versionProblem } from "../../engine/versions";
import { ClusterPlatform, ServerPlacement } from "../platforms/platform";
import { endpointOf } from "./spec-of";
import { ClusterLinks, LinkedCluster, superclusterLinks } from "./links";
import { decodeJetStream, decodeMembers, decodeRoutes, decodeSurge, LINK_PORT_FIELDS } from "./servers";
import { ClusterConfig, SharedStackConfig } from "./types";
import { Problems, readInt, readList, readObject, readString, refuseUnknownFields } from "./values";

type Raw = Readonly<Record<string, unknown>>;

/** The fields of one entry of `nats-cluster:clusters`. */
export const CLUSTER_FIELDS = [
  "name",
  "members",
  "memberCount",
  "surge",
  "routeMode",
  "seeds",
  "version",
  "jetstream",
  "gatewayPort",
  "leafnodes",
  "hub",
] as const;

/** The top-level keys that describe one cluster: with `clusters`, each cluster says them itself. */
const SINGLE_CLUSTER_KEYS = ["clusterName", "members", "memberCount", "surge", "routeMode", "seeds"] as const;

const CLUSTERS_HINT = 'list the clusters, e.g. [{ name: "east", members: [...], surge: {...} }, { name: "west", ... }]';

/** Decode `nats-cluster:clusters` (present in `raw`), with the shared settings already decoded. */
export function decodeClusters(
  p: Problems,
  raw: Raw,
  platform: ClusterPlatform,
  shared: SharedStackConfig,
): ClusterConfig[] {
  for (const key of SINGLE_CLUSTER_KEYS) {
    if (raw[key] === undefined) continue;
    const what = key === "clusterName" ? "each cluster's name is clusters[i].name" : `move it into each cluster`;
    p.add(key, `describes one cluster, and nats-cluster:clusters is set: ${what}, and remove ${key}`);
  }
  const list = readList(p, "clusters", raw.clusters, CLUSTERS_HINT);
  if (!list) return [];
  if (list.length === 0) {
    p.add("clusters", `no cluster; ${CLUSTERS_HINT}, or remove clusters for a stack of one cluster`);
    return [];
  }
  const clusters = list
    .map((entry, i) => decodeCluster(p, i, entry, platform, shared))
    .filter((c): c is ClusterConfig & { index: number } => c !== undefined);
  hubProblems(p, clusters, shared);
  nameProblems(p, clusters);
  portProblems(p, clusters);
  return clusters.map(({ index: _index, ...cluster }) => cluster);
}

function decodeCluster(
  p: Problems,
  index: number,
  entry: unknown,
  platform: ClusterPlatform,
  shared: SharedStackConfig,
): (ClusterConfig & { index: number }) | undefined {
  const at = `clusters[${index}].`;
  const obj = readObject(p, `clusters[${index}]`, entry, `write { name, members, surge, hub?, version?, … }`);
  if (!obj) return undefined;
  refuseUnknownFields(p, `clusters[${index}]`, obj, CLUSTER_FIELDS);
  const name = readString(p, `${at}name`, obj.name, "give the cluster a name such as east") ?? "";
  if (obj.name === undefined) p.add(`${at}name`, "missing; give the cluster a name such as east (its cluster.name)");
  const version = readString(p, `${at}version`, obj.version, "write a nats-server version such as 2.15.2");
  const versionBad = version === undefined ? undefined : versionProblem(version);
  if (versionBad) p.add(`${at}version`, versionBad);
  const hub = readString(p, `${at}hub`, obj.hub, "write the name of another cluster of the stack");
  const members = decodeMembers(p, obj, platform, name || `cluster-${index + 1}`, at, LINK_PORT_FIELDS);
  const surge = decodeSurge(p, obj, platform, name || `cluster-${index + 1}`, at, ["gatewayPort"]);
  const gatewayPort = readInt(p, `${at}gatewayPort`, obj.gatewayPort, "write a port number such as 7222");
  // A leaf cluster cannot run JetStream yet (its meta group and the hub's would become one): off unless it says so.
  const jetstream =
    obj.jetstream !== undefined
      ? decodeJetStream(p, `${at}jetstream`, obj.jetstream)
      : hub !== undefined
        ? { enabled: false }
        : shared.jetstream;
  const leafnodes = decodeLeafnodes(p, `${at}leafnodes`, obj.leafnodes);
  return {
    index,
    name,
    version: version ?? shared.version,
    members,
    surge,
    routes: decodeRoutes(p, obj, members, at),
    jetstream,
    ...(gatewayPort !== undefined ? { gatewayPort } : {}),
    ...(leafnodes ? { leafnodes } : {}),
    ...(hub !== undefined ? { hub } : {}),
  };
}

/** `leafnodes: { port?, expected?: ["leaf-1", { name, account? }] }`. */
function decodeLeafnodes(p: Problems, key: string, value: unknown): ClusterConfig["leafnodes"] {
  const obj = readObject(p, key, value, 'write { port?, expected?: ["leaf-1", { name: "leaf-2", account: "APP" }] }');
  if (!obj) return undefined;
  refuseUnknownFields(p, key, obj, ["port", "expected"]);
  const port = readInt(p, `${key}.port`, obj.port, "write a port number such as 7422");
  const list = readList(p, `${key}.expected`, obj.expected, 'list leaf server names, e.g. ["leaf-1"]');
  const expected = list?.map((x, i): ExpectedLeaf | undefined => {
    if (typeof x === "string" && x.length > 0) return { name: x };
    const leaf = readObject(p, `${key}.expected[${i}]`, x, "write a server name, or { name, account? }");
    if (!leaf) return undefined;
    refuseUnknownFields(p, `${key}.expected[${i}]`, leaf, ["name", "account"]);
    const name = readString(p, `${key}.expected[${i}].name`, leaf.name, "write the leaf server's server_name");
    const account = readString(p, `${key}.expected[${i}].account`, leaf.account, "write an account name");
    return name === undefined ? undefined : { name, ...(account !== undefined ? { account } : {}) };
  });
  return {
    ...(port !== undefined ? { port } : {}),
    ...(expected ? { expected: expected.filter((x): x is ExpectedLeaf => x !== undefined) } : {}),
  };
}

/** Cluster names once each; server names once in the whole stack (server_name is a JetStream peer's identity). */
function nameProblems(p: Problems, clusters: ReadonlyArray<ClusterConfig & { index: number }>): void {
  const clusterAt = new Map<string, number>();
  const serverAt = new Map<string, string>();
  for (const cluster of clusters) {
    const first = clusterAt.get(cluster.name);
    if (cluster.name && first !== undefined) {
      p.add(
        `clusters[${cluster.index}].name`,
        `cluster "${cluster.name}" is already clusters[${first}]; name each once`,
      );
    } else clusterAt.set(cluster.name, cluster.index);
    for (const { server, key } of serversOf(cluster)) {
      const seen = serverAt.get(server.name);
      // Inside one cluster the engine reports it (members[1].name: … is already members[0].name).
      if (seen !== undefined && !seen.startsWith(`clusters[${cluster.index}].`)) {
        p.add(
          `${key}.name`,
          `server name "${server.name}" is already ${seen}.name; every server of the stack needs a name of its own`,
        );
      } else if (seen === undefined) serverAt.set(server.name, key);
    }
  }
}

/** A cluster's hub is another cluster of the stack, not itself a leaf, and able to take its leaves as they are. */
function hubProblems(
  p: Problems,
  clusters: ReadonlyArray<ClusterConfig & { index: number }>,
  shared: SharedStackConfig,
): void {
  const names = clusters.map((c) => c.name);
  for (const cluster of clusters) {
    if (cluster.hub === undefined) continue;
    const key = `clusters[${cluster.index}].hub`;
    const hub = clusters.find((c) => c.name === cluster.hub);
    if (cluster.hub === cluster.name) {
      p.add(key, `"${cluster.hub}" is this cluster; name another cluster of the stack (${others(names, cluster)})`);
    } else if (!hub) {
      p.add(key, `no cluster "${cluster.hub}"; clusters are ${names.join(", ")}`);
    } else if (hub.hub !== undefined) {
      p.add(key, `"${hub.name}" is itself a leaf of "${hub.hub}"; name a cluster without hub (${roots(clusters)})`);
    } else if (clientTlsMode(shared) === "required") {
      // The hub's leafnode port takes the clients' TLS, and a leaf cannot be given the hub's CA yet.
      p.add(
        key,
        `"${hub.name}" requires TLS of its leaves (nats-cluster:tls: clients "required" puts TLS on the leafnode ` +
          'port) and a leaf cluster cannot use TLS to its hub yet; set nats-cluster:tls.clients to "off" (routes ' +
          "and gateways keep their TLS), or remove hub",
      );
    } else if (shared.auth && (shared.auth.token || shared.auth.users?.length || shared.auth.nkeys?.length)) {
      p.add(
        key,
        `"${hub.name}" accepts leaves as it accepts clients (the users of nats-cluster:auth), and a leaf cluster ` +
          "cannot present credentials yet; remove hub, or nats-cluster:auth",
      );
    }
  }
}

const others = (names: ReadonlyArray<string>, self: ClusterConfig) => names.filter((n) => n !== self.name).join(", ");
const roots = (clusters: ReadonlyArray<ClusterConfig>) =>
  clusters
    .filter((c) => c.hub === undefined)
    .map((c) => c.name)
    .join(", ");

/** Every server of a cluster with its config key, members first. */
function serversOf(cluster: ClusterConfig & { index: number }): Array<{ server: ServerPlacement; key: string }> {
  const at = `clusters[${cluster.index}]`;
  return [
    ...cluster.members.map((server, i) => ({ server, key: `${at}.members[${i}]` })),
    { server: cluster.surge, key: `${at}.surge` },
  ];
}

/**
 * Two servers of different clusters listening on the same host and port (the local platform runs every server on
 * one host; the engine checks the servers of one cluster). Gateway and leafnode ports count where the cluster has
 * them, defaults included.
 */
function portProblems(p: Problems, clusters: ReadonlyArray<ClusterConfig & { index: number }>): void {
  const links = linksOfConfig(clusters);
  const taken = new Map<string, { key: string; cluster: number }>();
  clusters.forEach((cluster, c) => {
    for (const { server, key } of serversOf(cluster)) {
      if (server.host === undefined) continue;
      const ports: Array<[string, number]> = [
        ["clientPort", server.clientPort],
        ["clusterPort", server.clusterPort],
        ["monitorPort", server.monitorPort],
      ];
      if (links[c].gateways) {
        ports.push(["gatewayPort", server.gatewayPort ?? cluster.gatewayPort ?? DEFAULT_GATEWAY_PORT]);
      }
      if (links[c].leafnodes && key !== `clusters[${cluster.index}].surge`) {
        ports.push(["leafnodePort", server.leafnodePort ?? cluster.leafnodes?.port ?? DEFAULT_LEAFNODE_PORT]);
      }
      for (const [field, port] of ports) {
        const where = `${server.host}:${port}`;
        const first = taken.get(where);
        if (first === undefined) taken.set(where, { key: `${key}.${field}`, cluster: cluster.index });
        else if (first.cluster !== cluster.index) {
          p.add(
            `${key}.${field}`,
            `port ${port} on ${server.host} is already ${first.key}; give this server a ${field} of its own ` +
              "(servers of different clusters share this host)",
          );
        }
      }
    }
  });
}

/** The links of decoded clusters, from the hosts the config gives (a placeholder for the ones the platform assigns). */
export function linksOfConfig(clusters: ReadonlyArray<ClusterConfig>): ClusterLinks[] {
  return superclusterLinks(
    clusters.map((c): LinkedCluster => ({ ...c, members: c.members.map((m) => endpointOf(m)) })),
  );
}
