import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { GATEWAY_CA_FILE_NAME, TLS_FILE_NAMES } from "../../config/for-server";
import { DeliveredTls, ServerEndpoint } from "../../spec";
import { sleep } from "../../util/async";
import { HostDriver, HostLayout, LeaseOnHost, LeaseRequest } from "../driver";
import { leaseOp } from "./lease-file";

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

/** Lines quoted from a server's log when it fails to start: its fatal lines when it has any, else the tail. */
const START_FAILURE_LOG_LINES = 15;

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
    return {
      pidFile: this.file(server, "nats.pid"),
      storeDir: this.file(server, "jetstream"),
      tlsDir: this.tlsDir(server),
    };
  }

  async provision(server: ServerEndpoint): Promise<void> {
    fs.mkdirSync(this.dir(server), { recursive: true, mode: 0o700 });
  }

  async deprovision(server: ServerEndpoint): Promise<void> {
    if (await this.isRunning(server)) await this.kill(server);
    fs.rmSync(this.dir(server), { recursive: true, force: true });
  }

  /** The binary cache is this machine's: resolving downloads and verifies a missing version into it. */
  async stageBinary(_server: ServerEndpoint, version: string): Promise<void> {
    await this.options.binaries.resolve(version);
  }

  async activateBinary(server: ServerEndpoint, version: string): Promise<void> {
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

  private tlsDir(server: ServerEndpoint): string {
    return this.file(server, "tls");
  }

  async writeConfig(server: ServerEndpoint, configText: string, tls?: DeliveredTls): Promise<void> {
    await this.provision(server);
    if (tls) {
      // The material first, each file 0600 in a 0700 directory: the config that refers to it comes after.
      fs.mkdirSync(this.tlsDir(server), { recursive: true, mode: 0o700 });
      writeAtomically(path.join(this.tlsDir(server), TLS_FILE_NAMES.cert), tls.certPem, 0o600);
      writeAtomically(path.join(this.tlsDir(server), TLS_FILE_NAMES.key), tls.keyPem, 0o600);
      writeAtomically(path.join(this.tlsDir(server), TLS_FILE_NAMES.ca), tls.caPem, 0o600);
      if (tls.gatewayCaPem !== undefined)
        writeAtomically(path.join(this.tlsDir(server), GATEWAY_CA_FILE_NAME), tls.gatewayCaPem, 0o600);
    }
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
    const logStart = fileSize(this.logPath(server));
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
        const why = startFailureLines(readFrom(this.logPath(server), logStart));
        throw new Error(`${server.name}: nats-server exited at once (${exit.signal ?? `code ${exit.code}`}): ${why}`);
      }
      // nats-server writes its pid file before it opens its listeners, so a pid file alone can precede an [FTL]
      // exit (a port in use): it has started once it says it is ready. Logs sent elsewhere never say so here; then
      // the pid file at the deadline, with the process still alive, is taken as started, as before.
      if (readPid(pidFile) === child.pid && readFrom(this.logPath(server), logStart).includes(SERVER_READY)) return;
      await sleep(50);
    }
    if (!exit && readPid(pidFile) === child.pid) return;
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
    const last = this.pid(server);
    // A process in the middle of exiting has already lost its cmdline (so pid() no longer claims it) but may still
    // hold its listening sockets for a moment: wait until it is a zombie or gone, or the next start can fail to bind.
    const exiting = () =>
      last !== undefined &&
      /\) [^Z] /.test(readIfExists(`/proc/${last}/stat`) ?? "") &&
      !readIfExists(`/proc/${last}/cmdline`);
    while (this.pid(server) !== undefined || exiting()) {
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

  /** The lease file in the server's directory (./lease-file.ts). */
  async lease(server: ServerEndpoint, request: LeaseRequest): Promise<LeaseOnHost> {
    return leaseOp(this.dir(server), request);
  }

  /**
   * Every listener of every server that is not running yet must be free on this machine: one taken port would stop
   * that member, and the others would be left running outside any recorded state.
   */
  async startProblems(servers: ReadonlyArray<ServerEndpoint>): Promise<string[]> {
    const problems: string[] = [];
    for (const server of servers) {
      if (await this.isRunning(server)) continue;
      for (const field of ["clientPort", "clusterPort", "monitorPort"] as const) {
        const why = await portTaken(server.host, server[field]);
        if (why) problems.push(`${server.name}.${field}: ${server.host}:${server[field]} ${why}`);
      }
    }
    return problems;
  }

  private signal(server: ServerEndpoint, signal: NodeJS.Signals): void {
    const pid = this.pid(server);
    if (pid === undefined) throw new Error(`${server.name}: not running, cannot send ${signal}`);
    process.kill(pid, signal);
  }
}

/** Why nothing could listen on host:port now (in use, not an address of this machine), or undefined when free. */
function portTaken(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.unref();
    probe.once("error", (err: NodeJS.ErrnoException) =>
      resolve(
        err.code === "EADDRINUSE"
          ? "is already in use by another process; stop it or give this server another port"
          : `cannot be listened on (${err.code ?? err.message})`,
      ),
    );
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
}

/** A failed start in one line: nats-server's fatal lines (`[FTL] …`), not its 15-line banner. */
/** The line nats-server logs once its listeners are open. */
const SERVER_READY = "Server is ready";

function startFailureLines(logText: string): string {
  const lines = logText.trimEnd().split("\n");
  const fatal = lines.filter((l) => l.includes("[FTL]"));
  return (fatal.length ? fatal : lines.slice(-START_FAILURE_LOG_LINES)).join("\n");
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** The file's text from byte `offset` on (what one start appended to the log). */
/** What was appended to `file` after `offset`: read from there, not whole (start polls it every 50 ms). */
function readFrom(file: string, offset: number): string {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, "r");
    const length = Math.max(0, fs.fstatSync(fd).size - offset);
    const buffer = Buffer.alloc(length);
    const read = fs.readSync(fd, buffer, 0, length, offset);
    return buffer.subarray(0, read).toString("utf8");
  } catch {
    return "";
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
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
