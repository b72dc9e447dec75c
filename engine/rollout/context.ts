import { configTextFor } from "../config/text";
import { deliveredTls } from "../config/for-server";
import { clientProbeGate } from "../gates/client-probe";
import { configReloadedGate, gatewaysGate, jetstreamGate, readyGate, routesGate, versionGate } from "../gates/checks";
import { Gate, GateExpectation, GateName, GateTarget } from "../gates/gate";
import { hubGate, leafnodesGate } from "../gates/leafnodes";
import { tlsGate } from "../gates/tls";
import { runGates, GateRunResult } from "../gates/run";
import { HostDriver } from "../hosts/driver";
import { createMonitor } from "../monitor/factory";
import { ServerMonitor } from "../monitor/monitor";
import { allServers, ClusterSpec, RolloutPolicy, ServerEndpoint } from "../spec";
import { seconds } from "../util/duration";
import { EventLog, StepKind } from "./events";
import { REAL_PACE, RolloutPace } from "./pace";
import { NO_OTHER_PEERS, OtherCluster, OtherMetaPeers } from "./other-clusters";
import { TrafficWatch } from "./traffic-watch";

/** Makes the monitor of one server, connecting with `clientSpec` (engine/monitor/factory.ts createMonitor). */
export type MonitorFactory = (clientSpec: ClusterSpec, server: ServerEndpoint) => ServerMonitor;

/**
 * What a test replaces to run the executor without servers (test/support/fakes/): where monitors come from, and
 * the executor's own waits. A real rollout leaves both out.
 */
export interface RolloutSeams {
  /** Default: createMonitor (HTTP or the system account, as the spec says). */
  readonly monitors?: MonitorFactory;
  /** Default: REAL_PACE. */
  readonly pace?: Partial<RolloutPace>;
  /** The client traffic watched during a rollout (default: a request/reply loop through the cluster). */
  readonly traffic?: (clientSpec: ClusterSpec) => ClientTraffic;
}

/** What clients felt during a rollout, measured from pre-flight to the end (traffic-watch.ts TrafficWatch). */
export type ClientTraffic = Pick<TrafficWatch, "start" | "stop">;

/**
 * Which servers are part of the cluster at one point of a rollout, as the plan and the observation say: the surge
 * server while it is in, and the members known to be down (found down, until recovered). Gate expectations are
 * derived from it. A value: the executor makes a new one at each step instead of mutating shared state.
 */
export interface ClusterView {
  /** The surge server is in the cluster: peers route to it, and a JetStream surge is in the meta group. */
  readonly surgeIn: boolean;
  /** Members that are down: no peer expects routes to them, and the meta group may show them offline. */
  readonly down: ReadonlySet<string>;
  /**
   * Servers leaving the cluster whose removal is not done yet: the meta group may still list them (offline or
   * not), nothing requires them. Absent: none.
   */
  readonly leaving?: ReadonlySet<string>;
}

export const withSurge = (view: ClusterView, surgeIn: boolean): ClusterView => ({ ...view, surgeIn });
export const withMemberDown = (view: ClusterView, name: string): ClusterView => ({
  ...view,
  down: new Set([...view.down, name]),
});
export const withoutLeaving = (view: ClusterView, name: string): ClusterView => ({
  ...view,
  leaving: new Set([...(view.leaving ?? [])].filter((n) => n !== name)),
});
export const withMemberUp = (view: ClusterView, name: string): ClusterView => ({
  ...view,
  down: new Set([...view.down].filter((n) => n !== name)),
});

/** Options of one gate run. */
export interface GateOptions {
  /** Hold the gates for the policy's soak time (default true). */
  readonly soak?: boolean;
  /** A soak of this many seconds instead of the policy's minHealthySeconds. */
  readonly soakSeconds?: number;
  /** Overrides the policy's healthy deadline. */
  readonly deadlineMs?: number;
  /** After a reload: `/varz` config_load_time must be later than this ISO time. */
  readonly reloadedAfter?: string;
  /**
   * Do not wait for the gateways to the other clusters: a first start, whose other clusters may not exist yet (each
   * cluster's own stack starts it; the gateways come up as the others do, and every later step waits for them).
   */
  readonly withoutGateways?: boolean;
  /** Do not wait for the expected leaf servers: a first start, before any leaf could have connected. */
  readonly withoutLeafNodes?: boolean;
  /**
   * The server was just given the spec's config: check the TLS it runs (engine/gates/tls.ts). Not asked of the
   * other members (during a certificate rotation they still serve the previous one, rightly).
   */
  readonly tls?: boolean;
}

