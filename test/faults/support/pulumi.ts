/**
 * The fault cluster driven by the real Pulumi engine, as an operator does: a copy of the project with a stack of its
 * own (`faults`: the committed lab stack's settings with this lab's addresses, host keys and release server; the SSH
 * key and the auth as secrets from stdin), a file backend in a temp directory. `pulumi up` bootstraps the cluster;
 * a run is `pulumi config set nats-cluster:version …` then `pulumi up`, in a process the fault may SIGKILL.
 */
import { ChildProcess, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { RolloutPolicy } from "../../../engine/spec";
import { copyProject, pulumiIn, pulumiOk, pulumiSpawn, writeStack } from "../../pulumi/support/pulumi-project";
import { labStackSsh } from "../../ssh/support/ssh-lab";
import { FAULT_POLICY, FaultCluster, NAMES } from "./cluster";
import { OwnedPids, startTimeOf } from "../../support/owned-pids";

export const STACK = "faults";

export class PulumiStack {
  readonly project: string;
  /** Provider and language-host processes left running by a killed `pulumi up` (killed by pid at the end). */
  /** What a killed `pulumi up` left: killed only while still that process (../../support/owned-pids.ts). */
  readonly orphans = new OwnedPids();
  private running?: ChildProcess;

  constructor(
    private readonly cluster: FaultCluster,
    private readonly dir: string,
    /** The stack's `rollout` setting. */
    private readonly policy: Partial<RolloutPolicy> = FAULT_POLICY,
  ) {
    this.project = path.join(dir, "project");
  }

  pulumi(args: string[], input?: string): Promise<string> {
    return pulumiOk(this.dir, this.project, [...args, "--stack", STACK], input);
  }

  /** The project, the stack, its secrets, and the cluster started at `version` by `pulumi up`. */
  async bootstrap(version: string): Promise<void> {
    for (const d of ["state", "home"]) fs.mkdirSync(path.join(this.dir, d), { recursive: true });
    copyProject(this.project);
    const { lab, spec } = this.cluster;
    writeStack(
      this.project,
      STACK,
      {
        version,
        clusterName: spec.name,
        members: spec.members.map((m) => ({ name: m.name, host: m.host })),
        surge: { name: spec.surge.name, host: spec.surge.host },
        lameDuckGracePeriodSeconds: spec.lameDuck.gracePeriodSeconds,
        rollout: this.policy,
        ssh: labStackSsh(lab, NAMES),
      },
      "lab",
    );
    await pulumiOk(this.dir, this.project, ["stack", "init", STACK]);
    await this.pulumi(["config", "set", "--secret", "nats-cluster:sshPrivateKey"], this.cluster.privateKey);
    await this.pulumi(["config", "set", "--secret", "nats-cluster:auth"], JSON.stringify({ users: spec.auth!.users }));
    await this.pulumi(
      ["config", "set", "--secret", "nats-cluster:systemAccount"],
      JSON.stringify(spec.auth!.systemAccount),
    );
    await this.pulumi(["up", "--yes"]);
  }

  /** `pulumi up` to `version` in a process of its own; `setKill` gets the way to SIGKILL the CLI (only the CLI). */
  async up(
    version: string,
    onLine: (line: string) => void,
    setKill: (kill: () => void) => void,
  ): Promise<{ code: number | null; killed: boolean; output: string }> {
    await this.pulumi(["config", "set", "nats-cluster:version", version]);
    const run = pulumiSpawn(this.dir, this.project, ["up", "--yes", "--stack", STACK]);
    this.running = run.child;
    let killed = false;
    setKill(() => {
      killed = true;
      const tree = descendants(run.child.pid!);
      onLine(`[faults] SIGKILL to pulumi (pid ${run.child.pid}); its processes: ${tree.map(describe).join("; ")}`);
      run.child.kill("SIGKILL");
      for (const pid of tree) this.orphans.add(pid);
    });
    let seen = 0;
    const timer = setInterval(() => {
      const text = run.output();
      for (const l of text.slice(seen).split("\n").slice(0, -1)) onLine(l);
      seen = text.lastIndexOf("\n") + 1;
    }, 500);
    const code = await run.exit;
    clearInterval(timer);
    for (const l of run.output().slice(seen).split("\n")) if (l) onLine(l);
    return { code: killed ? null : code, killed, output: run.output() };
  }

  async cancel(): Promise<string> {
    const r = await pulumiIn(this.dir, this.project, ["cancel", "--yes", "--stack", STACK]);
    return `exit ${r.code}: ${r.output.trim().split("\n").slice(-2).join(" | ")}`;
  }

  /** The processes a killed `pulumi up` left that still run. */
  liveOrphans(): number[] {
    return this.orphans.alive();
  }

  async destroy(): Promise<void> {
    // A pulumi up still running (the fault run failed): it and everything under it, by pid.
    if (this.running && this.running.exitCode === null && this.running.signalCode === null) {
      for (const pid of descendants(this.running.pid!)) this.orphans.add(pid);
      this.running.kill("SIGKILL");
    }
    this.orphans.killAll();
    await pulumiIn(this.dir, this.project, ["cancel", "--yes", "--stack", STACK]).catch(() => undefined);
  }
}

/** A live process (not a zombie): the one reading of /proc/<pid>/stat, in ../../support/owned-pids.ts. */
export function alive(pid: number): boolean {
  return startTimeOf(pid) !== undefined;
}

export function describe(pid: number): string {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)?.[1] ?? "?";
    const what = argv
      .map((a) => path.basename(a))
      .slice(0, 3)
      .join(" ");
    return `${pid} ${what} (ppid ${field("PPid")}, ${field("State")})`;
  } catch {
    return `${pid} (gone)`;
  }
}

/** The TCP connections a process has open (`ss -tnp`), peer addresses only: what an orphan is still talking to. */
export function connectionsOf(pid: number): string {
  const out = spawnSync("ss", ["-tnpH"], { encoding: "utf8" }).stdout ?? "";
  const peers = out
    .split("\n")
    .filter((l) => l.includes(`pid=${pid},`))
    .map((l) => `${l.trim().split(/\s+/)[0]} ${l.trim().split(/\s+/)[4]}`);
  return peers.length ? peers.join(", ") : "no TCP connection";
}

/** Every live process under `root` (by parent pid), not `root` itself. */
export function descendants(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of parentOf) {
      if (parent === pid && alive(child)) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(root);
  return out;
}
