/**
 * Scripted monitors over the fake hosts (fake-hosts.ts): a server answers while its fake process runs, with the
 * version it runs, routes to every other running server, and a healthy `/healthz`, unless the test's script says
 * otherwise. No network: what the executor's gates read comes from the FakeHosts state.
 */
import { MonitorFactory } from "../../../engine/rollout/context";
import { ServerMonitor } from "../../../engine/monitor/monitor";
import { Connz, HealthzResult, Jsz, Routez, Varz } from "../../../engine/monitor/types";
import { FakeHosts } from "./fake-hosts";

/** What a server's monitor reports differently from a healthy server's, asked at every look. */
export interface MonitorScript {
  /** `/healthz` answers 503 with this error. */
  unhealthy?(server: string): string | undefined;
  /** `/varz` reports this version instead of the one it runs. */
  reportsVersion?(server: string, running: string | undefined): string | undefined;
  /** `/gatewayz`: the gateway name of the server, and the clusters it has an outbound gateway to (default none). */
  gateways?(server: string): { name: string; outbound: ReadonlyArray<string> } | undefined;
}

export class FakeMonitors {
  script: MonitorScript = {};
  /** Every look, as `endpoint server`, in order. */
  readonly looks: string[] = [];

  constructor(private readonly hosts: FakeHosts) {}

  /** The factory the rollout's seams take. */
  readonly factory: MonitorFactory = (_spec, server) => this.monitorOf(server.name);

  monitorOf(name: string): ServerMonitor {
    const answer = <T>(endpoint: string, body: () => T): Promise<T> => {
      this.looks.push(`${endpoint} ${name}`);
      const s = this.hosts.servers.get(name);
      if (!s?.running) return Promise.reject(new Error(`${name}: connection refused`));
      return Promise.resolve(body());
    };
    const varz = (): Varz => {
      const s = this.hosts.server(name);
      return {
        server_id: `ID-${name}`,
        server_name: name,
        version: this.script.reportsVersion?.(name, s.runningVersion) ?? s.runningVersion ?? "?",
        start: new Date(0).toISOString(),
        now: new Date().toISOString(),
        connections: 0,
        routes: 0,
        config_load_time: s.configLoadedAt,
      };
    };
    const routez = (): Routez => {
      const peers = [...this.hosts.servers].filter(([n, s]) => n !== name && s.running).map(([n]) => n);
      return {
        server_id: `ID-${name}`,
        num_routes: peers.length,
        routes: peers.map((p, i) => ({ rid: i, remote_id: `ID-${p}`, remote_name: p })),
      };
    };
    const healthz = (): HealthzResult => {
      const error = this.script.unhealthy?.(name);
      return error
        ? { httpStatus: 503, body: { status: "unavailable", error } }
        : { httpStatus: 200, body: { status: "ok" } };
    };
    const jsz = (): Jsz => ({ server_id: `ID-${name}` });
    const connz = (): Connz => ({ server_id: `ID-${name}`, num_connections: 0, total: 0 });
    return {
      label: `fake://${name}`,
      varz: () => answer("varz", varz),
      routez: () => answer("routez", routez),
      gatewayz: () =>
        answer("gatewayz", () => {
          const g = this.script.gateways?.(name);
          if (!g) return { server_id: `ID-${name}` };
          const out = g.outbound.map((c) => [c, { connection: { name: `ID-of-${c}` } }]);
          return { server_id: `ID-${name}`, name: g.name, outbound_gateways: Object.fromEntries(out) };
        }),
      leafz: () => answer("leafz", () => ({ server_id: `ID-${name}`, leafnodes: 0, leafs: [] })),
      jsz: () => answer("jsz", jsz),
      jszPlacement: () => answer("jsz", jsz),
      connz: () => answer("connz", connz),
      healthz: () => answer("healthz", healthz),
      disconnect: async () => undefined,
      close: async () => undefined,
    };
  }
}
