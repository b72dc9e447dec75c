/**
 * A server that left the spec leaves the cluster (a `remove-member` step), reconciled from what the servers report
 * when the step begins, so a re-run after a halt, a Ctrl-C or a crash picks up wherever it stopped:
 *
 * 1. look again: what is left of it, and whether its removal is still safe (the same rule as the plan's,
 *    membership-plan.ts removalRefusals: replicas that would not fit the remaining members, a group that would lose
 *    its quorum); refused → nothing touched;
 * 2. the rest of the cluster must be whole, as before any member's lame duck: it is about to be one peer short;
 * 3. meta leader? step down first; then lame duck (its clients move to the others) and wait for the exit. Stopped
 *    BEFORE it is peer-removed: a server removed while it runs disables its JetStream and keeps serving clients
 *    half-way; stopped first, every group it is in loses one peer, which the refusals made sure each can afford;
 * 4. peer-removed from the meta group (`$JS.API.SERVER.REMOVE`, as `nats server raft peer-remove`), and waited for
 *    until no member lists it: the meta leader then places each stream and consumer replica it held on a remaining
 *    member (nats-server's remapStreamAssignment), which catches up from its peers;
 * 5. every stream and consumer group it was in is whole again (as many peers as before, none of them it) and every
 *    remaining member passes the whole-cluster gates (full /healthz: its replicas current; the meta group without
 *    it), held for the soak;
 * 6. its host is cleaned (the driver's deprovision: config, TLS material and its JetStream store, now that every
 *    replica it held is whole elsewhere; locally its directory). Last: until here a halt
 *    leaves everything needed to look at it, or to start it again by putting it back in the spec.
 *
 * A server whose host does not answer (its VM gone for good) skips 3, and 6 becomes a warning naming what to do if
 * the VM ever comes back; the plan lets it go only once the meta leader no longer hears from it
 * (membership-plan.ts unreachableRefusals).
 *
 * Only one leaving server at a time, never while a member is down for another step.
 */
import { ServerEndpoint } from "../spec";
import { describeError, sleep } from "../util/async";
import { clusterWholeBefore } from "./cluster-check";
import { ClusterView, RolloutContext, withoutLeaving } from "./context";
import { StepFailure } from "./errors";
import { removeMetaPeer, stepDownMetaLeader } from "./jetstream-admin";
import { leftOf, metaPeersSeen, removalRefusals } from "./membership-plan";
import { observeCluster, observeOptionsFor, raftGroupsOf } from "./observe";
import { RemoveMemberStep } from "./planned-step";
import { Run } from "./run";
import { drain, hostStep } from "./steps";

const STEP = "remove-member" as const;

