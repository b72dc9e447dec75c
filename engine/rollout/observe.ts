import { isWatchStream, OBSERVE_CONCURRENCY } from "../defaults";
import { HostDriver } from "../hosts/driver";
import { createMonitor } from "../monitor/factory";
import { serverClientSpec } from "./client-tls";
import { ServerMonitor } from "../monitor/monitor";
import { silentAtLeader } from "../gates/checks";
import { Jsz, MetaClusterInfo, RaftClusterInfo } from "../monitor/types";
import { ClusterSpec, RolloutPolicy, ServerEndpoint } from "../spec";
import type { OtherCluster } from "./other-clusters";
import { describeError, mapBounded } from "../util/async";
import { isVersion } from "../versions";

/** What one server looks like right now, from its host (driver) and its monitoring port. */
export interface ObservedServer {
  readonly name: string;
  /** The process (or instance) is alive, per the host driver. */
  readonly running: boolean;
  /** `/varz` answered. */
  readonly reachable: boolean;
  /** The version it runs now (`/varz`), when reachable. */
  readonly version?: string;
  /** The version its next start runs (the host's installed binary). */
  readonly installedVersion?: string;
  /** The config file on its host. Secret-bearing: never logged. */
  readonly configText?: string;
  /** The JetStream meta leader as this server sees it. */
  readonly metaLeader?: string;
  /** The meta group's peers as this server sees them (`/varz` jetstream.meta: leader and replicas). */
  readonly metaPeers?: ReadonlyArray<string>;
  /**
   * When this server is the meta leader: the peers it has not heard from lately (offline, not current, or silent
   * for longer than the gates allow). Only the leader's view of its peers is authoritative.
   */
  readonly metaPeersUnheard?: ReadonlyArray<string>;
  /** Client connections now and the server's limit (`/varz` connections, max_connections): the capacity rule. */
  readonly connections?: number;
  readonly maxConnections?: number;
  /** The Raft groups with a replica on this server (only when placement was asked for). */
  readonly raftGroups?: ReadonlyArray<RaftGroup>;
  /** Why its placement (`/jsz`) could not be read, when it was asked for and could not. */
  readonly placementError?: string;
  /**
   * Route TLS is in the config the server has loaded now (`/varz` cluster.tls_cert_not_after, which a reload
   * updates), whatever the routes already up were made with.
   */
  readonly routeTlsLoaded?: boolean;
  /** Why it is not reachable, when it is not. */
  readonly error?: string;
  /**
   * Why its host could not be asked anything (a VM powered off or gone, its network down), when it could not:
   * then nothing is known of what the host has, only that nothing could be done there now.
   */
  readonly hostError?: string;
}

/** One Raft group: the JetStream meta group, or one stream's or consumer's, with the server name of every peer. */
export interface RaftGroup {
  readonly kind: "meta" | "stream" | "consumer";
  /** As an operator names it: `meta`, `stream ORDERS`, `consumer ORDERS > C1` (`ACC/ORDERS` outside `$G`). */
  readonly name: string;
  /** Every peer, sorted (the leader included). */
  readonly peers: ReadonlyArray<string>;
}

/** Where the cluster's Raft groups live, read only when the planner batches members (maxUnavailable > 1). */
export interface ObservedPlacement {
  /** The meta group and every stream's and consumer's group that some reachable member hosts. */
  readonly groups: ReadonlyArray<RaftGroup>;
  /** Reachable members whose `/jsz` could not be read: what they host is unknown, so each is changed alone. */
  readonly unread: ReadonlyArray<string>;
}

