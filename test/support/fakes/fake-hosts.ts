/**
 * A fake platform for unit tests of the executor: every host operation is recorded (in order, with its server) and
 * changes an in-memory server, which the scripted monitors (fake-monitor.ts) then report. What goes wrong is
 * scripted per test (`script`): a version that cannot start, a download that fails, a member that dies.
 */
import { DeprovisionOptions, HostDriver, HostLayout } from "../../../engine/hosts/driver";
import { ServerEndpoint, TlsPem } from "../../../engine/spec";

/** One recorded call: the HostDriver method, its server, and the version or what was asked, when there is one. */
export interface HostCall {
  readonly op: keyof HostDriver;
  readonly server: string;
  readonly arg?: string;
}

/** One server as the fake host holds it. */
export interface FakeServer {
  running: boolean;
  /** The version the running process runs (what /varz reports). */
  runningVersion?: string;
  /** The version the next start runs. */
  installed?: string;
  readonly staged: Set<string>;
  config?: string;
  configLoadedAt?: string;
  /** Its host does not answer (a VM powered off): every host operation rejects. */
  hostLost?: boolean;
}

/** What goes wrong, asked at the moment it would: a message makes the operation fail with it. */
export interface HostScript {
  /** `start` of `server` on `version` fails (a binary that exits at once). */
  startFails?(server: string, version: string | undefined): string | undefined;
  /** `stageBinary` of `version` fails (a download that fails). */
  stageFails?(server: string, version: string): string | undefined;
  /** Called after every recorded call: a test's hook to act mid-rollout (kill a member, …). */
  after?(call: HostCall, hosts: FakeHosts): void;
}

export class FakeHosts implements HostDriver {
  readonly platform = "fake";
  readonly calls: HostCall[] = [];
  readonly servers = new Map<string, FakeServer>();
  script: HostScript = {};

  /** Servers running `version` with `config` (the config the spec renders, usually: see fakeRollout). */
  constructor(running: ReadonlyArray<{ name: string; version?: string; config?: string; running?: boolean }> = []) {
    for (const s of running) {
      const up = s.running ?? s.version !== undefined;
      this.servers.set(s.name, {
        running: up,
        runningVersion: up ? s.version : undefined,
        installed: s.version,
        staged: new Set(s.version ? [s.version] : []),
        config: s.config,
        configLoadedAt: up ? new Date(0).toISOString() : undefined,
      });
    }
  }

  server(name: string): FakeServer {
    let s = this.servers.get(name);
    if (!s) this.servers.set(name, (s = { running: false, staged: new Set() }));
    return s;
  }

  /** The recorded calls as `op server[ arg]` lines, optionally only those of `ops`. */
  trail(ops?: ReadonlyArray<keyof HostDriver>): string[] {
    return this.calls
      .filter((c) => !ops || ops.includes(c.op))
      .map((c) => `${c.op} ${c.server}${c.arg ? ` ${c.arg}` : ""}`);
  }

  /** Calls that took a server down or brought one up (lame duck, kill, start, deprovision), as `op server`. */
  downsAndUps(): string[] {
    return this.trail(["signalLameDuck", "kill", "start", "deprovision"]);
  }

  private record(op: keyof HostDriver, server: ServerEndpoint, arg?: string): FakeServer {
    const call: HostCall = { op, server: server.name, arg };
    this.calls.push(call);
    const s = this.server(server.name);
    if (s.hostLost) throw new Error(`${server.name}: host does not answer`);
    this.script.after?.(call, this);
    return s;
  }

  layout(server: ServerEndpoint): HostLayout {
    return { pidFile: `/fake/${server.name}/nats.pid`, storeDir: `/fake/${server.name}/jetstream` };
  }
  async provision(server: ServerEndpoint): Promise<void> {
    this.record("provision", server);
  }
  async deprovision(server: ServerEndpoint, what?: DeprovisionOptions): Promise<void> {
    this.record("deprovision", server, what?.store ? "store" : undefined);
    this.servers.set(server.name, { running: false, staged: new Set() });
  }
  async stageBinary(server: ServerEndpoint, version: string): Promise<void> {
    const s = this.record("stageBinary", server, version);
    const failure = this.script.stageFails?.(server.name, version);
    if (failure) throw new Error(failure);
    s.staged.add(version);
  }
  async activateBinary(server: ServerEndpoint, version: string): Promise<void> {
    const s = this.record("activateBinary", server, version);
    if (!s.staged.has(version)) throw new Error(`${version} is not staged on ${server.name}`);
    s.installed = version;
  }
  async installedVersion(server: ServerEndpoint): Promise<string | undefined> {
    return this.record("installedVersion", server).installed;
  }
  async writeConfig(server: ServerEndpoint, configText: string, _tls?: TlsPem): Promise<void> {
    this.record("writeConfig", server).config = configText;
  }
  async readConfig(server: ServerEndpoint): Promise<string | undefined> {
    return this.record("readConfig", server).config;
  }
  async start(server: ServerEndpoint): Promise<void> {
    const s = this.record("start", server, this.server(server.name).installed);
    const failure = this.script.startFails?.(server.name, s.installed);
    if (failure) throw new Error(failure);
    s.running = true;
    s.runningVersion = s.installed;
    s.configLoadedAt = new Date().toISOString();
  }
  async isRunning(server: ServerEndpoint): Promise<boolean> {
    return this.record("isRunning", server).running;
  }
  /** The fake server leaves at once: no client holds it. */
  async signalLameDuck(server: ServerEndpoint): Promise<void> {
    const s = this.record("signalLameDuck", server);
    s.running = false;
    s.runningVersion = undefined;
  }
  async signalReload(server: ServerEndpoint): Promise<void> {
    // A millisecond later than the signal, as a real reload is.
    const s = this.record("signalReload", server);
    s.configLoadedAt = new Date(Date.now() + 1).toISOString();
  }
  async waitForExit(server: ServerEndpoint, _timeoutMs: number): Promise<boolean> {
    return !this.record("waitForExit", server).running;
  }
  async kill(server: ServerEndpoint): Promise<void> {
    const s = this.record("kill", server);
    s.running = false;
    s.runningVersion = undefined;
  }
  async readLog(server: ServerEndpoint, _maxLines: number): Promise<string> {
    this.record("readLog", server);
    return `(fake log of ${server.name})`;
  }
}