export async function removeLeavingMember(run: Run, step: RemoveMemberStep, view: ClusterView): Promise<ClusterView> {
  const { ctx, ledger } = run;
  const started = Date.now();
  const server = ctx.leavingServer(step.server);
  const js = ctx.spec.jetstream.enabled;

  // 1. What is left of it, and may it still go.
  const observed = await observeCluster(
    ctx.spec,
    ctx.driver,
    observeOptionsFor(ctx.spec, ctx.policy, [server], ctx.others),
    ctx.createMonitor,
  );
  const now = observed.leaving?.[0];
  const meta = metaPeersSeen(observed);
  const left = now && leftOf(now, meta);
  if (!now || left === undefined) {
    ledger.skipped({ name: server.name, action: STEP, from: step.from, to: "removed" }, "already gone");
    ctx.log.emit({ kind: "step-skip", step: STEP, server: server.name, message: "already out of the cluster" });
    return withoutLeaving(view, server.name);
  }
  const refusals = removalRefusals(observed, ctx.spec, [server.name]);
  if (refusals.length > 0) {
    throw new StepFailure({
      server: server.name,
      step: STEP,
      point: "cluster",
      observation: `refused, nothing touched: ${refusals.join("; ")}`,
      untouched: true,
    });
  }
  const held = (observed.placement?.groups ?? []).filter((g) => g.kind !== "meta" && g.peers.includes(server.name));

  // 2 and 3. Out of service: the rest whole first, then (meta leader: step down) lame duck and exit.
  let drainMs: number | undefined;
  if (now.running || now.reachable) {
    view = await clusterWholeBefore(ctx, view, server, STEP);
    if (js && observed.metaLeader === server.name && ctx.spec.auth?.systemAccount) {
      await stepDownMetaLeader(ctx.clientSpec, ctx.spec.members).catch((err: unknown) =>
        ctx.log.emit({
          kind: "warning",
          step: STEP,
          server: server.name,
          message: `meta leader step-down failed (${describeError(err)}); lame duck steps it down`,
        }),
      );
    }
    drainMs = await drain(ctx, STEP, server);
  }

  // 4. Out of the meta group.
  if (js && meta.has(server.name)) await peerRemove(ctx, server);

  // 5. Whole again without it.
  const gone = withoutLeaving(view, server.name);
  const wholeMs = await wholeWithout(ctx, gone, server.name, held);

  // 6. Its host, last.
  const host = await cleanHost(ctx, server, now.hostError);
  const groups = held.length ? `; ${held.length} replica group(s) whole again on the remaining members` : "";
  ledger.done({
    name: server.name,
    action: STEP,
    from: step.from,
    to: "removed",
    drainMs,
    totalMs: Date.now() - started,
    note: `left the cluster (${left}); whole again after ${(wholeMs / 1000).toFixed(1)}s${groups}; ${host}`,
  });
  return gone;
}

/**
 * Remove the server from its host. A host that did not answer when the step began (a VM gone for good: the removal
 * went on because the meta leader no longer heard from it) is tried once more; if it still does not answer, the
 * removal is done without it and the report says what to do should that VM ever come back.
 */
async function cleanHost(ctx: RolloutContext, server: ServerEndpoint, hostError: string | undefined): Promise<string> {
  if (hostError === undefined) {
    await hostStep(server, STEP, "deprovision", () => ctx.driver.deprovision(server, { store: true }));
    return "host cleaned";
  }
  try {
    await ctx.driver.deprovision(server, { store: true });
    return "host cleaned (it answered again)";
  } catch (err) {
    const message =
      `its host still does not answer (${describeError(err)}): nothing was removed there. Should that VM come back, ` +
      `its nats-server starts with its old config: destroy the VM, or run \`systemctl disable --now nats-server\` on it`;
    ctx.log.emit({ kind: "warning", step: STEP, server: server.name, message });
    return message;
  }
}

/** Peer-remove `server` through the members that are up, then wait until none of them lists it. */
async function peerRemove(ctx: RolloutContext, server: ServerEndpoint): Promise<void> {
  const deadline = Date.now() + ctx.policy.healthyDeadlineSeconds * 1000;
  let asked = false;
  let refusedWith: string | undefined;
  let listing: string[];
  for (;;) {
    listing = await membersListing(ctx, server.name);
    if (listing.length === 0) {
      ctx.log.emit({ kind: "info", step: STEP, server: server.name, message: "removed from the JetStream meta group" });
      return;
    }
    if (!asked) {
      try {
        await removeMetaPeer(ctx.clientSpec, ctx.spec.members, server.name);
        asked = true;
      } catch (err) {
        // "not a member" (any more): the listing catches up. Anything else: ask again at the next look.
        refusedWith = describeError(err);
        asked = /not.*member/i.test(refusedWith);
      }
    }
    if (Date.now() + ctx.policy.pollIntervalMs > deadline) break;
    await sleep(ctx.policy.pollIntervalMs);
  }
  throw new StepFailure({
    server: server.name,
    step: STEP,
    point: "peer-remove",
    observation:
      `still in the JetStream meta group after ${ctx.policy.healthyDeadlineSeconds}s (listed by ${listing.join(", ")})` +
      (refusedWith ? `; $JS.API.SERVER.REMOVE answered: ${refusedWith}` : ""),
  });
}

