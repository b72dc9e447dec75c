import { readDataVolumeGiB, readRestartDigest, readTlsPosture, routesStartedWithTls } from "../config/text";
import { ESTIMATE_SECONDS, surgeSoakSeconds } from "../defaults";
import { ClusterSpec, routeTlsOn, RolloutPolicy } from "../spec";
import { compareVersions, downgradeProblem } from "../versions";
import { StepKind } from "./events";
import { batchedSteps } from "./batch-plan";
import {
  additionOf,
  isNewMember,
  metaPeersSeen,
  recoveryOf,
  removalRefusals,
  removalSteps,
  routeListChange,
} from "./membership-plan";
import { ObservedCluster, ObservedServer } from "./observe";
import { CheckStep, DesiredConfigs, MemberChange, MemberStep, PlannedStep, SurgeStep } from "./planned-step";
import { clientTlsRefusals, gatewayTlsRefusals } from "./tls-refusals";

export * from "./planned-step";
export { planBatches, type BatchInputs, type Batching } from "./batch-plan";

export interface RolloutPlan {
  /** `bootstrap` when no member runs (first deployment): all start together; else a rolling `rollout`. */
  readonly kind: "bootstrap" | "rollout";
  readonly targetVersion: string;
  readonly steps: ReadonlyArray<PlannedStep>;
  /** Reasons the rollout must not start (pre-flight): nothing is touched when this is non-empty. */
  readonly refusals: ReadonlyArray<string>;
  /** The version the surge server runs: the one the cluster runs before the rollout (known good). */
  readonly surgeVersion?: string;
  /** Rough duration from the policy and lame-duck settings. */
  readonly estimatedSeconds: number;
  /** Set when the servers were not observed: the plan is from the stack's inputs, and this says why. */
  readonly assumed?: string;
}

/**
 * What a running member needs to reach the spec, from what it reports now (undefined: nothing). The one rule: the
 * planner asks it of every member, and the executor asks it again just before it touches one.
 */
export function memberChange(
  spec: ClusterSpec,
  now: Pick<ObservedServer, "version" | "configText">,
  desired: string | undefined,
): MemberChange | undefined {
  const { version, configText } = now;
  if (version !== spec.version) {
    if (version === undefined) return { kind: "restart-member", reason: `to ${spec.version}` };
    const direction = compareVersions(spec.version, version) < 0 ? "downgrade" : "upgrade";
    // The same restart writes the new config: say so, or the preview hides a setting that changes with the version.
    const withConfig = desired !== undefined && configText !== undefined && configText !== desired;
    return {
      kind: "restart-member",
      reason: `${direction} ${version} → ${spec.version}${withConfig ? ", and a config change by the same restart" : ""}`,
    };
  }
  if (desired === undefined) return undefined;
  // A grown data volume: JetStream sizes its store from the free space it finds at start, and the host grows the
  // file system before each start, so only a restart through the gates puts the new size to use. A config written
  // before the size was recorded names none: that is no growth (the text differs, so a reload records it).
  const volumeNow = readDataVolumeGiB(configText);
  const volumeWanted = readDataVolumeGiB(desired);
  if (volumeNow !== undefined && volumeWanted !== undefined && volumeNow !== volumeWanted) {
    return {
      kind: "restart-member",
      reason:
        `data volume ${volumeNow} → ${volumeWanted} GiB: its file system grows before the server starts, and ` +
        "JetStream sizes its store at start",
    };
  }
  const routesNow = routesStartedWithTls(readTlsPosture(configText));
  if (routesNow !== readTlsPosture(desired).routes) {
    return {
      kind: "restart-member",
      reason: `route TLS ${routesNow ? "off" : "on"}: its routes are re-made ${routesNow ? "in plaintext" : "with TLS"} only by a restart`,
    };
  }
  if (configText !== desired) {
    const routes = routeListChange(
      configText,
      desired,
      (address) => [...spec.members, spec.surge].find((m) => `${m.host}:${m.clusterPort}` === address)?.name,
    );
    return readRestartDigest(configText) !== readRestartDigest(desired)
      ? {
          kind: "restart-member",
          reason: routes
            ? `route list changes (${routes}): routes change only by a restart (a reloaded shorter list leaves the ` +
              "mesh broken)"
            : "config change that needs a restart (listeners, names, routes, gateways, client TLS on/off, JetStream or extra settings)",
        }
      : {
          kind: "reload-member",
          reason: "config change nats-server reloads in place (client auth or TLS certificates)",
        };
  }
  return undefined;
}

