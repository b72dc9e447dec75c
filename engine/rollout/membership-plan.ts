/**
 * Members joining and leaving, decided from facts alone (no I/O): which servers that left the spec still need
 * removing, whether their removal is safe, and which members are new. The planner (plan.ts) and the removal step
 * (removal.ts, again just before it touches a leaving member) ask the same functions.
 *
 * How a leaving member is known: the caller names the servers that were members and are no longer in the spec
 * (the Pulumi provider from its previous inputs, the command line from `--leaving`), and the observation says what
 * is left to do for each: a server still running, still a peer of the JetStream meta group, or whose host still has
 * its config. Names alone from the cluster's own view (/routez, the meta group) are not enough: they say nothing of
 * how to reach the host to stop it and remove it, and a peer nobody named is exactly what the jetstream gate must
 * keep refusing (a server that joined by mistake, a ghost of a renamed server): removing it is the operator's call.
 */
import { ClusterSpec } from "../spec";
import { ObservedCluster, ObservedServer, RaftGroup } from "./observe";
import { MemberStep, RemoveMemberStep } from "./planned-step";

/**
 * The meta group's peers as the servers that answer report them (a stopped peer is still listed by the others); in a
 * supercluster, the other clusters' servers too (one meta group, and only its leader's /varz lists every peer).
 */
export function metaPeersSeen(observed: ObservedCluster): Set<string> {
  const peers = new Set<string>();
  const others = (observed.others ?? []).flatMap((o) => o.members);
  for (const m of [...observed.members, ...(observed.leaving ?? []), ...others])
    for (const p of m.metaPeers ?? []) peers.add(p);
  return peers;
}

/** What is left of a leaving server, in words; undefined when it is gone (stopped, out of the meta group, clean). */
export function leftOf(server: ObservedServer, metaPeers: ReadonlySet<string>): string | undefined {
  if (server.reachable || server.running) return `still runs${server.version ? ` ${server.version}` : ""}`;
  if (metaPeers.has(server.name)) return "stopped, still a peer of the JetStream meta group";
  if (server.configText !== undefined) return "stopped and out of the meta group; its host still has its config";
  return undefined;
}

/**
 * A member that never ran: nothing installed, no config on its host, and (JetStream on) not a peer of a meta group
 * some member reported. When no member reported one, it cannot be told from a member whose host lost everything:
 * it is then a recovery, as before.
 */
export function isNewMember(m: ObservedServer, metaPeers: ReadonlySet<string>, jetstream: boolean): boolean {
  const blank = !m.reachable && !m.running && m.installedVersion === undefined && m.configText === undefined;
  return blank && (!jetstream || (metaPeers.size > 0 && !metaPeers.has(m.name)));
}

/**
 * A member found down is started at the target with the desired config, before anything else: it serves nobody
 * now, so starting it takes nothing from the cluster, and starting it at the target spares it a second restart.
 * (A recovery that fails its gates puts back the version it had installed, when that is another one.)
 */
export function recoveryOf(spec: ClusterSpec, m: ObservedServer): MemberStep {
  return {
    kind: "recover-member",
    server: m.name,
    // Shown as "from → to" only when it had another version installed.
    from: m.installedVersion !== spec.version ? m.installedVersion : undefined,
    to: spec.version,
    reason: m.installedVersion
      ? `found down (${m.error ?? "not running"}): start it again at ${spec.version}, through the gates`
      : m.hostError
        ? `${m.hostError}: start it at ${spec.version} once it answers, through the gates`
        : emptyHostReason(spec),
  };
}

/**
 * A member whose host has nothing (no binary, no config): never started, or its VM or disk replaced. With JetStream,
 * a member the meta group still lists is a replacement: it starts with an empty store under its old name, and the
 * meta leader and its streams' leaders bring it up to date.
 */
function emptyHostReason(spec: ClusterSpec): string {
  if (!spec.jetstream.enabled) return `not started yet: start it at ${spec.version}, through the gates`;
  return (
    `its host has nothing installed (a new VM, or its disk lost), and the JetStream meta group still lists it: ` +
    `prepare the host and start it at ${spec.version} with an empty store; it catches up from its peers, gated on ` +
    "every stream and consumer replica on it current"
  );
}

/**
 * A new member starts at the target before pre-flight, like a member found down: starting it takes nothing from
 * the cluster (no member is touched), its own gates prove it joined (routes to every member that is up, JetStream
 * current in a meta group that now counts it), and pre-flight then looks at the grown cluster before any existing
 * member is restarted for its route list.
 */
