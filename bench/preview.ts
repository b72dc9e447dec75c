/**
 * The `preview` section of `npm run bench`: what `pulumi preview` costs for a 3-member and a 50-member local stack,
 * side by side in one run, with the real Pulumi CLI (a file backend in a temp dir, a copy of the project, free
 * loopback ports). Both stacks are brought up at the oldest pinned version, the version is bumped, then previews
 * alternate between the two stacks. Each preview is timed from outside (wall clock; peak memory of its process tree,
 * summed over the processes: CLI, language host, program, dynamic provider), and from inside: with
 * NATS_CLUSTER_TIMINGS set, the program says when it had declared every resource (its process's uptime) and the
 * RollingUpgrade provider says how long its diff took (engine load, observe + plan). What is left is Pulumi's own.
 * BENCH_PREVIEW_RUNS sets the number of rounds (default 5); BENCH_PREVIEW_NODE_OPTIONS is passed to the previews'
 * Node processes as NODE_OPTIONS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where the program's time goes).
 */
import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { freePorts } from "../test/support/ports";
import { BIN_CACHE, NEW_MINOR, OLD_MINOR } from "../test/support/versions";

const run = promisify(execFile);
const REPO = path.join(__dirname, "..", "..");

export interface PreviewRun {
  readonly wallMs: number;
  readonly peakRssMb: number;
  /** CPU time (user + system) per process of the tree: the CLI, the language host, the program, the provider. */
  readonly cpuMs: Readonly<Record<ProcessKind, number>>;
  /** The program's process uptime when every resource was declared (node start, SDK, TypeScript, config). */
  readonly programMs?: number;
  /** The RollingUpgrade's check (where a preview observes the servers and plans): loading the engine, then that. */
  readonly diffEngineLoadMs?: number;
  readonly diffObservePlanMs?: number;
}

export interface PreviewStackFigures {
  /** `nats-cluster` (ours), `floor` (Pulumi alone, the same resources per member), `floor-flat` (one per member). */
  readonly project: "nats-cluster" | "floor" | "floor-flat";
  readonly stack: string;
  readonly members: number;
  readonly jetstream: boolean;
  readonly upMs: number;
  readonly runs: ReadonlyArray<PreviewRun>;
}

export type PreviewBench = { readonly skipped: string } | { readonly stacks: ReadonlyArray<PreviewStackFigures> };

/** Why the real Pulumi engine cannot be used here, or undefined. */
function engineUnavailable(): string | undefined {
  if (process.env.PULUMI_ENGINE_STATUS !== "ok") return `PULUMI_ENGINE_STATUS is ${process.env.PULUMI_ENGINE_STATUS}`;
  return undefined;
}

/** The processes of a preview, by what they run. */
export type ProcessKind = "cli" | "language-host" | "program" | "provider" | "other";

function kindOf(cmdline: string): ProcessKind {
  if (cmdline.includes("cmd/dynamic-provider")) return "provider";
  if (cmdline.includes("cmd/run")) return "program";
  if (cmdline.includes("pulumi-language-nodejs")) return "language-host";
  if (/(^|\/)pulumi\0/.test(cmdline)) return "cli";
  return "other";
}

/** What one look at the tree saw: total RSS, and per process its kind and CPU time so far (ms). */
function sampleTree(root: number): { rssKb: number; cpu: Map<number, { kind: ProcessKind; ms: number }> } {
  const parent = new Map<number, number>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      /* gone */
    }
  }
  const inTree = (pid: number): boolean => {
    for (let p: number | undefined = pid, hops = 0; p && hops < 64; p = parent.get(p), hops++)
      if (p === root) return true;
    return false;
  };
  let rssKb = 0;
  const cpu = new Map<number, { kind: ProcessKind; ms: number }>();
  for (const pid of parent.keys()) {
    if (!inTree(pid)) continue;
    try {
      const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
      rssKb += m ? Number(m[1]) : 0;
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime and stime, in clock ticks (100 per second on Linux).
      const ms = (Number(fields[11]) + Number(fields[12])) * 10;
      cpu.set(pid, { kind: kindOf(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8")), ms });
    } catch {
      /* gone */
    }
  }
  return { rssKb, cpu };
}

/** Run a command to its end; resolves with its output, wall time and the peak RSS of its process tree. */
function measured(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<{
  out: string;
  wallMs: number;
  peakRssMb: number;
  cpuMs: Record<ProcessKind, number>;
  code: number | null;
}> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    let peak = 0;
    // The last CPU time seen per process (a process's last < 50 ms after the last look are not counted).
    const cpu = new Map<number, { kind: ProcessKind; ms: number }>();
    const sampler = setInterval(() => {
      const seen = sampleTree(child.pid!);
      peak = Math.max(peak, seen.rssKb);
      // A process's kind is what it was first seen running (an exiting process's cmdline reads empty).
      for (const [pid, c] of seen.cpu) cpu.set(pid, { ...c, kind: cpu.get(pid)?.kind ?? c.kind });
    }, 50);
    child.on("error", reject);
    child.on("close", (code) => {
      clearInterval(sampler);
      const cpuMs: Record<ProcessKind, number> = { cli: 0, "language-host": 0, program: 0, provider: 0, other: 0 };
      for (const c of cpu.values()) cpuMs[c.kind] += c.ms;
      resolve({ out, wallMs: Date.now() - started, peakRssMb: Math.round(peak / 1024), cpuMs, code });
    });
  });
}