export interface ObservedCluster {
  readonly members: ReadonlyArray<ObservedServer>;
  readonly surge: ObservedServer;
  /**
   * The servers that were members and left the spec (ObserveOptions.leaving), as their hosts and monitoring ports
   * report them now: the planner removes those still running, still in the meta group, or with a config on their
   * host. Absent when none was named.
   */
  readonly leaving?: ReadonlyArray<ObservedServer>;
  /** The meta leader most members agree on. */
  readonly metaLeader?: string;
  /** Raft placement: present only when asked for (JetStream on and rollout.maxUnavailable > 1). */
  readonly placement?: ObservedPlacement;
  /**
   * Set when the servers were not asked (preview before the hosts exist, or they did not answer in time): the
   * observation is assumed from the stack's inputs, and this says why.
   */
  readonly assumed?: string;
  /**
   * The JetStream servers of the other clusters of the supercluster (ObserveOptions.others), each through its own
   * cluster's spec and driver: peers of the one meta group, which the gates and the batch planner count. Absent for
   * a lone cluster, or without JetStream.
   */
  readonly others?: ReadonlyArray<ObservedOtherCluster>;
}

/** Another cluster's JetStream servers as observed: its members, and its surge server when it runs JetStream. */
export interface ObservedOtherCluster {
  readonly cluster: string;
  readonly members: ReadonlyArray<ObservedServer>;
  readonly surge?: ObservedServer;
}

/** What to observe beyond versions and configs. */
export interface ObserveOptions {
  /** Read where every Raft group lives (`/jsz` streams and consumers of every account). Default false. */
  readonly placement?: boolean;
  /** Servers that left the spec, observed too (through the driver given: see engine/hosts/routed.ts). */
  readonly leaving?: ReadonlyArray<ServerEndpoint>;
  /** The other clusters of the supercluster whose JetStream servers are peers of this cluster's meta group. */
  readonly others?: ReadonlyArray<OtherCluster>;
}

/**
 * What the planner needs observed for this spec and policy: Raft placement only when it batches members of a
 * JetStream cluster. At maxUnavailable 1 (the default) nothing more is read than before, so a preview costs the same.
 */
export function observeOptionsFor(
  spec: ClusterSpec,
  policy: Pick<RolloutPolicy, "maxUnavailable">,
  leaving: ReadonlyArray<ServerEndpoint> = [],
  /** The other clusters of a supercluster: those with JetStream are observed too (one meta group spans them). */
  others: ReadonlyArray<OtherCluster> = [],
): ObserveOptions {
  // A removal reads placement too: which streams have a replica on the leaving member decides whether it may leave.
  const placement = spec.jetstream.enabled && (policy.maxUnavailable > 1 || leaving.length > 0);
  const peers = spec.jetstream.enabled ? others.filter((o) => o.spec.jetstream.enabled) : [];
  return { placement, ...(leaving.length > 0 ? { leaving } : {}), ...(peers.length > 0 ? { others: peers } : {}) };
}

/** The peers of a group as one of its replicas reports it: itself, the leader, and the replicas it lists. */
function peersOf(reporter: string, cluster: RaftClusterInfo | undefined): string[] {
  const names = new Set([reporter]);
  if (cluster?.leader) names.add(cluster.leader);
  for (const r of cluster?.replicas ?? []) names.add(r.name);
  return [...names].sort();
}

/** The stream and consumer groups with a replica on `reporter`, from its `/jsz?streams=true&consumers=true`. */
export function raftGroupsOf(reporter: string, jsz: Jsz): RaftGroup[] {
  const groups: RaftGroup[] = [];
  for (const account of jsz.account_details ?? []) {
    const prefix = account.name === "$G" ? "" : `${account.name}/`;
    for (const stream of account.stream_detail ?? []) {
      // The rollout's own watch stream (publish-watch.ts) must never slow a batch or refuse a removal.
      if (isWatchStream(stream.name)) continue;
      groups.push({ kind: "stream", name: `stream ${prefix}${stream.name}`, peers: peersOf(reporter, stream.cluster) });
      for (const consumer of stream.consumer_detail ?? []) {
        groups.push({
          kind: "consumer",
          name: `consumer ${prefix}${stream.name} > ${consumer.name}`,
          peers: peersOf(reporter, consumer.cluster),
        });
      }
    }
  }
  return groups;
}

/** The meta peers the leader (reporting `meta`) has not heard from lately. */
function unheardBy(meta: MetaClusterInfo): string[] {
  return (meta.replicas ?? []).filter((r) => !r.current || r.offline || silentAtLeader(r)).map((r) => r.name);
}