export function additionOf(spec: ClusterSpec, m: ObservedServer): MemberStep {
  const js = spec.jetstream.enabled ? `, current in a JetStream meta group of ${spec.members.length}` : "";
  return {
    kind: "add-member",
    server: m.name,
    to: spec.version,
    reason: `new member: start it at ${spec.version}; its gates: routes to every member${js}`,
  };
}

/** The routes a config lists (`cluster { routes: [ … ] }`). */
function routesIn(configText: string | undefined): string[] {
  const block = /\n\s*routes: \[\n([\s\S]*?)\n\s*\]/.exec(configText ?? "")?.[1] ?? "";
  return block
    .split("\n")
    .map((l) =>
      l
        .trim()
        .replace(/^"|"$/g, "")
        .replace(/^[a-z-]+:\/\//, ""),
    )
    .filter(Boolean);
}

/** `+127.0.0.1:6444, −127.0.0.1:6555` when the route lists differ and nothing else that needs a restart does. */
export function routeListChange(
  now: string | undefined,
  desired: string,
  /** The member a route address (`host:port`) reaches, for the words. */
  nameOf: (address: string) => string | undefined = () => undefined,
): string | undefined {
  const before = routesIn(now);
  const after = routesIn(desired);
  const named = (r: string) => nameOf(r) ?? r;
  // Everything but the routes (and the restart digest, which covers them) must be the same.
  const rest = (text: string | undefined) =>
    (text ?? "").replace(/\n\s*routes: \[\n[\s\S]*?\n\s*\]/, "").replace(/^# nats-cluster restart-digest: .*$/m, "");
  if (rest(now) !== rest(desired)) return undefined;
  const changes = [
    ...after.filter((r) => !before.includes(r)).map((r) => `+${named(r)}`),
    ...before.filter((r) => !after.includes(r)).map((r) => `−${named(r)}`),
  ];
  return changes.length ? changes.join(", ") : undefined;
}

/** Majority of a Raft group of n peers. */
const quorum = (n: number) => Math.floor(n / 2) + 1;

/** The remove-member steps, one per leaving server with something left, in the order the caller named them. */
export function removalSteps(observed: ObservedCluster, spec: ClusterSpec): RemoveMemberStep[] {
  const meta = metaPeersSeen(observed);
  const js = spec.jetstream.enabled;
  return (observed.leaving ?? []).flatMap((l): RemoveMemberStep[] => {
    const left = leftOf(l, meta);
    if (left === undefined) return [];
    const held = (observed.placement?.groups ?? []).filter((g) => g.kind !== "meta" && g.peers.includes(l.name));
    const how = [
      l.reachable || l.running ? "lame duck (its clients move to the others), stop" : undefined,
      l.hostError ? `${l.hostError}, so it is neither stopped nor cleaned there` : undefined,
      js && meta.has(l.name) ? "peer-remove it from the JetStream meta group" : undefined,
      js && held.length > 0 ? `wait until its ${replicasIn(held)} are whole on the remaining members` : undefined,
      l.hostError ? undefined : "remove it from its host",
    ].filter(Boolean);
    return [
      {
        kind: "remove-member",
        server: l.name,
        from: l.version ?? l.installedVersion,
        to: "removed",
        reason: `left the stack (${left}): ${how.join(", then ")}`,
      },
    ];
  });
}

function replicasIn(groups: ReadonlyArray<RaftGroup>): string {
  const streams = groups.filter((g) => g.kind === "stream").length;
  const consumers = groups.length - streams;
  const parts = [streams ? `${streams} stream` : "", consumers ? `${consumers} consumer` : ""].filter(Boolean);
  return `replicas (${parts.join(", ")})`;
}

/**
 * Why the leaving servers must not be removed (nothing is touched then), each naming what stands in the way:
 *
 * - a stream or consumer with more replicas than the members that remain (the meta leader could only drop the
 *   replica, leaving it under-replicated for good): scale it down first, or keep the member;
 * - a Raft group (the meta group, a stream's, a consumer's) that would lose its quorum while a leaving member is
 *   stopped (an R1 or R2 group on it, or a group already short of a peer): one peer is lost at a time, and only
 *   where the group can lose one;
 * - a leaving member in the meta group without a system account to peer-remove it with;
 * - a member whose placement could not be read (what it holds is unknown).
 */
export function removalRefusals(
  observed: ObservedCluster,
  spec: ClusterSpec,
  leaving: ReadonlyArray<string> = removalSteps(observed, spec).map((s) => s.server),
  /**
   * Members the plan starts (add-member, recover-member) before any removal: each must pass its gates first (the
   * rollout halts before a removal otherwise), so each counts as up when the removal comes.
   */
  startedFirst: ReadonlyArray<string> = [],
): string[] {
  if (leaving.length === 0 || !spec.jetstream.enabled) return [];
  const refusals: string[] = [];
  const meta = metaPeersSeen(observed);
  const remaining = spec.members.map((m) => m.name);
  const who = leaving.join(", ");
  if (!spec.auth?.systemAccount && leaving.some((l) => meta.has(l))) {
    refusals.push(
      `remove ${who}: a JetStream meta peer is removed through the system account ($JS.API.SERVER.REMOVE), and ` +
        "auth.systemAccount is not set: set it (`pulumi up` applies it to the members first), then remove",
    );
  }
  const placement = observed.placement;
  if (!placement) {
    refusals.push(`remove ${who}: where the streams' replicas live was not read, so the removal cannot be judged safe`);
    return refusals;
  }
  if (placement.unread.length > 0) {
    const why = [...observed.members, ...(observed.leaving ?? [])]
      .filter((m) => placement.unread.includes(m.name))
      .map((m) => `${m.name}: ${m.placementError ?? "not read"}`);
    refusals.push(`remove ${who}: what these servers hold could not be read (${why.join("; ")})`);
  }
  const groups = placement.groups.filter((g) => g.kind !== "meta");
  const tooMany = groups.filter((g) => g.peers.length > remaining.length);
  if (tooMany.length > 0) {
    const names = tooMany.map((g) => `${g.name} (R${g.peers.length})`).join(", ");
    const first = tooMany.find((g) => g.kind === "stream")?.name.replace(/^stream /, "") ?? "<stream>";
    refusals.push(
      `remove ${who}: ${remaining.length} member${remaining.length === 1 ? "" : "s"} would remain ` +
        `(${remaining.join(", ")}), fewer than the replicas of ${names}: scale ${tooMany.length > 1 ? "them" : "it"} ` +
        `down first (\`nats stream edit ${first} --replicas ${remaining.length}\`) or keep ${who} in the stack`,
    );
  }
  refusals.push(...unreachableRefusals(observed, leaving, meta));
  // Who will be down when the removal comes: members that do not answer now and are not started before it, and
  // leaving servers already stopped (not the one being removed).
  // The other clusters' JetStream servers (a supercluster) found down take from the meta group's margin too.
  const othersDown = (observed.others ?? []).flatMap((o) => [...o.members, ...(o.surge ? [o.surge] : [])]);
  const down = new Set([
    ...[...observed.members, ...(observed.leaving ?? [])]
      .filter((m) => !m.reachable && !startedFirst.includes(m.name))
      .map((m) => m.name),
    ...othersDown.filter((m) => !m.reachable).map((m) => m.name),
  ]);
  for (const l of leaving) {
    for (const g of placement.groups.filter((g) => g.peers.includes(l))) {
      // Stopping l (if it is not down already) takes one peer; the group must keep its majority without it.
      const up = g.peers.filter((p) => !down.has(p) && p !== l).length;
      if (up >= quorum(g.peers.length)) continue;
      const only = g.peers.length === 1;
      refusals.push(
        `remove ${l}: ${g.name} (R${g.peers.length}, peers ${g.peers.join(", ")}) ` +
          (only
            ? `has its only replica on ${l}: its data would be lost; raise its replicas or move it first`
            : `would lose its quorum while ${l} is stopped (${up} of ${g.peers.length} left, ${quorum(g.peers.length)} ` +
              "needed): bring its other peers back or raise its replicas first"),
      );
    }
  }
  return refusals;
}

/**
 * A leaving server whose host does not answer may still run where we cannot see it (a network cut between us and
 * it, not between it and the cluster). Peer-removing a server that runs splits it from the cluster half-way, so it
 * is removed only when the meta leader, which hears from every peer each second, has not heard from it lately.
 */
function unreachableRefusals(
  observed: ObservedCluster,
  leaving: ReadonlyArray<string>,
  meta: ReadonlySet<string>,
): string[] {
  const leader = observed.members.find((m) => m.reachable && m.metaPeersUnheard !== undefined);
  return (observed.leaving ?? [])
    .filter((l) => leaving.includes(l.name) && l.hostError !== undefined && !l.reachable && meta.has(l.name))
    .flatMap((l) => {
      if (!leader)
        return [
          `remove ${l.name}: its host does not answer and no meta leader answered to say whether it still runs; ` +
            "try again once the cluster has a meta leader",
        ];
      if (leader.metaPeersUnheard!.includes(l.name)) return [];
      return [
        `remove ${l.name}: ${l.hostError}, but the meta leader ${leader.name} still hears ` +
          "from it: it runs where this machine cannot reach it; reach its host (network, address, ssh) or stop it " +
          "there, then remove it",
      ];
    });
}
