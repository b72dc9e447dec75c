/**
 * Which members of a batched rollout (rollout.maxUnavailable > 1) go down together: the batching rules (Raft
 * quorums, client capacity, members that must go alone) and the member steps they give. Pure: the executor calls
 * it again, through planRollout, before every batch.
 */
import { ClusterSpec, RolloutPolicy } from "../spec";
import { ObservedCluster, ObservedServer, RaftGroup } from "./observe";
import { BatchedStep, MemberChange } from "./planned-step";

/** What the batching rules read, all from one observation. */
export interface BatchInputs {
  /** rollout.maxUnavailable: no batch holds more members. */
  readonly maxUnavailable: number;
  /** The Raft groups, the meta group included; undefined when JetStream is off (no quorum to keep). */
  readonly groups?: ReadonlyArray<RaftGroup>;
  /** Members that must go alone, and why (their placement is unknown). */
  readonly alone?: ReadonlyMap<string, string>;
  /** Peers that are down and that no step brings back (a ghost peer): they use up their groups' margins. */
  readonly down?: ReadonlySet<string>;
  /**
   * Client capacity, when every member's `/varz` reported it: clients per member now, and room per server that
   * stays up (max_connections − connections; the surge server included while it is in).
   */
  readonly capacity?: {
    readonly clients: ReadonlyMap<string, number>;
    readonly room: ReadonlyMap<string, number>;
  };
}

/** Members in batches, in order; and per member, what kept it out of each earlier batch. */
export interface Batching {
  readonly batches: ReadonlyArray<ReadonlyArray<string>>;
  readonly why: ReadonlyMap<string, string>;
}

/** A Raft group as a batching constraint: at most `allowed` of its peers in one batch. */
interface Margin {
  readonly name: string;
  readonly peers: ReadonlySet<string>;
  readonly allowed: number;
}

/**
 * Raft groups as constraints. A group of n peers keeps its quorum (⌊n/2⌋+1) with n − quorum peers down, less those
 * down already; never fewer than one: a group of one or two peers loses its quorum when any one of its peers
 * restarts, one at a time or not, and batching must only never make it worse than one at a time. Groups on the same
 * peers are one constraint (a stream and its consumers), named by the first (the meta group, then streams).
 */
function marginsOf(groups: ReadonlyArray<RaftGroup>, down: ReadonlySet<string>): Margin[] {
  const byPeers = new Map<string, { group: RaftGroup; more: number }>();
  for (const g of groups) {
    const key = g.peers.join("\u0000");
    const seen = byPeers.get(key);
    if (seen) seen.more++;
    else byPeers.set(key, { group: g, more: 0 });
  }
  return [...byPeers.values()].map(({ group, more }) => {
    const n = group.peers.length;
    const tolerance = n - (Math.floor(n / 2) + 1) - group.peers.filter((p) => down.has(p)).length;
    const what =
      group.kind === "meta" ? `the meta group (${n} peers)` : `${group.name} (R${n}: ${group.peers.join(", ")})`;
    return {
      name: what + (more ? ` and ${more} more group${more > 1 ? "s" : ""} on the same peers` : ""),
      peers: new Set(group.peers),
      allowed: Math.max(1, tolerance),
    };
  });
}

/**
 * Members in batches that can be down together, first fit in the given order (followers in spec order; the meta
 * leader is not a candidate: it goes last, alone). A member joins the first batch where, with it:
 * - the batch holds at most maxUnavailable members;
 * - no Raft group has more of its peers in the batch than it can lose and keep its quorum (see marginsOf);
 * - the clients of the batch fit in the room of the servers that stay up (the capacity rule);
 * - nobody in the batch must go alone (placement unknown).
 * Otherwise it opens a new batch: a batch of one is always allowed, being today's one-at-a-time.
 * Pure: the executor calls it again, through planRollout, before every batch.
 */
export function planBatches(candidates: ReadonlyArray<string>, inputs: BatchInputs): Batching {
  const margins = marginsOf(inputs.groups ?? [], inputs.down ?? new Set());
  const limit = Math.max(1, Math.floor(inputs.maxUnavailable));
  const capacity = inputs.capacity;
  const batches: string[][] = [];
  const why = new Map<string, string>();

  /** What keeps `member` out of `batch` (the rule, and the batch's members that meet it), or undefined. */
  const blocker = (batch: ReadonlyArray<string>, member: string): { rule: string; with?: string } | undefined => {
    if (batch.length >= limit) return { rule: `full (${limit} = rollout.maxUnavailable)` };
    const alone = inputs.alone?.get(member) ?? batch.map((b) => inputs.alone?.get(b)).find(Boolean);
    if (alone) return { rule: alone };
    for (const m of margins) {
      if (!m.peers.has(member)) continue;
      const inBatch = batch.filter((b) => m.peers.has(b));
      if (inBatch.length + 1 > m.allowed) {
        return {
          rule: `${m.name} keeps its quorum with at most ${m.allowed} of its peers down`,
          with: inBatch.join(", "),
        };
      }
    }
    if (capacity) {
      const down = new Set([...batch, member]);
      const moving = [...down].reduce((sum, b) => sum + (capacity.clients.get(b) ?? 0), 0);
      let room = 0;
      for (const [server, free] of capacity.room) if (!down.has(server) && !inputs.down?.has(server)) room += free;
      if (moving > room) {
        return {
          rule: `${moving} clients would move, and the servers staying up have room for ${room} (max_connections − connections)`,
        };
      }
    }
    return undefined;
  };

  for (const member of candidates) {
    // Rule → the batches it kept the member out of (with the members there that meet it), for the plan's words.
    const kept = new Map<string, string[]>();
    let placed = false;
    for (let i = 0; i < batches.length && !placed; i++) {
      const reason = blocker(batches[i], member);
      if (reason === undefined) {
        batches[i].push(member);
        placed = true;
      } else {
        const where = reason.with ? `${i + 1} (with ${reason.with})` : `${i + 1}`;
        kept.set(reason.rule, [...(kept.get(reason.rule) ?? []), where]);
      }
    }
    if (!placed) batches.push([member]);
    if (kept.size > 0) {
      const parts = [...kept].map(
        ([rule, where]) => `not in batch${where.length > 1 ? "es" : ""} ${where.join(", ")}: ${rule}`,
      );
      why.set(member, parts.join("; "));
    }
  }
  return { batches, why };
}