/** What a context is made of: what the rollout was given, and what tests replace. */
export interface RolloutContextOptions {
  readonly spec: ClusterSpec;
  readonly driver: HostDriver;
  readonly policy: RolloutPolicy;
  readonly log: EventLog;
  /** Listen address rendered into configs (local: 127.0.0.1; VMs: 0.0.0.0). */
  readonly listenHost?: string;
  /** The spec the engine's own clients connect with (engine/rollout/client-tls.ts); the spec itself by default. */
  readonly clientSpec?: ClusterSpec;
  readonly seams?: RolloutSeams;
  /** Servers leaving the cluster (not in the spec): the driver reaches their hosts, and they get monitors. */
  readonly leaving?: ReadonlyArray<ServerEndpoint>;
  /**
   * The other clusters of the supercluster (RolloutOptions.supercluster): their JetStream servers get monitors (the
   * meta leader may be one of them), and `otherPeers` says which of them the meta group must or may hold.
   */
  readonly others?: ReadonlyArray<OtherCluster>;
  readonly otherPeers?: OtherMetaPeers;
}

/**
 * What every step of a rollout shares, and never changes: the spec, the host driver, the policy, the event log and
 * one monitor per server (HTTP or system account, as the spec says). What changes during a rollout (who is in the
 * cluster) is a {@link ClusterView}. A system-account monitor holds a NATS connection: whoever makes a context
 * {@link close}s it.
 */
export class RolloutContext {
  readonly spec: ClusterSpec;
  readonly driver: HostDriver;
  readonly policy: RolloutPolicy;
  readonly log: EventLog;
  readonly listenHost?: string;
  readonly clientSpec: ClusterSpec;
  readonly monitors: ReadonlyMap<string, ServerMonitor>;
  /** Servers leaving the cluster (see RolloutContextOptions.leaving). */
  readonly leaving: ReadonlyArray<ServerEndpoint>;
  /** The other clusters of the supercluster, and their meta peers (see RolloutContextOptions.others). */
  readonly others: ReadonlyArray<OtherCluster>;
  readonly otherPeers: OtherMetaPeers;
  readonly pace: RolloutPace;
  /** How this context makes monitors: a look at one server with another client spec uses it too. */
  readonly createMonitor: MonitorFactory;
  /** A client traffic watch through this cluster, connecting as the engine's clients do. */
  readonly watchClientTraffic: () => ClientTraffic;

  constructor(options: RolloutContextOptions) {
    const { spec, seams = {} } = options;
    const clientSpec = options.clientSpec ?? spec;
    this.spec = spec;
    this.driver = options.driver;
    this.policy = options.policy;
    this.log = options.log;
    this.listenHost = options.listenHost;
    this.clientSpec = clientSpec;
    this.createMonitor = seams.monitors ?? ((spec, server) => createMonitor(spec, server));
    this.pace = { ...REAL_PACE, ...seams.pace };
    const publishing = !spec.jetstream.enabled ? "none" : options.policy.watchPublishing !== false ? "on" : "off";
    this.watchClientTraffic = () => (seams.traffic ?? ((spec) => new TrafficWatch(spec, { publishing })))(clientSpec);
    this.leaving = options.leaving ?? [];
    this.others = options.others ?? [];
    this.otherPeers = options.otherPeers ?? NO_OTHER_PEERS;
    // A leaving server may be the meta leader the gates ask: it has a monitor like every other server. So has every
    // server of the other clusters, made from its own cluster's spec (the leader may be any of them).
    this.monitors = new Map([
      ...[...allServers(spec), ...this.leaving].map((s): [string, ServerMonitor] => [
        s.name,
        this.createMonitor(clientSpec, s),
      ]),
      ...this.others.flatMap((o) =>
        allServers(o.spec).map((s): [string, ServerMonitor] => [s.name, this.createMonitor(o.spec, s)]),
      ),
    ]);
  }

  /** Close every monitor's connection (idempotent; a monitor used after it fails instead of opening a new one). */
  async close(): Promise<void> {
    await Promise.all([...this.monitors.values()].map((m) => m.close().catch(() => undefined)));
  }

  monitor(server: ServerEndpoint): ServerMonitor {
    const monitor = this.monitors.get(server.name);
    if (!monitor) throw new Error(`${server.name} is not a server of cluster ${this.spec.name}`);
    return monitor;
  }

