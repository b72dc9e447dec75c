/**
 * The fault matrix: every fault of issue 9 as a {@link FaultDef}, and the two ways its figures are printed (a table
 * for people, one `fault=… outcome=…` line per row for machines).
 */
import { MonitorClient } from "../../../engine/monitor/client";
import { monitorUrl } from "../../../engine/spec";
import { cutOff, fillVolume, killVm, partition } from "./inject";
import { startNetDelay } from "./netdelay";
import { FaultContext, FaultDef, FaultRow } from "./scenario";

const at = (ctx: FaultContext, index: number, what: RegExp) => (line: string) => {
  const member = ctx.order[index];
  return member !== undefined && line.includes(` ${member} `) && what.test(line);
};
const started = /restart-member: started \S+; waiting for its gates/;
const done = /restart-member: done in/;
const lameDuck = /restart-member: lame duck: listeners closed/;

export const FAULTS: ReadonlyArray<FaultDef> = [
  {
    name: "partition",
    summary: "the member being upgraded cut off from every other VM (silent drops), healed 20 s later",
    when: "1st member started, waiting for its gates",
    at: (line, ctx) => at(ctx, 0, started)(line),
    inject: async (ctx) => ({ fault: partition(ctx.cluster.lab, ctx.cluster.vmOf(ctx.order[0])) }),
    healAfterMs: 20_000,
    // Completing is the point, not how fast: after the heal, a route that waited the partition out resumes only at
    // its TCP retransmission timer's next expiry (the timer doubles while the packets are dropped), JetStream
    // catches up, and the soak starts over if it flaps. Here the gates passed 10 s after the heal; on CI's loaded
    // 2 cores the member was once rolled back at the matrix's 60 s deadline, 40 s after the heal (CI's output did
    // not say which gate held: the test now prints the halt and the engine's last lines with a wrong outcome).
    policy: { healthyDeadlineSeconds: 150 },
    expected: ["completed"],
  },
  {
    name: "partition-between",
    summary:
      "the member just upgraded cut off from every other VM (silent drops) before the next member's turn, healed 30 s later",
    when: "1st member done, before the 2nd",
    at: (line, ctx) => at(ctx, 0, done)(line),
    inject: async (ctx) => {
      const fault = partition(ctx.cluster.lab, ctx.cluster.vmOf(ctx.order[0]));
      void watchMetaPeer(ctx, ctx.order[0], 24_000);
      return { fault };
    },
    healAfterMs: 30_000,
    rerun: true,
    expected: ["halted"],
  },
  {
    name: "peer-dies",
    summary: "another member's VM powered off (silent: its address drops packets), the last one in the plan",
    when: "1st member done, before the 2nd",
    at: (line, ctx) => at(ctx, 0, done)(line),
    inject: async (ctx) => ({
      fault: await killVm(ctx.cluster.lab, ctx.cluster.vmOf(ctx.order[2]), true),
      down: [ctx.order[2]],
    }),
    rerun: true,
    expected: ["halted"],
  },
  {
    name: "peer-dies-in-gates",
    summary: "another member's VM powered off (silent) while the 1st member is in its gates",
    when: "1st member started, waiting for its gates",
    at: (line, ctx) => at(ctx, 0, started)(line),
    inject: async (ctx) => ({
      fault: await killVm(ctx.cluster.lab, ctx.cluster.vmOf(ctx.order[2]), true),
      down: [ctx.order[2]],
    }),
    expected: ["halted"],
  },
  {
    name: "latency-loss",
    summary: "100 ms one-way latency and 2 % loss on every packet between VMs, for the whole rollout",
    when: "before the rollout",
    inject: async (ctx) => ({ fault: await startNetDelay(ctx.cluster.lab, { delayMs: 100, lossPercent: 2 }) }),
    expected: ["completed"],
  },
  {
    name: "surge-dies",
    summary: "the surge VM powered off (silent) while it carries the clients of a draining member",
    when: "2nd member's lame duck",
    at: (line, ctx) => at(ctx, 1, lameDuck)(line),
    inject: async (ctx) => ({ fault: await killVm(ctx.cluster.lab, ctx.cluster.vmOf("nats-surge"), true) }),
    expected: ["completed"],
  },
  {
    name: "volume-full",
    summary: "the next member's JetStream volume (300 MB XFS) filled to the last byte",
    when: "1st member done, before the 2nd",
    volumeMb: 300,
    at: (line, ctx) => at(ctx, 0, done)(line),
    inject: async (ctx) => ({
      fault: await fillVolume(ctx.cluster.lab, ctx.cluster.vmOf(ctx.order[1]), "/var/lib/nats"),
    }),
    expected: ["halted"],
  },
  {
    name: "operator-cut",
    summary: "the operator's machine (the engine, in a namespace of its own) cut off from the VMs for 20 s",
    when: "2nd member's lame duck",
    engine: "cli-operator",
    at: (line, ctx) => at(ctx, 1, lameDuck)(line),
    inject: async (ctx) => ({ fault: cutOff(ctx.cluster.lab, ctx.operator!.ip) }),
    healAfterMs: 20_000,
    rerun: true,
    expected: ["completed", "halted", "rolled-back"],
  },
  {
    name: "pulumi-sigkill",
    summary: "`pulumi up` (the CLI process) killed with SIGKILL, then `pulumi cancel` and `pulumi up`",
    when: "2nd member seen down by the clients",
    engine: "pulumi",
    sigkill: true,
    atMemberDown: 2,
    inject: async () => ({}),
    rerun: true,
    expected: ["killed"],
  },
  {
    name: "sigkill",
    summary: "the engine's process (nats-rollout) killed with SIGKILL, then run again",
    when: "2nd member's lame duck",
    engine: "cli",
    sigkill: true,
    at: (line, ctx) => at(ctx, 1, lameDuck)(line),
    inject: async () => ({}),
    rerun: true,
    expected: ["killed"],
  },
];