/**
 * A route TLS change (on or off) without ever splitting the mesh. A TLS server and a plaintext server cannot route
 * to each other, but nats-server reloads `cluster { tls }` without dropping the routes that are up (only new routes
 * use it). So, first every member loads the new route TLS by a reload (`load-route-tls`: nothing restarts, the
 * mesh stays as it is, and every member now makes and accepts new routes the new way), then the usual rolling
 * restart re-makes each member's routes. Before the loads, nothing; between, a re-run loads again whatever a member
 * reports it has not loaded (`/varz` cluster.tls_cert_not_after).
 * The load writes the final config (marked "loaded by reload" in its header), so it must hold no other change that
 * needs a restart: such a change is refused, to be rolled out on its own first.
 */
function routeTlsLoads(
  observed: ObservedCluster,
  spec: ClusterSpec,
  desired: DesiredConfigs,
): { steps: MemberStep[]; refusals: string[] } {
  const want = routeTlsOn(spec);
  const up = observed.members.filter((m) => m.reachable);
  if (!up.some((m) => routesStartedWithTls(readTlsPosture(m.configText)) !== want)) return { steps: [], refusals: [] };
  const steps: MemberStep[] = [];
  const refusals: string[] = [];
  for (const m of up) {
    if (m.routeTlsLoaded === want) continue;
    const target = desired.get(m.name);
    if (readRestartDigest(m.configText) !== readRestartDigest(target)) {
      if (spec.gateways) {
        // Gateway TLS follows route TLS, and nats-server refuses a reload that changes the gateway block ("config
        // reload not supported for Gateway"); the other clusters would have to change at the same moment too.
        refusals.push(
          `tls.routes: ${m.name} has gateways, and route TLS brings gateway TLS, which nats-server does not reload ` +
            "and the other clusters' gateways must match: drop gateways, turn route TLS on or off, then add the " +
            "gateways back once every cluster of the supercluster has the same TLS",
        );
        continue;
      }
      refusals.push(
        `tls.routes: ${m.name} needs a restart for another config change too (listeners, names, routes, client TLS ` +
          "on/off, JetStream or extra settings); route TLS is turned on or off by a reload on every member first, " +
          "which that change would make nats-server refuse: roll the other change out first, then route TLS",
      );
      continue;
    }
    steps.push({
      kind: "load-route-tls",
      server: m.name,
      reason: want
        ? "reload with route TLS: routes up stay plaintext, new routes (after any restart) are TLS"
        : "reload without route TLS: routes up stay TLS, new routes (after any restart) are plaintext",
    });
  }
  return { steps, refusals };
}

/**
 * Rough duration of a plan, in seconds: the one estimate, for observed and assumed plans alike. The members of one
 * batch change at the same time, so a batch costs what its longest step costs.
 */
export function estimateSeconds(steps: ReadonlyArray<PlannedStep>, spec: ClusterSpec, policy: RolloutPolicy): number {
  const grace = spec.lameDuck.gracePeriodSeconds;
  const soak = policy.minHealthySeconds;
  const { restartOverhead, gateOverhead, checks, bootstrap } = ESTIMATE_SECONDS;
  const cost: Record<StepKind, number> = {
    "start-cluster": bootstrap,
    preflight: checks / 2,
    "surge-up": surgeSoakSeconds(spec.surge, policy) + restartOverhead,
    "recover-member": soak + restartOverhead + gateOverhead,
    "add-member": soak + restartOverhead + gateOverhead,
    "remove-member": grace + restartOverhead + soak + 2 * gateOverhead,
    "restart-member": grace + restartOverhead + soak + gateOverhead,
    "rollback-member": grace + restartOverhead + soak + gateOverhead,
    "reload-member": soak + 1,
    "load-route-tls": soak + 1,
    "surge-down": grace + gateOverhead,
    "final-check": checks / 2,
  };
  const batches = new Map<number, number>();
  let sum = 0;
  for (const s of steps) {
    if (s.batch === undefined) sum += cost[s.kind];
    else batches.set(s.batch, Math.max(batches.get(s.batch) ?? 0, cost[s.kind]));
  }
  for (const longest of batches.values()) sum += longest;
  return Math.round(sum);
}

