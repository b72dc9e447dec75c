/**
 * Roll a supercluster: one cluster at a time, each through today's single-cluster reconcile (surge server, followers
 * first, the meta leader last), told of the other clusters (their JetStream peers, the meta leader wherever it is).
 * The order is decided again from what the servers report before each cluster (order.ts); a halt, an interruption
 * or a refusal in any cluster stops the whole run, and the outcome says what was done and what is left. Resuming is
 * running again: clusters already at the target plan nothing.
 */
import { EventLog, EventSink } from "../rollout/events";
import { driverOf, leavingOf, othersOf, planFor, resolvePolicy } from "../rollout/execute";
import { observeCluster, observeOptionsFor, ObservedCluster } from "../rollout/observe";
import { reconcile, ReconcileOutcome } from "../rollout/reconcile";
import { clusterOptions } from "./clusters";
import { superclusterMetaLeader } from "./meta-leader";
import { rolloutOrder, startTogether, togetherWhy } from "./order";
import { assertValidSupercluster } from "./validate";
import { specsOf, SuperclusterOptions, SuperclusterOutcome } from "./types";

type Reached = SuperclusterOutcome["clusters"][number];

/** Every cluster observed as its rollout would observe it (placement when it batches or removes members). */
async function observeAll(options: SuperclusterOptions, full: boolean): Promise<ObservedCluster[]> {
  const seen: ObservedCluster[] = [];
  for (let i = 0; i < options.clusters.length; i++) {
    const o = clusterOptions(options, i);
    const what = full ? observeOptionsFor(o.spec, resolvePolicy(o.policy), leavingOf(o), othersOf(o)) : {};
    seen.push(await observeCluster(o.spec, driverOf(o), what, options.seams?.monitors));
  }
  return seen;
}

/** The run's sink for one cluster: each event names the cluster, its time counted from the run's start. */
function sinkFor(cluster: string, run: EventLog): EventSink {
  return ({ elapsedMs: _ownClock, ...e }) => run.emit({ ...e, cluster });
}

export async function reconcileSupercluster(options: SuperclusterOptions): Promise<SuperclusterOutcome> {
  const specs = specsOf(options.clusters);
  assertValidSupercluster(specs);
  const names = specs.map((s) => s.name);
  const run = new EventLog(options.onEvent);
  if (specs.length === 1) {
    // A supercluster of one is today's reconcile, event for event.
    const outcome = await reconcile(clusterOptions(options, 0));
    return {
      status: outcome.status,
      clusters: [{ name: names[0], why: "the only cluster", outcome }],
      left: [],
      refusals: [],
    };
  }

  // Every cluster's plan before anything is touched: a plan's refusal anywhere (a downgrade across a storage format,
  // a TLS change no order of steps makes safe, a removal that would cost a quorum) refuses the whole run, rather than
  // after half of it is rolled. Each cluster's pre-flight (is it whole?) runs when it is reached, not here: a leaf
  // found down is recovered by its own cluster's rollout, which its hub's pre-flight (expected leaves) waits for.
  let observed = await observeAll(options, true);
  const plans = observed.map((o, i) => planFor(clusterOptions(options, i), o));
  const refusals = plans.flatMap((p, i) => p.refusals.map((r) => `cluster ${names[i]}: ${r}`));
  // A first start of JetStream clusters joined by gateways: they start together (order.ts startTogether says why).
  const together = startTogether(specs, plans);
  if (refusals.length > 0) {
    for (const r of refusals) run.emit({ kind: "halt", message: `refused, nothing touched: ${r}` });
    return { status: "refused", clusters: [], left: names, refusals };
  }

  const reached: Reached[] = [];
  const remaining = () => names.filter((n) => !reached.some((r) => r.name === n));
  while (remaining().length > 0) {
    const todo = specs.filter((s) => remaining().includes(s.name));
    const leader = superclusterMetaLeader(specs.map((spec, i) => ({ spec, observed: observed[i] })));
    const [next, ...after] = rolloutOrder(todo, leader, specs);
    const stop = options.stopRequested?.();
    if (stop) {
      run.emit({ kind: "halt", cluster: next.cluster, message: `stop requested (${stop}) before this cluster` });
      return { status: "interrupted", clusters: reached, left: remaining(), refusals: [] };
    }
    run.emit({
      kind: "info",
      cluster: next.cluster,
      message:
        `supercluster: cluster ${next.cluster} now (${next.why})` +
        (after.length ? `; then ${after.map((a) => a.cluster).join(", ")}` : "; the last one"),
    });
    const group = together.includes(next.cluster)
      ? [next, ...after.filter((a) => together.includes(a.cluster))]
      : [next];
    if (group.length > 1) {
      run.emit({
        kind: "info",
        cluster: next.cluster,
        message:
          `supercluster: first start of ${group.map((g) => g.cluster).join(", ")} together (JetStream across ` +
          "gateways elects its one meta leader only once the clusters run)",
      });
    }
    const outcomes = await Promise.all(
      group.map((g) => reconcile(clusterOptions(options, names.indexOf(g.cluster), sinkFor(g.cluster, run)))),
    );
    group.forEach((g, i) =>
      reached.push({
        name: g.cluster,
        why: group.length > 1 ? g.why + togetherWhy(together, g.cluster) : g.why,
        outcome: outcomes[i],
      }),
    );
    const stopped: ReconcileOutcome | undefined = outcomes.find((o) => o.status !== "done");
    if (stopped) {
      run.emit({
        kind: "halt",
        cluster: group[outcomes.indexOf(stopped)].cluster,
        message: `supercluster run stopped (${stopped.status}); not reached: ${remaining().join(", ") || "none"}`,
      });
      return { status: stopped.status, clusters: reached, left: remaining(), refusals: [] };
    }
    // Where the meta leader is now (the cluster just rolled may have moved it): decides what comes next.
    if (remaining().length > 0) observed = await observeAll(options, false);
  }
  return { status: "done", clusters: reached, left: [], refusals: [] };
}
