/**
 * One planned step that is not part of a batch, performed from `view`: what each kind of step does, and what it
 * writes to the run's ledger. A step's failure is thrown as a StepFailure for the run to halt on; a pre-flight
 * refusal ends the run as a value.
 */
import { finalCheck, preflightRefusal } from "./checks";
import { whileWatched, WatchResult } from "./cluster-watch";
import { ClusterView, withSurge } from "./context";
import { changeMember, recoverFoundDown } from "./member-change";
import { PlannedStep, SurgeStep } from "./plan";
import { removeLeavingMember } from "./removal";
import { ended, goOn, Progress, Run } from "./run";
import { loadRouteTls, startCluster } from "./steps";
import { surgeDown, surgeUp } from "./surge-steps";

export async function performStep(
  run: Run,
  step: PlannedStep,
  view: ClusterView,
  /** What the watch during the previous step saw; only a restart's cluster check reads it. */
  watched: WatchResult | undefined,
  metaLeader: string | undefined,
): Promise<Progress> {
  const { ctx, ledger } = run;
  const started = Date.now();
  switch (step.kind) {
    case "start-cluster": {
      for (const t of await startCluster(ctx, view)) ledger.done({ ...t, action: step.kind, to: ctx.spec.version });
      return goOn(view);
    }
    case "preflight": {
      const refusal = await preflightRefusal(ctx, view);
      if (refusal) return ended({ status: "refused", plan: refusedPlan(run, refusal) });
      await run.watchTraffic();
      return goOn(view);
    }
    case "surge-up":
      return surgeJoins(run, step, view);
    case "remove-member":
      return goOn(await removeLeavingMember(run, step, view));
    case "add-member":
    case "recover-member": {
      const recovered = await recoverFoundDown(run, step, view);
      return goOn(recovered.view);
    }
    case "restart-member":
    case "reload-member": {
      const changed = await changeMember(run, step, view, { isMetaLeader: step.server === metaLeader, watched });
      return goOn(changed.view, changed.watched);
    }
    case "load-route-tls": {
      const member = ctx.member(step.server);
      const timings = await loadRouteTls(ctx, view, member);
      const entry = { name: member.name, action: step.kind, from: ctx.spec.version, to: ctx.spec.version };
      if (timings === undefined) ledger.skipped(entry, "route TLS already loaded");
      else ledger.done({ ...timings, ...entry, downMs: 0, totalMs: Date.now() - started });
      return goOn(view);
    }
    case "surge-down":
      ledger.surgeDrained(await surgeDown(ctx));
      return goOn(withSurge(view, false));
    case "final-check":
      await finalCheck(ctx, view);
      return goOn(view);
  }
}

/** The surge server joins while the members are watched, so the first member's cluster check is one look. */
async function surgeJoins(run: Run, step: SurgeStep, view: ClusterView): Promise<Progress> {
  const { ctx, ledger } = run;
  const inView = withSurge(view, true);
  const version = step.to ?? run.plan.surgeVersion ?? ctx.spec.version;
  ledger.surgeJoining(version);
  try {
    const joined = await whileWatched(ctx, view, undefined, () => surgeUp(ctx, inView, version));
    ledger.surgeReady(joined.result);
    return goOn(inView, joined.watched);
  } catch (err) {
    // No member was touched yet: take the surge server (and any VM launched for it) away again, whatever failed,
    // so no half-started surge host is left for the next run to adopt.
    await surgeDown(ctx).catch(() => undefined);
    throw err;
  }
}

/** The plan as pre-flight refused it: nothing touched, nothing left to do until the member named is healthy. */
function refusedPlan(run: Run, refusal: string) {
  return {
    kind: "rollout" as const,
    targetVersion: run.ctx.spec.version,
    steps: [],
    refusals: [refusal],
    estimatedSeconds: 0,
  };
}
