import { readRestartDigest } from "../config/text";
import { ClusterSpec, RolloutPolicy } from "../spec";
import { compareVersions, downgradeProblem } from "../versions";
import { StepKind } from "./events";
import { ObservedCluster, ObservedServer } from "./observe";

export interface PlannedStep {
  readonly kind: StepKind;
  readonly server?: string;
  readonly from?: string;
  readonly to?: string;
  /** Why this step is in the plan, in words an operator reads in `pulumi preview`. */
  readonly reason: string;
}

export interface RolloutPlan {
  readonly targetVersion: string;
  readonly steps: ReadonlyArray<PlannedStep>;
  /** Reasons the rollout must not start (pre-flight): nothing is touched when this is non-empty. */
  readonly refusals: ReadonlyArray<string>;
  /** The version the surge server runs: the one the cluster runs before the rollout (known good). */
  readonly surgeVersion?: string;
  /** Rough duration from the policy and lame-duck settings. */
  readonly estimatedSeconds: number;
}

/** The config each server should have: rendered text (compared by restart digest and then by text). */
export type DesiredConfigs = ReadonlyMap<string, string>;

type MemberAction = { kind: "restart-member" | "reload-member" | "recover-member"; reason: string } | undefined;

/** Decide what a member needs, from what it reports now. */
function memberAction(spec: ClusterSpec, m: ObservedServer, desiredConfig: string | undefined): MemberAction {
  if (!m.reachable) {
    return { kind: "recover-member", reason: `not answering (${m.error ?? "unknown"}): start it at ${spec.version}` };
  }
  if (m.version !== spec.version) {
    const direction = compareVersions(spec.version, m.version ?? "0.0.0") < 0 ? "downgrade" : "upgrade";
    return { kind: "restart-member", reason: `${direction} ${m.version} → ${spec.version}` };
  }
  if (desiredConfig !== undefined && m.configText !== desiredConfig) {
    const restart = readRestartDigest(m.configText) !== readRestartDigest(desiredConfig);
    return restart
      ? {
          kind: "restart-member",
          reason: "config change that needs a restart (listeners, names, routes, JetStream or extra settings)",
        }
      : { kind: "reload-member", reason: "config change nats-server reloads in place (client auth or TLS)" };
  }
  return undefined;
}

/**
 * The ordered rollout from observed state to the spec: pre-flight, surge up, one member at a time (followers first,
 * the meta leader last), surge down, final check. Pure: the same observation always gives the same plan, and a
 * re-run after a crash plans only what is left (members already at the target are skipped).
 */
