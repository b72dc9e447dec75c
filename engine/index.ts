/**
 * The rollout engine's public API. Plain TypeScript with no Pulumi import: the Pulumi components
 * (components/) and the dynamic provider require() the compiled form of this module.
 */
export * from "./spec";
export { validateClusterSpec, clusterSpecWarnings, assertValidClusterSpec, SpecError, SpecProblem } from "./validate";
export { compareVersions, downgradeProblem } from "./versions";
export { renderServerConfig } from "./config/render";
export { serverConfigFor } from "./config/for-server";
export { configTextFor } from "./config/text";
export { HostDriver, HostLayout } from "./hosts/driver";
export { LocalProcessDriver, LocalDriverOptions } from "./hosts/local";
export { BinaryStore } from "./binaries";
export { MonitorClient } from "./monitor/client";
export * from "./monitor/types";
export { RolloutEvent, EventSink, formatEvent, StepKind } from "./rollout/events";
export { observeCluster, ObservedCluster, ObservedServer } from "./rollout/observe";
export { planRollout, formatPlan, RolloutPlan, PlannedStep } from "./rollout/plan";
export { RolloutReport, MemberReport, HaltReport, formatReport } from "./rollout/report";
export {
  runRollout,
  previewRollout,
  RolloutOptions,
  RolloutRefused,
  RolloutHalted,
  resolvePolicy,
} from "./rollout/execute";
export { bootstrapCluster, stopCluster } from "./rollout/bootstrap";
