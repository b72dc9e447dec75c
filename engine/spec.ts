/**
 * The typed description of a NATS cluster that the rollout engine works from.
 * Everything here is plain data (no Pulumi types): the Pulumi components build a ClusterSpec from stack config,
 * the engine validates it (engine/validate.ts), renders server configs from it (engine/config/) and rolls it out.
 */

/** Where one nats-server listens. Every server (member or surge) has its own name and ports. */
export interface ServerEndpoint {
  /** `server_name`: unique in the cluster; the JetStream Raft peer id is derived from it. */
  readonly name: string;
  /** Address clients, peers and the engine use to reach the server (an IP or DNS name; `127.0.0.1` locally). */
  readonly host: string;
  /** Client port (nats-server default 4222). */
  readonly clientPort: number;
  /** Cluster (route) port (default 6222). */
  readonly clusterPort: number;
  /** Monitoring HTTP port (default 8222): every health gate reads it. */
  readonly monitorPort: number;
  /** Gateway port (default the spec's `gateways.port`, else 7222), when the cluster has gateways. */
  readonly gatewayPort?: number;
  /**
   * Port leaf servers connect to (default the spec's `leafnodes.port`, else 7422), when the cluster accepts leaf
   * nodes. Members only: the surge server accepts none (see {@link LeafNodeSpec}).
   */
  readonly leafnodePort?: number;
}

/** A permanent cluster member. */
export type MemberSpec = ServerEndpoint;

/** The temporary surge server that carries clients while members restart. */
export interface SurgeSpec extends ServerEndpoint {
  /**
   * Run JetStream on the surge server too. Default false: a client-only surge server never joins the JetStream
   * meta group, so it cannot leave a ghost Raft peer behind. When true, the engine peer-removes it when it leaves
   * (needs `auth.systemAccount`).
   */
  readonly jetstream?: boolean;
}

/** Client authentication. Values here are secrets: they are rendered into config files and never logged. */
export interface AuthSpec {
  /** `authorization { token }`. Mutually exclusive with users and nkeys. */
  readonly token?: string;
  /** `authorization { users: [{user, password}] }`. */
  readonly users?: ReadonlyArray<{ readonly user: string; readonly password: string }>;
  /** `authorization { users: [{nkey}] }`: user public nkeys (`U…`). The engine's own client needs `probeNkeySeed`. */
  readonly nkeys?: ReadonlyArray<string>;
  /** Seed (`SU…`) of one of `nkeys`, used by the engine's client probe when only nkeys are configured. */
  readonly probeNkeySeed?: string;
  /**
   * A system-account user (`system_account`), so the engine can ask the meta leader to step down before it
   * restarts it and can peer-remove a JetStream surge server. Optional: without it the meta leader steps down by
   * itself when lame duck mode starts.
   */
  readonly systemAccount?: { readonly user: string; readonly password: string };
}

/**
 * Certificate material the engine delivers to every server's host itself (local files, over SSH, …), written
 * beside the config with mode 0600 and referenced from it. The key is a secret: never logged, never on a command
 * line, and a Pulumi secret in state.
 */
export interface TlsPem {
  /** The servers' certificate (PEM; a chain may follow it). One for every server: its SANs cover every host. */
  readonly certPem: string;
  /** Its private key (PEM). A secret. */
  readonly keyPem: string;
  /**
   * The CA (PEM) that signed `certPem`: the engine's clients verify servers with it, and servers verify each other's
   * route certificates with it, so only a server holding a certificate of this CA can join the cluster.
   */
  readonly caPem: string;
}

/**
 * What client connections must do: `required` (TLS only), `optional` (`allow_non_tls`: TLS and plaintext both, the
 * phase that lets clients move to TLS one by one), `off` (plaintext; route TLS may still be on).
 */
export type ClientTlsMode = "required" | "optional" | "off";

/**
 * TLS: for clients (`tls {}`), and for routes (`cluster { tls {} }`, always mutual: the route's certificate is checked
 * against the CA). Either the material is delivered by the platform (`pem`, the secure default) or it is already on
 * every host (`certFile`/`keyFile`/`caFile`, paths there).
 */
