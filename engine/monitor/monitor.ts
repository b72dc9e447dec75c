import { Connz, Gatewayz, HealthzResult, Jsz, Leafz, Routez, Varz } from "./types";

/**
 * What `/jsz` (HTTP) or `JSZ` (system account) should include. HTTP spells them `accounts=true&streams=true&
 * consumers=true`; the system account's request body `{"accounts":true,"streams":true,"consumer":true}` (nats-server's
 * JSzOptions: `consumer`, singular).
 */
export interface JszOptions {
  /** Every account's JetStream usage. */
  readonly accounts?: boolean;
  /** Every account's streams (implies accounts). */
  readonly streams?: boolean;
  /** Each stream's consumers (with streams). */
  readonly consumers?: boolean;
}

/**
 * What `/healthz` (HTTP) or `HEALTHZ` (system account) should check. Same names as nats-server's query parameters
 * and JSON options: `js-server-only`, `js-enabled-only`, `details`.
 */
export interface HealthzOptions {
  /** Only the server itself: listeners up and, with JetStream, its JetStream server running (2.11+: "ready"). */
  readonly jsServerOnly?: boolean;
  /** Only that JetStream is enabled, when it should be. */
  readonly jsEnabledOnly?: boolean;
  /** List every failure in `errors` (2.10+), not only the first in `error`. */
  readonly details?: boolean;
}

/**
 * One server's monitoring data as the gates and the observation read it, whichever way it is fetched: the HTTP
 * monitoring port ({@link MonitorClient}) or requests to the server as the system account over an authenticated
 * NATS connection ({@link SystemAccountMonitor}). Both decode with the same decoders (decode.ts) and fail with a
 * {@link MonitorError} naming where they asked and why, so a gate reads the same facts and quotes the same kind of
 * reason either way.
 */
export interface ServerMonitor {
  /** Where this monitor asks, for messages: `http://host:8222`, or the server's client URL and the system account. */
  readonly label: string;
  varz(): Promise<Varz>;
  routez(): Promise<Routez>;
  /** This server's gateway connections to the other clusters of a supercluster. */
  gatewayz(): Promise<Gatewayz>;
  /** This server's leaf-node connections (on a hub: the leaf servers connected to it). */
  leafz(): Promise<Leafz>;
  jsz(options?: JszOptions): Promise<Jsz>;
  /**
   * Where every Raft group with a replica on this server lives: `jsz` with every account's streams and their
   * consumers. Only the quorum-aware batching reads it.
   */
  jszPlacement(): Promise<Jsz>;
  /**
   * `connz` with one connection listed: the engine reads `total`, every client of the server (`num_connections` is
   * the length of the page). Over the system account the monitor's own connection is one of them.
   */
  connz(): Promise<Connz>;
  /** An unhealthy server is an answer, not an error: the status comes back with the body. */
  healthz(options?: HealthzOptions): Promise<HealthzResult>;
  /**
   * Close the connection held to the server now, if any (nothing over HTTP); the next call opens a new one. Before a
   * server's lame duck: nats-server exits at once when no client is connected, but waits out its grace period and
   * closes clients one by one when one is, and the engine's own monitoring connection must not be that client.
   */
  disconnect(): Promise<void>;
  /** Let go of what the monitor holds (the system account's NATS connection; nothing over HTTP). Idempotent. */
  close(): Promise<void>;
}

/** The options of a placement read (every account, stream and consumer). */
export const PLACEMENT_JSZ: JszOptions = { accounts: true, streams: true, consumers: true };
