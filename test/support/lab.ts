/**
 * The lab (scripts/lab.sh: real systemd "VMs" in network namespaces on this machine) from a jest test.
 *
 *   const skip = labSkipReason();
 *   if (skip) console.warn(`lab tests skipped: ${skip}`);
 *   (skip ? describe.skip : describe)("…", () => {
 *     const lab = createLab({ vms: 3 });             // its own LAB_NAME (nlt<random>) and /24 (10.213.<100-199>)
 *     beforeAll(() => lab.start(), 300_000);
 *     afterAll(() => lab.stop(), 120_000);           // runs even when a test failed, or start() did not finish
 *     test("…", async () => { await lab.ssh(lab.vms[0], "systemctl is-system-running"); });
 *   });
 *
 * Everything a lab makes carries its name, and `stop()` (scripts/lab.sh down) removes all of it.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";

/** Found by walking up, so this works from test/support and from the compiled dist/test/support (npm run faults). */
const REPO = (() => {
  let dir = path.resolve(__dirname, "..", "..");
  while (!existsSync(path.join(dir, "scripts", "lab.sh")) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();
const LAB_SH = path.join(REPO, "scripts", "lab.sh");
const STATE_ROOT = "/var/lib/nats-cluster-lab";
/**
 * Test labs are named `nlt<digits>` (and the supercluster test's `natssc<digits>`, 10.213.250-254); README's demo
 * lab is `natslab` on 10.213.0.
 */
const TEST_LAB_NAME = /^(nlt|natssc)\d+$/;

/** One VM of lab.json. */
export interface LabVm {
  readonly name: string;
  readonly ip: string;
  readonly netns: string;
  readonly veth: string;
  /** The systemd-nspawn process; null while the VM is powered off. */
  readonly nspawnPid: number | null;
  /** The container's systemd (PID 1 inside), the child of nspawn: `nsenter -t <leaderPid> -a CMD` runs inside. */
  readonly leaderPid: number | null;
  readonly root: string;
  readonly consoleLog: string;
  /** The host's loop device bound into the VM as /dev/sdf (only VMs given a volume). */
  readonly volumeDevice?: string;
  readonly volumeFile?: string;
  readonly volumeMb?: number;
}

/** lab.json, as scripts/lab.sh up writes it. */
export interface LabState {
  readonly name: string;
  readonly subnet: string;
  readonly cidr: string;
  readonly bridge: string;
  readonly hostIp: string;
  readonly releaseBaseUrl: string;
  readonly releaseArch: string;
  readonly releaseVersions: string[];
  /**
   * The served tarballs' SHA-256s, `{ "<version>": { "<arch>": "<sha256>" } }`: the release server is plain http, so
   * a stack (or driver settings) must pin them as `releaseSha256` for anything to be downloaded from it.
   */
  readonly releaseSha256: Record<string, Record<string, string>>;
  /**
   * The node_exporter release the server also serves, as a stack's `exporter` setting wants it but for its port and
   * args (url with `{version}` and `{arch}`, its SHA-256 pinned); null when provisioning did not build it.
   */
  readonly exporter: { name: string; version: string; url: string; sha256: Record<string, string> } | null;
  readonly sshKey: string;
  readonly knownHosts: string;
  readonly stateDir: string;
  readonly image: string;
  readonly vms: LabVm[];
}

export interface LabOptions {
  /** LAB_NAME; default `nlt<random>` (1-10 of [a-z0-9]). */
  readonly name?: string;
  /** Number of VMs; default 3. */
  readonly vms?: number;
  /** The /24's first three octets; default a random 10.213.<100-199> (another one is tried if it is taken). */
  readonly subnet?: string;
  /** A loop-device volume of this size (MB; at least 300 for XFS), /dev/sdf in the VM. */
  readonly volumeMb?: number;
  /** Which VMs (1-based numbers) get the volume; default all. */
  readonly volumeVms?: number[];
  /** A file used as every VM's cloud-init user data. */
  readonly userDataFile?: string;
  /** Whether cloud-init runs at boot; default only with `userDataFile` (it costs about 1 s of CPU per VM boot). */
  readonly cloudInit?: boolean;
  /** Deadline for `up`; default 240 s. */
  readonly upTimeoutMs?: number;
  /** A fault for the lab's own test: this VM's (1-based) host-key unit fails at its first start. */
  readonly failHostKeysOnceOn?: number;
}

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Resolve with a non-zero exit code instead of rejecting. */
  readonly allowFailure?: boolean;
  /** Written to the command's stdin. */
  readonly input?: string;
  /** Default 60 s. */
  readonly timeoutMs?: number;
}

export interface SshOptions extends RunOptions {
  /** Default root; `ops` is the sudo user. */
  readonly user?: string;
  /** Default the lab's known_hosts (host keys pinned, StrictHostKeyChecking=yes). */
  readonly knownHosts?: string;
}

type VmRef = LabVm | string | number;

/**
 * The SHA-256s the lab's release server will serve (`scripts/lab.sh release-pins`, which packs the tarballs if
 * needed): for what must be written before a lab exists, such as cloud-init user data. Once a lab is up,
 * `lab.releaseSha256` says the same.
 */
export function labReleasePins(): Record<string, Record<string, string>> {
  if (releasePins) return releasePins;
  const result = spawnSync("bash", [LAB_SH, "release-pins"], { encoding: "utf8", timeout: 300_000 });
  if (result.status !== 0) {
    throw new Error(`scripts/lab.sh release-pins failed (exit ${result.status}): ${result.stderr.slice(-2000)}`);
  }
  releasePins = JSON.parse(result.stdout) as Record<string, Record<string, string>>;
  return releasePins;
}
let releasePins: Record<string, Record<string, string>> | undefined;

const random = (from: number, to: number): number => from + Math.floor(Math.random() * (to - from + 1));

/** A lab of its own for a test: nothing runs until start(); stop() is safe at any time, also twice. */
export function createLab(options: LabOptions = {}): Lab {
  return new Lab(options);
}

/** createLab(options).start(). Prefer createLab in a beforeAll: afterAll can then stop a lab whose start timed out. */
export async function startLab(options: LabOptions = {}): Promise<Lab> {
  return createLab(options).start();
}

export class Lab {
  readonly name: string;
  private subnet: string;
  private readonly subnetGiven: boolean;
  private state: LabState | undefined;
  private upProcess: ReturnType<typeof spawn> | undefined;
  private stopped = false;
  /** What the last successful `up` logged (lab.sh logs to stderr). */
  upLog = "";

  constructor(private readonly options: LabOptions) {
    this.name = options.name ?? `nlt${random(10000, 99999)}`;
    if (!/^[a-z][a-z0-9]{0,9}$/.test(this.name))
      throw new Error(`lab name ${this.name}: 1-10 of [a-z0-9], starting with a letter`);
    this.subnetGiven = options.subnet !== undefined;
    this.subnet = options.subnet ?? `10.213.${random(100, 199)}`;
  }

  /** `scripts/lab.sh up`; on a taken random subnet, tries another. Rejects (with lab.sh's output) when up fails. */
  async start(): Promise<Lab> {
    sweepStaleTestLabs();
    for (let attempt = 1; ; attempt++) {
      const result = await this.labSh(["up"], {
        allowFailure: true,
        timeoutMs: this.options.upTimeoutMs ?? 240_000,
        trackAsUp: true,
      });
      if (result.code === 0) {
        this.upLog = result.stderr;
        this.refresh();
        console.log(`[lab ${this.name}] ${result.stdout.split("\n")[0]}`);
        return this;
      }
      const taken = /overlaps what this machine already has/.test(result.stderr);
      if (this.stopped) throw new Error(`lab ${this.name}: stopped while starting`);
      if (taken && !this.subnetGiven && attempt < 5) {
        this.subnet = `10.213.${random(100, 199)}`;
        continue;
      }
      await this.stop().catch(() => undefined); // up tears down after itself; this also covers a timeout
      throw new Error(
        `lab ${this.name}: scripts/lab.sh up failed (exit ${result.code}):\n${result.stderr.slice(-6000)}\n${result.stdout.slice(-2000)}`,
      );
    }
  }

  /** lab.json, re-read by refresh() (poweroff/boot do it themselves). */
  get info(): LabState {
    if (!this.state) throw new Error(`lab ${this.name} is not up`);
    return this.state;
  }
  get vms(): LabVm[] {
    return this.info.vms;
  }
  get releaseBaseUrl(): string {
    return this.info.releaseBaseUrl;
  }
  /** The pins a stack gives for this lab's plain-http release server (`releaseSha256`). */
  get releaseSha256(): Record<string, Record<string, string>> {
    return this.info.releaseSha256;
  }
  /** The release server as the engine takes it: its URL and the pins. */
  get release(): { baseUrl: string; sha256: Record<string, Record<string, string>> } {
    return { baseUrl: this.releaseBaseUrl, sha256: this.releaseSha256 };
  }
  get sshKeyPath(): string {
    return this.info.sshKey;
  }
  get knownHostsPath(): string {
    return this.info.knownHosts;
  }
  get stateDir(): string {
    return path.join(STATE_ROOT, this.name);
  }

  refresh(): LabState {
    this.state = JSON.parse(readFileSync(path.join(this.stateDir, "lab.json"), "utf8")) as LabState;
    return this.state;
  }

  /** A VM by its lab.json entry, its name (nlt123-vm2), short name (vm2) or number (2). */
  vm(ref: VmRef): LabVm {
    const name =
      typeof ref === "number"
        ? `${this.name}-vm${ref}`
        : typeof ref === "string"
          ? ref.startsWith(`${this.name}-`)
            ? ref
            : `${this.name}-${ref}`
          : ref.name;
    const found = this.vms.find((vm) => vm.name === name);
    if (!found) throw new Error(`lab ${this.name} has no VM ${name}`);
    return found;
  }

  /** Runs a command inside a VM (nsenter into all its namespaces); a string goes to `sh -c`. */
  exec(vm: VmRef, command: string | string[], options: RunOptions = {}): Promise<CommandResult> {
    const argv = typeof command === "string" ? ["sh", "-c", command] : command;
    return this.labSh(["exec", this.vm(vm).name, ...argv], options);
  }

  /** The ssh command line for a VM (without the remote command), host key pinned. */
  sshArgs(vm: VmRef, options: Pick<SshOptions, "user" | "knownHosts"> = {}): string[] {
    return [
      "-F",
      "/dev/null",
      "-i",
      this.sshKeyPath,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      `UserKnownHostsFile=${options.knownHosts ?? this.knownHostsPath}`,
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "ConnectTimeout=5",
      "-o",
      "LogLevel=ERROR",
      `${options.user ?? "root"}@${this.vm(vm).ip}`,
    ];
  }

  /** Runs a command on a VM over ssh (as root unless options.user). */
  ssh(vm: VmRef, command: string, options: SshOptions = {}): Promise<CommandResult> {
    return run(
      "ssh",
      [...this.sshArgs(vm, options), command],
      options,
      `ssh ${options.user ?? "root"}@${this.vm(vm).name} ${command}`,
    );
  }

  /** Kills the VM hard (its systemd and everything in it at once, as a VM dying). */
  async poweroff(vm: VmRef): Promise<void> {
    await this.labSh(["poweroff", this.vm(vm).name]);
    this.refresh();
  }

  /** Halts the VM cleanly (systemd stops its units). */
  async shutdown(vm: VmRef): Promise<void> {
    await this.labSh(["shutdown", this.vm(vm).name]);
    this.refresh();
  }

  /** Boots a powered-off VM again with the same root and address; resolves once systemd is up and ssh works. */
  async boot(vm: VmRef): Promise<void> {
    await this.labSh(["boot", this.vm(vm).name], { timeoutMs: 240_000 });
    this.refresh();
  }

  /**
   * Destroys the VM and makes a new one at the same address, as a cloud replaces a lost instance: a fresh root from
   * the image (new SSH host keys, in the lab's known_hosts afterwards; nothing installed, no data), a new empty
   * volume. Resolves once systemd is up and ssh answers.
   */
  async recreate(vm: VmRef): Promise<void> {
    await this.labSh(["recreate", this.vm(vm).name], { timeoutMs: 300_000 });
    this.refresh();
  }

  /** `scripts/lab.sh down`: every container, namespace, link, loop device, the release server and the state. */
  async stop(): Promise<void> {
    this.stopped = true;
    const up = this.upProcess;
    if (up && up.exitCode === null && up.signalCode === null) {
      // lab.sh up tears down what it made on SIGTERM; down below removes anything else.
      up.kill("SIGTERM");
      await new Promise<void>((resolve) => up.once("close", () => resolve()));
    }
    const result = await this.labSh(["down"], { allowFailure: true, timeoutMs: 120_000 });
    this.state = undefined;
    if (result.code !== 0)
      throw new Error(
        `lab ${this.name}: scripts/lab.sh down failed (exit ${result.code}):\n${result.stderr}\n${result.stdout}`,
      );
  }

  private labSh(args: string[], options: RunOptions & { trackAsUp?: boolean } = {}): Promise<CommandResult> {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // lab.sh runs its release server with node: this very one.
      PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
      LAB_NAME: this.name,
      LAB_STATE_DIR: this.stateDir,
      LAB_SUBNET: this.subnet,
      LAB_VMS: String(this.options.vms ?? 3),
      LAB_VOLUME_MB: this.options.volumeMb === undefined ? "" : String(this.options.volumeMb),
      LAB_VOLUME_VMS: (this.options.volumeVms ?? []).join(" "),
      LAB_OWNER_PID: String(process.pid),
      // A teardown keeps nothing: `down` kills the VMs at once instead of halting each one's units (25-40 s a lab).
      LAB_DOWN_HARD: "1",
      LAB_USER_DATA: this.options.userDataFile ?? "",
      LAB_CLOUD_INIT: (this.options.cloudInit ?? this.options.userDataFile !== undefined) ? "1" : "0",
      LAB_FAIL_HOSTKEYS_ONCE:
        this.options.failHostKeysOnceOn === undefined ? "" : String(this.options.failHostKeysOnceOn),
    };
    return run(
      "bash",
      [LAB_SH, ...args],
      { timeoutMs: 60_000, ...options },
      `scripts/lab.sh ${args.join(" ")}`,
      env,
      (child) => {
        if (options.trackAsUp) this.upProcess = child;
      },
    );
  }
}

function run(
  command: string,
  args: string[],
  options: RunOptions,
  label: string,
  env: NodeJS.ProcessEnv = process.env,
  onSpawn?: (child: ReturnType<typeof spawn>) => void,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    onSpawn?.(child);
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timeoutMs = options.timeoutMs ?? 60_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const result = {
        code: code ?? 128,
        stdout,
        stderr: timedOut ? `${stderr}\n(timed out after ${timeoutMs} ms)` : stderr,
      };
      if (result.code !== 0 && !options.allowFailure) {
        reject(
          new Error(
            `${label}: exit ${code ?? signal}${timedOut ? ` (timed out after ${timeoutMs} ms)` : ""}\nstdout: ${stdout.slice(-3000)}\nstderr: ${stderr.slice(-3000)}`,
          ),
        );
      } else {
        resolve(result);
      }
    });
    child.stdin.on("error", () => undefined); // a command that does not read its input
    child.stdin.end(options.input ?? "");
  });
}

