/**
 * The looks at every member that bracket a rollout: pre-flight (every member that is up is healthy, or nothing is
 * touched) and the final check (after the surge server left: every member at the target, routed to the others, the
 * meta group exactly the members, and the other clusters' gateways back to this one).
 */
import { gatewaysGate } from "../gates/checks";
import { storeProblem } from "./cluster-check";
import { ClusterView, RolloutContext } from "./context";
import { StepFailure } from "./errors";

/** Why the rollout must not start, naming the member, or undefined when every member that is up is healthy. */
export async function preflightRefusal(ctx: RolloutContext, view: ClusterView): Promise<string | undefined> {
  for (const member of ctx.spec.members) {
    if (view.down.has(member.name)) continue;
    const running = await ctx
      .monitor(member)
      .varz()
      .catch(() => undefined);
    // One look, no soak: a healthy member passes at once.
    const result = await ctx.gate("preflight", member, running?.version ?? ctx.spec.version, view, {
      soak: false,
      deadlineMs: ctx.pace.preflightDeadlineMs,
    });
    const store = await storeProblem(ctx, member);
    if (!result.passed || store) {
      const gate = result.passed ? "" : `failed gate ${result.failure.gate}: ${result.failure.observation}`;
      return `pre-flight: member ${member.name} ${[gate, store].filter(Boolean).join("; ")}`;
    }
  }
  return undefined;
}

/**
 * Throws the StepFailure of the first member that does not pass its gates at the target, then of the first server
 * of another cluster that has not found its way back here (remoteGatewaysBack).
 */
export async function finalCheck(ctx: RolloutContext, view: ClusterView): Promise<void> {
  for (const member of ctx.spec.members) {
    const result = await ctx.gate("final-check", member, ctx.spec.version, view, {
      soak: false,
      deadlineMs: ctx.pace.finalCheckDeadlineMs,
    });
    if (!result.passed) {
      const { gate, observation } = result.failure;
      throw new StepFailure({ server: member.name, step: "final-check", gate, observation });
    }
  }
  await remoteGatewaysBack(ctx);
}

/**
 * The other clusters' servers have their outbound gateway to this cluster again. Each of them keeps ONE outbound
 * connection here, to whichever server it picked; when that was a member that restarted or the surge server that
 * just left, it reconnects to another a second or so later (read on real servers right after a supercluster's last
 * surge server left: `out [], in [east]`). This cluster's own gates see only its side; the next cluster's
 * pre-flight would wait for the rest, but after the last cluster nothing did. A server of another cluster that does
 * not answer at all is left to its own cluster's rollout.
 */
async function remoteGatewaysBack(ctx: RolloutContext): Promise<void> {
  const here = ctx.spec.name;
  for (const other of ctx.others) {
    if (!other.spec.gateways?.remotes.some((r) => r.name === here)) continue;
    for (const server of other.spec.members) {
      const answers = await ctx
        .monitor(server)
        .varz()
        .then(
          () => true,
          () => false,
        );
      if (!answers) continue;
      const gates = [gatewaysGate([here])];
      const result = await ctx.gateElsewhere("final-check", server, gates, ctx.pace.finalCheckDeadlineMs);
      if (!result.passed) {
        const { gate, observation } = result.failure;
        throw new StepFailure({ server: server.name, step: "final-check", gate, observation });
      }
    }
  }
}
