import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ServerEndpoint } from "../spec";
import { HostDriver, HostLayout } from "./driver";

/** Where a version's binary comes from (engine/binaries.ts BinaryStore satisfies this). */
export interface BinarySource {
  resolve(version: string): Promise<string>;
}

export interface LocalDriverOptions {
  /** Each server gets `<stateDir>/<server name>/` with its binary link, config, pid file, JetStream store and log. */
  readonly stateDir: string;
  readonly binaries: BinarySource;
  /** How long `start` waits for the pid file before it calls the start failed. Default 10 s. */
  readonly startTimeoutMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The embedded default platform: every "VM" is a nats-server process on this machine, with its own directory.
 * Processes are started detached, so they outlive the engine (a Pulumi provider process, a killed rollout) exactly
 * as servers on VMs outlive the machine that upgrades them; the pid file is how every later run finds them again.
 */
export class LocalProcessDriver implements HostDriver {
  readonly platform = "local";
  constructor(private readonly options: LocalDriverOptions) {}

  dir(server: ServerEndpoint): string {
    return path.join(this.options.stateDir, server.name);
  }
  private file(server: ServerEndpoint, name: string): string {
    return path.join(this.dir(server), name);
  }
  configPath(server: ServerEndpoint): string {
    return this.file(server, "nats.conf");
  }
  logPath(server: ServerEndpoint): string {
    return this.file(server, "nats.log");
  }

  layout(server: ServerEndpoint): HostLayout {
    return { pidFile: this.file(server, "nats.pid"), storeDir: this.file(server, "jetstream") };
  }

  async provision(server: ServerEndpoint): Promise<void> {
    fs.mkdirSync(this.dir(server), { recursive: true, mode: 0o700 });
  }

  async deprovision(server: ServerEndpoint): Promise<void> {
    if (await this.isRunning(server)) await this.kill(server);
    fs.rmSync(this.dir(server), { recursive: true, force: true });
  }

  async install(server: ServerEndpoint, version: string): Promise<void> {
    const binary = await this.options.binaries.resolve(version);
    await this.provision(server);
    // Swap the link atomically: a crash leaves either the old or the new binary, never none.
    const link = this.file(server, "nats-server");
    const tmp = `${link}.${process.pid}.tmp`;
    fs.rmSync(tmp, { force: true });
    fs.symlinkSync(binary, tmp);
    fs.renameSync(tmp, link);
    writeAtomically(this.file(server, "version"), `${version}\n`, 0o644);
  }

  async installedVersion(server: ServerEndpoint): Promise<string | undefined> {
    return readIfExists(this.file(server, "version"))?.trim() || undefined;
  }

  async writeConfig(server: ServerEndpoint, configText: string): Promise<void> {
    await this.provision(server);
    // 0600: the config can hold tokens and passwords.
    writeAtomically(this.configPath(server), configText, 0o600);
  }

  async readConfig(server: ServerEndpoint): Promise<string | undefined> {
    return readIfExists(this.configPath(server));
  }

  async start(server: ServerEndpoint): Promise<void> {
    if (await this.isRunning(server)) return;
    const binary = this.file(server, "nats-server");
    if (!fs.existsSync(binary)) throw new Error(`${server.name}: no nats-server installed in ${this.dir(server)}`);
    const { pidFile } = this.layout(server);
    fs.rmSync(pidFile, { force: true });
    const log = fs.openSync(this.logPath(server), "a", 0o600);
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const child = spawn(binary, ["-c", this.configPath(server)], {
      cwd: this.dir(server),
      detached: true,
      stdio: ["ignore", log, log],
    });
    fs.closeSync(log);
    child.on("exit", (code, signal) => (exit = { code, signal }));
    child.unref();
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 10_000);
    while (Date.now() < deadline) {
      if (exit) {
        const tail = await this.readLog(server, 15);
        throw new Error(
          `${server.name}: nats-server exited at once (${exit.signal ?? `code ${exit.code}`}); last log lines:\n${tail}`,
        );
      }
      if (readPid(pidFile) === child.pid) return;
      await sleep(50);
    }
    throw new Error(
      `${server.name}: nats-server (pid ${child.pid}) wrote no pid file ${pidFile} within the start timeout`,
    );
  }

  /** The pid of this server's live process, or undefined. Checks the command line so a reused pid is not ours. */
  pid(server: ServerEndpoint): number | undefined {
    const pid = readPid(this.layout(server).pidFile);
    if (pid === undefined) return undefined;
    const cmdline = readIfExists(`/proc/${pid}/cmdline`);
    if (!cmdline || !cmdline.includes(this.configPath(server))) return undefined;
    const stat = readIfExists(`/proc/${pid}/stat`) ?? "";
    if (/\) Z /.test(stat)) return undefined; // a zombie has exited
    return pid;
  }

  async isRunning(server: ServerEndpoint): Promise<boolean> {
    return this.pid(server) !== undefined;
  }

  async signalLameDuck(server: ServerEndpoint): Promise<void> {
    this.signal(server, "SIGUSR2");
  }

  async signalReload(server: ServerEndpoint): Promise<void> {
    this.signal(server, "SIGHUP");
  }

  async waitForExit(server: ServerEndpoint, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.pid(server) !== undefined) {
      if (Date.now() >= deadline) return false;
      await sleep(100);
    }
    return true;
  }

  async kill(server: ServerEndpoint): Promise<void> {
    const pid = this.pid(server);
    if (pid === undefined) return;
    process.kill(pid, "SIGKILL");
    if (!(await this.waitForExit(server, 10_000))) throw new Error(`${server.name}: pid ${pid} survived SIGKILL`);
  }

  async readLog(server: ServerEndpoint, maxLines: number): Promise<string> {
    const text = readIfExists(this.logPath(server)) ?? "";
    return text.trimEnd().split("\n").slice(-maxLines).join("\n");
  }

  private signal(server: ServerEndpoint, signal: NodeJS.Signals): void {
    const pid = this.pid(server);
    if (pid === undefined) throw new Error(`${server.name}: not running, cannot send ${signal}`);
    process.kill(pid, signal);
  }
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

function readPid(pidFile: string): number | undefined {
  const text = readIfExists(pidFile)?.trim();
  const pid = text ? Number(text) : NaN;
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function writeAtomically(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode });
  fs.renameSync(tmp, file);
}