export async function observeServer(
  server: ServerEndpoint,
  driver: HostDriver,
  /** Its monitor, or how to make one from the config its host has (which says whether it offers client TLS). */
  monitorOf: ServerMonitor | ((configText: string | undefined) => ServerMonitor),
  options: ObserveOptions = {},
): Promise<ObservedServer> {
  // A host that cannot be asked (a VM powered off, its network gone) is an observation, not a crash of the
  // rollout: the server then counts as running only if its monitoring port still answers.
  let hostError: string | undefined;
  const [running, installedVersion, configText] = await Promise.all([
    driver.isRunning(server),
    driver.installedVersion(server),
    driver.readConfig(server),
  ]).catch((err: unknown): [boolean | undefined, undefined, undefined] => {
    hostError = `its host does not answer (${describeError(err)})`;
    return [undefined, undefined, undefined];
  });
  if (running === false)
    return { name: server.name, running, reachable: false, installedVersion, configText, error: "not running" };
  const monitor = typeof monitorOf === "function" ? monitorOf(configText) : monitorOf;
  try {
    const varz = await monitor.varz();
    const meta = varz.jetstream?.meta;
    const seen: ObservedServer = {
      name: server.name,
      running: true,
      reachable: true,
      version: varz.version,
      installedVersion,
      configText,
      metaLeader: meta?.leader || undefined,
      metaPeers: meta?.leader ? peersOf(meta.leader, meta) : undefined,
      ...(meta?.leader === server.name ? { metaPeersUnheard: unheardBy(meta) } : {}),
      connections: varz.connections,
      maxConnections: varz.max_connections,
      routeTlsLoaded: varz.cluster?.tls_cert_not_after !== undefined,
    };
    if (!options.placement) return seen;
    try {
      return { ...seen, raftGroups: raftGroupsOf(server.name, await monitor.jszPlacement()) };
    } catch (err) {
      return { ...seen, placementError: describeError(err) };
    }
  } catch (err) {
    const error = hostError ? `${hostError}; ${describeError(err)}` : describeError(err);
    return {
      name: server.name,
      running: running ?? false,
      reachable: false,
      installedVersion,
      configText,
      error,
      ...(hostError ? { hostError } : {}),
    };
  }
}

/**
 * Observe every member and the surge server, a bounded number at a time (a 50-member cluster must not open 150
 * connections at once, nor wait for them one by one). Every decision of the planner starts here.
 */
export async function observeCluster(
  spec: ClusterSpec,
  driver: HostDriver,
  options: ObserveOptions = {},
  /** Where monitors come from (a test's scripted ones); createMonitor by default. */
  monitorFor: (clientSpec: ClusterSpec, server: ServerEndpoint) => ServerMonitor = createMonitor,
): Promise<ObservedCluster> {
  const leaving = options.leaving ?? [];
  const servers = [...spec.members, spec.surge, ...leaving];
  // One monitor per server, closed as soon as that server is observed (a system-account monitor's connection must
  // not outlive the observation, nor keep a command line or the Pulumi provider from exiting).
  const seen = await mapBounded(servers, OBSERVE_CONCURRENCY, async (s) => {
    let monitor: ServerMonitor | undefined;
    const monitorOf = (configText: string | undefined) => (monitor = monitorFor(serverClientSpec(spec, configText), s));
    try {
      return await observeServer(s, driver, monitorOf, s === spec.surge ? {} : { placement: options.placement });
    } finally {
      await monitor?.close();
    }
  });
  const members = seen.slice(0, spec.members.length);
  const surge = seen[spec.members.length];
  const left = seen.slice(spec.members.length + 1);
  // A leaving member still in the cluster votes for the meta leader and reports the groups it holds like any other.
  const inCluster = [...members, ...left];
  const others = options.others?.length ? await observeOthers(options.others, monitorFor) : undefined;
  const observed: ObservedCluster = {
    members,
    surge,
    metaLeader: majorityMetaLeader(inCluster),
    ...(leaving.length > 0 ? { leaving: left } : {}),
    ...(others ? { others } : {}),
  };
  return options.placement ? { ...observed, placement: mergePlacement(spec, inCluster, others) } : observed;
}

