/**
 * The rules across the clusters of a supercluster, on top of each cluster's own (engine/validate.ts, with the
 * gateways + JetStream refusal lifted: the supercluster is described whole here). Every problem names its field as
 * `clusters[i].…` and says how to fix it. A supercluster of one is a lone cluster: its own rules, nothing more.
 */
import { gatewayPortOf, leafnodePortOf } from "../config/for-server";
import { DEFAULT_LEAFNODE_PORT } from "../defaults";
import { AddProblem, Problem } from "../problem";
import { allServers, ClusterSpec } from "../spec";
import { SpecError, validateClusterSpec } from "../validate";

/**
 * `host:port` of a `scheme://host[:port]` URL (lower-case host), the port `defaultPort` when it names none; undefined
 * when it is not such a URL, or names no port and there is no default (the cluster's own rules judge its form).
 */
function addressOf(url: unknown, defaultPort?: number): string | undefined {
  if (typeof url !== "string") return undefined;
  const m = /^[a-z-]+:\/\/([^\s/@]+?)(?::(\d{1,5}))?$/i.exec(url);
  const port = m?.[2] ?? defaultPort;
  return m && port !== undefined ? `${m[1].toLowerCase()}:${port}` : undefined;
}

const isLeaf = (spec: ClusterSpec): boolean => spec.hub !== undefined;

/** Every problem of the supercluster: each cluster's own (prefixed `clusters[i].`), then the rules across them. */
export function validateSupercluster(specs: ReadonlyArray<ClusterSpec>): Problem[] {
  const problems: Problem[] = [];
  const add: AddProblem = (field, message) => problems.push({ field, message });
  if (!Array.isArray(specs) || specs.length === 0) {
    add("clusters", "no cluster; list at least one (a single cluster is a supercluster of one)");
    return problems;
  }
  const inSupercluster = specs.length > 1;
  specs.forEach((spec, i) => {
    for (const p of validateClusterSpec(spec, { inSupercluster })) add(`clusters[${i}].${p.field}`, p.message);
  });
  if (!inSupercluster) return problems;
  checkNames(add, specs);
  checkPorts(add, specs);
  checkGatewayMesh(add, specs);
  checkLeaves(add, specs);
  return problems;
}

/** Cluster names (gateway names) and server names (JetStream peer ids, across the one meta group) are unique. */
function checkNames(add: AddProblem, specs: ReadonlyArray<ClusterSpec>): void {
  const clusters = new Map<string, number>();
  const servers = new Map<string, string>();
  specs.forEach((spec, i) => {
    if (typeof spec.name === "string" && spec.name !== "") {
      const first = clusters.get(spec.name);
      if (first !== undefined)
        add(`clusters[${i}].name`, `"${spec.name}" is already clusters[${first}].name; give each cluster its own name`);
      else clusters.set(spec.name, i);
    }
    const labelled = [
      ...(Array.isArray(spec.members) ? spec.members.map((s, j) => ({ s, label: `members[${j}]` })) : []),
      ...(spec.surge ? [{ s: spec.surge, label: "surge" }] : []),
    ];
    for (const { s, label } of labelled) {
      if (typeof s?.name !== "string" || s.name === "") continue;
      const field = `clusters[${i}].${label}.name`;
      const first = servers.get(s.name);
      if (first !== undefined && !first.startsWith(`clusters[${i}].`))
        add(
          field,
          `server "${s.name}" is already ${first}: server names are JetStream peer ids across the whole ` +
            "supercluster (one meta group); rename one",
        );
      else if (first === undefined) servers.set(s.name, field);
    }
  });
}

/**
 * No two servers of different clusters listen on the same host and port (each cluster checks its own servers): on
 * one host (loopback, a shared VM) the second would not start. Hosts compared as written.
 */
