import { GateRunResult } from "../gates/run";
import { ServerEndpoint } from "../spec";
import { RolloutContext } from "./context";
import { seconds, StepKind } from "./events";
import { removeMetaPeer, stepDownMetaLeader } from "./jetstream-admin";
import { MemberReport } from "./report";
import { describeError } from "../gates/gate";

/** A step failed: which server, which gate (or "start"), and what the server said. */
export class StepFailure extends Error {
  constructor(
    readonly server: string,
    readonly step: StepKind,
    readonly gate: "start" | "lame-duck" | NonNullable<GateRunResult["failure"]>["gate"],
    readonly observation: string,
    readonly partial?: Partial<MemberReport>,
  ) {
    super(`${server}: ${step} failed at ${gate}: ${observation}`);
    this.name = "StepFailure";
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Lame duck, then wait for the exit with progress lines; kill only when the stop timeout runs out. */
export async function drain(ctx: RolloutContext, step: StepKind, server: ServerEndpoint): Promise<number> {
  const started = Date.now();
  if (!(await ctx.driver.isRunning(server))) return 0;
  const clients = await ctx
    .monitor(server)
    .connz()
    .then((c) => c.num_connections)
    .catch(() => undefined);
  await ctx.driver.signalLameDuck(server);
  ctx.log.emit({
    kind: "info",
    step,
    server: server.name,
    message: `lame duck: listeners closed, ${clients ?? "?"} clients being moved to other servers`,
  });
  const deadline = started + ctx.policy.stopTimeoutSeconds * 1000;
  while (!(await ctx.driver.waitForExit(server, Math.min(5000, Math.max(0, deadline - Date.now()))))) {
    if (Date.now() >= deadline) {
      ctx.log.emit({
        kind: "warning",
        step,
        server: server.name,
        message: `still running ${ctx.policy.stopTimeoutSeconds}s after lame duck: killing it`,
      });
      await ctx.driver.kill(server);
      break;
    }
    const left = await ctx
      .monitor(server)
      .connz()
      .then((c) => `${c.num_connections} clients left`)
      .catch(() => "monitor closed");
    ctx.log.emit({
      kind: "info",
      step,
      server: server.name,
      message: `draining ${seconds(Date.now() - started)}: ${left}`,
    });
  }
  return Date.now() - started;
}

/** Install, configure and start a server, then hold its gates; throws StepFailure with what the gates saw. */
async function startAndGate(
  ctx: RolloutContext,
  step: StepKind,
  server: ServerEndpoint,
  version: string,
  configText: string,
  downSince: number,
  drainMs: number | undefined,
): Promise<Partial<MemberReport>> {
  await ctx.driver.install(server, version);
  await ctx.driver.writeConfig(server, configText);
  try {
    await ctx.driver.start(server);
  } catch (err) {
    throw new StepFailure(server.name, step, "start", describeError(err), { drainMs });
  }
  ctx.log.emit({ kind: "info", step, server: server.name, message: `started ${version}; waiting for its gates` });
  const gatesStartedAt = Date.now();
  const gates = await ctx.gate(step, server, version);
  // Down = from the lame-duck signal until the server was ready for clients again.
  const readyAt = gatesStartedAt + (gates.timings.find((t) => t.gate === "ready")?.ms ?? gates.totalMs);
  const partial: Partial<MemberReport> = {
    drainMs,
    downMs: readyAt - downSince,
    gateTimings: gates.timings,
    soakMs: gates.soakMs,
  };
  if (!gates.passed) throw new StepFailure(server.name, step, gates.failure!.gate, gates.failure!.observation, partial);
  return partial;
}

/** Restart a member on the target version/config: (step-down) → lame duck → exit → install → start → gates. */
export async function restartMember(
  ctx: RolloutContext,
  member: ServerEndpoint,
  isMetaLeader: boolean,
): Promise<Partial<MemberReport>> {
  const step: StepKind = "restart-member";
  if (isMetaLeader && ctx.spec.jetstream.enabled) {
    if (ctx.spec.auth?.systemAccount) {
      const others = ctx.spec.members.filter((m) => m.name !== member.name);
      await stepDownMetaLeader(ctx.spec, others)
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
    } else {
      ctx.log.emit({
        kind: "info",
        step,
        server: member.name,
        message: "meta leader: lame duck mode steps it down (no system account for an explicit step-down)",
      });
    }
  }
  const downSince = Date.now();
  const drainMs = await drain(ctx, step, member);
  return startAndGate(ctx, step, member, ctx.spec.version, ctx.configFor(member), downSince, drainMs);
}

/** Start a member that is down (the trace of an interrupted rollout) at the target. */
export async function recoverMember(ctx: RolloutContext, member: ServerEndpoint): Promise<Partial<MemberReport>> {
  // From here on every gate expects it back, its own included.
  ctx.down.delete(member.name);
  return startAndGate(ctx, "recover-member", member, ctx.spec.version, ctx.configFor(member), Date.now(), undefined);
}

/** Write the new config and SIGHUP: the member keeps serving, so the gates also check config_load_time moved. */
export async function reloadMember(ctx: RolloutContext, member: ServerEndpoint): Promise<Partial<MemberReport>> {
  await ctx.driver.writeConfig(member, ctx.configFor(member));
  const sentAt = new Date(Date.now() - 1).toISOString();
  await ctx.driver.signalReload(member);
  const gates = await ctx.gate("reload-member", member, ctx.spec.version, { reloadedAfter: sentAt });
  const partial = { gateTimings: gates.timings, soakMs: gates.soakMs, downMs: 0 };
  if (!gates.passed)
    throw new StepFailure(member.name, "reload-member", gates.failure!.gate, gates.failure!.observation, partial);
  return partial;
}

/** Put a failed member back on the version and config it ran before, through the same gates. */
export async function rollbackMember(
  ctx: RolloutContext,
  member: ServerEndpoint,
  previous: { version: string; configText?: string },
): Promise<Partial<MemberReport>> {
  const step: StepKind = "rollback-member";
  ctx.log.emit({ kind: "info", step, server: member.name, message: `rolling back to ${previous.version}` });
  const downSince = Date.now();
  if (await ctx.driver.isRunning(member)) {
    // A failing member may still hold some clients: drain it like any other restart.
    await drain(ctx, step, member);
  }
  return startAndGate(
    ctx,
    step,
    member,
    previous.version,
    previous.configText ?? ctx.configFor(member),
    downSince,
    undefined,
  );
}

/** Bring the surge server up (or adopt a running one) and hold its gates; resolves with its start-to-ready time. */
export async function surgeUp(ctx: RolloutContext, version: string): Promise<number> {
  const surge = ctx.spec.surge;
  ctx.surgeInCluster = true;
  if (await ctx.driver.isRunning(surge)) {
    const adopted = await ctx.gate(
      "surge-up",
      surge,
      (
        await ctx
          .monitor(surge)
          .varz()
          .catch(() => undefined)
      )?.version ?? version,
    );
    if (adopted.passed) {
      ctx.log.emit({
        kind: "info",
        step: "surge-up",
        server: surge.name,
        message: "adopted the surge server left by an interrupted rollout",
      });
      return 0;
    }
    ctx.log.emit({
      kind: "warning",
      step: "surge-up",
      server: surge.name,
      message: `left-over surge server unhealthy (${adopted.failure?.observation}); replacing it`,
    });
    await ctx.driver.kill(surge);
  }
  await ctx.driver.provision(surge);
  return (await startAndGate(ctx, "surge-up", surge, version, ctx.configFor(surge), Date.now(), undefined)).downMs ?? 0;
}

/** Lame duck the surge server so its clients go back to the members, remove its peer if it ran JetStream, delete it.
 * Resolves with the drain time. */
export async function surgeDown(ctx: RolloutContext): Promise<number> {
  const surge = ctx.spec.surge;
  const drainMs = await drain(ctx, "surge-down", surge);
  ctx.surgeInCluster = false;
  if (ctx.spec.surge.jetstream && ctx.spec.jetstream.enabled) {
    await removeMetaPeer(ctx.spec, ctx.spec.members, surge.name)
      .then(() =>
        ctx.log.emit({
          kind: "info",
          step: "surge-down",
          server: surge.name,
          message: "removed from the JetStream meta group",
        }),
      )
      .catch((err) =>
        ctx.log.emit({
          kind: "warning",
          step: "surge-down",
          server: surge.name,
          message: `peer removal failed: ${describeError(err)}`,
        }),
      );
  }
  await ctx.driver.deprovision(surge);
  // Give members a moment to drop their routes to it before the final check reads /routez.
  await sleep(200);
  return drainMs;
}