/**
 * The other clusters' JetStream servers (members, and a JetStream surge server), each through its own cluster's
 * driver and a monitor made from its own spec, the way this cluster's are observed. No placement: their streams'
 * groups have no peer here; the meta group they share is read from this cluster's members.
 */
async function observeOthers(
  others: ReadonlyArray<OtherCluster>,
  monitorFor: (clientSpec: ClusterSpec, server: ServerEndpoint) => ServerMonitor,
): Promise<ObservedOtherCluster[]> {
  return Promise.all(
    others.map(async ({ spec, driver }) => {
      const servers = spec.surge.jetstream ? [...spec.members, spec.surge] : [...spec.members];
      const seen = await mapBounded(servers, OBSERVE_CONCURRENCY, async (s) => {
        let monitor: ServerMonitor | undefined;
        const monitorOf = (configText: string | undefined) =>
          (monitor = monitorFor(serverClientSpec(spec, configText), s));
        try {
          return await observeServer(s, driver, monitorOf);
        } finally {
          await monitor?.close();
        }
      });
      const members = seen.slice(0, spec.members.length);
      return spec.surge.jetstream
        ? { cluster: spec.name, members, surge: seen[spec.members.length] }
        : { cluster: spec.name, members };
    }),
  );
}

/**
 * Every Raft group, its peers the union of what its replicas report (a peer that is down is still listed by the
 * others). The meta group is every member plus any other peer a member lists (a ghost left by a renamed server).
 */
function mergePlacement(
  spec: ClusterSpec,
  members: ReadonlyArray<ObservedServer>,
  others: ReadonlyArray<ObservedOtherCluster> = [],
): ObservedPlacement {
  const meta = new Set(spec.members.map((m) => m.name));
  // A supercluster's meta group spans every cluster, and a follower's /varz lists only the leader, not the other
  // peers (seen on 2.14.9: west's members reported [we1, we2, we3, ea2] of a group of 6, which made its quorum look
  // like 3 of 4): the other clusters' members that answer count, and what their servers list.
  for (const o of others) {
    for (const m of o.members) {
      if (m.reachable) meta.add(m.name);
      for (const p of m.metaPeers ?? []) meta.add(p);
    }
  }
  const groups = new Map<string, { kind: RaftGroup["kind"]; name: string; peers: Set<string> }>();
  for (const m of members) {
    for (const p of m.metaPeers ?? []) meta.add(p);
    for (const g of m.raftGroups ?? []) {
      const key = `${g.kind}\u0000${g.name}`;
      const group = groups.get(key) ?? { kind: g.kind, name: g.name, peers: new Set<string>() };
      g.peers.forEach((p) => group.peers.add(p));
      groups.set(key, group);
    }
  }
  return {
    groups: [
      { kind: "meta", name: "meta", peers: [...meta].sort() },
      ...[...groups.values()].map((g) => ({ kind: g.kind, name: g.name, peers: [...g.peers].sort() })),
    ],
    unread: members.filter((m) => m.reachable && m.placementError !== undefined).map((m) => m.name),
  };
}

/** The meta leader most members name (a member that just lost leadership may still name itself). */
function majorityMetaLeader(members: ReadonlyArray<ObservedServer>): string | undefined {
  const votes = new Map<string, number>();
  for (const m of members) if (m.metaLeader) votes.set(m.metaLeader, (votes.get(m.metaLeader) ?? 0) + 1);
  return [...votes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}

/**
 * What the planner assumes when it cannot ask the servers: every member running what the stack last recorded
 * (`versions`, from the resource's outputs) or, for a member never seen, nothing yet; no surge server.
 */
export function assumeObserved(
  spec: ClusterSpec,
  versions: Readonly<Record<string, string>> | undefined,
  why: string,
): ObservedCluster {
  const members = spec.members.map((m): ObservedServer => {
    const version = versions?.[m.name];
    return isVersion(version)
      ? { name: m.name, running: true, reachable: true, version, installedVersion: version }
      : { name: m.name, running: false, reachable: false, error: "not observed" };
  });
  return { members, surge: { name: spec.surge.name, running: false, reachable: false }, assumed: why };
}