function checkPorts(add: AddProblem, specs: ReadonlyArray<ClusterSpec>): void {
  const taken = new Map<string, { cluster: number; field: string }>();
  specs.forEach((spec, i) => {
    if (!Array.isArray(spec.members)) return;
    const servers = [
      ...spec.members.map((s, j) => ({ s, label: `members[${j}]`, member: true })),
      ...(spec.surge ? [{ s: spec.surge, label: "surge", member: false }] : []),
    ];
    for (const { s, label, member } of servers) {
      if (typeof s?.host !== "string") continue;
      const ports: Array<[string, number | undefined]> = [
        ["clientPort", s.clientPort],
        ["clusterPort", s.clusterPort],
        ["monitorPort", s.monitorPort],
        ["gatewayPort", spec.gateways ? gatewayPortOf(spec, s) : undefined],
        ["leafnodePort", member && spec.leafnodes ? leafnodePortOf(spec, s) : undefined],
      ];
      for (const [name, port] of ports) {
        if (typeof port !== "number") continue;
        const key = `${s.host.toLowerCase()}:${port}`;
        const field = `clusters[${i}].${label}.${name}`;
        const first = taken.get(key);
        if (first && first.cluster !== i)
          add(field, `${key} is already ${first.field}, in another cluster; give one of them another port`);
        else if (!first) taken.set(key, { cluster: i, field });
      }
    }
  });
}

/**
 * The clusters joined by gateways (every cluster that is not a leaf) form a full mesh: each one's
 * `gateways.remotes` names exactly the others, each URL a gateway endpoint of that cluster's servers; and JetStream
 * is on in all of them or in none (one meta group spans them: half of it cannot be turned off).
 */
function checkGatewayMesh(add: AddProblem, specs: ReadonlyArray<ClusterSpec>): void {
  const joined = specs.map((spec, i) => ({ spec, i })).filter(({ spec }) => !isLeaf(spec));
  const byName = new Map(joined.map(({ spec }) => [spec.name, spec]));
  for (const { spec, i } of joined) {
    const others = joined.filter((o) => o.spec.name !== spec.name).map((o) => o.spec.name);
    const remotes = Array.isArray(spec.gateways?.remotes) ? spec.gateways.remotes : [];
    if (others.length > 0 && spec.gateways === undefined) {
      add(
        `clusters[${i}].gateways`,
        `cluster "${spec.name}" has no gateways, so it is cut off from ${others.join(", ")}; add ` +
          `gateways.remotes with each of them ({ name, urls: ["nats://host:7222"] })`,
      );
      continue;
    }
    remotes.forEach((remote, k) => {
      const field = `clusters[${i}].gateways.remotes[${k}]`;
      if (typeof remote?.name !== "string") return;
      const target = byName.get(remote.name);
      if (!target) {
        const leaf = specs.find((s) => s.name === remote.name && isLeaf(s));
        add(
          `${field}.name`,
          leaf
            ? `"${remote.name}" is a leaf cluster (it has hub): leaves reach the supercluster through their hub, ` +
                "not a gateway; remove this remote"
            : `"${remote.name}" is not a cluster of this supercluster (${others.join(", ") || "none other"}); every ` +
                "cluster its gateways join must be described in the same stack: add it, or remove this remote",
        );
        return;
      }
      const endpoints = new Set(allServers(target).map((s) => `${s.host.toLowerCase()}:${gatewayPortOf(target, s)}`));
      (Array.isArray(remote.urls) ? (remote.urls as ReadonlyArray<unknown>) : []).forEach((url, j) => {
        const address = addressOf(url);
        if (address === undefined) return; // the cluster's own rules name a malformed URL
        if (!endpoints.has(address))
          add(
            `${field}.urls[${j}]`,
            `"${url}" is no gateway of cluster "${target.name}"'s servers (${[...endpoints].join(", ")}); ` +
              "use one of those",
          );
      });
    });
    const named = new Set(remotes.map((r) => r?.name));
    const missing = others.filter((o) => !named.has(o));
    if (missing.length > 0 && spec.gateways !== undefined)
      add(
        `clusters[${i}].gateways.remotes`,
        `missing ${missing.map((m) => `"${m}"`).join(", ")}: every cluster joined by gateways must reach every ` +
          `other one; add ${missing.length > 1 ? "them" : "it"} ({ name, urls: ["nats://host:7222"] })`,
      );
  }
  const js = joined.filter(({ spec }) => spec.jetstream?.enabled === true);
  if (js.length > 0 && js.length < joined.length) {
    const on = js.map(({ spec }) => spec.name).join(", ");
    for (const { spec, i } of joined.filter(({ spec }) => spec.jetstream?.enabled !== true))
      add(
        `clusters[${i}].jetstream.enabled`,
        `JetStream is off in "${spec.name}" and on in ${on}: one meta group spans every cluster joined by ` +
          "gateways; turn it on (or off) in all of them",
      );
  }
}

