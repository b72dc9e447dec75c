/**
 * The member steps of a batched rollout, one batch at a time. Before each batch the cluster is observed again
 * (versions, meta leader, Raft placement, clients) and planned again by the one planner, so a stream that moved
 * since the plan was shown, a meta leader that changed or a member already at the target is taken into account;
 * only members of this rollout's plan are touched. The members of a batch go down together; the next batch starts
 * when every one of them passed its gates. A failure halts on that batch, every member of it, and nothing else.
 */
import { sleep } from "../util/async";
import { seconds } from "../util/duration";
import { clusterWholeBefore } from "./cluster-check";
import { whileWatched, WatchResult } from "./cluster-watch";
import { ClusterView } from "./context";
import { StepFailure } from "./errors";
import { applyHalt } from "./halt";
import { changeMember } from "./member-change";
import { observeCluster, ObservedCluster, observeOptionsFor } from "./observe";
import { BatchedStep, isBatched, planRollout } from "./plan";
import { ended, goOn, Progress, Run } from "./run";
import { stage } from "./steps";

export async function runBatches(
  run: Run,
  planned: ReadonlyArray<BatchedStep>,
  view: ClusterView,
  watched: WatchResult | undefined,
  stopRequested?: () => string | undefined,
): Promise<Progress> {
  const { ctx, ledger } = run;
  const pending = new Map(planned.map((s) => [s.server, s]));
  let number = 0;
  while (pending.size > 0) {
    const observed = await observeBeforeBatch(run, view);
    const lost = observed.members.find((m) => !m.reachable && !view.down.has(m.name));
    if (lost) {
      const failure = new StepFailure({
        server: lost.name,
        step: [...pending.values()][0].kind,
        point: "observe",
        observation: `found down before batch ${number + 1} (${lost.error ?? "no answer"}); no member of that batch was touched`,
        untouched: true,
      });
      return ended(await applyHalt(run, { failures: [failure], steps: [...pending.values()], view }));
    }
    const fresh = planRollout(observed, ctx.spec, run.desired, ctx.policy);
    const next = fresh.steps.filter(isBatched).filter((s) => pending.has(s.server));
    for (const [name, s] of pending) {
      if (next.some((n) => n.server === name)) continue;
      pending.delete(name);
      ledger.skipped({ name, action: s.kind, to: ctx.spec.version });
      ctx.log.emit({ kind: "step-skip", step: s.kind, server: name, message: "already at the target" });
    }
    if (next.length === 0) break;
    const first = Math.min(...next.map((s) => s.batch));
    const batch = next.filter((s) => s.batch === first).map((s) => ({ ...s, batch: number + 1 }));
    const stop = stopRequested?.();
    if (stop) return ended(await run.interrupted(batch[0], stop, view));
    number++;
    const after = pending.size - batch.length;
    ctx.log.emit({
      kind: "info",
      message:
        `batch ${number}: ${batch.map((s) => s.server).join(", ")} ` +
        `(planned again from what the servers report; ${after} member${after === 1 ? "" : "s"} after it)`,
    });
    const progress = await runBatch(run, batch, view, watched, observed.metaLeader);
    if (progress.kind === "ended") return progress;
    ({ view, watched } = progress);
    batch.forEach((s) => pending.delete(s.server));
  }
  return goOn(view, watched);
}

/** The cluster as the planner needs it before a batch; a member that does not answer gets two more looks. */
async function observeBeforeBatch(run: Run, view: ClusterView): Promise<ObservedCluster> {
  const { ctx } = run;
  for (let look = 1; ; look++) {
    const options = observeOptionsFor(ctx.spec, ctx.policy, [], ctx.others);
    const observed = await observeCluster(ctx.spec, ctx.driver, options, ctx.createMonitor);
    if (look >= 3 || observed.members.every((m) => m.reachable || view.down.has(m.name))) return observed;
    await sleep(ctx.policy.pollIntervalMs);
  }
}

/** The members of one batch go down together: each one's gates expect the others down. */
async function runBatch(
  run: Run,
  batch: ReadonlyArray<BatchedStep>,
  view: ClusterView,
  watched: WatchResult | undefined,
  metaLeader?: string,
): Promise<Progress> {
  const { ctx } = run;
  const halt = (failures: ReadonlyArray<StepFailure>) => applyHalt(run, { failures, steps: batch, view }).then(ended);
  const restarts = batch.filter((s) => s.kind === "restart-member");
  try {
    // The members outside the batch must be whole before any of it goes into lame duck.
    if (restarts.length > 0) {
      const member = ctx.member(restarts[0].server);
      const checked = await clusterWholeBefore(
        ctx,
        batchView(view, batch, member.name),
        member,
        "restart-member",
        watched,
      );
      view = { ...view, surgeIn: checked.surgeIn };
    }
    // Every binary first, while every member of the batch still serves: a download that fails touches nobody.
    await Promise.all(restarts.map((s) => stage(ctx, s.kind, ctx.member(s.server), ctx.spec.version)));
  } catch (err) {
    if (!(err instanceof StepFailure)) throw err;
    return halt([err]);
  }
  // The members outside the batch are watched while it restarts, for the next batch's check.
  const allDown: ClusterView = { ...view, down: new Set([...view.down, ...batch.map((s) => s.server)]) };
  const changed = await whileWatched(ctx, allDown, undefined, () =>
    Promise.allSettled(
      batch.map(async (step) => {
        const started = Date.now();
        ctx.log.emit({ kind: "step-start", step: step.kind, server: step.server, message: step.reason });
        const memberView = batchView(view, batch, step.server);
        await changeMember(run, step, memberView, { isMetaLeader: step.server === metaLeader, staged: true });
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
  const errors = changed.result.flatMap((o) => (o.status === "rejected" ? [o.reason as unknown] : []));
  const bug = errors.find((e) => !(e instanceof StepFailure));
  if (bug) throw bug;
  if (errors.length > 0) return halt(errors as StepFailure[]);
  return goOn(view, changed.watched);
}

/** The cluster as one member of a batch sees it: the other members of its batch are down. */
function batchView(view: ClusterView, batch: ReadonlyArray<BatchedStep>, member: string): ClusterView {
  const others = batch.map((s) => s.server).filter((n) => n !== member);
  return { ...view, down: new Set([...view.down, ...others]) };
}
