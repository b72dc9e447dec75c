import { GateTiming } from "../gates/run";
import { seconds } from "../util/duration";
import { FailedAt, StepKind } from "./events";
import type { MemberPublishing } from "./publish-tally";
import { TrafficSummary } from "./traffic-watch";

export interface MemberReport {
  readonly name: string;
  readonly action: StepKind;
  readonly from?: string;
  readonly to: string;
  readonly result: "done" | "skipped" | "rolled-back" | "failed";
  /** Lame-duck signal until the process exited (clients drained). */
  readonly drainMs?: number;
  /** Lame-duck signal until the ready gate passed again: how long the member did not serve clients. */
  readonly downMs?: number;
  /** When that began (epoch milliseconds): the member's down window on the timeline. */
  readonly downSinceMs?: number;
  readonly gateTimings?: ReadonlyArray<GateTiming>;
  readonly soakMs?: number;
  readonly totalMs?: number;
  readonly note?: string;
  /** The batch it was changed in (a batched rollout, rollout.maxUnavailable > 1). */
  readonly batch?: number;
}

/**
 * Why a rollout halted and what it did about it, as a code (like a Kubernetes condition's reason): tests and
 * programs read the code; people read the advice, written from the code by one table (halt-advice.ts).
 */
export type HaltCode =
  /** The surge server could not join; it was removed and no member was touched. */
  | "SurgeDidNotJoin"
  /** Every member is at the target, but the surge server could not be removed. */
  | "SurgeNotRemoved"
  /** The final check failed after every member was changed; nothing was undone. */
  | "FinalCheckFailed"
  /** A leaving server's removal stopped half-way (stopped, or peer-removed): a re-run resumes it; never restarted. */
  | "RemovalIncomplete"
  /** The failed member(s) were never taken down: they still serve as before. */
  | "Untouched"
  /** Nothing was taken down because the rest of the cluster was not whole; the surge server (if in) stays. */
  | "ClusterNotWhole"
  /** A member went down between two batches without the rollout taking it down. */
  | "MemberLost"
  /** The changed member(s) were left as they are (no auto-rollback, a first start, or no known previous version). */
  | "LeftAsIs"
  /** A rollback would have taken a second member down (another one is down): not rolled back. */
  | "RollbackRefusedOtherMemberDown"
  /** The rollback failed too. */
  | "RollbackFailed"
  /** The changed member(s) are back on their previous version, healthy. */
  | "RolledBack";

export interface HaltReport {
  readonly code: HaltCode;
  readonly server: string;
  readonly step: StepKind;
  /** The gate that failed, or the point outside the gates where the step failed (stage, start, lame-duck, …). */
  readonly gate: FailedAt;
  readonly observation: string;
  /** Last lines of the failed server's log. */
  readonly logTail: string;
  readonly rolledBack: boolean;
  /** What the operator should do next (from {@link code}, see halt-advice.ts). */
  readonly advice: string;
}

/** Stopped on request (Ctrl-C) between two members: what is left, and how to resume. */
export interface InterruptReport {
  /** The step that would have come next. */
  readonly before: string;
  readonly advice: string;
}

export interface RolloutReport {
  /** A rolling change of a running cluster, or the start of one that did not run (first deployment). */
  readonly kind: "bootstrap" | "rollout";
  readonly targetVersion: string;
  readonly result: "succeeded" | "halted" | "interrupted" | "no-change";
  readonly members: ReadonlyArray<MemberReport>;
  readonly surge?: {
    readonly name: string;
    readonly version?: string;
    readonly lifetimeMs: number;
    /** When it was started (or adopted), epoch milliseconds. */
    readonly startedAtMs?: number;
    /** Start until ready for clients (0 when a left-over surge server was adopted). */
    readonly readyMs?: number;
    /** Lame-duck signal until it exited, when it left. */
    readonly drainMs?: number;
    readonly removed: boolean;
  };
  readonly totalMs: number;
  /** When the rollout began (epoch milliseconds); absent from reports recorded before it was kept. */
  readonly startedAtMs?: number;
  readonly halt?: HaltReport;
  readonly interrupted?: InterruptReport;
  readonly clientImpact?: TrafficSummary;
}