/** A copy of the project (sources, Pulumi.yaml; the repo's node_modules and dist linked) in a temp dir. */
function projectCopy(dir: string): string {
  const project = path.join(dir, "project");
  fs.mkdirSync(path.join(project, "stacks"), { recursive: true });
  for (const f of ["index.ts", "Pulumi.yaml", "package.json", "tsconfig.json"])
    fs.copyFileSync(path.join(REPO, f), path.join(project, f));
  for (const d of ["components", "engine"]) fs.cpSync(path.join(REPO, d), path.join(project, d), { recursive: true });
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(project, "node_modules"));
  fs.symlinkSync(path.join(REPO, "dist"), path.join(project, "dist"));
  return project;
}

/** A local stack file of `members` members on free ports (JSON values are YAML). */
async function writeStack(project: string, stateRoot: string, stack: string, members: number, jetstream: boolean) {
  const ports = await freePorts((members + 1) * 3);
  const at = (name: string, i: number) => ({
    name,
    host: "127.0.0.1",
    clientPort: ports[i],
    clusterPort: ports[members + 1 + i],
    monitorPort: ports[2 * (members + 1) + i],
  });
  const config: Record<string, unknown> = {
    platform: "local",
    version: OLD_MINOR,
    clusterName: `bench-${stack}`,
    members: Array.from({ length: members }, (_, i) => at(`${stack}-${i + 1}`, i)),
    surge: at(`${stack}-surge`, members),
    jetstream: String(jetstream),
    lameDuckGracePeriodSeconds: "1",
    local: { stateDir: path.join(stateRoot, stack) },
    rollout: { minHealthySeconds: 1, pollIntervalMs: 250 },
  };
  const yaml = ["config:", ...Object.entries(config).map(([k, v]) => `  nats-cluster:${k}: ${JSON.stringify(v)}`)];
  fs.writeFileSync(path.join(project, "stacks", `Pulumi.${stack}.yaml`), `${yaml.join("\n")}\n`);
}

/**
 * Pulumi's own floor, for comparison: a project with nothing of ours, declaring per member what ours declares (a
 * component and one dynamic resource under it, with a trivial provider), run the same way (TypeScript).
 */
function floorProject(dir: string): string {
  const project = path.join(dir, "floor");
  fs.mkdirSync(path.join(project, "stacks"), { recursive: true });
  fs.writeFileSync(
    path.join(project, "Pulumi.yaml"),
    "name: floor\nruntime:\n  name: nodejs\n  options:\n    typescript: true\nstackConfigDir: stacks\n",
  );
  for (const f of ["package.json", "tsconfig.json"]) fs.copyFileSync(path.join(REPO, f), path.join(project, f));
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(project, "node_modules"));
  fs.writeFileSync(
    path.join(project, "index.ts"),
    `import * as pulumi from "@pulumi/pulumi";
const provider = {
  async create(inputs: Record<string, unknown>) { return { id: String(inputs.name), outs: inputs }; },
  async diff() { return { changes: false }; },
};
class Host extends pulumi.dynamic.Resource {
  constructor(name: string, args: Record<string, unknown>, opts?: pulumi.CustomResourceOptions) {
    super(provider, name, args, opts, "floor", "Host");
  }
}
class Member extends pulumi.ComponentResource {
  constructor(name: string, i: number) {
    super("floor:index:Member", name, {}, {});
    const host = new Host(\`\${name}-host\`, { name, port: 4000 + i }, { parent: this });
    this.registerOutputs({ id: host.id });
  }
}
const config = new pulumi.Config();
const members = config.requireNumber("members");
// flat: the host resource alone, without a component around it (one resource per member instead of two).
const flat = config.getBoolean("flat") ?? false;
for (let i = 0; i < members; i++) {
  if (flat) new Host(\`m\${i}-host\`, { name: \`m\${i}\`, port: 4000 + i });
  else new Member(\`m\${i}\`, i);
}
`,
  );
  return project;
}

