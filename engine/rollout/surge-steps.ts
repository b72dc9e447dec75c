/**
 * The surge server's two steps: it joins before the first member goes down (so clients leaving a member have
 * somewhere to go) and leaves after the last one is back.
 */
import { surgeSoakSeconds } from "../defaults";
import { describeError, sleep } from "../util/async";
import { ClusterView, RolloutContext } from "./context";
import { StepKind } from "./events";
import { removeMetaPeer } from "./jetstream-admin";
import { drain, hostStep, stage, startAndGate } from "./steps";

/**
 * Bring the surge server up (or adopt a healthy one left by an interrupted rollout) and hold its gates; resolves
 * with its start-to-ready time. `view` is the cluster with the surge server in.
 */
export async function surgeUp(ctx: RolloutContext, view: ClusterView, version: string): Promise<number> {
  const surge = ctx.spec.surge;
  const step: StepKind = "surge-up";
  const soakSeconds = surgeSoakSeconds(surge, ctx.policy);
  if (await ctx.driver.isRunning(surge)) {
    const running =
      (
        await ctx
          .monitor(surge)
          .varz()
          .catch(() => undefined)
      )?.version ?? version;
    const adopted = await ctx.gate(step, surge, running, view, { soakSeconds });
    if (adopted.passed) {
      ctx.log.emit({
        kind: "info",
        step,
        server: surge.name,
        message: "adopted the surge server left by an interrupted rollout",
      });
      return 0;
    }
    ctx.log.emit({
      kind: "warning",
      step,
      server: surge.name,
      message: `left-over surge server unhealthy (${adopted.failure.observation}); replacing it`,
    });
    await hostStep(surge, step, "start", () => ctx.driver.kill(surge));
  }
  await hostStep(surge, step, "start", () => ctx.driver.provision(surge), { untouched: true });
  await stage(ctx, step, surge, version);
  const started = Date.now();
  await startAndGate(ctx, view, step, surge, {
    version,
    configText: ctx.configFor(surge),
    downSince: started,
    soakSeconds,
  });
  return Date.now() - started;
}

/**
 * Lame duck the surge server so its clients go back to the members, remove its peer if it ran JetStream, delete
 * it. Resolves with the drain time.
 */
export async function surgeDown(ctx: RolloutContext): Promise<number> {
  const surge = ctx.spec.surge;
  const lost = await surgeHostLost(ctx);
  if (lost) {
    ctx.log.emit({
      kind: "warning",
      step: "surge-down",
      server: surge.name,
      message:
        `${lost}: nothing to drain or remove now. Its VM keeps the surge config and unit: if it comes back, ` +
        "run again (the plan removes a surge server it finds running), or delete the VM",
    });
    return 0;
  }
  const drainMs = await drain(ctx, "surge-down", surge);
  if (ctx.spec.surge.jetstream && ctx.spec.jetstream.enabled) {
    await removeMetaPeer(ctx.clientSpec, ctx.spec.members, surge.name)
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
  await hostStep(surge, "surge-down", "lame-duck", () => ctx.driver.deprovision(surge));
  await sleep(ctx.pace.routesDropMs);
  return drainMs;
}

/**
 * Why the surge server is gone for good (its host does not answer and neither does its monitoring port), or
 * undefined when it can be drained and removed as usual.
 */
async function surgeHostLost(ctx: RolloutContext): Promise<string | undefined> {
  const surge = ctx.spec.surge;
  const hostError = await ctx.driver.isRunning(surge).then(
    () => undefined,
    (err: unknown) => describeError(err),
  );
  if (hostError === undefined) return undefined;
  const monitorError = await ctx
    .monitor(surge)
    .healthz({ jsServerOnly: true })
    .then(
      () => undefined,
      (err: unknown) => describeError(err),
    );
  if (monitorError === undefined) return undefined; // it serves: removing it must not be skipped
  return `the surge server's VM does not answer (${hostError}; monitoring: ${monitorError})`;
}