/**
 * A leaf cluster's hub is a cluster of the supercluster that accepts leaves (`leafnodes`): every hub URL is the
 * leafnode endpoint of a member of that one cluster. A leaf is no hub itself and has no gateways (it reaches the
 * supercluster through its hub); the rollout order (leaves first) relies on both.
 */
function checkLeaves(add: AddProblem, specs: ReadonlyArray<ClusterSpec>): void {
  const endpoints = new Map<string, string>();
  for (const spec of specs) {
    if (isLeaf(spec) || spec.leafnodes === undefined || !Array.isArray(spec.members)) continue;
    for (const m of spec.members) endpoints.set(`${m.host.toLowerCase()}:${leafnodePortOf(spec, m)}`, spec.name);
  }
  specs.forEach((spec, i) => {
    if (!isLeaf(spec)) return;
    if (spec.gateways !== undefined)
      add(
        `clusters[${i}].gateways`,
        `leaf cluster "${spec.name}" (it has hub) cannot have gateways too: it reaches the supercluster through its ` +
          "hub; drop gateways, or drop hub and join it by gateways",
      );
    if (spec.leafnodes !== undefined)
      add(
        `clusters[${i}].leafnodes`,
        `leaf cluster "${spec.name}" cannot be a hub of leaves too in one supercluster (a chain of leaves has no ` +
          "rollout order here); drop leafnodes",
      );
    const hubs = new Set<string>();
    (Array.isArray(spec.hub?.urls) ? (spec.hub.urls as ReadonlyArray<unknown>) : []).forEach((url, j) => {
      const address = addressOf(url, DEFAULT_LEAFNODE_PORT);
      if (address === undefined) return;
      const hub = endpoints.get(address);
      if (hub === undefined)
        add(
          `clusters[${i}].hub.urls[${j}]`,
          `"${url}" is no leafnode endpoint of a cluster of this supercluster (${[...endpoints.keys()].join(", ") || "no cluster has leafnodes"}); ` +
            "point it at a member of the hub cluster, and give that cluster leafnodes",
        );
      else hubs.add(hub);
    });
    if (hubs.size > 1)
      add(
        `clusters[${i}].hub.urls`,
        `the URLs reach ${[...hubs].join(" and ")}: a leaf has one hub cluster; keep the URLs of one`,
      );
  });
}

/** The hub cluster of a leaf cluster (by its hub URLs), when the supercluster has it. */
export function hubOf(leaf: ClusterSpec, specs: ReadonlyArray<ClusterSpec>): string | undefined {
  for (const url of leaf.hub?.urls ?? []) {
    const address = addressOf(url, DEFAULT_LEAFNODE_PORT);
    if (address === undefined) continue;
    for (const spec of specs) {
      if (isLeaf(spec) || spec.leafnodes === undefined) continue;
      if (spec.members.some((m) => `${m.host.toLowerCase()}:${leafnodePortOf(spec, m)}` === address)) return spec.name;
    }
  }
  return undefined;
}

/** Throws a SpecError listing every problem of the supercluster when it has any. */
export function assertValidSupercluster(specs: ReadonlyArray<ClusterSpec>): void {
  const problems = validateSupercluster(specs);
  if (problems.length > 0) throw new SpecError(problems);
}
