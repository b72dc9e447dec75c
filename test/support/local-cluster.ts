import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BinaryStore } from "../../engine/binaries";
import { LocalProcessDriver, BinarySource } from "../../engine/hosts/local";
import { DEFAULT_LAME_DUCK } from "../../engine/defaults";
import { ClusterSpec, allServers, ServerEndpoint, RolloutPolicy } from "../../engine/spec";
import { bootstrapCluster } from "../../engine/rollout/bootstrap";
import { RolloutOptions } from "../../engine/rollout/execute";
import { OwnedPids } from "./owned-pids";
import { freePorts } from "./ports";
import { BIN_CACHE } from "./versions";

export interface LocalClusterOptions {
  readonly members: number;
  readonly version: string;
  readonly jetstream?: boolean;
  readonly namePrefix?: string;
  /** lame_duck_grace_period; default 1 s so idle servers leave lame duck fast (the duration stays at the 30 s minimum).
   * */
  readonly graceSeconds?: number;
  readonly overrides?: Partial<ClusterSpec>;
  /** Extra versions (fake binaries) the tests need, mapped to executables. */
  readonly extraBinaries?: Record<string, string>;
  /**
   * Lines added to one server's config file as it is written (e.g. its own `server_tags`, which the spec cannot say
   * per server), and taken off again as it is read back, so the planner sees exactly the config it rendered.
   */
  readonly configSuffix?: (server: ServerEndpoint) => string;
}

/**
 * A cluster of real nats-server processes for one test file: its own temp state dir, its own free loopback ports,
 * and a teardown that stops every process it started by PID (even when the test failed).
 */
export class LocalTestCluster {
  readonly stateDir: string;
  readonly driver: LocalProcessDriver;
  spec: ClusterSpec;
  /** Every pid any server of this cluster ever had, so teardown can be sure nothing is left. */
  readonly pids = new OwnedPids();

  private constructor(
    spec: ClusterSpec,
    stateDir: string,
    binaries: BinarySource,
    configSuffix?: (server: ServerEndpoint) => string,
  ) {
    this.spec = spec;
    this.stateDir = stateDir;
    this.driver = new LocalProcessDriver({ stateDir, binaries });
    if (configSuffix) {
      const write = this.driver.writeConfig.bind(this.driver);
      const read = this.driver.readConfig.bind(this.driver);
      this.driver.writeConfig = (server, text, tls) => write(server, text + configSuffix(server), tls);
      this.driver.readConfig = async (server) => {
        const text = await read(server);
        const suffix = configSuffix(server);
        return suffix && text?.endsWith(suffix) ? text.slice(0, -suffix.length) : text;
      };
    }
    // Record pids as servers start, so teardown can kill by pid even after a test lost track of them.
    const start = this.driver.start.bind(this.driver);
    this.driver.start = async (server: ServerEndpoint) => {
      try {
        await start(server);
      } finally {
        this.pids.add(this.driver.pid(server));
      }
    };
  }

  static async create(options: LocalClusterOptions): Promise<LocalTestCluster> {
    const count = options.members + 1;
    const ports = await freePorts(count * 3);
    const prefix = options.namePrefix ?? "n";
    const endpoint = (name: string, i: number): ServerEndpoint => ({
      name,
      host: "127.0.0.1",
      clientPort: ports[i],
      clusterPort: ports[count + i],
      monitorPort: ports[2 * count + i],
    });
    const members = Array.from({ length: options.members }, (_, i) => endpoint(`${prefix}${i + 1}`, i));
    const spec: ClusterSpec = {
      name: `test-${prefix}`,
      version: options.version,
      members,
      surge: endpoint(`${prefix}-surge`, options.members),
      routes: { kind: "explicit" },
      jetstream: { enabled: options.jetstream ?? false },
      lameDuck: { ...DEFAULT_LAME_DUCK, gracePeriodSeconds: options.graceSeconds ?? 1 },
      ...options.overrides,
    };
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-cluster-test-"));
    const store = new BinaryStore({ cacheDir: BIN_CACHE });
    const extra = options.extraBinaries ?? {};
    const binaries: BinarySource = { resolve: (v) => (extra[v] ? Promise.resolve(extra[v]) : store.resolve(v)) };
    return new LocalTestCluster(spec, stateDir, binaries, options.configSuffix);
  }

  /** Engine options for this cluster: its spec and driver, configs listening on loopback, the given policy. */
  options(policy: Partial<RolloutPolicy>, extra: Partial<RolloutOptions> = {}): RolloutOptions {
    return { spec: this.spec, driver: this.driver, listenHost: "127.0.0.1", policy, ...extra };
  }

  /** Start every member at the spec's version and wait until each passes its gates. */
  async bootstrap(policy: Partial<RolloutPolicy>): Promise<void> {
    await bootstrapCluster(this.options(policy));
  }

  /**
   * Stop every process by pid (SIGKILL: a test teardown must not wait out lame duck), then remove the state dir. Only
   * processes that still run as this cluster's servers are killed (a pid may have been reused): see ./owned-pids.ts.
   */
  async destroy(): Promise<void> {
    for (const server of allServers(this.spec)) this.pids.add(this.driver.pid(server));
    await this.pids.killAndWait();
    for (const server of allServers(this.spec)) await this.driver.waitForExit(server, 5000);
    fs.rmSync(this.stateDir, { recursive: true, force: true });
  }
}