export interface TlsSpec {
  /** Material the engine writes to each host (see {@link TlsPem}). Exclusive with the file paths. */
  readonly pem?: TlsPem;
  /** Path of the certificate on each host, when the operator put it there (no `pem`). */
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly caFile?: string;
  /** Client connections; default `required`. */
  readonly clients?: ClientTlsMode;
  /**
   * Mutual TLS on routes, with the CA as the only trust: a server without a certificate of the cluster's CA cannot
   * join (route authentication by certificate). Default true with `pem` (the material is checked for it at preview:
   * the certificate must be good for both ends of a route); with files on the hosts, set it yourself.
   */
  readonly routes?: boolean;
  /** Require client certificates (`verify: true`) on client connections. */
  readonly verify?: boolean;
  /**
   * A client certificate and key (paths on the machine running the engine) for the engine's own clients: the client
   * probe, the traffic watch and system-account requests. Needed when `verify` is on.
   */
  readonly probeCertFile?: string;
  readonly probeKeyFile?: string;
}

/**
 * What the platform delivers into a host's TLS directory: the spec's material, and the gateway's CA bundle (this
 * cluster's CA and `gateways.trustedCaPem`) when the gateway trusts other CAs too.
 */
export interface DeliveredTls extends TlsPem {
  readonly gatewayCaPem?: string;
}

/** Client TLS as the spec asks for it (`off` without a `tls` block). */
export function clientTlsMode(spec: Pick<ClusterSpec, "tls">): ClientTlsMode {
  return spec.tls ? (spec.tls.clients ?? "required") : "off";
}

/** Whether routes run mutual TLS (default on when the platform delivers the material). */
export function routeTlsOn(spec: Pick<ClusterSpec, "tls">): boolean {
  const tls = spec.tls;
  if (!tls) return false;
  return tls.routes ?? tls.pem !== undefined;
}

/**
 * Whether the gateways run mutual TLS: with route TLS, when the servers have a CA to verify with (delivered, or
 * `tls.caFile`). Gateways follow routes: both are server-to-server links, authenticated the same way.
 */
export function gatewayTlsOn(spec: Pick<ClusterSpec, "tls" | "gateways">): boolean {
  if (!spec.gateways || !routeTlsOn(spec)) return false;
  return spec.tls?.pem !== undefined || spec.tls?.caFile !== undefined;
}

export interface JetStreamSpec {
  readonly enabled: boolean;
  /** `max_memory_store` in bytes (optional). */
  readonly maxMemoryBytes?: number;
  /** `max_file_store` in bytes (optional). */
  readonly maxFileBytes?: number;
}

export interface LameDuckSpec {
  /** `lame_duck_duration` in seconds; nats-server refuses less than 30. Default 30 (Helm chart). */
  readonly durationSeconds: number;
  /** `lame_duck_grace_period` in seconds; must be below the duration. Default 10 (Helm chart). */
  readonly gracePeriodSeconds: number;
}

/** Another cluster of the supercluster, as this cluster's servers reach it. */
export interface RemoteGateway {
  /** That cluster's `cluster.name` (its gateway name). */
  readonly name: string;
  /** Gateway URLs of some of its servers (`nats://host:7222`); gossip completes the rest. */
  readonly urls: ReadonlyArray<string>;
}

/**
 * The gateways that join this cluster to the other clusters of a supercluster (`gateway {}`): every server of this
 * cluster (the surge server too: a server without a gateway forwards nothing to the other clusters) listens on its
 * gateway port and connects out to each remote cluster.
 * With route TLS on, the gateways run mutual TLS too, with the servers' certificate (nats-server makes gateway TLS
 * mutual whatever `verify` says): a server joins as a gateway only with a certificate of a CA the gateway trusts, which
 * is this cluster's CA and `trustedCaPem`. Without route TLS they are plaintext and unauthenticated (a warning).
 */
export interface GatewaySpec {
  /** The gateway port of a server that does not set its own `gatewayPort`. Default 7222. */
  readonly port?: number;
  readonly remotes: ReadonlyArray<RemoteGateway>;
  /**
   * The CA certificates (PEM, one or more) of the other clusters, when they are not this cluster's own CA (a stack
   * with `tls.generate` makes a CA of its own): the gateway trusts them besides `tls.pem.caPem`, routes and clients
   * do not. Public material; delivered with `tls.pem` as a bundle the gateway block alone names. Needs route TLS
   * with `tls.pem`. A change of it is a restart: a reload would keep the gateways already made with the old trust.
   */
  readonly trustedCaPem?: string;
}

