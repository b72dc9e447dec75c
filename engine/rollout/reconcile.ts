/**
 * The one reconcile entry of the engine, as a controller's: observe what the servers report, build the plan to the
 * spec, compare, act (start a cluster that does not run, recover members found down, roll the rest), then observe
 * again. The Pulumi provider's create and update, the command line and the scripts all come through here, so
 * there is one planner, one estimate and one report. Modelled on nats-io/nack's createOrUpdate.
 */
import { describeError, withDeadline } from "../util/async";
import { assertValidClusterSpec } from "../validate";
import { PREVIEW_OBSERVE_DEADLINE_MS } from "../defaults";
import { EventLog } from "./events";
import { driverOf, executeRollout, leavingOf, othersOf, planFor, resolvePolicy, RolloutOptions } from "./execute";
import { settleDrainingMembers } from "./settle";
import { assumeObserved, observeCluster, ObservedCluster, observeOptionsFor } from "./observe";
import { RolloutOutcome } from "./outcome";
import { RolloutPlan } from "./plan";

/** What the servers report, in the form the Pulumi resource records it (its outputs `versions`, `surgeRunning`). */
export interface ServersSeen {
  /** Member name → the version its `/varz` reports, or why it could not say (`not running`, `unreachable (…)`). */
  readonly versions: Readonly<Record<string, string>>;
  /** Whether a surge server is running (left over from an interrupted rollout). */
  readonly surgeRunning: boolean;
}

export function serversSeen(observed: ObservedCluster): ServersSeen {
  const versions: Record<string, string> = {};
  for (const m of observed.members) {
    versions[m.name] = m.version ?? (m.running ? `unreachable (${m.error ?? "no answer"})` : "not running");
  }
  return { versions, surgeRunning: observed.surge.running };
}

/** How a reconcile ended: its report (or the refused plan) and what the servers report afterwards. */
export type ReconcileOutcome = RolloutOutcome & { readonly seen: ServersSeen };

/** Take the cluster to the spec and say how it went; throws only for what is not a rollout outcome (a bug, I/O). */
export async function reconcile(options: RolloutOptions): Promise<ReconcileOutcome> {
  const seenNow = async (): Promise<ServersSeen> => {
    try {
      return serversSeen(await observeCluster(options.spec, options.driver, {}, options.seams?.monitors));
    } catch (err) {
      const why = `not observed (${describeError(err)})`;
      return { versions: Object.fromEntries(options.spec.members.map((m) => [m.name, why])), surgeRunning: false };
    }
  };
  await settleDrainingMembers(
    options.spec,
    options.driver,
    resolvePolicy(options.policy),
    new EventLog(options.onEvent),
  );
  const outcome = await executeRollout(options);
  return { ...outcome, seen: await seenNow() };
}

/** What `pulumi preview` shows: the plan from the servers, or from the stack's inputs when they cannot be asked. */
export interface ReconcilePreview {
  readonly plan: RolloutPlan;
  readonly observed: ObservedCluster;
}

export interface PreviewFallback {
  /** The versions last recorded, used when the servers cannot be observed. */
  readonly versions?: Readonly<Record<string, string>>;
  /** How long observing may take before the plan is made from the inputs. Default 30 s. */
  readonly deadlineMs?: number;
}

/** Observe (within a deadline) and plan, touching nothing. */
export async function previewReconcile(
  options: RolloutOptions,
  fallback: PreviewFallback = {},
): Promise<ReconcilePreview> {
  assertValidClusterSpec(options.spec, { inSupercluster: options.supercluster !== undefined });
  let observed: ObservedCluster;
  try {
    const deadline = fallback.deadlineMs ?? PREVIEW_OBSERVE_DEADLINE_MS;
    // Raft placement only when the plan batches members of a JetStream cluster: maxUnavailable 1 reads no more.
    // and when members leave (which streams they hold decides whether they may).
    const policy = resolvePolicy(options.policy);
    const what = observeOptionsFor(options.spec, policy, leavingOf(options), othersOf(options));
    observed = await withDeadline(
      observeCluster(options.spec, driverOf(options), what, options.seams?.monitors),
      deadline,
      "observing the servers",
    );
  } catch (err) {
    return previewAssumed(options, fallback.versions, `the servers could not be observed (${describeError(err)})`);
  }
  return { plan: planFor(options, observed), observed };
}

/**
 * The plan from the stack's inputs without asking the servers: members at the versions last recorded (a member
 * without one is taken as down), `why` saying why they were not asked. What {@link previewReconcile} falls back to.
 */
export function previewAssumed(
  options: RolloutOptions,
  versions: Readonly<Record<string, string>> | undefined,
  why: string,
): ReconcilePreview {
  const observed = assumeObserved(options.spec, versions, why);
  return { plan: planFor(options, observed), observed };
}
