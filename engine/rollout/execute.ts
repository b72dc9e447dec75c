import { DEFAULT_POLICY, FINAL_CHECK_DEADLINE_MS, PREFLIGHT_DEADLINE_MS } from "../defaults";
import { HostDriver } from "../hosts/driver";
import { ClusterSpec, RolloutPolicy, ServerEndpoint } from "../spec";
import { assertValidClusterSpec } from "../validate";
import { clusterWholeBefore, membersDownBesides, storeProblem } from "./cluster-check";
import { ClusterWatch, WatchResult } from "./cluster-watch";
import { ClusterView, RolloutContext, withMemberDown, withMemberUp, withSurge } from "./context";
import { EventLog, EventSink, seconds, StepKind } from "./events";
import { observeCluster, observeOptionsFor, observeServer, ObservedCluster } from "./observe";
import { DesiredConfigs, formatPlan, memberChange, planRollout, PlannedStep, RolloutPlan } from "./plan";
import { HaltReport, MemberReport, RolloutReport } from "./report";
import { withReleaseRefusals } from "./release-refusals";
import {
  recoverMember,
  reloadMember,
  loadRouteTls,
  restartMember,
  rollbackMember,
  stage,
  startCluster,
  StepFailure,
  StepTimings,
  surgeDown,
  surgeUp,
} from "./steps";
import { TrafficWatch } from "./traffic-watch";
import { engineClientSpec } from "./client-tls";
import { sleep } from "../util/async";

export interface RolloutOptions {
  readonly spec: ClusterSpec;
  readonly driver: HostDriver;
  readonly policy?: Partial<RolloutPolicy>;
  /** Progress as it happens (format with formatEvent). */
  readonly onEvent?: EventSink;
  /** Listen address rendered into configs (local: 127.0.0.1; VMs: 0.0.0.0). */
  readonly listenHost?: string;
  /** Run a request/reply loop during the rollout and put what clients felt in the report. Default true. */
  readonly watchTraffic?: boolean;
  /**
   * Asked before every step that would take a server down or bring one up: a reason (e.g. "Ctrl-C") stops the
   * rollout there, with the member in progress finished, the surge server left serving and a report saying how to
   * resume. Undefined: go on.
   */
  readonly stopRequested?: () => string | undefined;
}

/** Pre-flight or validation said no: nothing was touched. */
export class RolloutRefused extends Error {
  constructor(readonly plan: RolloutPlan) {
    super(formatPlan(plan));
    this.name = "RolloutRefused";
  }
}

/** A step failed: the rollout stopped; the report says where, what the server said, and whether it rolled back. */
export class RolloutHalted extends Error {
  constructor(readonly report: RolloutReport) {
    const h = report.halt;
    super(`rollout halted at ${h?.server} (${h?.step}), ${h?.gate}: ${h?.observation}`);
    this.name = "RolloutHalted";
  }
}

/** Stopped on request between two steps; the report says what is left and how to resume. */
export class RolloutInterrupted extends Error {
  constructor(readonly report: RolloutReport) {
    super(`rollout interrupted before ${report.interrupted?.before}: ${report.interrupted?.advice}`);
    this.name = "RolloutInterrupted";
  }
}

export function resolvePolicy(policy?: Partial<RolloutPolicy>): RolloutPolicy {
  return { ...DEFAULT_POLICY, ...policy };
}

/** The rendered config of every member, for the planner's comparison. */
export function desiredConfigs(spec: ClusterSpec, driver: HostDriver, listenHost?: string): DesiredConfigs {
  const ctx = new RolloutContext(spec, driver, DEFAULT_POLICY, new EventLog(), listenHost);
  return new Map(spec.members.map((m) => [m.name, ctx.configFor(m)]));
}

/** Plan from an observation (or an assumed one) without touching anything. */
export function planFor(options: RolloutOptions, observed: ObservedCluster): RolloutPlan {
  const plan = planRollout(
    observed,
    options.spec,
    desiredConfigs(options.spec, options.driver, options.listenHost),
    resolvePolicy(options.policy),
  );
  return withReleaseRefusals(plan, options.spec, observed, options.driver);
}

