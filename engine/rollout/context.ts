import { configTextFor } from "../config/text";
import { clientProbeGate } from "../gates/client-probe";
import { configReloadedGate, jetstreamGate, readyGate, routesGate, versionGate } from "../gates/checks";
import { Gate, GateExpectation, GateName, GateTarget } from "../gates/gate";
import { runGates, GateRunResult } from "../gates/run";
import { HostDriver } from "../hosts/driver";
import { MonitorClient } from "../monitor/client";
import { allServers, ClusterSpec, monitorUrl, RolloutPolicy, ServerEndpoint } from "../spec";
import { EventLog, seconds, StepKind } from "./events";

/**
 * What every step of a rollout shares: the spec, the host driver, the policy, the event log, one monitoring client
 * per server, and which servers are up as far as the rollout knows (used to compute each gate's expectations).
 */
export class RolloutContext {
  readonly monitors: ReadonlyMap<string, MonitorClient>;
  /** Whether the surge server is part of the cluster right now (its routes are expected). */
  surgeInCluster = false;
  /** Members known to be down (an interrupted rollout's member, until it is recovered): no peer expects them. */
  readonly down = new Set<string>();

  constructor(
    readonly spec: ClusterSpec,
    readonly driver: HostDriver,
    readonly policy: RolloutPolicy,
    readonly log: EventLog,
    readonly listenHost?: string,
  ) {
    this.monitors = new Map(allServers(spec).map((s) => [s.name, new MonitorClient(monitorUrl(s))]));
  }

  monitor(server: ServerEndpoint): MonitorClient {
    return this.monitors.get(server.name)!;
  }

  configFor(server: ServerEndpoint): string {
    return configTextFor(this.spec, server, this.driver, this.listenHost);
  }

  isSurge(server: ServerEndpoint): boolean {
    return server.name === this.spec.surge.name;
  }

  /** The servers a healthy `server` must route to: every other member, and the surge server while it is in. */
  routePeersOf(server: ServerEndpoint): string[] {
    const peers = this.spec.members.map((m) => m.name).filter((p) => !this.down.has(p));
    if (this.surgeInCluster) peers.push(this.spec.surge.name);
    return peers.filter((p) => p !== server.name);
  }

  /** The JetStream meta group as it should be: every member, plus a JetStream surge server while it is in. */
  metaPeers(): string[] | undefined {
    if (!this.spec.jetstream.enabled) return undefined;
    const peers = this.spec.members.map((m) => m.name);
    if (this.surgeInCluster && this.spec.surge.jetstream) peers.push(this.spec.surge.name);
    return peers;
  }

  /** Another member to receive a client probe published through `server`. */
  probePeer(server: ServerEndpoint): ServerEndpoint | undefined {
    return this.spec.members.find((m) => m.name !== server.name && !this.down.has(m.name));
  }

  /** The gates for a server at a version; `reloadedAfter` adds the config-reload gate. */
  gatesFor(server: ServerEndpoint, opts: { reloadedAfter?: string } = {}): Gate[] {
    const gates: Gate[] = [readyGate, versionGate];
    if (opts.reloadedAfter) gates.push(configReloadedGate);
    gates.push(routesGate);
    const jetstreamOnServer = this.spec.jetstream.enabled && (!this.isSurge(server) || this.spec.surge.jetstream);
    if (jetstreamOnServer) gates.push(jetstreamGate((name) => this.monitors.get(name)));
    if (this.policy.clientProbe) gates.push(clientProbeGate(this.spec, (s) => this.probePeer(s)));
    return gates;
  }

  target(server: ServerEndpoint, version: string, opts: { reloadedAfter?: string } = {}): GateTarget {
    const expect: GateExpectation = {
      version,
      routePeers: this.routePeersOf(server),
      metaPeers: this.metaPeers(),
      metaPeersAllowedOffline: [...this.down],
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
    opts: { soak?: boolean; deadlineMs?: number; reloadedAfter?: string } = {},
  ): Promise<GateRunResult> {
    const soakMs = opts.soak === false ? 0 : this.policy.minHealthySeconds * 1000;
    const lastSeen = new Map<GateName, string>();
    const result = await runGates(this.target(server, version, opts), this.gatesFor(server, opts), {
      deadlineMs: opts.deadlineMs ?? this.policy.healthyDeadlineSeconds * 1000,
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
        message: `gates passed in ${seconds(result.totalMs)} (${timings}${soakMs ? `; soak ${seconds(result.soakMs)}` : ""})${meta?.startsWith("meta leader") ? `; ${meta}` : ""}`,
      });
    }
    return result;
  }
}
