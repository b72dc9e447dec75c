import { installBinary } from "../hosts/driver";
import { stopGracefully } from "../hosts/graceful-stop";
import { GateFailure } from "../gates/run";
import { routeTlsOn, ServerEndpoint } from "../spec";
import { describeError } from "../util/async";
import { seconds } from "../util/duration";
import { ClusterView, RolloutContext } from "./context";
import { StepFailure } from "./errors";
import { FailurePoint, StepKind } from "./events";
import { stepDownMetaLeader } from "./jetstream-admin";
import { MemberReport } from "./report";

/** What a step that brought a server up reports (merged into its MemberReport). */
export type StepTimings = Partial<MemberReport>;

/** What a failure carries besides where it happened. */
interface FailureExtras {
  readonly partial?: Partial<MemberReport>;
  /** The server was not taken down yet: nothing to roll back. */
  readonly untouched?: boolean;
}

/** Run a host operation; any error is the step's failure at `point` (never an unreported crash of the rollout). */
export async function hostStep<T>(
  server: ServerEndpoint,
  step: StepKind,
  point: FailurePoint,
  op: () => Promise<T>,
  extras: FailureExtras = {},
): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw new StepFailure({ server: server.name, step, point, observation: describeError(err), ...extras });
  }
}

/** The gates of `server` did not pass: the step fails at the gate that did not. */
function gatesFailed(
  server: ServerEndpoint,
  step: StepKind,
  failure: GateFailure,
  extras: FailureExtras = {},
): StepFailure {
  return new StepFailure({
    server: server.name,
    step,
    gate: failure.gate,
    observation: failure.observation,
    ...extras,
  });
}

/**
 * Fetch and verify the binary a server is about to run, while it still serves: a download that fails or stalls
 * fails the step with the server untouched.
 */
export async function stage(
  ctx: RolloutContext,
  step: StepKind,
  server: ServerEndpoint,
  version: string,
): Promise<void> {
  const started = Date.now();
  await hostStep(server, step, "stage", () => ctx.driver.stageBinary(server, version), { untouched: true });
  if (Date.now() - started > 1000) {
    ctx.log.emit({
      kind: "info",
      step,
      server: server.name,
      message: `staged ${version} in ${seconds(Date.now() - started)}`,
    });
  }
}

/** Lame duck, then wait for the exit with progress lines; kill only when the stop timeout runs out. */
export async function drain(ctx: RolloutContext, step: StepKind, server: ServerEndpoint): Promise<number> {
  const started = Date.now();
  const running = await hostStep(server, step, "lame-duck", () => ctx.driver.isRunning(server), { untouched: true });
  if (!running) return 0;
  const clients = await ctx
    .monitor(server)
    .connz()
    .then((c) => c.total)
    .catch(() => undefined);
  // A system-account monitor's own connection would be a client the lame duck waits for (nats-server exits at once
  // only when no client is left): let it go first. Over HTTP this does nothing.
  await ctx.monitor(server).disconnect();
  const say = (kind: "info" | "warning", message: string) => ctx.log.emit({ kind, step, server: server.name, message });
  await stopGracefully(ctx.driver, server, {
    timeoutSeconds: ctx.policy.stopTimeoutSeconds,
    since: started,
    pollMs: 5000,
    signal: async () => {
      await hostStep(server, step, "lame-duck", () => ctx.driver.signalLameDuck(server));
      say("info", `lame duck: listeners closed, ${clients ?? "?"} clients being moved to other servers`);
    },
    waiting: async () => {
      const left = await ctx
        .monitor(server)
        .connz()
        .then((c) => `${c.total} clients left`)
        .catch(() => "monitor closed");
      say("info", `draining ${seconds(Date.now() - started)}: ${left}`);
    },
    killing: () => say("warning", `still running ${ctx.policy.stopTimeoutSeconds}s after lame duck: killing it`),
    kill: () => hostStep(server, step, "lame-duck", () => ctx.driver.kill(server)),
  });
  return Date.now() - started;
}

/** What a server is brought up with. */
interface StartTarget {
  readonly version: string;
  readonly configText: string;
  /** When the server stopped serving (for the report's time down); undefined when it was found down. */
  readonly downSince?: number;
  readonly drainMs?: number;
  /** A soak other than the policy's (the surge server's). */
  readonly soakSeconds?: number;
}

/**
 * Switch to the (staged) binary, write the config, start, then hold the gates. Every error on the way is a
 * StepFailure: the caller halts and, with auto-rollback, puts the previous version back.
 */
