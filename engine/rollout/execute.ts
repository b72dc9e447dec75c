import { assertValidClusterSpec } from "../validate";
import { HostDriver } from "../hosts/driver";
import { ClusterSpec, DEFAULT_POLICY, RolloutPolicy, ServerEndpoint } from "../spec";
import { RolloutContext } from "./context";
import { EventLog, EventSink, seconds, StepKind } from "./events";
import { observeCluster, observeServer, ObservedCluster } from "./observe";
import { DesiredConfigs, formatPlan, planRollout, RolloutPlan } from "./plan";
import { HaltReport, MemberReport, RolloutReport } from "./report";
import { recoverMember, reloadMember, restartMember, rollbackMember, StepFailure, surgeDown, surgeUp } from "./steps";
import { TrafficWatch } from "./traffic-watch";

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
}

/** Pre-flight said no: nothing was touched. */
export class RolloutRefused extends Error {
  constructor(readonly plan: RolloutPlan) {
    super(formatPlan(plan));
    this.name = "RolloutRefused";
  }
}

/** A gate failed: the rollout stopped; the report says where, what the server said, and whether it rolled back. */
export class RolloutHalted extends Error {
  constructor(readonly report: RolloutReport) {
    super(
      `rollout halted at ${report.halt?.server} (${report.halt?.step}), gate ${report.halt?.gate}: ${report.halt?.observation}`,
    );
    this.name = "RolloutHalted";
  }
}

export function resolvePolicy(policy?: Partial<RolloutPolicy>): RolloutPolicy {
  return { ...DEFAULT_POLICY, ...policy };
}

/** The rendered config of every server, for the planner's comparison. */
export function desiredConfigs(spec: ClusterSpec, driver: HostDriver, listenHost?: string): DesiredConfigs {
  const ctx = new RolloutContext(spec, driver, DEFAULT_POLICY, new EventLog(), listenHost);
  return new Map(spec.members.map((m) => [m.name, ctx.configFor(m)]));
}

/** Observe and plan without touching anything: what `pulumi preview` shows. */
export async function previewRollout(
  options: RolloutOptions,
): Promise<{ observed: ObservedCluster; plan: RolloutPlan }> {
  assertValidClusterSpec(options.spec);
  const observed = await observeCluster(options.spec, options.driver);
  const plan = planRollout(
    observed,
    options.spec,
    desiredConfigs(options.spec, options.driver, options.listenHost),
    resolvePolicy(options.policy),
  );
  return { observed, plan };
}

/**
 * Roll the cluster to the spec, the way the NATS docs' "Upgrading a cluster" does by hand: pre-flight, surge server
 * up, one member at a time through lame duck and health gates, surge server down, final check. Every decision is
 * made from what the servers report, so running it again after a crash or a halt continues from where things are.
 * Resolves with the report; throws RolloutRefused (nothing touched) or RolloutHalted (a gate failed).
 */
