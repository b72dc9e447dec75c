/**
 * One row of the fault matrix: a fresh lab and cluster (./cluster.ts), client traffic, a rolling upgrade through the
 * real engine (`reconcile` in this process, or the engine's command line in a process of its own: in the operator's
 * namespace when the fault cuts the operator off, or to SIGKILL it), the fault injected when the engine's progress
 * reaches a chosen line, healed after a while or after the run, an optional second run, then the figures.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LEASE_STALE_MS, VM_LISTEN_HOST } from "../../../engine/defaults";
import { RolloutPolicy } from "../../../engine/spec";
import { formatEvent } from "../../../engine/rollout/events";
import { reconcile } from "../../../engine/rollout/reconcile";
import { formatReport } from "../../../engine/rollout/report";
import { NEW_MINOR, OLD_MINOR } from "../../support/versions";
import { ClientFigures, FAULT_POLICY, FaultCluster, FaultTraffic } from "./cluster";
import { Fault, makeOperatorNamespace } from "./inject";
import { connectionsOf, describe, PulumiStack } from "./pulumi";

export type Outcome = "completed" | "rolled-back" | "halted" | "killed";

/** What a fault's hooks get. */
export interface FaultContext {
  readonly cluster: FaultCluster;
  /** Members in the order the plan restarts them (followers first, the meta leader last). */
  readonly order: ReadonlyArray<string>;
  /** The operator's namespace and address, when the engine runs there. */
  readonly operator?: { readonly netns: string; readonly ip: string };
  readonly log: (line: string) => void;
}

export interface FaultDef {
  readonly name: string;
  /** What is done, in a few words (the table's first column says the name). */
  readonly summary: string;
  /** When it is injected, in words. */
  readonly when: string;
  /** The engine's progress line at which to inject (the first that matches); undefined: before the rollout. */
  readonly at?: (line: string, ctx: FaultContext) => boolean;
  /** Inject; resolves with what to undo and the members the fault itself took down. */
  readonly inject: (ctx: FaultContext) => Promise<{ fault?: Fault; down?: string[] }>;
  /** Undo the fault this long after injecting it; otherwise it is undone after the (first) run. */
  readonly healAfterMs?: number;
  /** A member volume of this many MB (XFS at the data directory). */
  readonly volumeMb?: number;
  /**
   * "cli": the engine's command line in a process of its own; "cli-operator": that, in the operator namespace;
   * "pulumi": `pulumi up` on a stack of the project (the cluster is bootstrapped by `pulumi up` too).
   */
  readonly engine?: "in-process" | "cli" | "cli-operator" | "pulumi";
  /** Inject when the Nth distinct member has been seen down by the clients (for engines whose output is terse). */
  readonly atMemberDown?: number;
  /** SIGKILL the engine's process at the injection point (engine "cli"). */
  readonly sigkill?: boolean;
  /** Run the engine again after the fault was undone (the operator's next `pulumi up`). */
  readonly rerun?: boolean;
  /** Outcomes acceptable for the first run (the CI test checks them). */
  readonly expected: ReadonlyArray<Outcome>;
  /** The rollout policy over {@link FAULT_POLICY} for this fault's runs (every engine). */
  readonly policy?: Partial<RolloutPolicy>;
}

/** The rollout policy of `def`'s runs: the matrix's, with the fault's own on top. */
export function policyOf(def: FaultDef): Partial<RolloutPolicy> {
  return { ...FAULT_POLICY, ...def.policy };
}

export interface FaultRow {
  readonly fault: string;
  readonly summary: string;
  readonly when: string;
  readonly outcome: Outcome;
  readonly rerun?: Outcome;
  readonly clients: ClientFigures;
  /** Seconds from the start of the rollout to its (first) outcome. */
  readonly seconds: number;
  readonly rerunSeconds?: number;
  /** Every member's version and the surge server, after the first run (before the fault was undone). */
  readonly stateAfter: string;
  /** The same after the second run. */
  readonly stateAfterRerun?: string;
  /** The halt as the report gave it: member, step, gate, what the servers said; and the advice. */
  readonly halt?: string;
  /** Gates that failed during a soak (a flap), and warnings the engine gave. */
  readonly soakResets: number;
  readonly warnings: ReadonlyArray<string>;
  readonly injected?: string;
  /** What else the run showed (orphaned processes, `pulumi cancel`'s answer, …). */
  readonly notes: ReadonlyArray<string>;
  readonly error?: string;
}

/** One engine run: its outcome, when it ended, the halt text, and every progress line. */
interface EngineRun {
  readonly outcome: Outcome;
  readonly ms: number;
  readonly halt?: string;
  readonly lines: string[];
}

/** Engine processes (the command line) still running: killed by pid when a fault ends, however it ended. */
const engines = new Set<ChildProcess>();