/** A leaf server expected to be connected to this cluster: the leafnodes gate waits for it after every restart. */
export interface ExpectedLeaf {
  /** The leaf server's `server_name`, as the hub's `/leafz` reports it (`leafs[].name`). */
  readonly name: string;
  /**
   * The account of this cluster the leaf connection binds to, as `/leafz` reports it (`leafs[].account`). Default
   * `$G`, the global account, where this engine keeps application clients (engine/config/render.ts).
   */
  readonly account?: string;
}

/**
 * Leaf-node connections this cluster accepts (`leafnodes { listen }` on every member): it is the hub of leaf servers
 * whose own `leafnodes { remotes }` point at the members. A leaf connects to ONE member; the members gossip each
 * other's leafnode URLs to it, so it moves to another member when its own restarts.
 * Leaf connections are accepted the way clients are: the cluster's client authentication (`auth`, no separate
 * `leafnodes { authorization }`) and its client TLS (`tls.clients: required` puts the same certificate, CA and
 * `verify` on the leafnode port; `optional` is refused, since the leafnode port has no `allow_non_tls`).
 * The surge server accepts no leaf: a leaf that moved onto it would have to move again when it leaves.
 */
export interface LeafNodeSpec {
  /** The leafnode port of a member that does not set its own `leafnodePort`. Default 7422 (nats-server's). */
  readonly port?: number;
  /**
   * The leaf servers that must be connected (to some member) for the cluster to be whole: after each restart the
   * rollout waits for every one of them, and pre-flight refuses while one is missing. Absent or empty: leaf
   * connections are accepted, none is waited for.
   */
  readonly expected?: ReadonlyArray<ExpectedLeaf>;
}

/**
 * This cluster is a leaf of a hub cluster: every server (the surge server too, so clients moved onto it still reach
 * the hub) connects out to the hub (`leafnodes { remotes: [{ urls }] }`). A hub accepts a leaf the way it accepts a
 * client, so the leaf authenticates as a user of the hub's client auth (`user`), and over TLS when the hub's clients
 * must use TLS (`tls`). Leaf servers are rolled before their hub (engine/defaults.ts LEAF_ROLLOUT_ORDER).
 */
export interface HubSpec {
  /**
   * Leafnode URLs of some of the hub's servers (`nats-leaf://host:7422`), without credentials; the hub gossips the
   * rest. Public: they go to state and to the engine's reports as written here.
   */
  readonly urls: ReadonlyArray<string>;
  /**
   * The user of this cluster's `auth.users` the leaf connects to the hub as (the hub must know it with the same
   * password: in a supercluster the auth is shared by every cluster). Only the name is here: the password is taken
   * from `auth.users` when the config file is rendered (into the remote's URL, percent-encoded), so the spec, its
   * state and the engine's reports never hold it. Required when this cluster has `auth.users`; absent: the leaf
   * connects without credentials (a hub without client auth).
   */
  readonly user?: string;
  /**
   * Connect to the hub over TLS, verifying it with this cluster's CA (`tls.pem.caPem` or `tls.caFile`: in a
   * supercluster the one CA of every cluster) and presenting this cluster's certificate (for a hub with
   * `tls.verify`). Needed when the hub's clients must use TLS (its leafnode port is then TLS only). Default: on when
   * this cluster's own clients must use TLS (`tls.clients` "required"), off otherwise.
   */
  readonly tls?: boolean;
}

/** Whether this cluster's leaf connection to its hub runs TLS ({@link HubSpec.tls}; false without a hub). */
export function hubTlsOn(spec: Pick<ClusterSpec, "tls" | "hub">): boolean {
  if (!spec.hub) return false;
  return spec.hub.tls ?? clientTlsMode(spec) === "required";
}

/** How members find each other (the docs' "explicit routes" vs "seed servers"). */
export type RouteMode =
  /** Every member lists every member (self-routes are ignored by nats-server, one config for all). */
  | { readonly kind: "explicit" }
  /** Members list only the seed servers; gossip completes the full mesh. */
  | { readonly kind: "seed"; readonly seeds: ReadonlyArray<string> };