/**
 * The ordered plan from observed state to the spec. Pure: the same observation always gives the same plan, and a
 * re-run after a crash, a halt or a Ctrl-C plans only what is left.
 *
 * - No member runs (first deployment, or every host restarted): start them all together (`start-cluster`).
 * - Members found down are started again first (`recover-member`, at the target): that takes nothing from the
 *   cluster, and pre-flight then sees the whole cluster.
 * - Then pre-flight, surge up, one member at a time (followers first, the meta leader last), surge down, final check.
 */
export function planRollout(
  observed: ObservedCluster,
  spec: ClusterSpec,
  desired: DesiredConfigs,
  policy: RolloutPolicy,
): RolloutPlan {
  const base = { targetVersion: spec.version, assumed: observed.assumed };
  const surgeUp = observed.surge.running;
  // A surge host that exists but no longer runs (killed mid-way through surge-down) still needs removing.
  const surgeLeft = surgeUp || observed.surge.installedVersion !== undefined;
  const surgeDown: SurgeStep = {
    kind: "surge-down",
    server: spec.surge.name,
    reason: "lame duck: its clients move back to the members; then removed",
  };

  const anyUp = observed.members.some((m) => m.running || m.reachable);
  if (!anyUp && !surgeUp) {
    const steps: PlannedStep[] = [
      {
        kind: "start-cluster",
        to: spec.version,
        reason:
          `no member runs: start all ${spec.members.length} at ${spec.version} together (JetStream needs a quorum ` +
          "to elect a meta leader), then each must pass its gates",
      },
      ...(surgeLeft ? [surgeDown] : []),
    ];
    return { ...base, kind: "bootstrap", steps, refusals: [], estimatedSeconds: estimateSeconds(steps, spec, policy) };
  }

  // New members and members found down start first (membership-plan.ts additionOf says why).
  const meta = metaPeersSeen(observed);
  const recoveries = observed.members
    .filter((m) => !m.reachable)
    .map((m) => (isNewMember(m, meta, spec.jetstream.enabled) ? additionOf(spec, m) : recoveryOf(spec, m)));
  // Members that left the spec leave after pre-flight and before any remaining member restarts for its route list:
  // each remaining member's new config routes only to the members that stay, and its gates expect a meta group
  // without the leaving ones, so the leaving ones must be out first. One at a time: each stop costs every group it
  // is in one peer, which they can afford (removalRefusals), and never two.
  const removals = removalSteps(observed, spec);
  // What each running member needs; a recovered member starts at the target with the desired config.
  const changes = observed.members.flatMap((m) => {
    if (!m.reachable) return [];
    const change = memberChange(spec, m, desired.get(m.name));
    return change ? [{ member: m, from: m.version, ...change }] : [];
  });

  const loads = routeTlsLoads(observed, spec, desired);
  const refusals: string[] = [
    ...loads.refusals,
    ...clientTlsRefusals(observed, spec, desired),
    ...gatewayTlsRefusals(observed, desired),
    ...removalRefusals(
      observed,
      spec,
      removals.map((r) => r.server),
      recoveries.map((r) => r.server),
    ),
  ];
  for (const c of changes) {
    if (c.kind !== "restart-member" || c.from === undefined || compareVersions(spec.version, c.from) >= 0) continue;
    const problem = downgradeProblem(c.from, spec.version);
    if (problem && !policy.allowUnsafeDowngrade) {
      refusals.push(
        `version: downgrade of ${c.member.name} ${c.from} → ${spec.version} refused: ${problem} ` +
          "(set rollout.allowUnsafeDowngrade to force it)",
      );
    }
  }

  const preflight: CheckStep = {
    kind: "preflight",
    reason: "every member healthy (ready, routes, JetStream current) or nothing is touched",
  };
  if (changes.length === 0) {
    const steps: PlannedStep[] = [...recoveries, ...(removals.length ? [preflight, ...removals] : [])];
    if (surgeLeft) {
      steps.push({
        ...surgeDown,
        reason: "left over from an interrupted rollout: every member is already at the target",
      });
    }
    if (recoveries.length > 0 || removals.length > 0) {
      steps.push({
        kind: "final-check",
        reason: "every member healthy at the target, no surge server, no ghost peers",
      });
    }
    return { ...base, kind: "rollout", steps, refusals, estimatedSeconds: estimateSeconds(steps, spec, policy) };
  }

  // Followers first in spec order, the meta leader last (restarting it forces an election: do it once, at the end).
  const leader = observed.metaLeader;
  const ordered = [
    ...changes.filter((c) => c.member.name !== leader),
    ...changes.filter((c) => c.member.name === leader),
  ];
  const useSurge = policy.useSurge && ordered.some((c) => c.kind === "restart-member");
  const surgeVersion =
    observed.members.find((m) => m.reachable && m.version !== spec.version)?.version ??
    observed.surge.version ??
    spec.version;

  // Route TLS loads come before the surge server joins (it routes the new way too) and before a member found down is
  // started (with the new route TLS: the others must accept it); otherwise after pre-flight, like any change.
  const steps: PlannedStep[] =
    recoveries.length > 0
      ? [...loads.steps, ...recoveries, preflight, ...removals]
      : [preflight, ...loads.steps, ...removals];
  if (useSurge) {
    steps.push({
      kind: "surge-up",
      server: spec.surge.name,
      to: surgeUp ? observed.surge.version : surgeVersion,
      reason: surgeUp
        ? "already running (interrupted rollout): adopted after its gates pass"
        : "temporary server joins through the members' routes so clients leaving a member have somewhere to go" +
          (spec.surge.jetstream ? "" : " (client-only: never in the JetStream meta group)"),
    });
  }
  if (policy.maxUnavailable > 1) {
    steps.push(...batchedSteps(observed, spec, policy, ordered, leader, useSurge || surgeUp));
  } else {
    for (const c of ordered) {
      const isLeader = c.member.name === leader && spec.jetstream.enabled && c.kind === "restart-member";
      steps.push({
        kind: c.kind,
        server: c.member.name,
        from: c.from,
        to: spec.version,
        reason: c.reason + (isLeader ? "; JetStream meta leader: last, steps down first" : ""),
      });
    }
  }
  if (useSurge || surgeLeft) steps.push(surgeDown);
  steps.push({ kind: "final-check", reason: "every member healthy at the target, no surge server, no ghost peers" });
  return {
    ...base,
    kind: "rollout",
    steps,
    refusals,
    surgeVersion: useSurge ? surgeVersion : undefined,
    estimatedSeconds: estimateSeconds(steps, spec, policy),
  };
}