/** Observe and plan without touching anything: what `pulumi preview` shows. */
export async function previewRollout(
  options: RolloutOptions,
): Promise<{ observed: ObservedCluster; plan: RolloutPlan }> {
  assertValidClusterSpec(options.spec);
  const observed = await observeCluster(
    options.spec,
    options.driver,
    observeOptionsFor(options.spec, resolvePolicy(options.policy)),
  );
  return { observed, plan: planFor(options, observed) };
}

/** Steps that take a server down or bring one up: a stop request is honoured before them, never inside. */
const STOPPABLE: ReadonlySet<StepKind> = new Set([
  "start-cluster",
  "recover-member",
  "surge-up",
  "restart-member",
  "reload-member",
]);

/**
 * Take the cluster to the spec the way the NATS docs' "Upgrading a cluster" does by hand: pre-flight, surge server
 * up, one member at a time through lame duck and health gates, surge server down, final check (or, when no member
 * runs, start them all). Every decision is made from what the servers report, so running it again after a crash,
 * a halt or a Ctrl-C continues from where things are.
 * Resolves with the report; throws RolloutRefused (nothing touched), RolloutHalted or RolloutInterrupted.
 */
export async function runRollout(options: RolloutOptions): Promise<RolloutReport> {
  const { spec, driver } = options;
  const policy = resolvePolicy(options.policy);
  assertValidClusterSpec(spec);
  // Rendered once: the plan compares them, and a batched rollout plans again from them before every batch.
  const desired = desiredConfigs(spec, driver, options.listenHost);
  const observed = await observeCluster(spec, driver, observeOptionsFor(spec, policy));
  const log = new EventLog(options.onEvent);
  const ctx = new RolloutContext(spec, driver, policy, log, options.listenHost, engineClientSpec(spec, observed));
  try {
    return await rollOut(ctx, options, desired, observed);
  } finally {
    // Every monitor's connection (system account), whatever happened: nothing may keep the process from exiting.
    await ctx.close();
  }
}

async function rollOut(
  ctx: RolloutContext,
  options: RolloutOptions,
  desired: DesiredConfigs,
  observed: ObservedCluster,
): Promise<RolloutReport> {
  const { spec, log, policy } = ctx;
  const plan = planRollout(observed, spec, desired, policy);
  log.emit({ kind: "info", message: formatPlan(plan) });
  if (plan.refusals.length) throw new RolloutRefused(plan);
  const run = new Run(ctx, plan, desired, options.watchTraffic !== false && plan.kind === "rollout");
  if (plan.steps.length === 0) return run.finish("no-change");

  let view: ClusterView = {
    surgeIn: observed.surge.running,
    down: new Set(observed.members.filter((m) => !m.reachable).map((m) => m.name)),
  };
  for (let i = 0; i < plan.steps.length; i++) {
    const step = plan.steps[i];
    if (step.batch !== undefined) {
      // The member steps of a batched rollout: one batch at a time, each planned again from the servers.
      let end = i;
      while (end < plan.steps.length && plan.steps[end].batch !== undefined) end++;
      view = await run.batches(plan.steps.slice(i, end), view, options.stopRequested);
      i = end - 1;
      continue;
    }
    const stop = STOPPABLE.has(step.kind) ? options.stopRequested?.() : undefined;
    if (stop) throw new RolloutInterrupted(await run.interrupted(step, stop, view));
    const started = Date.now();
    log.emit({ kind: "step-start", step: step.kind, server: step.server, message: step.reason });
    try {
      view = await run.step(step, view, observed);
    } catch (err) {
      if (!(err instanceof StepFailure)) throw err;
      throw new RolloutHalted(await run.halt(err, step, view));
    }
    const took = Date.now() - started;
    log.emit({
      kind: "step-done",
      step: step.kind,
      server: step.server,
      durationMs: took,
      message: `done in ${seconds(took)}`,
    });
  }
  return run.finish("succeeded");
}

/** One rollout in progress: its steps, and what it has done so far (for the report). */
class Run {
  readonly members: MemberReport[] = [];
  private surgeStarted?: number;
  private surgeVersion?: string;
  private readonly surgeTimes: { readyMs?: number; drainMs?: number } = {};
  private readonly watch?: TrafficWatch;
  /** The traffic watch runs from pre-flight on; a run without one (a recovery only) reports no client figures. */
  private watching = false;
  /** Per member changed by this run: what it ran before (for a rollback). */
  private readonly previous = new Map<string, { version: string; configText?: string }>();
  /** What the cluster watch saw during the step just performed (consumed by the next step, whatever it is). */
  private watched?: WatchResult;