/**
 * The batching rules' inputs from an observation: the Raft groups (JetStream on), members whose placement is
 * unknown, ghost peers, and the client capacity when every member reported it. The surge server counts as room while
 * it is in (it runs the members' config, so its limit is taken as the lowest member's when it is not up yet).
 */
export function batchInputsOf(
  observed: ObservedCluster,
  spec: ClusterSpec,
  policy: RolloutPolicy,
  candidates: ReadonlyArray<string>,
  surgeIn: boolean,
): BatchInputs {
  // The other clusters' JetStream servers (a supercluster) are peers of the meta group like this cluster's: they
  // count in its size and quorum, and one of them that does not answer uses up its margin like a ghost does.
  const others = observed.others ?? [];
  const otherServers = others.flatMap((o) => [...o.members, ...(o.surge ? [o.surge] : [])]);
  const known = new Set([...spec.members.map((m) => m.name), spec.surge.name, ...otherServers.map((s) => s.name)]);
  const otherDown = otherServers.filter((s) => !s.reachable).map((s) => s.name);
  const alone = new Map<string, string>();
  let groups: ReadonlyArray<RaftGroup> | undefined;
  if (spec.jetstream.enabled) {
    if (!observed.placement) {
      for (const c of candidates) alone.set(c, "alone: Raft placement not observed (`pulumi up` reads it)");
    } else {
      groups = observed.placement.groups;
      for (const u of observed.placement.unread) alone.set(u, `alone: its placement (/jsz) could not be read`);
    }
  }
  const peers = new Set((groups ?? []).flatMap((g) => g.peers));
  const down = new Set([...[...peers].filter((p) => !known.has(p)), ...otherDown.filter((p) => peers.has(p))]);

  let capacity: BatchInputs["capacity"];
  const reachable = observed.members.filter((m) => m.reachable);
  if (reachable.length > 0 && reachable.every((m) => m.connections !== undefined && m.maxConnections !== undefined)) {
    const clients = new Map(reachable.map((m) => [m.name, m.connections!]));
    const room = new Map(reachable.map((m) => [m.name, Math.max(0, m.maxConnections! - m.connections!)]));
    if (surgeIn) {
      const s = observed.surge;
      const surgeRoom =
        s.reachable && s.maxConnections !== undefined
          ? Math.max(0, s.maxConnections - (s.connections ?? 0))
          : Math.min(...reachable.map((m) => m.maxConnections!));
      room.set(spec.surge.name, surgeRoom);
    }
    capacity = { clients, room };
  }
  return { maxUnavailable: policy.maxUnavailable, groups, alone, down, capacity };
}

/** A member's change, with the member as observed and the version it runs. */
export type Change = MemberChange & { member: ObservedServer; from?: string };

/** The member steps of a batched rollout: followers in batches (planBatches), then the meta leader alone. */
export function batchedSteps(
  observed: ObservedCluster,
  spec: ClusterSpec,
  policy: RolloutPolicy,
  ordered: ReadonlyArray<Change>,
  leader: string | undefined,
  surgeIn: boolean,
): BatchedStep[] {
  const followers = ordered.filter((c) => c.member.name !== leader);
  const last = ordered.find((c) => c.member.name === leader);
  const names = followers.map((c) => c.member.name);
  const { batches, why } = planBatches(names, batchInputsOf(observed, spec, policy, names, surgeIn));
  const byName = new Map(followers.map((c) => [c.member.name, c]));
  const steps: BatchedStep[] = batches.flatMap((batch, i) =>
    batch.map((name): BatchedStep => {
      const c = byName.get(name)!;
      const kept = why.get(name);
      return {
        kind: c.kind,
        server: name,
        from: c.from,
        to: spec.version,
        reason: c.reason + (kept ? `; ${kept}` : ""),
        batch: i + 1,
      };
    }),
  );
  if (last) {
    const stepsDown = spec.jetstream.enabled && last.kind === "restart-member" ? ", steps down first" : "";
    steps.push({
      kind: last.kind,
      server: last.member.name,
      from: last.from,
      to: spec.version,
      reason: `${last.reason}; JetStream meta leader: last, in a batch of its own${stepsDown}`,
      batch: batches.length + 1,
    });
  }
  return steps;
}
