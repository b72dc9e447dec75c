/**
 * The looks at every member that bracket a rollout: pre-flight (every member that is up is healthy, or nothing is
 * touched) and the final check (after the surge server left: every member at the target, routed to the others, the
 * meta group exactly the members).
 */
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

/** Throws the StepFailure of the first member that does not pass its gates at the target. */
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
}