  member(name: string): ServerEndpoint {
    const member = this.spec.members.find((m) => m.name === name);
    if (!member) throw new Error(`${name} is not a member of cluster ${this.spec.name}`);
    return member;
  }

  leavingServer(name: string): ServerEndpoint {
    const server = this.leaving.find((m) => m.name === name);
    if (!server) throw new Error(`${name} is not a server leaving cluster ${this.spec.name}`);
    return server;
  }

  /** The config text a server should have; `routesLoadedByReload`: the first phase of a route TLS change. */
  configFor(server: ServerEndpoint, opts: { routesLoadedByReload?: boolean } = {}): string {
    return configTextFor(this.spec, server, this.driver, { listenHost: this.listenHost, ...opts });
  }

  /**
   * Write a server's config text, and the spec's TLS material with it when the platform delivers it (`tls.pem`,
   * and the gateway's CA bundle). The material is always the spec's: a rollback puts back the previous config text,
   * whose paths are the same (so a rollback of a change of `gateways.trustedCaPem` keeps the new bundle).
   */
  writeConfig(server: ServerEndpoint, configText: string): Promise<void> {
    return this.driver.writeConfig(server, configText, deliveredTls(this.spec));
  }

  isSurge(server: ServerEndpoint): boolean {
    return server.name === this.spec.surge.name;
  }

  /** The servers a healthy `server` must route to: every member that is up, and the surge server while it is in. */
  routePeersOf(server: ServerEndpoint, view: ClusterView): string[] {
    const peers = this.spec.members.map((m) => m.name).filter((p) => !view.down.has(p));
    if (view.surgeIn) peers.push(this.spec.surge.name);
    return peers.filter((p) => p !== server.name);
  }

  /**
   * The JetStream meta group as it should be: every member, plus a JetStream surge server while it is in, plus the
   * other clusters' JetStream servers it already had (a supercluster: one meta group spans every cluster).
   */
  metaPeers(view: ClusterView): string[] | undefined {
    if (!this.spec.jetstream.enabled) return undefined;
    const peers = this.spec.members.map((m) => m.name);
    if (view.surgeIn && this.spec.surge.jetstream) peers.push(this.spec.surge.name);
    return [...peers, ...this.otherPeers.expected];
  }

  /** Another member that is up, to receive a client probe published through `server`. */
  probePeer(server: ServerEndpoint, view: ClusterView): ServerEndpoint | undefined {
    return this.spec.members.find((m) => m.name !== server.name && !view.down.has(m.name));
  }

  /** With gateways: an outbound gateway to every other cluster of the supercluster. */
  private gatewayGates(): Gate[] {
    return this.spec.gateways ? [gatewaysGate(this.spec.gateways.remotes.map((r) => r.name))] : [];
  }

  /**
   * With expected leaf servers: each connected to some member (cluster-wide, engine/gates/leafnodes.ts). After a
   * member restarts, its leaves come back through the other members; the next member is not touched before. As a
   * leaf of a hub: the server's own connection to the hub.
   */
  private leafGates(): Gate[] {
    const gates: Gate[] = [];
    const expected = this.spec.leafnodes?.expected ?? [];
    const hub = () => this.spec.members.map((m) => ({ name: m.name, monitor: this.monitor(m) }));
    if (expected.length > 0) gates.push(leafnodesGate(expected, hub));
    // A leaf of a hub: this server's own connection out to the hub (each leaf server makes its own).
    if (this.spec.hub) gates.push(hubGate);
    return gates;
  }

  /** The gates a member other than the one being changed must pass for the cluster to be whole (not its version). */
  wholeClusterGates(view: ClusterView): Gate[] {
    const gates = [readyGate, routesGate((name) => this.monitors.get(name))];
    gates.push(...this.gatewayGates(), ...this.leafGates());
    if (this.spec.jetstream.enabled) gates.push(jetstreamGate((name) => this.monitors.get(name)));
    if (this.policy.clientProbe) gates.push(clientProbeGate(this.clientSpec, (s) => this.probePeer(s, view)));
    return gates;
  }