export async function startAndGate(
  ctx: RolloutContext,
  view: ClusterView,
  step: StepKind,
  server: ServerEndpoint,
  target: StartTarget,
): Promise<StepTimings> {
  const partial = { drainMs: target.drainMs };
  await hostStep(server, step, "start", () => ctx.driver.activateBinary(server, target.version), { partial });
  await hostStep(server, step, "start", () => ctx.writeConfig(server, target.configText), { partial });
  await hostStep(server, step, "start", () => ctx.driver.start(server), { partial });
  ctx.log.emit({
    kind: "info",
    step,
    server: server.name,
    message: `started ${target.version}; waiting for its gates`,
  });
  const gatesStartedAt = Date.now();
  // The TLS gate only when it gets the spec's config (a rollback puts back what it had before).
  const gates = await ctx.gate(step, server, target.version, view, {
    soakSeconds: target.soakSeconds,
    tls: target.configText === ctx.configFor(server),
  });
  // Down = from the lame-duck signal until the server was ready for clients again.
  const readyAt = gatesStartedAt + (gates.timings.find((t) => t.gate === "ready")?.ms ?? gates.totalMs);
  const timings: StepTimings = {
    drainMs: target.drainMs,
    downMs: target.downSince === undefined ? undefined : readyAt - target.downSince,
    downSinceMs: target.downSince,
    gateTimings: gates.timings,
    soakMs: gates.soakMs,
  };
  if (!gates.passed) throw gatesFailed(server, step, gates.failure, { partial: timings });
  return timings;
}

/** Hand JetStream meta leadership away before the leader's restart: one election, at a moment we choose. */
async function stepDownFirst(ctx: RolloutContext, member: ServerEndpoint): Promise<void> {
  const step: StepKind = "restart-member";
  if (!ctx.spec.auth?.systemAccount) {
    ctx.log.emit({
      kind: "info",
      step,
      server: member.name,
      message: "meta leader: lame duck mode steps it down (no system account for an explicit step-down)",
    });
    return;
  }
  const others = ctx.spec.members.filter((m) => m.name !== member.name);
  await stepDownMetaLeader(ctx.clientSpec, others)
    .then(() =>
      ctx.log.emit({
        kind: "info",
        step,
        server: member.name,
        message: "asked the meta leader to step down before its restart",
      }),
    )
    .catch((err) =>
      ctx.log.emit({
        kind: "warning",
        step,
        server: member.name,
        message: `meta leader step-down failed (${describeError(err)}); lame duck steps it down`,
      }),
    );
}

/**
 * Restart a member on the target version and config: stage the binary and render the config while it serves,
 * (step-down) → lame duck → exit → switch the binary → write the config → start → gates.
 */
export async function restartMember(
  ctx: RolloutContext,
  view: ClusterView,
  member: ServerEndpoint,
  isMetaLeader: boolean,
  /** The binary was staged already (a batch stages all its members first, while they all still serve). */
  staged = false,
): Promise<StepTimings> {
  const step: StepKind = "restart-member";
  if (!staged) await stage(ctx, step, member, ctx.spec.version);
  const configText = ctx.configFor(member);
  if (isMetaLeader && ctx.spec.jetstream.enabled) await stepDownFirst(ctx, member);
  const downSince = Date.now();
  const drainMs = await drain(ctx, step, member);
  return startAndGate(ctx, view, step, member, { version: ctx.spec.version, configText, downSince, drainMs });
}

/**
 * Start a member that was found down, at the target with the desired config. Starting a stopped server takes
 * nothing from the cluster, so this comes before pre-flight.
 */
export async function recoverMember(
  ctx: RolloutContext,
  view: ClusterView,
  member: ServerEndpoint,
  step: StepKind = "recover-member",
): Promise<StepTimings> {
  await stage(ctx, step, member, ctx.spec.version);
  return startAndGate(ctx, view, step, member, { version: ctx.spec.version, configText: ctx.configFor(member) });
}

/** Write the new config and SIGHUP: the member keeps serving, so the gates also check config_load_time moved. */
export async function reloadMember(
  ctx: RolloutContext,
  view: ClusterView,
  member: ServerEndpoint,
): Promise<StepTimings> {
  const step: StepKind = "reload-member";
  await hostStep(member, step, "start", () => ctx.writeConfig(member, ctx.configFor(member)));
  const sentAt = new Date(Date.now() - 1).toISOString();
  await hostStep(member, step, "start", () => ctx.driver.signalReload(member));
  const gates = await ctx.gate(step, member, ctx.spec.version, view, { reloadedAfter: sentAt, tls: true });
  const timings = { gateTimings: gates.timings, soakMs: gates.soakMs, downMs: 0 };
  if (!gates.passed) throw gatesFailed(member, step, gates.failure, { partial: timings });
  return timings;
}

