/**
 * What the ssh platform's lab tests share: a lab of their own with 4 VMs (3 members and a surge server), the
 * platform settings and endpoints of the servers on it, the driver the rollouts use (the real SSH transport, timed,
 * logging to `driverLog`), a command runner on a server's VM, and the one teardown that closes every driver and
 * removes the lab, also when starting it failed half-way.
 *
 *   const cluster = new SshLabCluster();
 *   beforeAll(() => cluster.start(), 360_000);
 *   afterAll(() => cluster.stop(), 180_000);
 */
import * as fs from "node:fs";
import { createHostDriver, SshHostDriver, SshSettings } from "../../../engine/hosts/ssh";
import { Ssh2Transport } from "../../../engine/hosts/ssh/transport";
import { HostDriver } from "../../../engine/hosts/driver";
import { RolloutPolicy, ServerEndpoint } from "../../../engine/spec";
import { Lab, LabVm } from "../../support/lab";
import { sshSettingsFor, startSshLab, TimingTransport } from "./ssh-lab";

/** The servers, in the order of the lab's VMs: three members, then the surge server. */
export const LAB_SERVER_NAMES: ReadonlyArray<string> = ["nats-a", "nats-b", "nats-c", "nats-surge"];

/** A short soak and quick polls: the lab tests prove the path, not the production timings. */
export const LAB_POLICY: Partial<RolloutPolicy> = {
  minHealthySeconds: 2,
  pollIntervalMs: 250,
  healthyDeadlineSeconds: 90,
  stopTimeoutSeconds: 60,
};

/** A password made for this run (`<prefix>-<random>`): tests prove it never reaches a log line or a journal. */
export function runPassword(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}

/** Settings as the platform factory takes them (a record) and as the tests read them (typed). */
export type LabSshSettings = SshSettings & Readonly<Record<string, unknown>>;

export class SshLabCluster {
  /** Every lab created (a failed start may have made one): stop() removes them all. */
  private readonly labs: Lab[] = [];
  private readonly drivers: HostDriver[] = [];
  private started?: { lab: Lab; privateKey: string; timing: TimingTransport; driver: SshHostDriver };
  /** Every line the rollouts' driver and its transport logged. */
  readonly driverLog: string[] = [];

  constructor(readonly names: ReadonlyArray<string> = LAB_SERVER_NAMES) {}

  /** Starts the lab (one VM per name) and the rollouts' driver. */
  async start(): Promise<this> {
    const lab = await startSshLab(this.names.length, (l) => this.labs.push(l));
    const privateKey = fs.readFileSync(lab.sshKeyPath, "utf8");
    const log = (line: string) => this.driverLog.push(line);
    const timing = new TimingTransport(new Ssh2Transport({ privateKey, log }));
    const driver = this.track(createHostDriver(this.settingsOf(lab), { log }, timing) as SshHostDriver);
    this.started = { lab, privateKey, timing, driver };
    return this;
  }

  private get up() {
    if (!this.started) throw new Error("the ssh lab cluster is not started");
    return this.started;
  }
  get lab(): Lab {
    return this.up.lab;
  }
  /** The lab's SSH private key (the platform's secret). */
  get privateKey(): string {
    return this.up.privateKey;
  }
  /** The transport of the rollouts' driver, timing every command. */
  get timing(): TimingTransport {
    return this.up.timing;
  }
  /** The driver the rollouts use. */
  get driver(): SshHostDriver {
    return this.up.driver;
  }

  /** The platform settings: every server on its VM as the sudo user `ops`, the surge server named. */
  settings(extra: Partial<SshSettings> = {}): LabSshSettings {
    return this.settingsOf(this.lab, extra);
  }

  private settingsOf(lab: Lab, extra: Partial<SshSettings> = {}): LabSshSettings {
    return {
      ...sshSettingsFor(lab, this.names),
      surge: this.names[this.names.length - 1],
      stopTimeoutSeconds: 60,
      ...extra,
    };
  }

  /** The server on VM i (0-based): the standard ports on the VM's address. */
  endpoint(i: number): ServerEndpoint {
    return { name: this.names[i], host: this.lab.vms[i].ip, clientPort: 4222, clusterPort: 6222, monitorPort: 8222 };
  }
  get members(): ServerEndpoint[] {
    return this.names.slice(0, -1).map((_, i) => this.endpoint(i));
  }
  get surge(): ServerEndpoint {
    return this.endpoint(this.names.length - 1);
  }

  vmOf(server: ServerEndpoint): LabVm {
    const i = this.names.indexOf(server.name);
    if (i < 0) throw new Error(`no VM for ${server.name}`);
    return this.lab.vms[i];
  }

  /** Runs a command on the server's VM as root over SSH; its stdout, trimmed. `input` goes to its stdin. */
  async onVm(server: ServerEndpoint, command: string, input?: string): Promise<string> {
    return (await this.lab.ssh(this.vmOf(server), command, { input, timeoutMs: 120_000 })).stdout.trim();
  }

  /** A driver of the test's own, closed by stop(). */
  track<D extends HostDriver>(driver: D): D {
    this.drivers.push(driver);
    return driver;
  }

  /** Closes every driver and removes every lab made; safe when start() failed or never ran. */
  async stop(): Promise<void> {
    for (const d of this.drivers) (d as SshHostDriver).close?.();
    for (const l of this.labs) await l.stop().catch((err) => console.error(`lab ${l.name}: ${err}`));
  }
}