/** The members that answer and list `name` as a meta peer (leader or replica). */
async function membersListing(ctx: RolloutContext, name: string): Promise<string[]> {
  const seen = await Promise.all(
    ctx.spec.members.map(async (m) => {
      const meta = (
        await ctx
          .monitor(m)
          .varz()
          .catch(() => undefined)
      )?.jetstream?.meta;
      const peers = [meta?.leader, ...(meta?.replicas ?? []).map((r) => r.name)];
      return peers.includes(name) ? m.name : undefined;
    }),
  );
  return seen.filter((n): n is string => n !== undefined);
}

/**
 * Every group `name` held has as many peers as before, none of them `name`, and every member that is up passes the
 * whole-cluster gates (full /healthz: every replica it holds current; the meta group without `name`), held together
 * for the soak. Resolves with the time it took; a StepFailure at "replicas" at the deadline.
 */
async function wholeWithout(
  ctx: RolloutContext,
  view: ClusterView,
  name: string,
  held: ReadonlyArray<{ name: string; peers: ReadonlyArray<string> }>,
): Promise<number> {
  const started = Date.now();
  const deadline = started + ctx.policy.healthyDeadlineSeconds * 1000;
  const soakMs = ctx.policy.minHealthySeconds * 1000;
  let greenSince: number | undefined;
  let last: string;
  let lastSaid = started;
  for (;;) {
    last = (await problemWithout(ctx, view, name, held)) ?? "";
    if (last) greenSince = undefined;
    else greenSince ??= Date.now();
    if (greenSince !== undefined && Date.now() - greenSince >= soakMs) return Date.now() - started;
    if (Date.now() + ctx.policy.pollIntervalMs > deadline) break;
    if (last && Date.now() - lastSaid >= 5000) {
      lastSaid = Date.now();
      ctx.log.emit({ kind: "gate-wait", step: STEP, server: name, message: `waiting for the cluster: ${last}` });
    }
    await sleep(ctx.policy.pollIntervalMs);
  }
  throw new StepFailure({
    server: name,
    step: STEP,
    point: "replicas",
    observation: `not whole again without ${name} after ${ctx.policy.healthyDeadlineSeconds}s: ${last}`,
  });
}

async function problemWithout(
  ctx: RolloutContext,
  view: ClusterView,
  name: string,
  held: ReadonlyArray<{ name: string; peers: ReadonlyArray<string> }>,
): Promise<string | undefined> {
  const up = ctx.spec.members.filter((m) => !view.down.has(m.name));
  const problems: string[] = [];
  if (held.length > 0) {
    const now = new Map<string, Set<string>>();
    for (const m of up) {
      const jsz = await ctx
        .monitor(m)
        .jszPlacement()
        .catch(() => undefined);
      if (!jsz) return `${m.name}: its /jsz placement did not answer`;
      for (const g of raftGroupsOf(m.name, jsz)) {
        const peers = now.get(g.name) ?? new Set<string>();
        g.peers.forEach((p) => peers.add(p));
        now.set(g.name, peers);
      }
    }
    for (const g of held) {
      const peers = [...(now.get(g.name) ?? [])].sort();
      if (peers.includes(name) || peers.length < g.peers.length)
        problems.push(`${g.name} peers [${peers.join(", ")}], want ${g.peers.length} without ${name}`);
    }
  }
  for (const m of up) {
    for (const gate of ctx.wholeClusterGates(view)) {
      const seen = await gate.check(ctx.target(m, "(any)", view));
      if (!seen.ok) {
        problems.push(`${m.name} ${gate.name}: ${seen.observation}`);
        break;
      }
    }
  }
  return problems.length ? problems.join("; ") : undefined;
}