/** Stop every server a stack started, by the pids in its state dir (after `destroy`, nothing should be left). */
function killLeftovers(stateRoot: string): void {
  if (!fs.existsSync(stateRoot)) return;
  for (const stack of fs.readdirSync(stateRoot)) {
    for (const server of fs.readdirSync(path.join(stateRoot, stack))) {
      const pidFile = path.join(stateRoot, stack, server, "nats.pid");
      if (!fs.existsSync(pidFile)) continue;
      try {
        process.kill(Number(fs.readFileSync(pidFile, "utf8").trim()), "SIGKILL");
      } catch {
        /* gone */
      }
    }
  }
}

const timing = (out: string, re: RegExp): number | undefined => {
  const m = out.match(re);
  return m ? Number(m[1]) : undefined;
};

export async function benchPreview(runs = 3): Promise<PreviewBench> {
  const unavailable = engineUnavailable();
  if (unavailable) return { skipped: `the real Pulumi engine is not available: ${unavailable}` };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-bench-preview-"));
  const stateRoot = path.join(dir, "servers");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PULUMI_BACKEND_URL: `file://${path.join(dir, "state")}`,
    PULUMI_CONFIG_PASSPHRASE: "bench-preview",
    PULUMI_HOME: path.join(dir, "home"),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    NATS_SERVER_BIN_CACHE: BIN_CACHE,
  };
  fs.mkdirSync(path.join(dir, "state"));
  fs.mkdirSync(path.join(dir, "home"));
  const floor = floorProject(dir);
  const projects = { "nats-cluster": projectCopy(dir), floor, "floor-flat": floor };
  const stacks = [
    { project: "nats-cluster" as const, stack: "p3", members: 3, jetstream: true },
    { project: "nats-cluster" as const, stack: "p50", members: 50, jetstream: false },
    { project: "floor" as const, stack: "f3", members: 3, jetstream: false },
    { project: "floor" as const, stack: "f50", members: 50, jetstream: false },
    { project: "floor-flat" as const, stack: "g3", members: 3, jetstream: false },
    { project: "floor-flat" as const, stack: "g50", members: 50, jetstream: false },
  ];
  const pulumi = async (f: { project: keyof typeof projects; stack: string }, ...args: string[]) => {
    const { stdout, stderr } = await run("pulumi", [...args, "--stack", f.stack, "--non-interactive"], {
      cwd: projects[f.project],
      env,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 900_000,
    });
    return stdout + stderr;
  };
  try {
    const figures: Array<PreviewStackFigures & { runs: PreviewRun[] }> = [];
    for (const s of stacks) {
      const cwd = projects[s.project];
      if (s.project !== "nats-cluster") {
        const flat = s.project === "floor-flat" ? `  floor:flat: "true"\n` : "";
        fs.writeFileSync(
          path.join(cwd, "stacks", `Pulumi.${s.stack}.yaml`),
          `config:\n  floor:members: "${s.members}"\n${flat}`,
        );
      } else {
        await writeStack(cwd, stateRoot, s.stack, s.members, s.jetstream);
      }
      await run("pulumi", ["stack", "init", s.stack, "--non-interactive"], { cwd, env });
      const started = Date.now();
      await pulumi(s, "up", "--yes");
      figures.push({ ...s, upMs: Date.now() - started, runs: [] });
      if (s.project === "nats-cluster") await pulumi(s, "config", "set", "nats-cluster:version", NEW_MINOR);
    }
    // Alternate the stacks so all see the same machine load.
    for (let r = 0; r < runs; r++) {
      for (const f of figures) {
        const res = await measured("pulumi", ["preview", "--stack", f.stack, "--non-interactive"], {
          cwd: projects[f.project],
          env: {
            ...env,
            NATS_CLUSTER_TIMINGS: "1",
            ...(process.env.BENCH_PREVIEW_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_PREVIEW_NODE_OPTIONS } : {}),
          },
        });
        const expected = f.project !== "nats-cluster" ? "unchanged" : `Rollout to nats-server ${NEW_MINOR}`;
        if (res.code !== 0 || !res.out.includes(expected)) {
          throw new Error(`pulumi preview --stack ${f.stack} did not show the rollout:\n${res.out}`);
        }
        f.runs.push({
          wallMs: res.wallMs,
          peakRssMb: res.peakRssMb,
          cpuMs: res.cpuMs,
          programMs: timing(res.out, /\[timing\] program: (\d+) ms/),
          diffEngineLoadMs: timing(res.out, /\[timing\] RollingUpgrade (?:check|diff): engine loaded in (\d+) ms/),
          diffObservePlanMs: timing(res.out, /surge server observed and the plan made in (\d+) ms/),
        });
      }
    }
    for (const f of figures) await pulumi(f, "destroy", "--yes");
    return { stacks: figures };
  } finally {
    killLeftovers(stateRoot);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