  constructor(
    private readonly ctx: RolloutContext,
    private readonly plan: RolloutPlan,
    private readonly desired: DesiredConfigs,
    watchTraffic: boolean,
  ) {
    this.watch = watchTraffic ? new TrafficWatch(ctx.clientSpec) : undefined;
  }

  /** Perform one planned step from `view`; resolves with the view after it. */
  async step(step: PlannedStep, view: ClusterView, observed: ObservedCluster): Promise<ClusterView> {
    const { ctx } = this;
    const started = Date.now();
    const watched = this.watched;
    this.watched = undefined;
    switch (step.kind) {
      case "start-cluster": {
        for (const t of await startCluster(ctx, view)) {
          this.members.push({ ...t, action: "start-cluster", to: ctx.spec.version, result: "done" });
        }
        return view;
      }
      case "preflight":
        await this.preflight(view);
        await this.watch
          ?.start()
          .then(() => (this.watching = true))
          .catch((err) => ctx.log.emit({ kind: "warning", message: `traffic watch not started: ${err}` }));
        return view;
      case "surge-up": {
        const inView = withSurge(view, true);
        this.surgeStarted = Date.now();
        this.surgeVersion = step.to ?? this.plan.surgeVersion ?? ctx.spec.version;
        try {
          // The members are watched while the surge server joins, so the first member's check is one look.
          this.surgeTimes.readyMs = await this.watchedWhile(view, undefined, () =>
            surgeUp(ctx, inView, this.surgeVersion!),
          );
        } catch (err) {
          // No member was touched yet: take the surge server (and any VM launched for it) away again, whatever
          // failed, so no half-started surge host is left for the next run to adopt.
          await surgeDown(ctx).catch(() => undefined);
          throw err;
        }
        return inView;
      }
      case "recover-member": {
        const member = ctx.member(step.server!);
        const upView = withMemberUp(view, member.name);
        // What it had, for a rollback when the target does not come up: its installed version and config.
        const installed = await ctx.driver.installedVersion(member).catch(() => undefined);
        const configText = await ctx.driver.readConfig(member).catch(() => undefined);
        if (installed && installed !== ctx.spec.version)
          this.previous.set(member.name, { version: installed, configText });
        else this.previous.delete(member.name);
        const timings = await recoverMember(ctx, upView, member);
        // Found down: how long it had been down is unknown; the report says when it came back instead.
        this.members.push({
          ...timings,
          name: member.name,
          action: step.kind,
          from: step.from,
          to: ctx.spec.version,
          result: "done",
          downMs: undefined,
          totalMs: Date.now() - started,
          note: `was found down; serving again after ${seconds(Date.now() - started)}`,
        });
        return upView;
      }
      case "restart-member":
      case "reload-member":
        return this.changeMember(step, view, step.server === observed.metaLeader, false, watched);
      case "load-route-tls": {
        const member = ctx.member(step.server!);
        const timings = await loadRouteTls(ctx, view, member);
        this.members.push({
          ...timings,
          name: member.name,
          action: step.kind,
          from: ctx.spec.version,
          to: ctx.spec.version,
          result: timings === undefined ? "skipped" : "done",
          ...(timings === undefined ? { note: "route TLS already loaded" } : { downMs: 0 }),
          totalMs: Date.now() - started,
        });
        return view;
      }
      case "surge-down":
        this.surgeTimes.drainMs = await surgeDown(ctx);
        return withSurge(view, false);
      case "final-check":
        await this.finalCheck(view);
        return view;
      case "rollback-member":
        throw new Error("rollback is never planned, only done after a failure");
    }
  }

