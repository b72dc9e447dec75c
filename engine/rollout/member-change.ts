/**
 * A member's own steps. Its restart or reload, reconciled from what the member reports now (not from the plan made
 * at the start): a member already at the target is skipped; used by a single step and by every member of a batch.
 * And the start of a member found down.
 */
import { seconds } from "../util/duration";
import { clusterWholeBefore } from "./cluster-check";
import { whileWatched, WatchResult } from "./cluster-watch";
import { ClusterView, withMemberDown, withMemberUp } from "./context";
import { observeServer } from "./observe";
import { ChangeStep, memberChange, MemberStep } from "./plan";
import { Run } from "./run";
import { hostStep, recoverMember, reloadMember, restartMember, StepTimings } from "./steps";

export interface ChangeHow {
  /** The JetStream meta leader: asked to step down first. */
  readonly isMetaLeader: boolean;
  /** Its binary was staged with its batch, and its batch checked the cluster and watches it. */
  readonly staged?: boolean;
  /** What the watch during the previous step saw (for the cluster check before a lone restart). */
  readonly watched?: WatchResult;
}

/** Resolves with the view after it and, for a lone restart, what the watch during it saw. */
export async function changeMember(
  run: Run,
  step: ChangeStep,
  view: ClusterView,
  how: ChangeHow,
): Promise<{ view: ClusterView; watched?: WatchResult }> {
  const { ctx, ledger } = run;
  const started = Date.now();
  const member = ctx.member(step.server);
  const key = { name: member.name, action: step.kind, batch: step.batch };
  const now = await observeServer(member, ctx.driver, ctx.monitor(member));
  if (now.reachable && memberChange(ctx.spec, now, ctx.configFor(member)) === undefined) {
    ledger.skipped({ ...key, from: now.version, to: ctx.spec.version });
    ctx.log.emit({ kind: "step-skip", step: step.kind, server: member.name, message: "already at the target" });
    return { view };
  }
  const previous = { version: now.version ?? now.installedVersion ?? ctx.spec.version, configText: now.configText };
  ledger.rememberPrevious(member.name, previous);
  let timings: StepTimings;
  let watched: WatchResult | undefined;
  if (step.kind === "reload-member") {
    timings = await reloadMember(ctx, view, member);
  } else if (how.staged) {
    timings = await restartMember(ctx, view, member, how.isMetaLeader, true);
  } else {
    // Never a second member down: the rest of the cluster must be whole before this one's lame duck (a batch is
    // checked once, before it: see batches.ts).
    view = await clusterWholeBefore(ctx, view, member, step.kind, how.watched);
    const restarted = await whileWatched(ctx, withMemberDown(view, member.name), member, () =>
      restartMember(ctx, view, member, how.isMetaLeader, false),
    );
    timings = restarted.result;
    watched = restarted.watched;
  }
  ledger.done({ ...timings, ...key, from: previous.version, to: ctx.spec.version, totalMs: Date.now() - started });
  return { view, watched };
}

/**
 * Start a member found down at the target. What it had installed is remembered first: a recovery that fails its
 * gates goes back to it, when it is another version.
 */
export async function recoverFoundDown(
  run: Run,
  step: MemberStep & { readonly kind: "recover-member" | "add-member" },
  view: ClusterView,
): Promise<{ view: ClusterView }> {
  const { ctx, ledger } = run;
  const started = Date.now();
  const member = ctx.member(step.server);
  const upView = withMemberUp(view, member.name);
  const installed = await ctx.driver.installedVersion(member).catch(() => undefined);
  const configText = await ctx.driver.readConfig(member).catch(() => undefined);
  if (installed && installed !== ctx.spec.version)
    ledger.rememberPrevious(member.name, { version: installed, configText });
  else ledger.forgetPrevious(member.name);
  // A host with nothing on it (a new VM, or one recreated after its disk was lost) is prepared first: its user,
  // directories and service are not there either. Idempotent, like every driver call.
  const emptyHost = installed === undefined && configText === undefined;
  if (emptyHost) {
    await hostStep(member, step.kind, "stage", () => ctx.driver.provision(member), { untouched: true });
  }
  const timings = await recoverMember(ctx, upView, member, step.kind);
  // Found down: how long it had been down is unknown; the report says when it came back instead.
  ledger.done({
    ...timings,
    name: member.name,
    action: step.kind,
    from: step.from,
    to: ctx.spec.version,
    downMs: undefined,
    totalMs: Date.now() - started,
    note:
      step.kind === "add-member"
        ? `joined the cluster; serving after ${seconds(Date.now() - started)}`
        : emptyHost
          ? `its host was empty: prepared, started with an empty store and caught up; serving after ${seconds(Date.now() - started)}`
          : `was found down; serving again after ${seconds(Date.now() - started)}`,
  });
  return { view: upView };
}