/**
 * The first phase of a route TLS change (engine/rollout/plan.ts, routeTlsLoads): the member reloads the spec's
 * config, marked "loaded by reload", and keeps its routes. Its gates then check that it still routes to every peer
 * and that `/varz` shows the route TLS loaded. Undefined when it already has it loaded (a re-run). Never takes the
 * member down, so a failure leaves nothing to roll back.
 */
export async function loadRouteTls(
  ctx: RolloutContext,
  view: ClusterView,
  member: ServerEndpoint,
): Promise<StepTimings | undefined> {
  const step: StepKind = "load-route-tls";
  const want = routeTlsOn(ctx.spec);
  const varz = await hostStep(member, step, "start", () => ctx.monitor(member).varz(), { untouched: true });
  if ((varz.cluster?.tls_cert_not_after !== undefined) === want) {
    ctx.log.emit({ kind: "step-skip", step, server: member.name, message: "route TLS already loaded" });
    return undefined;
  }
  const configText = ctx.configFor(member, { routesLoadedByReload: true });
  await hostStep(member, step, "start", () => ctx.writeConfig(member, configText), { untouched: true });
  const sentAt = new Date(Date.now() - 1).toISOString();
  await hostStep(member, step, "start", () => ctx.driver.signalReload(member), { untouched: true });
  const gates = await ctx.gate(step, member, ctx.spec.version, view, { reloadedAfter: sentAt, tls: true });
  const timings = { gateTimings: gates.timings, soakMs: gates.soakMs, downMs: 0 };
  if (!gates.passed) throw gatesFailed(member, step, gates.failure, { partial: timings, untouched: true });
  return timings;
}

/** Put a failed member back on the version and config it ran before, through the same gates. */
export async function rollbackMember(
  ctx: RolloutContext,
  view: ClusterView,
  member: ServerEndpoint,
  previous: { version: string; configText?: string },
): Promise<StepTimings> {
  const step: StepKind = "rollback-member";
  ctx.log.emit({ kind: "info", step, server: member.name, message: `rolling back to ${previous.version}` });
  await stage(ctx, step, member, previous.version);
  const downSince = Date.now();
  // A failing member may still hold some clients: drain it like any other restart.
  const drainMs = (await ctx.driver.isRunning(member)) ? await drain(ctx, step, member) : undefined;
  const configText = previous.configText ?? ctx.configFor(member);
  return startAndGate(ctx, view, step, member, { version: previous.version, configText, downSince, drainMs });
}

/**
 * First deployment (or every member down): start them all together at the target (configured routes are retried
 * forever, and JetStream needs a quorum to elect a meta leader), then each must pass its gates. A member that
 * cannot start takes the ones this step started down with it: nothing to protect yet, and nothing left half-up.
 */
export async function startCluster(
  ctx: RolloutContext,
  view: ClusterView,
): Promise<Array<StepTimings & { name: string }>> {
  const step: StepKind = "start-cluster";
  const { spec, driver } = ctx;
  const problems = (await driver.startProblems?.(spec.members)) ?? [];
  if (problems.length > 0) {
    throw new StepFailure({
      server: spec.members[0].name,
      step,
      point: "start",
      observation: `nothing was started: ${problems.join("; ")}`,
      untouched: true,
    });
  }
  const started: ServerEndpoint[] = [];
  try {
    await Promise.all(
      spec.members.map(async (member) => {
        await hostStep(member, step, "stage", () => driver.provision(member), { untouched: true });
        await hostStep(member, step, "stage", () => installBinary(driver, member, spec.version), { untouched: true });
        await hostStep(member, step, "start", () => ctx.writeConfig(member, ctx.configFor(member)));
        await hostStep(member, step, "start", () => driver.start(member));
        started.push(member);
        ctx.log.emit({ kind: "info", step, server: member.name, message: `started ${spec.version}` });
      }),
    );
  } catch (err) {
    await Promise.all(started.map((m) => driver.kill(m).catch(() => undefined)));
    throw err;
  }
  const timings: Array<StepTimings & { name: string }> = [];
  for (const member of spec.members) {
    const gates = await ctx.gate(step, member, spec.version, view, {
      soak: false,
      withoutGateways: true,
      withoutLeafNodes: true,
    });
    if (!gates.passed) throw gatesFailed(member, step, gates.failure);
    timings.push({ name: member.name, gateTimings: gates.timings, soakMs: 0 });
  }
  return timings;
}