  /**
   * Restart or reload one member, reconciling from what it reports now (not from the plan made at the start): a
   * member already at the target is skipped. `staged`: its binary was staged with its batch.
   */
  private async changeMember(
    step: PlannedStep,
    view: ClusterView,
    isMetaLeader: boolean,
    staged = false,
    watched?: WatchResult,
  ): Promise<ClusterView> {
    const { ctx } = this;
    const started = Date.now();
    const member = ctx.member(step.server!);
    const batch = step.batch;
    const now = await observeServer(member, ctx.driver, ctx.monitor(member));
    if (now.reachable && memberChange(ctx.spec, now, ctx.configFor(member)) === undefined) {
      this.members.push({
        name: member.name,
        action: step.kind,
        from: now.version,
        to: ctx.spec.version,
        result: "skipped",
        note: "already at the target",
        batch,
      });
      ctx.log.emit({ kind: "step-skip", step: step.kind, server: member.name, message: "already at the target" });
      return view;
    }
    const previous = { version: now.version ?? now.installedVersion ?? ctx.spec.version, configText: now.configText };
    this.previous.set(member.name, previous);
    // Never a second member down: the rest of the cluster must be whole before this one's lame duck (a batch is
    // checked once, before it: see runBatch).
    if (step.kind === "restart-member" && !staged) {
      view = await clusterWholeBefore(ctx, view, member, step.kind, watched);
    }
    const timings: StepTimings =
      step.kind === "reload-member"
        ? await reloadMember(ctx, view, member)
        : staged
          ? await restartMember(ctx, view, member, isMetaLeader, staged)
          : await this.watchedWhile(withMemberDown(view, member.name), member, () =>
              restartMember(ctx, view, member, isMetaLeader, staged),
            );
    this.members.push({
      ...timings,
      name: member.name,
      action: step.kind,
      from: previous.version,
      to: ctx.spec.version,
      result: "done",
      totalMs: Date.now() - started,
      batch,
    });
    return view;
  }

  /**
   * The member steps of a batched rollout, one batch at a time. Before each batch the cluster is observed again
   * (versions, meta leader, Raft placement, clients) and planned again by the one planner, so a stream that moved
   * since the plan was shown, a meta leader that changed or a member already at the target is taken into account;
   * only members of this rollout's plan are touched. The members of a batch go down together; the next batch starts
   * when every one of them passed its gates. A failure rolls back that batch, every member of it, and nothing else.
   */
  async batches(
    planned: ReadonlyArray<PlannedStep>,
    view: ClusterView,
    stopRequested?: () => string | undefined,
  ): Promise<ClusterView> {
    const { ctx } = this;
    const pending = new Map(planned.map((s) => [s.server!, s]));
    let number = 0;
    while (pending.size > 0) {
      const observed = await this.observeBeforeBatch(view);
      const lost = observed.members.find((m) => !m.reachable && !view.down.has(m.name));
      if (lost) {
        const failure = new StepFailure(
          lost.name,
          [...pending.values()][0].kind,
          "observe",
          `found down before batch ${number + 1} (${lost.error ?? "no answer"}); no member of that batch was touched`,
          undefined,
          true,
        );
        throw new RolloutHalted(await this.haltLost(failure, view));
      }
      const fresh = planRollout(observed, ctx.spec, this.desired, ctx.policy);
      const next = fresh.steps.filter((s) => s.batch !== undefined && pending.has(s.server!));
      for (const [name, s] of pending) {
        if (next.some((n) => n.server === name)) continue;
        pending.delete(name);
        this.members.push({
          name,
          action: s.kind,
          to: ctx.spec.version,
          result: "skipped",
          note: "already at the target",
        });
        ctx.log.emit({ kind: "step-skip", step: s.kind, server: name, message: "already at the target" });
      }
      if (next.length === 0) break;
      const first = Math.min(...next.map((s) => s.batch!));
      const batch = next.filter((s) => s.batch === first).map((s) => ({ ...s, batch: number + 1 }));
      const stop = stopRequested?.();
      if (stop) throw new RolloutInterrupted(await this.interrupted(batch[0], stop, view));
      number++;
      const after = pending.size - batch.length;
      ctx.log.emit({
        kind: "info",
        message:
          `batch ${number}: ${batch.map((s) => s.server).join(", ")} ` +
          `(planned again from what the servers report; ${after} member${after === 1 ? "" : "s"} after it)`,
      });
      view = await this.runBatch(batch, view, observed.metaLeader);
      batch.forEach((s) => pending.delete(s.server!));
    }
    return view;
  }