/** One publisher's figures, as the by-member line shows them after its request/reply pair's. */
function publishedText(p: MemberPublishing): string {
  const lost = p.lost === undefined ? "lost not checked" : `${p.lost} lost`;
  const failed = p.failed ? `, ${p.failed} failed` : "";
  return `, acked ${p.acked}/${p.published} (${p.timedOut} timed out${failed}, ${lost}), ack gap ${seconds(p.maxGapMs)}`;
}

/** The report as text, for the console and `pulumi up` output. */
export function formatReport(r: RolloutReport): string {
  const what = r.kind === "bootstrap" ? "Start of the cluster at" : "Rollout to";
  const lines = [`${what} ${r.targetVersion}: ${r.result.toUpperCase()} in ${seconds(r.totalMs)}`];
  for (const m of r.members) {
    const gates = m.gateTimings?.map((g) => `${g.gate} ${seconds(g.ms)}`).join(", ");
    lines.push(
      `  ${m.name.padEnd(14)} ${m.result.padEnd(11)} ${m.from ?? "?"} → ${m.to}` +
        (m.downMs !== undefined ? `  down ${seconds(m.downMs)}` : "") +
        (m.drainMs !== undefined ? ` (drain ${seconds(m.drainMs)})` : "") +
        (gates ? `  gates: ${gates}` : "") +
        (m.soakMs !== undefined ? `, soak ${seconds(m.soakMs)}` : "") +
        (m.batch !== undefined ? `  [batch ${m.batch}]` : "") +
        (m.note ? `  ${m.note}` : ""),
    );
  }
  if (r.surge) {
    lines.push(
      `  surge ${r.surge.name} (${r.surge.version ?? "?"}): up ${seconds(r.surge.lifetimeMs)}, ${r.surge.removed ? "removed" : "STILL RUNNING"}`,
    );
  }
  if (r.clientImpact) {
    const c = r.clientImpact;
    lines.push(
      `  clients: ${c.requests} requests, ${c.failures} failed, longest gap without a reply ${seconds(c.maxGapMs)}, ${c.reconnects} reconnects`,
    );
    const pub = c.publishing;
    const published = pub?.perMember ?? [];
    if (published.length) {
      const sum = (f: (m: MemberPublishing) => number) => published.reduce((n, m) => n + f(m), 0);
      const lost = published.every((m) => m.lost !== undefined)
        ? `${sum((m) => m.lost ?? 0)} lost`
        : "lost not checked";
      lines.push(
        `  acked publishing: ${sum((m) => m.published)} published, ${sum((m) => m.acked)} acked, ` +
          `${sum((m) => m.timedOut)} timed out, ${sum((m) => m.failed)} failed, ${lost}, ` +
          `longest gap without an ack ${seconds(Math.max(...published.map((m) => m.maxGapMs)))}`,
      );
    }
    if (c.perMember?.length) {
      // Where the failures and the gaps were: by the member each pair's responder (and each publisher) was first
      // connected to.
      const each = c.perMember.map((m) => {
        const p = published.find((q) => q.member === m.member);
        return (
          `${m.member} ${m.failures}/${m.requests} failed, gap ${seconds(m.maxGapMs)}` + (p ? publishedText(p) : "")
        );
      });
      const whose = published.length ? "responder's and publisher's first server" : "responder's first server";
      lines.push(`    by member (${whose}): ${each.join("; ")}`);
    }
    if (pub?.skipped) lines.push(`    acked publishing not measured: ${pub.skipped}`);
    if (pub?.readBack) lines.push(`    acked publishing: ${pub.readBack}`);
    if (pub?.cleanup) lines.push(`    WATCH STREAM LEFT: ${pub.cleanup}`);
    if (pub?.swept?.length)
      lines.push(`    left by earlier rollouts, over a day old, deleted: ${pub.swept.join(", ")}`);
  }
  if (r.interrupted) {
    lines.push(`  INTERRUPTED before ${r.interrupted.before}: ${r.interrupted.advice}`);
  }
  if (r.halt) {
    const h = r.halt;
    lines.push(`  HALTED at ${h.server} (${h.step}), gate ${h.gate}: ${h.observation}`);
    lines.push(
      `  [${h.code}] ${h.rolledBack ? "rolled back to its previous version and healthy again" : "NOT rolled back"}; ${h.advice}`,
    );
    if (h.logTail) lines.push("  last log lines:", ...h.logTail.split("\n").map((l) => `    ${l}`));
  }
  return lines.join("\n");
}