/** The whole cluster as the operator wants it. */
export interface ClusterSpec {
  /** `cluster.name`. */
  readonly name: string;
  /** Target nats-server version, e.g. "2.15.2" (no leading v). */
  readonly version: string;
  readonly members: ReadonlyArray<MemberSpec>;
  readonly surge: SurgeSpec;
  readonly routes: RouteMode;
  readonly jetstream: JetStreamSpec;
  readonly lameDuck: LameDuckSpec;
  readonly auth?: AuthSpec;
  readonly tls?: TlsSpec;
  /**
   * How the engine reads what each server reports (`/varz`, `/healthz`, `/jsz`, `/routez`). `http`: the monitoring
   * port (default). `system-account`: `$SYS.REQ.SERVER.<id>.*` requests over an authenticated (TLS) client connection
   * as the system-account user; the monitoring port then binds to 127.0.0.1 and nothing off the host reaches it.
   * Needs `auth.systemAccount`.
   */
  readonly monitoring?: "http" | "system-account";
  /** `cluster.no_advertise` (Helm chart default true). Default false here: clients must learn the surge server. */
  readonly noAdvertise?: boolean;
  /** Gateways to the other clusters of a supercluster; absent: a cluster of its own. */
  readonly gateways?: GatewaySpec;
  /** Leaf-node connections the members accept (this cluster as a hub); absent: none. */
  readonly leafnodes?: LeafNodeSpec;
  /** The hub this cluster is a leaf of; absent: a leaf of nothing. */
  readonly hub?: HubSpec;
  /** Extra top-level settings that need a restart when changed, e.g. `{ max_payload: 2097152 }`. Rendered verbatim. */
  readonly extraSettings?: Readonly<Record<string, string | number | boolean>>;
}

/** How the rollout behaves. Every default is documented in the README next to the controller it was taken from. */
export interface RolloutPolicy {
  /** Roll a failed member back to its previous version through the same gates. Default true. */
  readonly autoRollback: boolean;
  /** Bring up the surge server before touching members. Default true. */
  readonly useSurge: boolean;
  /** Deadline for a member's gates to pass after a restart (Nomad healthy_deadline 5m). Default 300. */
  readonly healthyDeadlineSeconds: number;
  /** Soak: the gates must keep passing this long (Nomad min_healthy_time 10s). Default 10. */
  readonly minHealthySeconds: number;
  /** How often gates poll. Default 1000 ms. */
  readonly pollIntervalMs: number;
  /** Deadline for a server in lame duck to exit before it is killed (systemd TimeoutStopSec 150). Default 150. */
  readonly stopTimeoutSeconds: number;
  /** Allow downgrades across known storage-format boundaries. Default false. */
  readonly allowUnsafeDowngrade: boolean;
  /** Publish through the member and receive through a peer as part of its gates. Default true. */
  readonly clientProbe: boolean;
  /**
   * How many members may be down at once (a whole number, at least 1). Default 1: one member at a time, the NATS
   * docs' way. Above 1 the planner groups members into batches that can be down together without any JetStream Raft
   * group (the meta group, every stream's and consumer's) losing its quorum and without more clients than the
   * servers left up (the surge server included) have room for; the meta leader still goes last, alone.
   */
  readonly maxUnavailable: number;
  /**
   * With JetStream, the rollout's client watch also publishes with acks, one publisher first connected to each member,
   * to a short-lived memory stream of its own (engine/rollout/publish-watch.ts), and reports per member what was
   * published, acked, timed out and lost. Default true; false when the engine's client account must hold no stream
   * of the engine's, not even for the length of a rollout.
   */
  readonly watchPublishing: boolean;
}

/** Every server of the spec, members first, the surge server last. */
export function allServers(spec: ClusterSpec): ServerEndpoint[] {
  return [...spec.members, spec.surge];
}

export function clientUrl(s: ServerEndpoint): string {
  return `nats://${s.host}:${s.clientPort}`;
}
export function clusterUrl(s: ServerEndpoint): string {
  return `nats://${s.host}:${s.clusterPort}`;
}
export function monitorUrl(s: ServerEndpoint): string {
  return `http://${s.host}:${s.monitorPort}`;
}