  /** The cluster as the planner needs it before a batch; a member that does not answer gets two more looks. */
  /**
   * Run `work` (one member's restart, a batch's, the surge server's start) while the rest of the cluster (the members
   * `view` does not count down, but `changing`) is watched; on success, what the watch saw is kept for the next
   * step's (or batch's) cluster check.
   */
  private async watchedWhile<T>(view: ClusterView, changing: ServerEndpoint | undefined, work: () => Promise<T>) {
    const watch = new ClusterWatch(this.ctx, view, changing);
    let result: T;
    try {
      result = await work();
    } catch (err) {
      await watch.stop();
      throw err;
    }
    this.watched = await watch.stop();
    return result;
  }

  private async observeBeforeBatch(view: ClusterView): Promise<ObservedCluster> {
    const { ctx } = this;
    for (let look = 1; ; look++) {
      const observed = await observeCluster(ctx.spec, ctx.driver, observeOptionsFor(ctx.spec, ctx.policy));
      if (look >= 3 || observed.members.every((m) => m.reachable || view.down.has(m.name))) return observed;
      await sleep(ctx.policy.pollIntervalMs);
    }
  }

  /** The members of one batch go down together: each one's gates expect the others down. */
  private async runBatch(
    batch: ReadonlyArray<PlannedStep>,
    view: ClusterView,
    metaLeader?: string,
  ): Promise<ClusterView> {
    const { ctx } = this;
    const watched = this.watched;
    this.watched = undefined;
    // The members outside the batch must be whole before any of it goes into lame duck.
    const firstRestart = batch.find((s) => s.kind === "restart-member");
    if (firstRestart) {
      try {
        const member = ctx.member(firstRestart.server!);
        const inBatch = batchView(view, batch, member.name);
        const checked = await clusterWholeBefore(ctx, inBatch, member, firstRestart.kind, watched);
        view = { ...view, surgeIn: checked.surgeIn };
      } catch (err) {
        if (!(err instanceof StepFailure)) throw err;
        throw new RolloutHalted(await this.haltBatch([err], batch, view));
      }
    }
    // Every binary first, while every member of the batch still serves: a download that fails touches nobody.
    try {
      await Promise.all(
        batch
          .filter((s) => s.kind === "restart-member")
          .map((s) => stage(ctx, s.kind, ctx.member(s.server!), ctx.spec.version)),
      );
    } catch (err) {
      if (!(err instanceof StepFailure)) throw err;
      throw new RolloutHalted(await this.haltBatch([err], batch, view));
    }
    // The members outside the batch are watched while it restarts, for the next batch's check.
    const allDown: ClusterView = { ...view, down: new Set([...view.down, ...batch.map((s) => s.server!)]) };
    const outcomes = await this.watchedWhile(allDown, undefined, () =>
      Promise.allSettled(
        batch.map(async (step) => {
          const started = Date.now();
          ctx.log.emit({ kind: "step-start", step: step.kind, server: step.server, message: step.reason });
          await this.changeMember(step, batchView(view, batch, step.server!), step.server === metaLeader, true);
          const took = Date.now() - started;
          ctx.log.emit({
            kind: "step-done",
            step: step.kind,
            server: step.server,
            durationMs: took,
            message: `done in ${seconds(took)}`,
          });
        }),
      ),
    );
    const errors = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason as unknown] : []));
    const bug = errors.find((e) => !(e instanceof StepFailure));
    if (bug) throw bug;
    if (errors.length > 0) {
      this.watched = undefined;
      throw new RolloutHalted(await this.haltBatch(errors as StepFailure[], batch, view));
    }
    return view;
  }

  /**
   * A member of a batch failed. Every member of the batch that was taken down or changed goes back to what it ran
   * before, all together (they were safe down together, and a rollback keeps the rollout's pacing), through the same
   * gates; then the surge server leaves. No member outside the batch is touched. Without auto-rollback (or if a
   * rollback fails too) the batch stays as it is and the surge server keeps carrying clients.
   */
  private async haltBatch(
    failures: ReadonlyArray<StepFailure>,
    batch: ReadonlyArray<PlannedStep>,
    view: ClusterView,
  ): Promise<RolloutReport> {
    const { ctx } = this;
    const number = batch[0].batch;
    const names = batch.map((s) => s.server!);
    const who = `batch ${number} (${names.join(", ")})`;
    const report = await this.haltReport(failures[0]);
    for (const f of failures.slice(1)) {
      ctx.log.emit({ kind: "halt", step: f.step, server: f.server, message: `${f.gate}: ${f.observation}` });
    }
    for (const f of failures) {
      this.members.push({
        name: f.server,
        action: batch.find((s) => s.server === f.server)?.kind ?? f.step,
        from: this.previous.get(f.server)?.version,
        to: ctx.spec.version,
        result: "failed",
        drainMs: f.partial?.drainMs,
        note: `failed at ${f.gate}`,
        batch: number,
      });
    }
    const entry = (name: string) =>
      [...this.members].reverse().find((m) => m.name === name && m.batch === number && m.result !== "skipped");
    const touched = names.filter((n) => {
      const failure = failures.find((f) => f.server === n);
      return failure ? !failure.untouched : entry(n)?.result === "done";
    });
    const failedNames = failures.map((f) => f.server).join(", ");
    if (touched.length === 0) {
      if (view.surgeIn) await surgeDown(ctx).catch(() => undefined);
      const advice =
        `no member of ${who} was taken down: they still run as before and serve clients` +
        `${view.surgeIn ? "; the surge server was removed" : ""}; fix the cause and run again to resume`;
      return this.finish("halted", { halt: { ...report, advice } });
    }
    const keepSurge = view.surgeIn ? "; the surge server keeps carrying clients" : "";
    if (!ctx.policy.autoRollback) {
      const advice =
        `${who} is left as it is (${touched.join(", ")} changed or down)${keepSurge}; no other member was touched; ` +
        "fix the cause and run again, or set the previous version";
      return this.finish("halted", { halt: { ...report, advice } });
    }
    const results = await Promise.allSettled(
      touched.map((name) => {
        const previous = this.previous.get(name);
        if (!previous) {
          return Promise.reject(new StepFailure(name, "rollback-member", "start", "its previous version is not known"));
        }
        return rollbackMember(ctx, batchView(view, batch, name), ctx.member(name), previous);
      }),
    );
    const notBack: string[] = [];
    touched.forEach((name, i) => {
      const result = results[i];
      const index = this.members.lastIndexOf(entry(name)!);
      if (result.status === "rejected") {
        const e = result.reason as unknown;
        notBack.push(`${name}: ${e instanceof StepFailure ? `${e.gate}: ${e.observation}` : String(e)}`);
        return;
      }
      const was = this.members[index];
      const gates = seconds(result.value.gateTimings?.at(-1)?.ms ?? 0);
      const back = `back on ${this.previous.get(name)!.version}, its gates passed in ${gates}`;
      this.members[index] = {
        ...was,
        result: "rolled-back",
        note:
          was.result === "failed"
            ? `${was.note}; ${back}`
            : `rolled back with its batch (${failedNames} failed); ${back}`,
      };
    });
    if (notBack.length > 0) {
      const advice = `the rollback failed too (${notBack.join("; ")})${keepSurge}; no member outside ${who} was touched`;
      return this.finish("halted", { halt: { ...report, advice } });
    }
    if (view.surgeIn) await surgeDown(ctx);
    const versions = [...new Set(touched.map((n) => this.previous.get(n)!.version))].join(", ");
    return this.finish("halted", {
      halt: {
        ...report,
        rolledBack: true,
        advice:
          `${who} is back on ${versions}, every member of it rolled back together; no other member was touched; ` +
          "fix the cause (see the log lines) before running again",
      },
    });
  }

  /** A member went down during a batched rollout without the rollout taking it down: stop before the next batch. */
  private async haltLost(failure: StepFailure, view: ClusterView): Promise<RolloutReport> {
    const report = await this.haltReport(failure);
    const advice =
      `${failure.server} went down during the rollout without the rollout taking it down: nothing more was touched` +
      `${view.surgeIn ? "; the surge server keeps carrying clients" : ""}; run again: the re-run starts it first, ` +
      "then goes on with the members left";
    return this.finish("halted", { halt: { ...report, advice } });
  }

  /** Every member that is up healthy (one look, no soak), or the rollout is refused and names the member. */
  private async preflight(view: ClusterView): Promise<void> {
    for (const member of this.ctx.spec.members) {
      if (view.down.has(member.name)) continue;
      const version =
        (
          await this.ctx
            .monitor(member)
            .varz()
            .catch(() => undefined)
        )?.version ?? this.ctx.spec.version;
      const result = await this.ctx.gate("preflight", member, version, view, {
        soak: false,
        deadlineMs: PREFLIGHT_DEADLINE_MS,
      });
      const store = await storeProblem(this.ctx, member);
      if (!result.passed || store) {
        const gate = result.passed ? "" : `failed gate ${result.failure.gate}: ${result.failure.observation}`;
        throw new RolloutRefused({
          kind: "rollout",
          targetVersion: this.ctx.spec.version,
          steps: [],
          refusals: [`pre-flight: member ${member.name} ${[gate, store].filter(Boolean).join("; ")}`],
          estimatedSeconds: 0,
        });
      }
    }
  }

  /** After the surge server left: every member at the target, routed to the others, the meta group exactly the members.
   * */
  private async finalCheck(view: ClusterView): Promise<void> {
    for (const member of this.ctx.spec.members) {
      const result = await this.ctx.gate("final-check", member, this.ctx.spec.version, view, {
        soak: false,
        deadlineMs: FINAL_CHECK_DEADLINE_MS,
      });
      if (!result.passed) {
        throw new StepFailure(member.name, "final-check", result.failure.gate, result.failure.observation);
      }
    }
  }

  async finish(
    result: RolloutReport["result"],
    extra: Pick<RolloutReport, "halt" | "interrupted"> = {},
  ): Promise<RolloutReport> {
    const clientImpact = this.watching ? await this.watch?.stop().catch(() => undefined) : undefined;
    const surge = this.ctx.spec.surge;
    const surgeRemoved = !(await this.ctx.driver.isRunning(surge).catch(() => true));
    return {
      kind: this.plan.kind,
      targetVersion: this.ctx.spec.version,
      result,
      members: this.members,
      surge:
        this.surgeStarted !== undefined
          ? {
              name: surge.name,
              version: this.surgeVersion,
              lifetimeMs: Date.now() - this.surgeStarted,
              ...this.surgeTimes,
              removed: surgeRemoved,
            }
          : undefined,
      totalMs: this.ctx.log.elapsedMs(),
      clientImpact,
      ...extra,
    };
  }

  /** Stopped on request before `next`: nothing more is touched; the surge server, if up, keeps serving. */
  async interrupted(next: PlannedStep, why: string, view: ClusterView): Promise<RolloutReport> {
    const before = `${next.kind}${next.server ? ` ${next.server}` : ""}`;
    const done = this.members.filter((m) => m.result === "done").map((m) => m.name);
    const advice =
      `stopped on request (${why})` +
      (done.length ? ` after ${done.join(", ")}` : ", before any server was touched") +
      (view.surgeIn ? `; the surge server ${this.ctx.spec.surge.name} keeps serving` : "") +
      "; run the same command again (`pulumi up`) to resume from what the servers report";
    this.ctx.log.emit({ kind: "warning", step: next.kind, server: next.server, message: `interrupted: ${advice}` });
    return this.finish("interrupted", { interrupted: { before, advice } });
  }

  /**
   * A step failed: never touch another member. A failure before the member was taken down (its binary could not be
   * fetched) leaves it as it was. Otherwise, with auto-rollback, put it back on its previous version through the
   * same gates and take the surge server away; without (or if the rollback fails too), leave the surge server
   * carrying clients and say what to do.
   */
  async halt(failure: StepFailure, step: PlannedStep, view: ClusterView): Promise<RolloutReport> {
    const { ctx } = this;
    const report = await this.haltReport(failure);
    const isMember = ctx.spec.members.some((m) => m.name === failure.server);
    const surgeUpNow = view.surgeIn;
    const keepSurge = "the surge server keeps carrying clients";
    if (!isMember || step.kind === "final-check") {
      const advice =
        step.kind === "surge-up"
          ? "the surge server could not join and was removed; no member was touched"
          : step.kind === "surge-down"
            ? "every member is at the target; the surge server could not be removed: run again to remove it"
            : "no member was changed by this step; fix the cause and run again";
      return this.finish("halted", { halt: { ...report, advice } });
    }
    const member = ctx.member(failure.server);
    const previous = this.previous.get(member.name);
    const failed: MemberReport = {
      name: member.name,
      action: step.kind,
      from: previous?.version,
      to: ctx.spec.version,
      result: "failed",
      drainMs: failure.partial?.drainMs,
      note: `failed at ${failure.gate}`,
    };
    this.members.push(failed);

    if (failure.untouched) {
      // Nothing is down: the surge server is not needed any more, and a re-run brings it up again. Unless the
      // cluster itself is short of a member: then the surge server keeps carrying the clients it took over.
      const short = failure.gate === "cluster";
      const removeSurge = view.surgeIn && !short;
      if (removeSurge) await surgeDown(ctx).catch(() => undefined);
      const advice =
        `${member.name} was never taken down: it still runs ${previous?.version ?? "as before"} and serves ` +
        `clients${removeSurge ? "; the surge server was removed" : ""}` +
        (short && view.surgeIn ? `; ${keepSurge}` : "") +
        (short
          ? "; bring the member(s) named back (their VM, their volume), check the cluster, then run again to resume"
          : "; fix the cause and run again to resume");
      return this.finish("halted", { halt: { ...report, advice } });
    }
    if (!ctx.policy.autoRollback || step.kind === "start-cluster" || !previous) {
      const advice = `${member.name} is left as it is${surgeUpNow ? ` and ${keepSurge}` : ""}; fix the cause and run again, or set the previous version`;
      return this.finish("halted", { halt: { ...report, advice } });
    }
    const othersDown = await membersDownBesides(ctx, view, member);
    if (othersDown) {
      const advice =
        `${member.name} is NOT rolled back: ${othersDown}, and taking ${member.name} down again would make it two ` +
        `members down at once; it runs as its gates last saw it${surgeUpNow ? ` and ${keepSurge}` : ""}; bring the ` +
        "other member back, then run again (the plan starts from what the servers report)";
      return this.finish("halted", { halt: { ...report, advice } });
    }
    try {
      const rollbackView = step.kind === "recover-member" ? withMemberUp(view, member.name) : view;
      const back = await rollbackMember(ctx, rollbackView, member, previous);
      this.members[this.members.length - 1] = {
        ...failed,
        result: "rolled-back",
        note: `${failed.note}; back on ${previous.version}, its gates passed in ${seconds(back.gateTimings?.at(-1)?.ms ?? 0)}`,
      };
    } catch (err) {
      const why = err instanceof StepFailure ? `${err.gate}: ${err.observation}` : String(err);
      const advice = `the rollback failed too (${why}); ${member.name} is down, ${keepSurge}; no other member was touched`;
      return this.finish("halted", { halt: { ...report, advice } });
    }
    if (view.surgeIn) await surgeDown(ctx);
    return this.finish("halted", {
      halt: {
        ...report,
        rolledBack: true,
        advice: `the cluster is back on ${previous.version}; fix the cause (see the log lines) before running again`,
      },
    });
  }

  private async haltReport(failure: StepFailure): Promise<HaltReport> {
    const { ctx } = this;
    const server: ServerEndpoint | undefined =
      failure.server === ctx.spec.surge.name ? ctx.spec.surge : ctx.spec.members.find((m) => m.name === failure.server);
    const logTail = server ? await ctx.driver.readLog(server, 15).catch(() => "") : "";
    ctx.log.emit({
      kind: "halt",
      step: failure.step,
      server: failure.server,
      message: `${failure.gate}: ${failure.observation}`,
    });
    return {
      server: failure.server,
      step: failure.step,
      gate: failure.gate,
      observation: failure.observation,
      logTail,
      rolledBack: false,
      advice: "",
    };
  }
}

/** The cluster as one member of a batch sees it: the other members of its batch are down. */
function batchView(view: ClusterView, batch: ReadonlyArray<PlannedStep>, member: string): ClusterView {
  const others = batch.map((s) => s.server!).filter((n) => n !== member);
  return { ...view, down: new Set([...view.down, ...others]) };
}