/** Test labs (nlt<digits>) whose owner process is gone (a crashed or killed jest run): removed before a new one. */
function sweepStaleTestLabs(): void {
  if (!existsSync(STATE_ROOT)) return;
  for (const name of readdirSync(STATE_ROOT)) {
    if (!TEST_LAB_NAME.test(name)) continue;
    let owner: number;
    try {
      owner = Number(readFileSync(path.join(STATE_ROOT, name, "owner.pid"), "utf8").trim());
    } catch {
      continue; // no owner recorded: not ours to judge
    }
    if (Number.isInteger(owner) && processAlive(owner)) continue;
    console.warn(`[lab] removing stale test lab ${name} (its owner, pid ${owner}, is gone)`);
    spawnSync("bash", [LAB_SH, "down"], {
      env: { ...process.env, LAB_NAME: name, LAB_STATE_DIR: path.join(STATE_ROOT, name) },
      stdio: "ignore",
      timeout: 120_000,
    });
  }
}

/** A zombie (state Z) counts as gone: this machine's PID 1 does not reap. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

let skipReason: string | undefined | null = null;

/**
 * Why the lab tests cannot run here, or undefined when they can. Installs the host tools when missing and builds the
 * image when it is not cached (`scripts/lab.sh prepare`; about a minute the first time), once per jest worker.
 */
export function labSkipReason(): string | undefined {
  if (skipReason !== null) return skipReason;
  skipReason = computeSkipReason();
  return skipReason;
}

function computeSkipReason(): string | undefined {
  if (process.platform !== "linux") return `the lab needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0)
    return "the lab needs root (network namespaces, systemd-nspawn, loop devices); run the tests as root";
  const prepared = spawnSync("bash", [LAB_SH, "prepare"], {
    env: { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ""}` },
    encoding: "utf8",
    timeout: 20 * 60_000,
  });
  if (prepared.error) return `scripts/lab.sh prepare could not run: ${prepared.error.message}`;
  if (prepared.status !== 0) {
    const why = `${prepared.stderr ?? ""}`.trim().split("\n").slice(-4).join(" | ");
    return `scripts/lab.sh prepare failed (exit ${prepared.status}): ${why}`;
  }
  return undefined;
}