export function planRollout(
  observed: ObservedCluster,
  spec: ClusterSpec,
  desired: DesiredConfigs,
  policy: RolloutPolicy,
): RolloutPlan {
  const refusals: string[] = [];
  const actions = observed.members.map((m) => ({ member: m, action: memberAction(spec, m, desired.get(m.name)) }));
  const down = actions.filter((a) => a.action?.kind === "recover-member");
  const surgeUp = observed.surge.running;
  // A surge host that exists but no longer runs (killed mid-way through surge-down) still needs removing.
  const surgeLeft = surgeUp || observed.surge.installedVersion !== undefined;

  // A member down is only acceptable as the trace of an interrupted rollout (the surge server is still up) and
  // only one: otherwise pre-flight refuses and names it.
  if (down.length > 1) {
    refusals.push(
      `pre-flight: ${down.length} members are down (${down.map((d) => `${d.member.name}: ${d.member.error}`).join("; ")}); a rollout needs all but at most one member of an interrupted rollout up`,
    );
  } else if (down.length === 1 && !surgeUp) {
    refusals.push(
      `pre-flight: member ${down[0].member.name} is down (${down[0].member.error}); bring it back (or fix the cause) before a rollout`,
    );
  }

  for (const { member, action } of actions) {
    if (action?.kind !== "restart-member" || !member.version) continue;
    const problem =
      compareVersions(spec.version, member.version) < 0 ? downgradeProblem(member.version, spec.version) : undefined;
    if (problem && !policy.allowUnsafeDowngrade) {
      refusals.push(
        `version: downgrade of ${member.name} ${member.version} → ${spec.version} refused: ${problem} (set allowUnsafeDowngrade to force it)`,
      );
    }
  }

  const changing = actions.filter((a) => a.action !== undefined);
  if (changing.length === 0) {
    const steps: PlannedStep[] = surgeLeft
      ? [
          {
            kind: "surge-down",
            server: spec.surge.name,
            reason: "left over from an interrupted rollout: every member is already at the target",
          },
        ]
      : [];
    return {
      targetVersion: spec.version,
      steps,
      refusals,
      estimatedSeconds: steps.length ? spec.lameDuck.gracePeriodSeconds + 5 : 0,
    };
  }

  // Followers first in spec order, the meta leader last (restarting it forces an election: do it once, at the end);
  // a member that is down comes first, since the cluster is short of it until it is back.
  const leader = observed.metaLeader;
  const ordered = [
    ...changing.filter((a) => a.action?.kind === "recover-member"),
    ...changing.filter((a) => a.action?.kind !== "recover-member" && a.member.name !== leader),
    ...changing.filter((a) => a.action?.kind !== "recover-member" && a.member.name === leader),
  ];
  const needsRestart = ordered.some((a) => a.action?.kind !== "reload-member");
  const useSurge = policy.useSurge && needsRestart;
  const surgeVersion =
    observed.members.find((m) => m.reachable && m.version !== spec.version)?.version ??
    observed.surge.version ??
    spec.version;

  const steps: PlannedStep[] = [
    { kind: "preflight", reason: "every member healthy (ready, routes, JetStream current) or nothing is touched" },
  ];
  if (useSurge) {
    steps.push({
      kind: "surge-up",
      server: spec.surge.name,
      to: surgeUp ? observed.surge.version : surgeVersion,
      reason: surgeUp
        ? "already running (interrupted rollout): adopted after its gates pass"
        : `temporary server joins through the members' routes so clients leaving a member have somewhere to go${spec.surge.jetstream ? "" : " (client-only: never in the JetStream meta group)"}`,
    });
  }
  for (const { member, action } of ordered) {
    const isLeader = member.name === leader && spec.jetstream.enabled;
    steps.push({
      kind: action!.kind,
      server: member.name,
      from: member.version ?? member.installedVersion,
      to: spec.version,
      reason:
        action!.reason +
        (isLeader && action!.kind === "restart-member" ? "; JetStream meta leader: last, steps down first" : ""),
    });
  }
  if (useSurge || surgeLeft) {
    steps.push({
      kind: "surge-down",
      server: spec.surge.name,
      reason: "lame duck: its clients move back to the members; then removed",
    });
  }
  steps.push({ kind: "final-check", reason: "every member healthy at the target, no surge server, no ghost peers" });

  const perRestart = spec.lameDuck.gracePeriodSeconds + 3 + policy.minHealthySeconds + 2;
  const estimatedSeconds =
    ordered.reduce(
      (sum, a) => sum + (a.action?.kind === "reload-member" ? policy.minHealthySeconds + 1 : perRestart),
      0,
    ) +
    (useSurge ? policy.minHealthySeconds + 3 + spec.lameDuck.gracePeriodSeconds + 2 : 0) +
    3;
  return {
    targetVersion: spec.version,
    steps,
    refusals,
    surgeVersion: useSurge ? surgeVersion : undefined,
    estimatedSeconds,
  };
}

/** The plan as lines for `pulumi preview` and the console. */
export function formatPlan(plan: RolloutPlan): string {
  if (plan.refusals.length)
    return ["Rollout refused, nothing will be touched:", ...plan.refusals.map((r) => `  - ${r}`)].join("\n");
  if (plan.steps.length === 0)
    return `No rollout: every member already runs ${plan.targetVersion} with the desired config.`;
  const lines = [
    `Rollout to nats-server ${plan.targetVersion}, ${plan.steps.length} steps, about ${plan.estimatedSeconds}s:`,
  ];
  plan.steps.forEach((s, i) => {
    const change = s.from || s.to ? ` ${s.from ?? "?"} → ${s.to ?? "?"}`.replace(/^ \? → /, " ") : "";
    lines.push(
      `  ${String(i + 1).padStart(2)}. ${s.kind.padEnd(15)} ${(s.server ?? "").padEnd(14)}${change}  (${s.reason})`,
    );
  });
  return lines.join("\n");
}
