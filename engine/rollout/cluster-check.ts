/**
 * Checks of the whole cluster, not of the one member a step is about: the gates only look at the member being
 * restarted, so without these a member that died elsewhere (its VM powered off), a surge VM that died, or a full
 * JetStream volume on the next member would be seen only once a second member was already down.
 *
 * - {@link clusterWholeBefore}: before a member's lame duck, every other member must be up, routed and current in
 *   the JetStream meta group, and the member's own store must have room; otherwise the step fails before anything
 *   is touched, naming the member and what its servers said. A surge server that no longer answers is dropped from
 *   the expectations with a warning (it is capacity, not safety) and the rollout goes on without it.
 * - {@link membersDownBesides}: before a rollback, whether another member is down (rolling back would then take
 *   one more member down).
 * - {@link storeProblem}: a JetStream store volume (nearly) full.
 */
import { readyGate } from "../gates/checks";
import { runGates } from "../gates/run";
import { ServerEndpoint } from "../spec";
import { describeError, sleep } from "../util/async";
import { seconds } from "../util/duration";
import { ClusterView, RolloutContext, withSurge } from "./context";
import { StepKind } from "./events";
import type { WatchResult } from "./cluster-watch";
import { StepFailure } from "./errors";

/** A store with less free space than this share of its volume (capped at 256 MiB) is full for JetStream's purposes. */
const STORE_FREE_MIN_SHARE = 0.05;
const STORE_FREE_MIN_CAP_BYTES = 256 * 1024 * 1024;

const mib = (bytes: number) => `${Math.floor(bytes / (1024 * 1024))} MiB`;

/** Why `server`'s JetStream store volume is (nearly) full, or undefined (also when the platform cannot say). */
export async function storeProblem(ctx: RolloutContext, server: ServerEndpoint): Promise<string | undefined> {
  if (!ctx.spec.jetstream.enabled || !ctx.driver.storeUsage) return undefined;
  const usage = await ctx.driver.storeUsage(server).catch(() => undefined);
  if (!usage || !Number.isFinite(usage.totalBytes) || !Number.isFinite(usage.freeBytes) || usage.totalBytes <= 0) {
    return undefined;
  }
  const needed = Math.min(STORE_FREE_MIN_CAP_BYTES, usage.totalBytes * STORE_FREE_MIN_SHARE);
  if (usage.freeBytes >= needed) return undefined;
  const used = Math.round((100 * (usage.totalBytes - usage.freeBytes)) / usage.totalBytes);
  return (
    `${server.name}: the JetStream store's volume (${usage.path}) is full: ${mib(usage.freeBytes)} free of ` +
    `${mib(usage.totalBytes)} (${used}% used); nats-server disables JetStream when a write fails for lack of space`
  );
}

/** The member's health in one line, from its gates (ready, routes, JetStream) held `holdMs` within `deadlineMs`. */
async function memberProblem(
  ctx: RolloutContext,
  member: ServerEndpoint,
  view: ClusterView,
  deadlineMs: number,
  holdMs: number,
): Promise<string | undefined> {
  const version = "(any)"; // the version gate is not run here
  const result = await runGates(ctx.target(member, version, view), ctx.wholeClusterGates(view), {
    deadlineMs,
    pollMs: ctx.policy.pollIntervalMs,
    soakMs: holdMs,
  });
  return result.passed ? undefined : `${member.name} ${result.failure.gate}: ${result.failure.observation}`;
}

/** Whether the surge server still answers: its ready gate, for a few seconds. */
async function surgeAnswers(ctx: RolloutContext): Promise<string | undefined> {
  const surge = ctx.spec.surge;
  let last = "";
  for (let i = 0; i < 3; i++) {
    const seen = await readyGate.check(ctx.target(surge, "(any)", { surgeIn: true, down: new Set() }));
    if (seen.ok) return undefined;
    last = seen.observation;
    await sleep(ctx.pace.lookAgainMs);
  }
  return last;
}

/**
 * Before `member` is taken down: the rest of the cluster must be whole. Resolves with the view to continue with
 * (without the surge server when it was lost); throws a StepFailure (at "cluster", nothing touched) otherwise.
 */
export async function clusterWholeBefore(
  ctx: RolloutContext,
  view: ClusterView,
  member: ServerEndpoint,
  step: StepKind,
  /** What a watch during the previous step saw: when it held the others green long enough, one look suffices. */
  watched?: WatchResult,
): Promise<ClusterView> {
  let next = view;
  if (view.surgeIn) {
    const surgeGone = await surgeAnswers(ctx);
    if (surgeGone !== undefined) {
      ctx.log.emit({
        kind: "warning",
        step,
        server: ctx.spec.surge.name,
        message:
          `the surge server does not answer (${surgeGone}): going on without it; its clients reconnect to the ` +
          "members, which no longer need a route to it",
      });
      next = withSurge(view, false);
    }
  }
  const others = ctx.spec.members.filter((m) => m.name !== member.name && !next.down.has(m.name));
  // The others were watched green for the whole hold until just now (during the previous member's restart and
  // soak): one look confirms it; otherwise they are held green here, before anything is touched.
  const { clusterCheckHoldMs, clusterWatchFreshMs, clusterCheckDeadlineMs } = ctx.pace;
  const fresh = watched !== undefined && Date.now() - watched.endedAt <= clusterWatchFreshMs;
  const holdMs = fresh && watched.heldGreenMs >= clusterCheckHoldMs ? 0 : clusterCheckHoldMs;
  if (holdMs > 0 && watched !== undefined) {
    // Say why this check waits: what the watch during the previous step saw instead of an unbroken green run.
    const why = !fresh
      ? "the last watch is too old"
      : watched.lastProblem
        ? `the watch during the previous step last saw: ${watched.lastProblem}`
        : `the watch saw them green for only ${seconds(watched.heldGreenMs)}`;
    ctx.log.emit({
      kind: "info",
      step,
      server: member.name,
      message: `holding the other members' gates ${clusterCheckHoldMs / 1000}s before the lame duck (${why})`,
    });
  }
  const problems = (
    await Promise.all(others.map((m) => memberProblem(ctx, m, next, clusterCheckDeadlineMs, holdMs)))
  ).filter((p): p is string => p !== undefined);
  const store = await storeProblem(ctx, member);
  if (store) problems.push(store);
  if (problems.length > 0) {
    throw new StepFailure({
      server: member.name,
      step,
      point: "cluster",
      observation: `the cluster is not whole, so ${member.name} was not taken down: ${problems.join("; ")}`,
      untouched: true,
    });
  }
  return next;
}

/**
 * Another member that is down or does not answer (beside those `changing`, and those known down): rolling the
 * changing members back now would take one more member down. Undefined when the others are up.
 */
export async function membersDownBesides(
  ctx: RolloutContext,
  view: ClusterView,
  changing: ReadonlyArray<string>,
): Promise<string | undefined> {
  const others = ctx.spec.members.filter((m) => !changing.includes(m.name));
  const down = await Promise.all(
    others.map(async (m) => {
      if (view.down.has(m.name)) return `${m.name} (down before the rollout)`;
      let last = "";
      for (let i = 0; i < 3; i++) {
        const seen = await readyGate
          .check(ctx.target(m, "(any)", view))
          .catch((err: unknown) => ({ ok: false, observation: describeError(err) }));
        if (seen.ok) return undefined;
        last = seen.observation;
        await sleep(ctx.pace.lookAgainMs);
      }
      return `${m.name} (${last})`;
    }),
  );
  const names = down.filter((d): d is string => d !== undefined);
  return names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} down` : undefined;
}