/** Logs, every 2 s, how the meta leader (asked through the other members) sees `peer`: current flag, last heard. */
async function watchMetaPeer(ctx: FaultContext, peer: string, forMs: number): Promise<void> {
  const others = ctx.cluster.spec.members.filter((m) => m.name !== peer);
  const end = Date.now() + forMs;
  while (Date.now() < end) {
    for (const m of others) {
      const jsz = await new MonitorClient(monitorUrl(m), 1500).jsz().catch(() => undefined);
      const meta = jsz?.meta_cluster;
      if (!meta?.leader || meta.leader !== m.name) continue;
      const r = meta.replicas?.find((x) => x.name === peer);
      ctx.log(
        `[faults] meta leader ${m.name} on ${peer}: current=${r?.current} offline=${r?.offline ?? false} ` +
          `active=${r?.active === undefined ? "?" : `${(r.active / 1e9).toFixed(1)}s`}`,
      );
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

const secs = (ms: number) => (ms < 0 ? "?" : `${(ms / 1000).toFixed(1)} s`);

/** The machine-readable line of a row. */
export function machineLine(r: FaultRow): string {
  const c = r.clients;
  return (
    `fault=${r.fault} outcome=${r.outcome === "killed" ? "halted" : r.outcome} acked=${c.acked} lost=${c.lost} ` +
    `max_down=${c.maxDownAtOnce} gap_ms=${c.requestReply.maxGapMs} seconds=${r.seconds}` +
    (r.rerun ? ` rerun=${r.rerun} rerun_seconds=${r.rerunSeconds}` : "") +
    ` rollout_down=${c.maxDownByRollout} net_only_down=${c.maxUnreachableWhileUp} soak_resets=${r.soakResets}`
  );
}

/** The human table (markdown), then the details a row cannot hold. */
export function formatMatrix(rows: ReadonlyArray<FaultRow>): string {
  const head =
    "| fault | injected | outcome | acked | lost | max down (by rollout) | req/reply max gap | time to outcome | " +
    "state left behind |";
  const lines = [head, "|---|---|---|---|---|---|---|---|---|"];
  for (const r of rows) {
    const c = r.clients;
    const outcome = (r.outcome === "killed" ? "engine killed" : r.outcome) + (r.rerun ? `; next run: ${r.rerun}` : "");
    const time = `${r.seconds} s` + (r.rerunSeconds !== undefined ? ` (+ ${r.rerunSeconds} s)` : "");
    const state = r.stateAfterRerun ? `${r.stateAfter}; after next run: ${r.stateAfterRerun}` : r.stateAfter;
    lines.push(
      `| ${r.fault} | ${r.when} | ${outcome} | ${c.acked} | ${c.lost} | ${c.maxDownAtOnce} (${c.maxDownByRollout}) | ` +
        `${secs(c.requestReply.maxGapMs)} | ${time} | ${state || r.error || "?"} |`,
    );
  }
  lines.push("");
  for (const r of rows) {
    lines.push(`${r.fault}: ${r.summary}.`);
    if (r.injected) lines.push(`  injected: ${r.injected}`);
    if (r.halt) lines.push(`  halt: ${r.halt}`);
    for (const w of r.warnings.slice(0, 4)) lines.push(`  warning: ${w.slice(0, 400)}`);
    if (r.soakResets) lines.push(`  gates that failed during a soak: ${r.soakResets}`);
    for (const n of r.notes) lines.push(`  ${n}`);
    const c = r.clients;
    lines.push(
      `  clients: ${c.acked} acked (${c.publishFailures} publish retries), ${c.lost} lost${c.lostDetail ? ` (${c.lostDetail})` : ""}; ` +
        `request/reply ${c.requestReply.requests} requests, ${c.requestReply.failures} failed`,
    );
    if (r.error) lines.push(`  ERROR: ${r.error}`);
  }
  return lines.join("\n");
}
