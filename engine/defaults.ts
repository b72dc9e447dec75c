/**
 * Every default and limit of the engine, named once (as nats-server's own const.go does). Everything else imports
 * these: the stack-config decoder, validation, the planner's estimate, the platforms' stop timeouts.
 * Each value's anchor is in the README's "Policy defaults and where they come from" table.
 */
import type { LameDuckSpec, RolloutPolicy, SurgeSpec } from "./spec";

/** nats-server refuses a shorter `lame_duck_duration` ("invalid lame_duck_duration of 3s, minimum is 30 seconds"). */
export const MIN_LAME_DUCK_SECONDS = 30;

/** The Helm chart's `lame_duck_duration: 30s` and `lame_duck_grace_period: 10s`. */
export const DEFAULT_LAME_DUCK: LameDuckSpec = { durationSeconds: 30, gracePeriodSeconds: 10 };

/** nats-server's default ports; a VM uses them unless the stack says otherwise. */
export const DEFAULT_PORTS = { clientPort: 4222, clusterPort: 6222, monitorPort: 8222 } as const;

/** nats-server's conventional gateway port (the NATS docs' examples; nats-server has no default of its own). */
export const DEFAULT_GATEWAY_PORT = 7222;

/** nats-server's own default leafnode port (`DEFAULT_LEAFNODE_PORT` in server/const.go; the docs' `port` default). */
export const DEFAULT_LEAFNODE_PORT = 7422;

/** The account a leaf connection binds to when the spec names none: the global account `$G`. */
export const DEFAULT_LEAF_ACCOUNT = "$G";

/**
 * Leaf servers are rolled BEFORE their hub cluster. nats-server's only version rule between a hub and its leaves is
 * the hub's `leafnodes { min_version }`: the hub refuses a leaf older than it names (server/leafnode.go,
 * processLeafNodeConnect: `!versionAtLeast(proto.Version, major, minor, update)` → ErrLeafNodeMinVersionRejected;
 * https://docs.nats.io/reference/config/leafnodes/min_version, nats-io/nats-server#3013), and nothing refuses a leaf
 * for being newer than its hub. A leaf upgraded first is accepted before and after the hub's rollout whatever
 * min_version the hub has; a hub upgraded first with min_version raised would refuse the leaves not yet upgraded.
 * A supercluster run (engine/supercluster/order.ts) rolls every leaf cluster before the clusters joined by
 * gateways; test/rollout/leafnodes.test.ts and test/rollout/supercluster.test.ts run it on real servers.
 */
export const LEAF_ROLLOUT_ORDER = "leaves-before-hub" as const;

/** The official systemd unit's `TimeoutStopSec=150` ("lame_duck_duration + some buffer"). */
export const DEFAULT_STOP_TIMEOUT_SECONDS = 150;

/** How a rollout behaves unless the stack says otherwise. */
export const DEFAULT_POLICY: RolloutPolicy = {
  autoRollback: true,
  useSurge: true,
  healthyDeadlineSeconds: 300,
  minHealthySeconds: 10,
  pollIntervalMs: 1000,
  stopTimeoutSeconds: DEFAULT_STOP_TIMEOUT_SECONDS,
  allowUnsafeDowngrade: false,
  clientProbe: true,
  maxUnavailable: 1,
  watchPublishing: true,
};

/**
 * The soak of a client-only surge server (at most the policy's minHealthySeconds). It is capacity, not a member: it
 * holds no JetStream data and is in no Raft group, and before each member's lame duck the cluster check asks it again
 * and goes on without it if it died. A JetStream surge server (in the meta group) soaks like a member.
 */
export const CLIENT_ONLY_SURGE_SOAK_SECONDS = 2;

/** How long the surge server holds its gates after it starts. */
export function surgeSoakSeconds(surge: SurgeSpec, policy: RolloutPolicy): number {
  return surge.jetstream
    ? policy.minHealthySeconds
    : Math.min(policy.minHealthySeconds, CLIENT_ONLY_SURGE_SOAK_SECONDS);
}

/**
 * Pre-flight looks once (no soak): a healthy member passes at once, a sick one gets this long. A minute, because a
 * `pulumi up` run right after a network heals meets JetStream peers still catching up: measured on the lab, a member
 * was still not current 15 s after a partition healed (the fault matrix's partition-between), and the refusal that
 * followed only made the operator run again.
 */
export const PREFLIGHT_DEADLINE_MS = 60_000;

/** The final check after the surge server left: routes to it must have dropped by then. */
export const FINAL_CHECK_DEADLINE_MS = 60_000;

/** How long `pulumi preview` may spend observing the servers before it plans from the stack's inputs alone. */
export const PREVIEW_OBSERVE_DEADLINE_MS = 30_000;

/** How many servers are observed at once (preview and every re-observation): bounded so 50 members stay cheap. */
export const OBSERVE_CONCURRENCY = 16;

/** Listen address of servers on VMs (every interface); the local platform uses loopback. */
export const VM_LISTEN_HOST = "0.0.0.0";

/** Listen address of the local platform's processes. */
export const LOCAL_LISTEN_HOST = "127.0.0.1";

/** Rough per-step costs for the plan's estimate, in seconds, on top of lame-duck grace and soak. */
export const ESTIMATE_SECONDS = {
  /** A restart: process exit after grace, start, routes (nats-server connects routes about 1 s after start). */
  restartOverhead: 3,
  /** Gates after a restart, beyond the soak. */
  gateOverhead: 2,
  /** Pre-flight and final check together. */
  checks: 3,
  /** Starting a whole cluster (bootstrap): start, meta leader election, gates. */
  bootstrap: 15,
} as const;

/** `pulumi preview` warns when the servers' certificate expires within this many days (cert-manager renews at 2/3). */
export const TLS_EXPIRY_WARNING_DAYS = 30;

/**
 * How often a roller renews its lease on the members' hosts (engine/rollout/lease.ts): a few times within
 * {@link LEASE_STALE_MS}, so one slow SSH or SSM round trip never makes a live roller look dead.
 */
export const LEASE_HEARTBEAT_MS = 15_000;

/**
 * A lease whose heartbeat (the lease file's mtime, by the host's own clock) is older than this is reported as
 * probably dead: eight missed heartbeats. It is still broken only when the operator asks (`--break-lease`).
 */
export const LEASE_STALE_MS = 120_000;

/**
 * The rollout's client watch names its short-lived stream (engine/rollout/publish-watch.ts) with this prefix: the
 * placement reads (observe.ts) leave such streams out, and an operator can tell a left-over one.
 */
export const WATCH_STREAM_PREFIX = "NATS_ROLLOUT_WATCH_";

export function isWatchStream(name: string): boolean {
  return name.startsWith(WATCH_STREAM_PREFIX);
}

/**
 * A watch stream older than this is one an earlier rollout could not delete (its meta group split, its connection
 * gone): the next rollout deletes it. A day is the stream's own max age, far beyond any rollout still running.
 */
export const WATCH_STREAM_LEFTOVER_MS = 24 * 60 * 60 * 1000;
