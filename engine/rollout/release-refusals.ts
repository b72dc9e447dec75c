/**
 * The versions a plan downloads onto hosts, and the refusal when the platform must not download one (a plain-http
 * mirror with no pinned SHA-256 for it: engine/release.ts). Asked at planning, so `pulumi preview` says it and
 * `pulumi up` touches nothing; the stage step refuses again on its own, in case a plan is run without this check.
 */
import { HostDriver } from "../hosts/driver";
import { ClusterSpec } from "../spec";
import { ObservedCluster } from "./observe";
import { RolloutPlan } from "./plan";

/** Versions the plan stages: the target for every member started or restarted, the surge server's when it joins. */
export function versionsStaged(plan: RolloutPlan, spec: ClusterSpec, observed: ObservedCluster): string[] {
  const versions = new Set<string>();
  for (const step of plan.steps) {
    if (["start-cluster", "recover-member", "add-member", "restart-member"].includes(step.kind))
      versions.add(spec.version);
    // A surge server already running (an interrupted rollout) is adopted, not installed.
    if (step.kind === "surge-up" && !observed.surge.running && plan.surgeVersion) versions.add(plan.surgeVersion);
  }
  return [...versions];
}

/** The plan with a refusal for each version it stages that the driver says must not be downloaded. */
export function withReleaseRefusals(
  plan: RolloutPlan,
  spec: ClusterSpec,
  observed: ObservedCluster,
  driver: HostDriver,
): RolloutPlan {
  if (!driver.releaseProblem) return plan;
  const refusals = versionsStaged(plan, spec, observed).flatMap((version) => {
    const problem = driver.releaseProblem!(version);
    return problem ? [`release: ${problem}`] : [];
  });
  return refusals.length ? { ...plan, refusals: [...plan.refusals, ...refusals] } : plan;
}