/** The plan as lines for `pulumi preview` and the console. */
export function formatPlan(plan: RolloutPlan): string {
  if (plan.refusals.length) {
    return ["Rollout refused, nothing will be touched:", ...plan.refusals.map((r) => `  - ${r}`)].join("\n");
  }
  if (plan.steps.length === 0) {
    return `No rollout: every member already runs ${plan.targetVersion} with the desired config.`;
  }
  const what = plan.kind === "bootstrap" ? "Start of a new cluster at" : "Rollout to";
  const batchSizes = new Map<number, string[]>();
  for (const s of plan.steps)
    if (s.batch !== undefined) batchSizes.set(s.batch, [...(batchSizes.get(s.batch) ?? []), s.server ?? ""]);
  const inBatches = batchSizes.size
    ? ` in ${batchSizes.size} batches of at most ${Math.max(...[...batchSizes.values()].map((b) => b.length))} members down at once`
    : "";
  const lines = [
    `${what} nats-server ${plan.targetVersion}, ${plan.steps.length} steps${inBatches}, about ${plan.estimatedSeconds}s:`,
  ];
  if (plan.assumed)
    lines.push(`  (planned from the stack's inputs: ${plan.assumed}; \`pulumi up\` plans again from the servers)`);
  if (batchSizes.size)
    lines.push(
      "  (a batch: members down together, at most rollout.maxUnavailable, leaving every Raft group its quorum and " +
        "room for their clients; the meta leader last, alone; `pulumi up` plans each batch again from the servers)",
    );
  plan.steps.forEach((s, i) => {
    if (s.batch !== undefined && plan.steps[i - 1]?.batch !== s.batch) {
      const members = batchSizes.get(s.batch)!;
      lines.push(
        `      batch ${s.batch} of ${batchSizes.size}: ${members.join(", ")}${members.length > 1 ? " (down together)" : ""}`,
      );
    }
    const change = s.from || s.to ? ` ${s.from ?? "?"} → ${s.to ?? "?"}`.replace(/^ \? → /, " ") : "";
    lines.push(
      `  ${String(i + 1).padStart(2)}. ${s.kind.padEnd(15)} ${(s.server ?? "").padEnd(14)}${change}  (${s.reason})`,
    );
  });
  return lines.join("\n");
}