const REPO = path.resolve(
  __dirname,
  "..",
  "..",
  "..",
  ...(__dirname.includes(`${path.sep}dist${path.sep}`) ? [".."] : []),
);
const CLI = path.join(REPO, "dist", "cli", "nats-rollout.js");

/** Runs one fault; never throws for a fault's outcome, and always removes the lab it made. */
export async function runFault(def: FaultDef, log: (line: string) => void): Promise<FaultRow> {
  const cluster = new FaultCluster({ volumeMb: def.volumeMb, log });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `faults-${def.name}-`));
  const policy = policyOf(def);
  const stack = def.engine === "pulumi" ? new PulumiStack(cluster, tmp, policy) : undefined;
  const notes: string[] = [];
  const pending: Array<Promise<unknown>> = [];
  let fault: Fault | undefined;
  let healed = false;
  const heal = async () => {
    if (healed || !fault) return;
    healed = true;
    log(`[faults] ${def.name}: undo: ${fault.what}`);
    await fault.undo();
  };
  try {
    await cluster.start(stack ? () => stack.bootstrap(OLD_MINOR) : undefined);
    const operator = def.engine === "cli-operator" ? makeOperatorNamespace(cluster.lab) : undefined;
    const order: string[] = [];
    const ctx: FaultContext = { cluster, order, operator, log };
    const traffic = new FaultTraffic(cluster);
    await traffic.start();
    let faultDown: string[] = [];
    let injected: string | undefined;
    let killEngine: (() => void) | undefined;
    const doInject = () => {
      const at = Date.now();
      const injection = def.inject(ctx);
      // The in-process engine's next SSH command waits for the injection (the CLI's cannot: it races it).
      cluster.transport.holdUntil(injection);
      pending.push(
        injection
          .then(({ fault: f, down }) => {
            fault = f;
            faultDown = down ?? [];
            injected = f?.what ?? "engine killed";
            log(`[faults] ${def.name}: injected in ${Date.now() - at} ms: ${injected}`);
            if (def.healAfterMs !== undefined)
              pending.push(new Promise((r) => setTimeout(r, def.healAfterMs)).then(heal));
          })
          .catch((err) => log(`[faults] ${def.name}: injection failed: ${err}`)),
      );
      if (def.sigkill) killEngine?.();
    };
    const immediate = !def.at && def.atMemberDown === undefined;
    if (immediate) doInject();
    let fired = immediate;
    const onLine = (line: string) => {
      log(line);
      for (const m of line.matchAll(/^\s+\d+\. restart-member\s+(\S+)/gm)) if (!order.includes(m[1])) order.push(m[1]);
      if (!fired && def.at?.(line, ctx)) {
        fired = true;
        doInject();
      }
    };
    const engine = (label: string, extraArgs: string[] = []) =>
      stack
        ? runPulumi(stack, onLine, (kill) => (killEngine = kill))
        : def.engine === undefined || def.engine === "in-process"
          ? runInProcess(cluster, policy, onLine)
          : runCli(cluster, policy, tmp, operator?.netns, onLine, (kill) => (killEngine = kill), label, extraArgs);
    let downWatch: NodeJS.Timeout | undefined;
    if (def.atMemberDown !== undefined) {
      const seenDown = new Set<string>();
      downWatch = setInterval(() => {
        for (const round of traffic.reach.rounds.slice(-3)) for (const m of round.down) seenDown.add(m);
        if (!fired && seenDown.size >= def.atMemberDown!) {
          fired = true;
          log(`[faults] ${def.name}: members seen down so far: ${[...seenDown].join(", ")}: injecting`);
          doInject();
        }
      }, 100);
    }

    const first = await engine("run 1");
    clearInterval(downWatch);
    const killedAt = Date.now();
    if (stack && first.outcome === "killed") {
      await new Promise((r) => setTimeout(r, 3000));
      const live = stack.liveOrphans();
      notes.push(
        live.length
          ? `3 s after the SIGKILL, processes of the killed pulumi up still ran: ${live.map(describe).join("; ")}`
          : "3 s after the SIGKILL, no process of the killed pulumi up ran any more",
      );
      // What happened on the servers meanwhile, without any pulumi: members seen going down after the kill.
      await new Promise((r) => setTimeout(r, 20_000));
      const downAfter = new Set(traffic.reach.rounds.filter((r) => r.at > killedAt + 1000).flatMap((r) => [...r.down]));
      notes.push(
        `members seen down in the 23 s after the kill (no pulumi running): ${[...downAfter].join(", ") || "none"}` +
          `; processes of the killed run still alive: ${
            stack
              .liveOrphans()
              .map((pid) => `${describe(pid)} [${connectionsOf(pid)}]`)
              .join("; ") || "none"
          }`,
      );
      notes.push(`pulumi cancel: ${await stack.cancel()}`);
    }
    await Promise.all(pending);
    const stateAfter = await describeState(cluster);
    log(`[faults] ${def.name}: run 1 ${first.outcome} in ${(first.ms / 1000).toFixed(1)} s; ${stateAfter}`);
    await heal();
    let second: EngineRun | undefined;
    let stateAfterRerun: string | undefined;
    if (def.rerun) {
      // As an operator would: the fault healed, wait until the cluster reports healthy, then run again. Not after
      // a killed engine: the member it had in hand may be down, and starting it is the next run's job.
      if (!def.sigkill) {
        const healthyAfter = await cluster.waitHealthy(90_000);
        notes.push(
          healthyAfter < 0
            ? "the cluster did not report healthy within 90 s of the heal; ran again anyway"
            : `healthy again ${(healthyAfter / 1000).toFixed(0)} s after the heal; then the next run`,
        );
      }
      cluster.newDriver();
      // A SIGKILLed command line leaves its rollout lease on the hosts (nothing could release it): as the README's
      // 3 a.m. row says, wait until it is stale, then break it explicitly.
      const cliKilled = !stack && first.outcome === "killed" && def.engine !== undefined && def.engine !== "in-process";
      if (cliKilled) {
        log(`[faults] ${def.name}: waiting ${LEASE_STALE_MS / 1000 + 5} s for the killed engine's lease to go stale`);
        await new Promise((r) => setTimeout(r, LEASE_STALE_MS + 5000));
        notes.push("the killed engine's lease went stale; the next run broke it with --break-lease");
      }
      second = await engine("run 2", cliKilled ? ["--break-lease"] : []);
      if (stack && first.outcome === "killed") {
        const live = stack.liveOrphans();
        notes.push(
          `after the next run: processes of the killed run still alive: ${live.map(describe).join("; ") || "none"}`,
        );
      }
      stateAfterRerun = await describeState(cluster);
      log(`[faults] ${def.name}: run 2 ${second.outcome} in ${(second.ms / 1000).toFixed(1)} s; ${stateAfterRerun}`);
    }
    await Promise.all(pending);
    const clients = await traffic.stop(faultDown);
    const lines = [...first.lines, ...(second?.lines ?? [])];
    return {
      fault: def.name,
      summary: def.summary,
      when: def.when,
      outcome: first.outcome,
      rerun: second?.outcome,
      clients,
      seconds: Math.round(first.ms / 1000),
      rerunSeconds: second ? Math.round(second.ms / 1000) : undefined,
      stateAfter,
      stateAfterRerun,
      halt: first.halt,
      soakResets: lines.filter((l) => /failed during the soak/.test(l)).length,
      warnings: lines.filter((l) => / WARN /.test(l)).map((l) => l.replace(/^\[\s*[\d.]+s\]\s*/, "")),
      injected,
      notes,
    };
  } catch (err) {
    log(`[faults] ${def.name}: ERROR ${err instanceof Error ? err.stack : err}`);
    return {
      fault: def.name,
      summary: def.summary,
      when: def.when,
      outcome: "halted",
      clients: {
        acked: 0,
        lost: -1,
        publishFailures: 0,
        maxDownAtOnce: -1,
        maxDownByRollout: -1,
        maxUnreachableWhileUp: -1,
        requestReply: { requests: 0, failures: 0, maxGapMs: -1, reconnects: 0 },
      },
      seconds: -1,
      stateAfter: "",
      soakResets: 0,
      warnings: [],
      notes,
      error: String(err),
    };
  } finally {
    for (const child of engines) child.kill("SIGKILL");
    await stack?.destroy().catch(() => undefined);
    await Promise.allSettled(pending);
    await heal().catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
    await cluster.stop().catch((err) => log(`[faults] ${def.name}: lab stop: ${err}`));
  }
}

