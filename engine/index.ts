/**
 * The rollout engine's public API. Plain TypeScript with no Pulumi import: the Pulumi components (components/),
 * the command line (cli/) and the dynamic provider require() the compiled form of this module.
 */
export * from "./spec";
export * from "./defaults";
export { Problem, AddProblem } from "./problem";
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
  HostDriver,
  HostDriverContext,
  HostLayout,
  HostPlatform,
  LeaseOnHost,
  LeaseRequest,
  StoreUsage,
  installBinary,
} from "./hosts/driver";
export { stopGracefully, GracefulStop } from "./hosts/graceful-stop";
export { loadHostPlatform, hostPlatformNames } from "./hosts/registry";
export { defaultBinaryCacheDir, expandHome } from "./hosts/local";
export { BinaryStore, VersionAvailability } from "./binaries";
export { ReleasePins, ReleaseSource, releaseSource, unpinnedDownloadProblem } from "./release";
export { MonitorClient } from "./monitor/client";
export { ServerMonitor, JszOptions, HealthzOptions } from "./monitor/monitor";
export { SystemAccountMonitor } from "./monitor/system-client";
export { createMonitor } from "./monitor/factory";
export { MonitorError } from "./monitor/errors";
export * from "./monitor/types";
export { RolloutEvent, EventSink, formatEvent, StepKind } from "./rollout/events";
export { observeCluster, ObservedCluster, ObservedServer } from "./rollout/observe";
export { planRollout, formatPlan, RolloutPlan, PlannedStep, estimateSeconds } from "./rollout/plan";
export { planDocument, PlanDocument, PlanDocumentStep, PLAN_SCHEMA } from "./rollout/plan-json";
export { eventRecord, EventRecord, EVENT_SCHEMA, openEventsFile, EventsFile } from "./rollout/events-json";
export { rolloutMetricsText } from "./rollout/metrics";
export { timelineSvg } from "./rollout/timeline";
export {
  outputFileProblem,
  REPORT_FILE_ENDINGS,
  ReportFiles,
  reportFileProblems,
  writeReportFiles,
} from "./rollout/report-files";
export { RolloutReport, MemberReport, HaltReport, HaltCode, formatReport } from "./rollout/report";
export { RolloutOutcome } from "./rollout/outcome";
export {
  runRollout,
  executeRollout,
  previewRollout,
  RolloutOptions,
  LeavingServers,
  RolloutRefused,
  RolloutHalted,
  RolloutInterrupted,
  resolvePolicy,
} from "./rollout/execute";
export {
  reconcile,
  previewReconcile,
  previewAssumed,
  ReconcileOutcome,
  ReconcilePreview,
  ServersSeen,
  serversSeen,
} from "./rollout/reconcile";
export { bootstrapCluster, stopCluster } from "./rollout/bootstrap";
export { withRolloutLease, LeaseOptions, LeaseOwner, HeldLease, LeaseRefusal, LeaseOutcome } from "./rollout/lease";
export { BreakLease, LeaseRecord, decideLease, leaseQuorum, refusalMessage } from "./rollout/lease-decision";
export { canonicalJson } from "./util/json";
export { withDeadline, describeError } from "./util/async";
export {
  issueCertificateAuthority,
  issueServerCertificate,
  PemPair,
  CertificateAuthorityRequest,
  ServerCertificateRequest,
  NOT_BEFORE_BACKDATE_MS,
} from "./tls/pki";
export {
  certificateFacts,
  parseCertificates,
  servedCertificate,
  expiresWithin,
  AUTO_INFO_WAIT_MS,
  CertificateFacts,
  ServedCertificateRequest,
} from "./tls/inspect";
export { renewalReason, RenewalPolicy, TLS_DEFAULTS } from "./tls/renewal";
export { standInTlsPem } from "./tls/stand-in";
export {
  canonicalIp,
  hostProblem,
  subjectAltNamesFor,
  clusterCertificateHosts,
  sansCover,
  LOOPBACK_HOSTS,
} from "./tls/names";
