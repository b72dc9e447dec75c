/**
 * What the stack-config decoder (decode.ts) returns: one cluster (`nats-cluster:members`, `surge`, …) or a
 * supercluster (`nats-cluster:clusters`), with the settings every cluster shares. Types only.
 */
import type {
  AuthSpec,
  ExpectedLeaf,
  JetStreamSpec,
  LameDuckSpec,
  RolloutPolicy,
  RouteMode,
  TlsPem,
  TlsSpec,
} from "../../engine";
import type { ServerPlacement } from "../platforms/platform";
import type { SurgePlacement } from "./servers";

export type { SurgePlacement } from "./servers";

/** `nats-cluster:tls.generate`: a CA of the stack's own and a server certificate for every host. */
export interface TlsGenerate {
  /** How long the server certificate is valid. Default 365. */
  readonly validityDays?: number;
  /** Bump it to issue a new server certificate (a rolling reload). */
  readonly rotation?: number;
}

/**
 * The settings of a stack that every cluster of it shares, decoded and validated. `auth` and `platformSecrets` are
 * plain here: callers keep them secret.
 */
export interface SharedStackConfig {
  /** `nats-cluster:platform`: the folder name of a platform (local, aws, ssh, …). */
  readonly platform: string;
  /** `nats-cluster:<platform>`, decoded by the platform. */
  readonly platformSettings: unknown;
  /** The platform's secret keys (e.g. an SSH private key), by key. */
  readonly platformSecrets?: Readonly<Record<string, string>>;
  /** `nats-cluster:version`, the nats-server version every member should run (a cluster may set its own). */
  readonly version: string;
  /** `nats-cluster:jetstream` (a boolean, or an object with limits). Default enabled. */
  readonly jetstream: JetStreamSpec;
  /** `nats-cluster:lameDuckDurationSeconds` and `nats-cluster:lameDuckGracePeriodSeconds`. */
  readonly lameDuck: LameDuckSpec;
  /** `nats-cluster:rollout`: RolloutPolicy fields to override. */
  readonly rollout: Partial<RolloutPolicy>;
  /**
   * `nats-cluster:rollout.eventsFile`: the file `pulumi up` appends the rollout's events to, one JSON line each
   * (`~/` is the home directory, a relative path is the project directory's). Not a policy field: where events go
   * changes nothing on the servers.
   */
  readonly eventsFile?: string;
  /**
   * `nats-cluster:rollout.metricsFile`: where `pulumi up` writes the last rollout's figures in Prometheus' text
   * format, for node_exporter's textfile collector (a `.prom` file in its directory). Not a policy field either.
   */
  readonly metricsFile?: string;
  /** `nats-cluster:rollout.timelineFile`: where `pulumi up` draws the rollout as a picture (an `.svg` file). */
  readonly timelineFile?: string;
  /**
   * `nats-cluster:tls`: what clients and routes run (`clients`, `routes`, `verify`) and where the material comes
   * from: `generate` (a CA the stack makes for itself), `nats-cluster:tlsPem` (secret), or paths on the hosts.
   */
  readonly tls?: Omit<TlsSpec, "pem">;
  /** `nats-cluster:tlsPem` (secret): the servers' certificate, key and CA as PEM, delivered by the platform. */
  readonly tlsPem?: TlsPem;
  /** `nats-cluster:tls.generate`: the stack makes its own CA and server certificate (ClusterCertificates). */
  readonly tlsGenerate?: TlsGenerate;
  /** `nats-cluster:monitoring`: `http` or `system-account` (the monitoring port then binds to 127.0.0.1). */
  readonly monitoring?: "http" | "system-account";
  /** `nats-cluster:noAdvertise`. */
  readonly noAdvertise?: boolean;
  /** `nats-cluster:extraSettings`: restart-relevant settings rendered verbatim. */
  readonly extraSettings?: Readonly<Record<string, string | number | boolean>>;
  /** `nats-cluster:auth` merged with `nats-cluster:systemAccount` (both secret). */
  readonly auth?: AuthSpec;
}

/** A stack of one cluster (`nats-cluster:members`, …): the stacks of before superclusters, unchanged. */
export interface StackConfig extends SharedStackConfig {
  /** `nats-cluster:clusterName`, the `cluster.name` of every server. Default `nats-<stack>`. */
  readonly clusterName: string;
  /** `nats-cluster:members` / `nats-cluster:memberCount`. */
  readonly members: ReadonlyArray<ServerPlacement>;
  /** `nats-cluster:surge`. */
  readonly surge: SurgePlacement;
  /** `nats-cluster:routeMode` (explicit) and `nats-cluster:seeds` (default: the first member). */
  readonly routes: RouteMode;
  /** Never set on a stack of one cluster (tells it from a {@link SuperclusterStackConfig}). */
  readonly clusters?: undefined;
}

/** One cluster of `nats-cluster:clusters`, defaults applied. */
export interface ClusterConfig {
  /** `clusters[i].name`: the cluster's `cluster.name`, and its gateway name. */
  readonly name: string;
  /** `clusters[i].version`, else `nats-cluster:version`. */
  readonly version: string;
  /** `clusters[i].members` / `clusters[i].memberCount` (a member may set `gatewayPort`, `leafnodePort`). */
  readonly members: ReadonlyArray<ServerPlacement>;
  /** `clusters[i].surge` (it may set `gatewayPort`). */
  readonly surge: SurgePlacement;
  /** `clusters[i].routeMode` and `clusters[i].seeds`. */
  readonly routes: RouteMode;
  /** `clusters[i].jetstream`, else `nats-cluster:jetstream` (off for a leaf cluster, which cannot run it yet). */
  readonly jetstream: JetStreamSpec;
  /** `clusters[i].gatewayPort`: the gateway port of its servers that set none. Default 7222. */
  readonly gatewayPort?: number;
  /**
   * `clusters[i].leafnodes`: leaf connections its members accept. A hub of the stack's leaf clusters accepts them
   * without it; `expected` defaults to every member of those leaf clusters.
   */
  readonly leafnodes?: { readonly port?: number; readonly expected?: ReadonlyArray<ExpectedLeaf> };
  /** `clusters[i].hub`: the name of the cluster of the stack this one is a leaf of. */
  readonly hub?: string;
}

/** A stack of several clusters (`nats-cluster:clusters`) joined by gateways, and leaf clusters on a hub. */
export interface SuperclusterStackConfig extends SharedStackConfig {
  /** The supercluster's name: `nats-<stack>` (the component's name; the common name of a generated CA). */
  readonly name: string;
  /** `nats-cluster:clusters`, in config order. */
  readonly clusters: ReadonlyArray<ClusterConfig>;
}