async function describeState(cluster: FaultCluster): Promise<string> {
  const { versions, surge } = await cluster.state();
  return `${Object.entries(versions)
    .map(([n, v]) => `${n.replace("nats-", "")}=${v}`)
    .join(" ")} surge ${surge}`;
}

/** The engine in this process, through `reconcile` (what the Pulumi provider calls). */
async function runInProcess(
  cluster: FaultCluster,
  policy: Partial<RolloutPolicy>,
  onLine: (line: string) => void,
): Promise<EngineRun> {
  const started = Date.now();
  const lines: string[] = [];
  const outcome = await reconcile({
    spec: { ...cluster.spec, version: NEW_MINOR },
    driver: cluster.driver,
    listenHost: VM_LISTEN_HOST,
    policy,
    onEvent: (e) => {
      const line = formatEvent(e);
      lines.push(line);
      onLine(line);
    },
  }).catch((err: unknown) => ({ status: "crashed" as const, error: err }));
  const ms = Date.now() - started;
  if (outcome.status === "crashed") {
    onLine(`engine crashed: ${outcome.error}`);
    return { outcome: "halted", ms, halt: `ENGINE CRASHED: ${outcome.error}`, lines };
  }
  if (outcome.status === "refused") {
    const text = outcome.plan.refusals.join("; ");
    onLine(`refused: ${text}`);
    return { outcome: "halted", ms, halt: `refused (nothing touched): ${text}`, lines };
  }
  for (const l of formatReport(outcome.report).split("\n")) onLine(l);
  const h = outcome.report.halt;
  const result: Outcome = outcome.status === "done" ? "completed" : h?.rolledBack ? "rolled-back" : "halted";
  const halt = h ? `${h.server} ${h.step}, gate ${h.gate}: ${h.observation} → ${h.advice}` : undefined;
  return { outcome: result, ms, halt, lines };
}

