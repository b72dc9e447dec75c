/**
 * The executor's entry points: observe, plan, and run the plan step by step (batches in batches.ts), ending with a
 * RolloutOutcome value. `runRollout` is the same as an API that throws for a halt, an interruption or a refusal.
 */
import { DEFAULT_POLICY } from "../defaults";
import { HostDriver } from "../hosts/driver";
import { routedDriver } from "../hosts/routed";
import { ClusterSpec, RolloutPolicy, ServerEndpoint } from "../spec";
import { assertValidClusterSpec } from "../validate";
import { seconds } from "../util/duration";
import { engineClientSpec } from "./client-tls";
import { WatchResult } from "./cluster-watch";
import { ClusterView, RolloutContext, RolloutSeams } from "./context";
import { runBatches } from "./batches";
import { performStep } from "./dispatch";
import { StepFailure } from "./errors";
import { EventLog, EventSink, StepKind } from "./events";
import { applyHalt } from "./halt";
import { observeCluster, observeOptionsFor, ObservedCluster } from "./observe";
import { reportOrThrow, RolloutOutcome } from "./outcome";
import { BatchedStep, DesiredConfigs, formatPlan, isBatched, planRollout, PlannedStep, RolloutPlan } from "./plan";
import { metaPeersSeen } from "./membership-plan";
import { OtherCluster, otherMetaPeers, SuperclusterPeers } from "./other-clusters";
import { withReleaseRefusals } from "./release-refusals";
import { RolloutReport } from "./report";
import { ended, Progress, Run } from "./run";

export { RolloutHalted, RolloutInterrupted, RolloutRefused } from "./errors";

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
  /** What tests replace (monitors, the executor's waits): see test/support/fakes/. Left out in real rollouts. */
  readonly seams?: RolloutSeams;
  /**
   * Servers that were members and are no longer in the spec (the Pulumi provider: its previous inputs' members
   * not in the new ones; the command line: `--leaving`), and the driver that reaches their hosts (default
   * `driver`). Each one the servers still show (running, in the meta group, a config on its host) is removed
   * (engine/rollout/removal.ts); one already gone costs nothing. Names that are members of the spec are ignored.
   */
  readonly leaving?: LeavingServers;
  /**
   * The other clusters of the supercluster this cluster is rolled in (engine/supercluster/ fills it): their
   * JetStream servers are peers of this cluster's meta group, the meta leader may be one of them, and the group's
   * quorum counts them. Absent: a cluster of its own (a spec with gateways and JetStream is then refused).
   */
  readonly supercluster?: SuperclusterPeers;
}

export interface LeavingServers {
  readonly members: ReadonlyArray<ServerEndpoint>;
  readonly driver?: HostDriver;
}

/** The other clusters of the supercluster the rollout is part of (none for a lone cluster). */
export function othersOf(options: Pick<RolloutOptions, "supercluster">): ReadonlyArray<OtherCluster> {
  return options.supercluster?.others ?? [];
}

/** The leaving servers that really left (not a member or the surge server of the spec). */
export function leavingOf(options: Pick<RolloutOptions, "spec" | "leaving">): ServerEndpoint[] {
  const inSpec = new Set([...options.spec.members, options.spec.surge].map((s) => s.name));
  return (options.leaving?.members ?? []).filter((m) => !inSpec.has(m.name));
}

/** The driver of every server of the rollout: the leaving ones' calls go to the driver that reaches their hosts. */
export function driverOf(options: Pick<RolloutOptions, "spec" | "driver" | "leaving">): HostDriver {
  const other = options.leaving?.driver ?? options.driver;
  return routedDriver(
    options.driver,
    other,
    leavingOf(options).map((m) => m.name),
  );
}

export function resolvePolicy(policy?: Partial<RolloutPolicy>): RolloutPolicy {
  return { ...DEFAULT_POLICY, ...policy };
}

/** The rendered config of every member, for the planner's comparison. */
export function desiredConfigs(spec: ClusterSpec, driver: HostDriver, listenHost?: string): DesiredConfigs {
  const ctx = new RolloutContext({ spec, driver, policy: DEFAULT_POLICY, log: new EventLog(), listenHost });
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
  assertValidClusterSpec(options.spec, { inSupercluster: options.supercluster !== undefined });
  const observed = await observeCluster(
    options.spec,
    driverOf(options),
    observeOptionsFor(options.spec, resolvePolicy(options.policy), leavingOf(options), othersOf(options)),
    options.seams?.monitors,
  );
  return { observed, plan: planFor(options, observed) };
}

/** Steps that take a server down or bring one up: a stop request is honoured before them, never inside. */
const STOPPABLE: ReadonlySet<StepKind> = new Set([
  "start-cluster",
  "recover-member",
  "add-member",
  "remove-member",
  "surge-up",
  "restart-member",
  "reload-member",
]);

/**
 * Take the cluster to the spec the way the NATS docs' "Upgrading a cluster" does by hand: pre-flight, surge server
 * up, one member at a time through lame duck and health gates, surge server down, final check (or, when no member
 * runs, start them all). Every decision is made from what the servers report, so running it again after a crash,
 * a halt or a Ctrl-C continues from where things are. Throws only for what is not a rollout's outcome (a bug, I/O).
 */