  /** The gates for a server; `reloadedAfter` adds the config-reload gate. */
  gatesFor(server: ServerEndpoint, view: ClusterView, opts: GateOptions = {}): Gate[] {
    const gates: Gate[] = [readyGate, versionGate];
    if (opts.reloadedAfter) gates.push(configReloadedGate);
    if (opts.tls && this.spec.tls) gates.push(tlsGate(this.spec));
    gates.push(routesGate((name) => this.monitors.get(name)));
    // Another cluster reached through this server's gateways: a restarted member must be joined to all of them again.
    if (!opts.withoutGateways) gates.push(...this.gatewayGates());
    // Leaf servers connected to the cluster: a restarted member may have held some; they must be back (anywhere).
    if (!opts.withoutLeafNodes) gates.push(...this.leafGates());
    const jetstreamOnServer = this.spec.jetstream.enabled && (!this.isSurge(server) || this.spec.surge.jetstream);
    if (jetstreamOnServer) gates.push(jetstreamGate((name) => this.monitors.get(name)));
    if (this.policy.clientProbe) gates.push(clientProbeGate(this.clientSpec, (s) => this.probePeer(s, view)));
    return gates;
  }

  target(server: ServerEndpoint, version: string, view: ClusterView, opts: GateOptions = {}): GateTarget {
    const peers = this.routePeersOf(server, view);
    const surge = this.spec.surge.name;
    const expect: GateExpectation = {
      version,
      routePeers: peers.filter((p) => p !== surge),
      routePeersIfUp: peers.filter((p) => p === surge),
      metaPeers: this.metaPeers(view),
      metaPeersAllowedOffline: [...view.down],
      metaPeersLeaving: [...(view.leaving ?? [])],
      metaPeersOptional: this.otherPeers.optional,
      configLoadedAfter: opts.reloadedAfter,
    };
    return { server, monitor: this.monitor(server), expect };
  }

  /**
   * Run a server's gates with progress events: a line while a gate keeps failing, and one summary line when all
   * passed (time to each gate, the soak, and what JetStream reported), so a healthy restart costs one line.
   */
  async gate(
    step: StepKind,
    server: ServerEndpoint,
    version: string,
    view: ClusterView,
    opts: GateOptions = {},
  ): Promise<GateRunResult> {
    const soakMs = opts.soak === false ? 0 : (opts.soakSeconds ?? this.policy.minHealthySeconds) * 1000;
    return this.runWithProgress(step, this.target(server, version, view, opts), this.gatesFor(server, view, opts), {
      deadlineMs: opts.deadlineMs ?? this.policy.healthyDeadlineSeconds * 1000,
      soakMs,
    });
  }

  /**
   * Run `gates` on a server of another cluster of the supercluster (its monitor is one of this context's), one look
   * after another until the deadline, no soak: what this cluster's rollout may have disturbed there (its gateways).
   */
  gateElsewhere(step: StepKind, server: ServerEndpoint, gates: Gate[], deadlineMs: number): Promise<GateRunResult> {
    const target: GateTarget = { server, monitor: this.monitor(server), expect: { version: "", routePeers: [] } };
    return this.runWithProgress(step, target, gates, { deadlineMs, soakMs: 0 });
  }

  private async runWithProgress(
    step: StepKind,
    target: GateTarget,
    gates: Gate[],
    { deadlineMs, soakMs }: { deadlineMs: number; soakMs: number },
  ): Promise<GateRunResult> {
    const server = target.server;
    const lastSeen = new Map<GateName, string>();
    const result = await runGates(target, gates, {
      deadlineMs,
      pollMs: this.policy.pollIntervalMs,
      soakMs,
      onWaiting: (gate, elapsedMs, last) =>
        this.log.emit({
          kind: "gate-wait",
          step,
          server: server.name,
          gate,
          message: `waiting ${seconds(elapsedMs)}: ${last.observation}`,
        }),
      onPassed: (gate, _elapsedMs, last) => lastSeen.set(gate, last.observation),
      onSoakReset: (gate, last) =>
        this.log.emit({
          kind: "warning",
          step,
          server: server.name,
          gate,
          message: `failed during the soak, soak restarts: ${last.observation}`,
        }),
    });
    if (result.passed) {
      const timings = result.timings.map((t) => `${t.gate} ${seconds(t.ms)}`).join(", ");
      const meta = lastSeen.get("jetstream");
      this.log.emit({
        kind: "gate-pass",
        step,
        server: server.name,
        durationMs: result.totalMs,
        message:
          `gates passed in ${seconds(result.totalMs)} (${timings}${soakMs ? `; soak ${seconds(result.soakMs)}` : ""})` +
          (meta?.startsWith("meta leader") ? `; ${meta}` : ""),
      });
    }
    return result;
  }
}
