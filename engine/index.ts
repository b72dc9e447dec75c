/**
 * The rollout engine's public API. Plain TypeScript with no Pulumi import: the Pulumi components (components/),
 * the command line (cli/) and the dynamic provider require() the compiled form of this module.
 */
export * from "./spec";
export * from "./defaults";
export { type Problem, type AddProblem } from "./problem";
export {
  validateClusterSpec,
  validatePolicy,
  clusterSpecWarnings,
  assertValidClusterSpec,
  SpecError,
  POLICY_FIELDS,
} from "./validate";
export { compareVersions, downgradeProblem, versionProblem, isVersion } from "./versions";
export { renderServerConfig } from "./config/render";
export { serverConfigFor } from "./config/for-server";
export { configTextFor } from "./config/text";
export {
  type HostDriver,
  type HostDriverContext,
  type HostLayout,
  type HostPlatform,
  type LeaseOnHost,
  type LeaseRequest,
  type StoreUsage,
  installBinary,
} from "./hosts/driver";
export { stopGracefully, type GracefulStop } from "./hosts/graceful-stop";
export { loadHostPlatform, hostPlatformNames } from "./hosts/registry";
export { defaultBinaryCacheDir, expandHome } from "./hosts/local";
export { BinaryStore, type VersionAvailability } from "./binaries";
export { type ReleasePins, type ReleaseSource, releaseSource, unpinnedDownloadProblem } from "./release";
export { MonitorClient } from "./monitor/client";
export { type ServerMonitor, type JszOptions, type HealthzOptions } from "./monitor/monitor";
export { SystemAccountMonitor } from "./monitor/system-client";
export { createMonitor } from "./monitor/factory";
export { MonitorError } from "./monitor/errors";
export * from "./monitor/types";
export { type RolloutEvent, type EventSink, formatEvent, type StepKind } from "./rollout/events";
export { observeCluster, type ObservedCluster, type ObservedServer } from "./rollout/observe";
export { planRollout, formatPlan, type RolloutPlan, type PlannedStep, estimateSeconds } from "./rollout/plan";
export { planDocument, type PlanDocument, type PlanDocumentStep, PLAN_SCHEMA } from "./rollout/plan-json";
export { eventRecord, type EventRecord, EVENT_SCHEMA, openEventsFile, type EventsFile } from "./rollout/events-json";
export { rolloutMetricsText } from "./rollout/metrics";
export { timelineSvg } from "./rollout/timeline";
export {
  outputFileProblem,
  REPORT_FILE_ENDINGS,
  type ReportFiles,
  reportFileProblems,
  writeReportFiles,
} from "./rollout/report-files";
export { type RolloutReport, type MemberReport, type HaltReport, type HaltCode, formatReport } from "./rollout/report";
export { type RolloutOutcome } from "./rollout/outcome";
export {
  runRollout,
  executeRollout,
  previewRollout,
  type RolloutOptions,
  type LeavingServers,
  RolloutRefused,
  RolloutHalted,
  RolloutInterrupted,
  resolvePolicy,
} from "./rollout/execute";
export {
  reconcile,
  previewReconcile,
  previewAssumed,
  type ReconcileOutcome,
  type ReconcilePreview,
  type ServersSeen,
  serversSeen,
} from "./rollout/reconcile";
export { bootstrapCluster, stopCluster } from "./rollout/bootstrap";
export {
  withRolloutLease,
  type LeaseOptions,
  type LeaseOwner,
  type HeldLease,
  type LeaseRefusal,
  type LeaseOutcome,
} from "./rollout/lease";
export { type BreakLease, type LeaseRecord, decideLease, leaseQuorum, refusalMessage } from "./rollout/lease-decision";
export { canonicalJson } from "./util/json";
export { withDeadline, describeError } from "./util/async";
export {
  issueCertificateAuthority,
  issueServerCertificate,
  type PemPair,
  type CertificateAuthorityRequest,
  type ServerCertificateRequest,
  NOT_BEFORE_BACKDATE_MS,
} from "./tls/pki";
export {
  certificateFacts,
  parseCertificates,
  servedCertificate,
  expiresWithin,
  AUTO_INFO_WAIT_MS,
  type CertificateFacts,
  type ServedCertificateRequest,
} from "./tls/inspect";
export { renewalReason, type RenewalPolicy, TLS_DEFAULTS } from "./tls/renewal";
export { standInTlsPem } from "./tls/stand-in";
export {
  canonicalIp,
  hostProblem,
  subjectAltNamesFor,
  clusterCertificateHosts,
  sansCover,
  LOOPBACK_HOSTS,
} from "./tls/names";
export { type OtherCluster, type SuperclusterPeers } from "./rollout/other-clusters";
export { type PreviewFallback } from "./rollout/reconcile";
export { type SpecContext } from "./validate";
export {
  type SuperclusterCluster,
  type SuperclusterOptions,
  type SuperclusterPlan,
  type ClusterInOrder,
  type SuperclusterPreview,
  type SuperclusterPreviewFallback,
  type SuperclusterOutcome,
} from "./supercluster/types";
export { validateSupercluster, assertValidSupercluster } from "./supercluster/validate";
export { hubCredentialsChangeProblems } from "./supercluster/credentials-change";
export { rolloutOrder, type OrderedCluster, type MetaLeaderSeen } from "./supercluster/order";
export { previewSupercluster } from "./supercluster/preview";
export { reconcileSupercluster } from "./supercluster/reconcile";
export { formatSuperclusterPlan, formatSuperclusterReport } from "./supercluster/format";
export {
  superclusterPlanDocument,
  type SuperclusterPlanDocument,
  SUPERCLUSTER_PLAN_SCHEMA,
} from "./supercluster/plan-json";