/** The engine's command line (`node dist/cli/nats-rollout.js rollout --spec …`), optionally in a namespace. */
async function runCli(
  cluster: FaultCluster,
  policy: Partial<RolloutPolicy>,
  tmp: string,
  netns: string | undefined,
  onLine: (line: string) => void,
  setKill: (kill: () => void) => void,
  label: string,
  extraArgs: string[] = [],
): Promise<EngineRun> {
  const spec = path.join(tmp, "spec.json");
  const secrets = path.join(tmp, "secrets.json");
  fs.writeFileSync(spec, JSON.stringify({ ...cluster.spec, version: NEW_MINOR }), { mode: 0o600 });
  fs.writeFileSync(secrets, JSON.stringify({ privateKey: cluster.privateKey }), { mode: 0o600 });
  const args = [
    CLI,
    "rollout",
    "--spec",
    spec,
    "--platform",
    "ssh",
    "--settings",
    JSON.stringify(cluster.settings),
    "--secrets-file",
    secrets,
    "--policy",
    JSON.stringify(policy),
    ...extraArgs,
  ];
  const argv = netns ? ["ip", "netns", "exec", netns, process.execPath, ...args] : [process.execPath, ...args];
  const started = Date.now();
  const lines: string[] = [];
  const child: ChildProcess = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  engines.add(child);
  child.on("close", () => engines.delete(child));
  setKill(() => {
    onLine(`[faults] ${label}: SIGKILL to the engine (pid ${child.pid})`);
    child.kill("SIGKILL");
  });
  let buffered = "";
  const take = (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    for (const l of parts) {
      lines.push(l);
      onLine(l);
    }
  };
  child.stdout!.on("data", take);
  child.stderr!.on("data", take);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (c, s) => resolve({ code: c, signal: s })),
  );
  const ms = Date.now() - started;
  const text = lines.join("\n");
  const haltLine = /HALTED at (.*)\n\s+(.*)/.exec(text);
  const halt = haltLine ? `${haltLine[1]} → ${haltLine[2]}` : undefined;
  if (signal === "SIGKILL") return { outcome: "killed", ms, lines };
  if (code === 0) return { outcome: "completed", ms, lines };
  if (code === 2)
    return { outcome: /rolled back to its previous version/.test(text) ? "rolled-back" : "halted", ms, halt, lines };
  const refused = /Rollout refused[^\n]*\n((?:\s+- .*\n?)+)/.exec(text)?.[1]?.trim();
  return {
    outcome: "halted",
    ms,
    halt: refused ? `refused (nothing touched): ${refused}` : `exit ${code}: ${lines.slice(-3).join(" | ")}`,
    lines,
  };
}

/** `pulumi up` to the new version; its outcome from the exit code and the report in its diagnostics. */
async function runPulumi(
  stack: PulumiStack,
  onLine: (line: string) => void,
  setKill: (kill: () => void) => void,
): Promise<EngineRun> {
  const started = Date.now();
  const lines: string[] = [];
  const { code, killed, output } = await stack.up(
    NEW_MINOR,
    (l) => {
      lines.push(l);
      onLine(l);
    },
    setKill,
  );
  const ms = Date.now() - started;
  if (killed) return { outcome: "killed", ms, lines };
  const haltLine = /HALTED at (.*)\n\s+(.*)/.exec(output);
  const halt = haltLine ? `${haltLine[1]} → ${haltLine[2]}` : code === 0 ? undefined : output.slice(-600);
  if (code === 0 && /SUCCEEDED|No rollout/.test(output)) return { outcome: "completed", ms, lines };
  if (/rolled back to its previous version/.test(output)) return { outcome: "rolled-back", ms, halt, lines };
  return { outcome: "halted", ms, halt, lines };
}