export async function runRollout(options: RolloutOptions): Promise<RolloutReport> {
  const { spec, driver } = options;
  const policy = resolvePolicy(options.policy);
  const log = new EventLog(options.onEvent);
  const ctx = new RolloutContext(spec, driver, policy, log, options.listenHost);
  const { observed, plan } = await previewRollout(options);
  log.emit({ kind: "info", message: formatPlan(plan) });
  if (plan.refusals.length) throw new RolloutRefused(plan);
  if (plan.steps.length === 0)
    return { targetVersion: spec.version, result: "no-change", members: [], totalMs: log.elapsedMs() };

  const members: MemberReport[] = [];
  const byName = new Map<string, ServerEndpoint>(spec.members.map((m) => [m.name, m]));
  let surgeStarted: number | undefined;
  let surgeVersion: string | undefined;
  const surgeTimes: { readyMs?: number; drainMs?: number } = {};
  ctx.surgeInCluster = observed.surge.running;
  for (const m of observed.members) if (!m.reachable) ctx.down.add(m.name);
  const watch = options.watchTraffic === false ? undefined : new TrafficWatch(spec);
  const finish = async (result: RolloutReport["result"], halt?: HaltReport): Promise<RolloutReport> => {
    const clientImpact = await watch?.stop().catch(() => undefined);
    const surgeRemoved = !(await driver.isRunning(spec.surge));
    return {
      targetVersion: spec.version,
      result,
      members,
      surge:
        surgeStarted !== undefined
          ? {
              name: spec.surge.name,
              version: surgeVersion,
              lifetimeMs: Date.now() - surgeStarted,
              ...surgeTimes,
              removed: surgeRemoved,
            }
          : undefined,
      totalMs: log.elapsedMs(),
      halt,
      clientImpact,
    };
  };

  for (const step of plan.steps) {
    const started = Date.now();
    const server = step.server ? byName.get(step.server) : undefined;
    log.emit({ kind: "step-start", step: step.kind, server: step.server, message: step.reason });
    switch (step.kind) {
      case "preflight":
        await preflight(ctx, observed);
        await watch
          ?.start()
          .catch((err) => log.emit({ kind: "warning", message: `traffic watch not started: ${err}` }));
        break;
      case "surge-up":
        surgeStarted = Date.now();
        surgeVersion = step.to ?? plan.surgeVersion ?? spec.version;
        try {
          surgeTimes.readyMs = await surgeUp(ctx, surgeVersion);
        } catch (err) {
          if (!(err instanceof StepFailure)) throw err;
          // No member was touched yet: take the surge server away again and stop.
          await surgeDown(ctx).catch(() => undefined);
          throw new RolloutHalted(
            await finish(
              "halted",
              await haltReport(ctx, err, false, "the surge server could not join; no member was touched"),
            ),
          );
        }
        break;
      case "restart-member":
      case "reload-member":
      case "recover-member": {
        const member = server!;
        // Reconcile from what the member reports now, not from the plan made at the start.
        const now = await observeServer(member, driver, ctx.monitor(member));
        const desired = ctx.configFor(member);
        if (now.reachable && now.version === spec.version && now.configText === desired) {
          members.push({
            name: member.name,
            action: step.kind,
            from: now.version,
            to: spec.version,
            result: "skipped",
            note: "already at the target",
          });
          log.emit({ kind: "step-skip", step: step.kind, server: member.name, message: "already at the target" });
          continue;
        }
        const previous = { version: now.version ?? now.installedVersion ?? spec.version, configText: now.configText };
        try {
          const result =
            step.kind === "reload-member"
              ? await reloadMember(ctx, member)
              : step.kind === "recover-member"
                ? await recoverMember(ctx, member)
                : await restartMember(ctx, member, member.name === observed.metaLeader);
          members.push({
            name: member.name,
            action: step.kind,
            from: previous.version,
            to: spec.version,
            result: "done",
            ...result,
            totalMs: Date.now() - started,
          });
        } catch (err) {
          if (!(err instanceof StepFailure)) throw err;
          return halt(ctx, err, members, previous, step.kind, finish);
        }
        break;
      }
      case "surge-down":
        surgeTimes.drainMs = await surgeDown(ctx);
        break;
      case "final-check":
        await finalCheck(ctx);
        break;
      case "rollback-member":
        throw new Error("rollback is never planned, only done after a failure");
    }
    log.emit({
      kind: "step-done",
      step: step.kind,
      server: step.server,
      durationMs: Date.now() - started,
      message: `done in ${seconds(Date.now() - started)}`,
    });
  }
  return finish("succeeded");
}

