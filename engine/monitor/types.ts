/**
 * Typed views of what nats-server's monitoring endpoints report, limited to the fields the engine reads.
 * Field names follow nats-server's own monitor types (server/monitor.go: Varz, Routez, JSInfo, HealthStatus, Connz);
 * fields added in later releases are optional.
 */

/** `/varz` (subset). */
export interface Varz {
  readonly server_id: string;
  readonly server_name: string;
  readonly version: string;
  readonly start: string;
  readonly now: string;
  readonly connections: number;
  /** `max_connections`: the server's client limit (nats-server default 65536). */
  readonly max_connections?: number;
  readonly routes: number;
  readonly connect_urls?: ReadonlyArray<string>;
  readonly config_load_time?: string;
  /** 2.11+: sha256 of the loaded config. */
  readonly config_digest?: string;
  /** Client TLS: required (no `allow_non_tls`), and the loaded certificate's expiry (updated by a reload). */
  readonly tls_required?: boolean;
  readonly tls_verify?: boolean;
  readonly tls_cert_not_after?: string;
  readonly cluster?: {
    readonly name?: string;
    readonly urls?: ReadonlyArray<string>;
    readonly pool_size?: number;
    /** Expiry of the route certificate in the loaded config; absent without route TLS. Updated by a reload. */
    readonly tls_cert_not_after?: string;
  };
  readonly jetstream?: {
    readonly config?: { readonly store_dir?: string };
    readonly meta?: MetaClusterInfo;
  };
}

/** One Raft peer as the meta group reports it. */
export interface PeerInfo {
  readonly name: string;
  readonly current: boolean;
  readonly offline?: boolean;
  readonly active?: number;
  readonly lag?: number;
  readonly peer?: string;
}

/** `meta_cluster` of `/jsz`, `jetstream.meta` of `/varz`. The leader's own entry is not in `replicas`. */
export interface MetaClusterInfo {
  readonly name?: string;
  readonly leader?: string;
  readonly peer?: string;
  readonly replicas?: ReadonlyArray<PeerInfo>;
  readonly cluster_size?: number;
}

/** `/jsz` (subset). */
export interface Jsz {
  readonly server_id: string;
  readonly disabled?: boolean;
  readonly streams?: number;
  readonly messages?: number;
  readonly meta_cluster?: MetaClusterInfo;
  /** With `streams=true` (and `consumers=true`): the accounts' assets that have a replica on THIS server. */
  readonly account_details?: ReadonlyArray<AccountDetail> | null;
}

/**
 * Where one Raft group lives, as a server hosting a replica of it reports it (ClusterInfo). On the reporting server
 * `replicas` lists the other peers (the reporter itself is left out, the leader is in it unless the reporter leads);
 * an R1 asset has no `replicas` and no `raft_group`, only `leader`. Checked on nats-server 2.14.9 and 2.15.x.
 */
export interface RaftClusterInfo {
  readonly name?: string;
  /** 2.10+: the Raft group's name (`S-R3F-…`, `C-R3F-…`); absent for R1. */
  readonly raft_group?: string;
  readonly leader?: string;
  readonly replicas?: ReadonlyArray<PeerInfo> | null;
}

/** One stream of `/jsz?streams=true&consumers=true` `account_details[].stream_detail`. */
export interface StreamDetail {
  readonly name: string;
  readonly cluster?: RaftClusterInfo;
  readonly consumer_detail?: ReadonlyArray<ConsumerDetail> | null;
}

/** One consumer of a {@link StreamDetail}. */
export interface ConsumerDetail {
  readonly stream_name?: string;
  readonly name: string;
  readonly cluster?: RaftClusterInfo;
}

/** One account of `/jsz` `account_details` (`$G` when no accounts are configured). */
export interface AccountDetail {
  readonly name: string;
  readonly id?: string;
  readonly stream_detail?: ReadonlyArray<StreamDetail> | null;
}

/** One route connection of `/routez`. With route pooling there are several per peer. */
export interface RouteInfo {
  readonly rid: number;
  readonly remote_id: string;
  readonly remote_name?: string;
  readonly did_solicit?: boolean;
  readonly is_configured?: boolean;
  readonly ip?: string;
  readonly port?: number;
}

/** `/routez`: `num_routes` counts connections, not peers. */
export interface Routez {
  readonly server_id: string;
  readonly server_name?: string;
  readonly num_routes: number;
  readonly routes: ReadonlyArray<RouteInfo> | null;
}

/** One gateway connection of `/gatewayz` (nats-server's RemoteGatewayz, the part the gate reads). */
export interface RemoteGatewayz {
  /** From this server's config (outbound), or learned by gossip. */
  readonly configured: boolean;
  /** Absent while not connected. */
  readonly connection?: { readonly name?: string; readonly ip?: string; readonly port?: number };
}

/** `/gatewayz`: this server's gateway connections to the other clusters, by cluster name. */
export interface Gatewayz {
  readonly server_id: string;
  /** This server's cluster (gateway) name; absent without a `gateway {}` block. */
  readonly name?: string;
  /** One connection out to each other cluster. */
  readonly outbound_gateways?: Readonly<Record<string, RemoteGatewayz>> | null;
  /** Connections in from the other clusters' servers, by cluster. */
  readonly inbound_gateways?: Readonly<Record<string, ReadonlyArray<RemoteGatewayz>>> | null;
}

/** One leaf-node connection of `/leafz` (nats-server's LeafInfo, server/monitor.go; the part the engine reads). */
export interface LeafInfo {
  /** The connection id on this server. */
  readonly id?: number;
  /** The server name of the other side (the leaf server, on a hub). */
  readonly name: string;
  /** True on the side that solicited the connection (the leaf); a hub reports the leaves it accepted as false. */
  readonly is_spoke?: boolean;
  /** The account of this server the connection is bound to (`$G` without accounts). */
  readonly account: string;
  readonly ip?: string;
  readonly port?: number;
  readonly rtt?: string;
  readonly in_msgs?: number;
  readonly out_msgs?: number;
  /** How many subscriptions (interest) the other side has sent over this connection. */
  readonly subscriptions?: number;
}

/** `/leafz`: this server's leaf-node connections (nats-server's Leafz). */
export interface Leafz {
  readonly server_id: string;
  readonly now?: string;
  /** How many leaf connections follow. */
  readonly leafnodes: number;
  readonly leafs: ReadonlyArray<LeafInfo> | null;
}

/** `/healthz` body. With `details=true` (2.10+) failures are listed in `errors`. */
export interface Healthz {
  readonly status: "ok" | "unavailable" | "error" | string;
  readonly status_code?: number;
  readonly error?: string;
  readonly errors?: ReadonlyArray<{ readonly type?: string; readonly error: string }>;
}

/** `/connz` (subset). */
export interface Connz {
  readonly server_id: string;
  /** How many connections this answer lists (at most its `limit`). */
  readonly num_connections: number;
  /** How many client connections the server has. */
  readonly total: number;
}

/** What one health check saw: the HTTP status and the body, so failures can quote the server. */
export interface HealthzResult {
  readonly httpStatus: number;
  readonly body: Healthz;
}

/** Distinct peers of a `/routez` answer (by name, falling back to id for servers without names). */
export function routePeers(r: Routez): string[] {
  const names = new Set<string>();
  for (const route of r.routes ?? []) names.add(route.remote_name || route.remote_id);
  return [...names].sort();
}
