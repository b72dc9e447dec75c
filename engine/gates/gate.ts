import { ServerMonitor } from "../monitor/monitor";
import { ServerEndpoint } from "../spec";

/** The health gates a server must pass, in the order they are checked. */
export type GateName =
  | "ready"
  | "version"
  | "routes"
  | "gateways"
  | "leafnodes"
  | "hub"
  | "jetstream"
  | "client-probe"
  | "config-reloaded"
  | "tls";

/** One look at a server: did the gate pass, and what did the server say (quoted in progress and failure reports). */
export interface GateObservation {
  readonly ok: boolean;
  readonly observation: string;
}

/** What a server is expected to show once it is healthy. */
export interface GateExpectation {
  /** nats-server version the server must report in `/varz`. */
  readonly version: string;
  /** Names of the servers it must have routes to (distinct peers, not connections). */
  readonly routePeers: ReadonlyArray<string>;
  /**
   * Servers it must route to only while they answer on their monitoring port: the surge server, which is capacity,
   * not part of the cluster's safety. A surge VM that died mid-rollout then costs a warning, not a failed gate and a
   * rollback of a healthy member.
   */
  readonly routePeersIfUp?: ReadonlyArray<string>;
  /** Names of the JetStream meta group members, when JetStream is on; every one must be current at the leader. */
  readonly metaPeers?: ReadonlyArray<string>;
  /** Meta peers that may be offline or behind (a member known to be down): present, but not required current. */
  readonly metaPeersAllowedOffline?: ReadonlyArray<string>;
  /**
   * Servers leaving the cluster (removed from the spec, their removal not done yet): allowed in the meta group,
   * offline or not, never required. Any other peer beyond `metaPeers` is unexpected (a ghost) and fails the gate.
   */
  readonly metaPeersLeaving?: ReadonlyArray<string>;
  /**
   * Peers of the other clusters of a supercluster that may be in the meta group or not (a member not started yet,
   * a JetStream surge server): never required, never unexpected.
   */
  readonly metaPeersOptional?: ReadonlyArray<string>;
  /** After a reload: `/varz` config_load_time must be later than this ISO time. */
  readonly configLoadedAfter?: string;
}

export interface GateTarget {
  readonly server: ServerEndpoint;
  readonly monitor: ServerMonitor;
  readonly expect: GateExpectation;
}

/** A gate is one check against one server; it never throws (an unreachable server is a failed observation). */
export interface Gate {
  readonly name: GateName;
  check(target: GateTarget): Promise<GateObservation>;
}

export { describeError } from "../util/async";