/** Every member healthy (one look, no soak), or the rollout is refused and names the member. */
async function preflight(ctx: RolloutContext, observed: ObservedCluster): Promise<void> {
  for (const member of ctx.spec.members) {
    const o = observed.members.find((m) => m.name === member.name)!;
    if (!o.reachable) continue; // planned as recover-member
    const result = await ctx.gate("preflight", member, o.version!, { soak: false, deadlineMs: 15_000 });
    if (!result.passed) {
      throw new RolloutRefused({
        targetVersion: ctx.spec.version,
        steps: [],
        refusals: [
          `pre-flight: member ${member.name} failed gate ${result.failure!.gate}: ${result.failure!.observation}`,
        ],
        estimatedSeconds: 0,
      });
    }
  }
}

/** After the surge server left: every member at the target, routed to the others, JetStream meta group exactly the
 * members. */
async function finalCheck(ctx: RolloutContext): Promise<void> {
  for (const member of ctx.spec.members) {
    const result = await ctx.gate("final-check", member, ctx.spec.version, { soak: false, deadlineMs: 60_000 });
    if (!result.passed)
      throw new StepFailure(member.name, "final-check", result.failure!.gate, result.failure!.observation);
  }
}

async function haltReport(
  ctx: RolloutContext,
  failure: StepFailure,
  rolledBack: boolean,
  advice: string,
): Promise<HaltReport> {
  const server =
    failure.server === ctx.spec.surge.name ? ctx.spec.surge : ctx.spec.members.find((m) => m.name === failure.server)!;
  const logTail = await ctx.driver.readLog(server, 15).catch(() => "");
  ctx.log.emit({
    kind: "halt",
    step: failure.step,
    server: failure.server,
    message: `gate ${failure.gate}: ${failure.observation}`,
  });
  return {
    server: failure.server,
    step: failure.step,
    gate: failure.gate,
    observation: failure.observation,
    logTail,
    rolledBack,
    advice,
  };
}

/**
 * A member failed its gates: never touch another member. With auto-rollback, put it back on its previous
 * version through the same gates and take the surge server away; without (or if the rollback fails too), leave
 * the surge server carrying clients and say what to do.
 */
async function halt(
  ctx: RolloutContext,
  failure: StepFailure,
  members: MemberReport[],
  previous: { version: string; configText?: string },
  step: StepKind,
  finish: (result: RolloutReport["result"], halt?: HaltReport) => Promise<RolloutReport>,
): Promise<never> {
  const member = ctx.spec.members.find((m) => m.name === failure.server)!;
  // Timings of a failed attempt would read like a healthy restart: keep only how long it drained, name the gate.
  const failed: MemberReport = {
    name: member.name,
    action: step,
    from: previous.version,
    to: ctx.spec.version,
    result: "failed",
    drainMs: failure.partial?.drainMs,
    note: `failed at gate ${failure.gate}`,
  };
  const report = await haltReport(ctx, failure, false, "");
  if (!ctx.policy.autoRollback || step === "recover-member") {
    members.push(failed);
    throw new RolloutHalted(
      await finish("halted", {
        ...report,
        advice: `${member.name} is left as it is and the surge server keeps carrying clients; fix the cause and run again, or set the previous version`,
      }),
    );
  }
  try {
    const back = await rollbackMember(ctx, member, previous);
    members.push({
      ...failed,
      result: "rolled-back",
      note: `${failed.note}; back on ${previous.version}, its gates passed in ${seconds(back.gateTimings?.at(-1)?.ms ?? 0)}`,
    });
  } catch (err) {
    members.push(failed);
    const why = err instanceof StepFailure ? `${err.gate}: ${err.observation}` : String(err);
    throw new RolloutHalted(
      await finish("halted", {
        ...report,
        advice: `the rollback failed too (${why}); ${member.name} is down, the surge server keeps carrying clients; no other member was touched`,
      }),
    );
  }
  if (ctx.surgeInCluster) await surgeDown(ctx);
  throw new RolloutHalted(
    await finish("halted", {
      ...report,
      rolledBack: true,
      advice: `the cluster is back on ${previous.version}; fix the cause (see the log lines) before running again`,
    }),
  );
}