export async function executeRollout(options: RolloutOptions): Promise<RolloutOutcome> {
  const { spec } = options;
  const driver = driverOf(options);
  const leaving = leavingOf(options);
  const policy = resolvePolicy(options.policy);
  assertValidClusterSpec(spec, { inSupercluster: options.supercluster !== undefined });
  const desired = desiredConfigs(spec, driver, options.listenHost);
  const others = othersOf(options);
  const what = observeOptionsFor(spec, policy, leaving, others);
  const observed = await observeCluster(spec, driver, what, options.seams?.monitors);
  const log = new EventLog(options.onEvent);
  const clientSpec = engineClientSpec(spec, observed);
  const { listenHost, seams } = options;
  const otherPeers = otherMetaPeers(observed.others ?? [], metaPeersSeen(observed));
  const ctx = new RolloutContext({
    ...{ spec, driver, policy, log, listenHost, clientSpec, seams, leaving },
    ...{ others, otherPeers },
  });
  try {
    return await rollOut(ctx, options, desired, observed);
  } finally {
    // Every monitor's connection (system account), whatever happened: nothing may keep the process from exiting.
    await ctx.close();
  }
}

/** {@link executeRollout}, resolving with the report, throwing RolloutRefused, RolloutHalted or RolloutInterrupted. */
export async function runRollout(options: RolloutOptions): Promise<RolloutReport> {
  return reportOrThrow(await executeRollout(options));
}

async function rollOut(
  ctx: RolloutContext,
  options: RolloutOptions,
  desired: DesiredConfigs,
  observed: ObservedCluster,
): Promise<RolloutOutcome> {
  const { spec, log, policy } = ctx;
  const plan = planRollout(observed, spec, desired, policy);
  log.emit({ kind: "info", message: formatPlan(plan) });
  if (plan.refusals.length) return { status: "refused", plan };
  const watchTraffic = options.watchTraffic !== false && plan.kind === "rollout";
  const run = new Run(ctx, plan, desired, watchTraffic ? ctx.watchClientTraffic() : undefined);
  if (plan.steps.length === 0) return { status: "done", report: await run.finish("no-change") };

  let view: ClusterView = {
    surgeIn: observed.surge.running,
    down: new Set(observed.members.filter((m) => !m.reachable).map((m) => m.name)),
    // Until its removal is done, a leaving server may still be in the meta group (pre-flight must not call it a
    // ghost); any other peer beyond the spec's members still is one.
    leaving: new Set(ctx.leaving.map((m) => m.name)),
  };
  let watched: WatchResult | undefined;
  try {
    for (const part of partsOf(plan.steps)) {
      const { stopRequested } = options;
      // The member steps of a batched rollout go one batch at a time, each planned again from the servers.
      const progress =
        part.kind === "batches"
          ? await runBatches(run, part.steps, view, watched, stopRequested)
          : await performOne(run, part.step, view, watched, { metaLeader: observed.metaLeader, stopRequested });
      if (progress.kind === "ended") return progress.outcome;
      ({ view, watched } = progress);
    }
    return { status: "done", report: await run.finish("succeeded") };
  } finally {
    // An error that escaped every step: the watch's connections and stream must not outlive the rollout.
    await run.stopWatch();
  }
}

/**
 * One step with its start and done lines: not begun when a stop was requested before a step that takes a server
 * down or brings one up; a StepFailure ends the run in a halt.
 */
async function performOne(
  run: Run,
  step: PlannedStep,
  view: ClusterView,
  watched: WatchResult | undefined,
  how: { metaLeader?: string; stopRequested?: () => string | undefined },
): Promise<Progress> {
  const stop = STOPPABLE.has(step.kind) ? how.stopRequested?.() : undefined;
  if (stop) return ended(await run.interrupted(step, stop, view));
  const { log } = run.ctx;
  const started = Date.now();
  log.emit({ kind: "step-start", step: step.kind, server: step.server, message: step.reason });
  let progress: Progress;
  try {
    progress = await performStep(run, step, view, watched, how.metaLeader);
  } catch (err) {
    if (!(err instanceof StepFailure)) throw err;
    return ended(await applyHalt(run, { failures: [err], steps: [step], view }));
  }
  if (progress.kind === "continue") {
    const took = Date.now() - started;
    log.emit({
      kind: "step-done",
      step: step.kind,
      server: step.server,
      durationMs: took,
      message: `done in ${seconds(took)}`,
    });
  }
  return progress;
}

/** A plan as the loop runs it: single steps, and the run of batched member steps as one part. */
type PlanPart =
  | { readonly kind: "step"; readonly step: PlannedStep }
  | { readonly kind: "batches"; readonly steps: ReadonlyArray<BatchedStep> };

function partsOf(steps: ReadonlyArray<PlannedStep>): PlanPart[] {
  const parts: PlanPart[] = [];
  for (const step of steps) {
    const last = parts.at(-1);
    if (!isBatched(step)) parts.push({ kind: "step", step });
    else if (last?.kind === "batches") parts[parts.length - 1] = { kind: "batches", steps: [...last.steps, step] };
    else parts.push({ kind: "batches", steps: [step] });
  }
  return parts;
}
