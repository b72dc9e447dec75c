/**
 * One rollout in progress: what every part of the executor shares (the context, the plan, the rendered configs,
 * the ledger of what happened) and the two ways a run ends on its own terms: finished (with a result) or stopped
 * on request. Halting is halt.ts; the steps are dispatch.ts and batches.ts.
 */
import type { WatchResult } from "./cluster-watch";
import { ClientTraffic, ClusterView, RolloutContext } from "./context";
import { RunLedger } from "./ledger";
import { RolloutOutcome } from "./outcome";
import { DesiredConfigs, PlannedStep, RolloutPlan } from "./plan";
import { RolloutReport } from "./report";

export class Run {
  readonly ledger = new RunLedger();
  /** The traffic watch runs from pre-flight on; a run without one (a recovery only) reports no client figures. */
  private watching = false;

  constructor(
    readonly ctx: RolloutContext,
    readonly plan: RolloutPlan,
    /** Rendered once: the plan compares them, and a batched rollout plans again from them before every batch. */
    readonly desired: DesiredConfigs,
    private readonly traffic?: ClientTraffic,
  ) {}

  /** Start the client traffic watch (pre-flight); a watch that cannot start costs a warning, not the rollout. */
  async watchTraffic(): Promise<void> {
    await this.traffic
      ?.start()
      .then(() => (this.watching = true))
      .catch((err) => this.ctx.log.emit({ kind: "warning", message: `traffic watch not started: ${err}` }));
  }

  /**
   * Stop the watch once (its connections closed, its stream deleted) and return what it saw; undefined when it never
   * ran or was stopped already. finish() calls it; so does the executor when a step throws, so nothing is left behind.
   */
  async stopWatch(): Promise<RolloutReport["clientImpact"]> {
    if (!this.watching) return undefined;
    this.watching = false;
    return this.traffic?.stop().catch(() => undefined);
  }

  async finish(
    result: RolloutReport["result"],
    extra: Pick<RolloutReport, "halt" | "interrupted"> = {},
  ): Promise<RolloutReport> {
    const { ctx } = this;
    const clientImpact = await this.stopWatch();
    const surge = ctx.spec.surge;
    const surgeRemoved = !(await ctx.driver.isRunning(surge).catch(() => true));
    return {
      kind: this.plan.kind,
      targetVersion: ctx.spec.version,
      result,
      members: this.ledger.members,
      surge: this.ledger.surgeReport(surge.name, surgeRemoved),
      totalMs: ctx.log.elapsedMs(),
      startedAtMs: ctx.log.startedAtMs(),
      clientImpact,
      ...extra,
    };
  }

  /** Stopped on request before `next`: nothing more is touched; the surge server, if up, keeps serving. */
  async interrupted(next: PlannedStep, why: string, view: ClusterView): Promise<RolloutOutcome> {
    const before = `${next.kind}${next.server ? ` ${next.server}` : ""}`;
    const done = this.ledger.doneNames();
    const advice =
      `stopped on request (${why})` +
      (done.length ? ` after ${done.join(", ")}` : ", before any server was touched") +
      (view.surgeIn ? `; the surge server ${this.ctx.spec.surge.name} keeps serving` : "") +
      "; run the same command again (`pulumi up`) to resume from what the servers report";
    this.ctx.log.emit({ kind: "warning", step: next.kind, server: next.server, message: `interrupted: ${advice}` });
    return { status: "interrupted", report: await this.finish("interrupted", { interrupted: { before, advice } }) };
  }
}

/** Where a run is after a step or a batch: going on from a view (with what a watch saw), or ended. */
export type Progress =
  | { readonly kind: "continue"; readonly view: ClusterView; readonly watched?: WatchResult }
  | { readonly kind: "ended"; readonly outcome: RolloutOutcome };

export const goOn = (view: ClusterView, watched?: WatchResult): Progress => ({ kind: "continue", view, watched });
export const ended = (outcome: RolloutOutcome): Progress => ({ kind: "ended", outcome });
