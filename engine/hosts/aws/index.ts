/**
 * The aws platform: members are EC2 instances Pulumi creates (components/platforms/aws), reached through SSM Run
 * Command; the surge server is a VM the driver launches from a launch template for the length of a rollout.
 * Settings are what the Pulumi layer records: region (and profile), the cluster name, member → instance id, the
 * surge launch template and subnet, the stop timeout and the members' data volumes. Verified with fakes at the SDK
 * boundary, and on lab VMs (systemd, cloud-init, a loop device for EBS) through a fake SSM that runs the scripts
 * there (test/aws/lab-*.test.ts); never against a real AWS account.
 */
import { ExporterRelease, exporterProblems } from "../../exporter";
import { VM_LISTEN_HOST } from "../../defaults";
import { Problem } from "../../problem";
import { ReleasePins, releaseSettingsProblems } from "../../release";
import { assertSettings, HostDriver, HostDriverContext, HostPlatform } from "../driver";
import type { AwsAssumeRole, AwsEndpoints } from "./sdk";
import { SsmHostDriver } from "./ssm-driver";

export { SsmHostDriver, type SsmHostDriverOptions, SsmCommandError } from "./ssm-driver";

/** Settings of the aws platform, as recorded in the RollingUpgrade's inputs. */
export interface AwsSettings {
  /** AWS region of the instances and the config parameters. */
  readonly region: string;
  /** Named profile for the SDK's credentials, when the stack sets `aws:profile`. */
  readonly profile?: string;
  /** Roles the driver assumes in turn before any SSM or EC2 call: the stack provider's `assumeRoles`. */
  readonly assumeRoles?: ReadonlyArray<AwsAssumeRole>;
  /** Custom `ec2`, `ssm` and `sts` endpoints: the stack provider's `endpoints`. */
  readonly endpoints?: AwsEndpoints;
  /** Tags the surge VM carries besides the driver's own: the stack provider's `defaultTags`. */
  readonly defaultTags?: Readonly<Record<string, string>>;
  /** The stack provider's `allowedAccountIds`: the driver acts in no other account (account-guard.ts). */
  readonly allowedAccountIds?: ReadonlyArray<string>;
  /** The stack provider's `forbiddenAccountIds`: the driver acts in none of these. */
  readonly forbiddenAccountIds?: ReadonlyArray<string>;
  /** `cluster.name`: tags and the default config parameter prefix. */
  readonly clusterName: string;
  /** Member name → EC2 instance id (the surge VM is found by its tags). */
  readonly instanceIds: Readonly<Record<string, string>>;
  /** Launch template and subnet of the surge VM. */
  readonly surge?: { readonly launchTemplateId: string; readonly subnetId: string };
  /** Release tarball architecture of the instances. Default amd64. */
  readonly arch?: "amd64" | "arm64";
  /** Release download base URL (a mirror reachable from the VPC). Default the official GitHub releases. */
  readonly releaseBaseUrl?: string;
  /** Pinned SHA-256s per version and arch (engine/release.ts): required for a plain-http mirror. */
  readonly releaseSha256?: ReleasePins;
  /** systemd `TimeoutStopSec` of nats-server, rewritten as a drop-in before every lame duck (the policy's). */
  readonly stopTimeoutSeconds?: number;
  /** Member name → its data (JetStream) volume id, for members that have one. */
  readonly volumeIds?: Readonly<Record<string, string>>;
  /**
   * Member name → the size in GiB of its data volume as the stack has it (`aws.volumeSizeGb`): written into each
   * member's config header, so raising it plans a restart of each member through the gates after its volume grew.
   */
  readonly volumeSizesGiB?: Readonly<Record<string, number>>;
  /** ARN of the cluster's customer-managed KMS key: every SecureString the driver writes is encrypted with it. */
  readonly kmsKeyId?: string;
  /** The metrics exporter the user data installs (engine/exporter.ts): a retried first boot installs it too. */
  readonly exporter?: ExporterRelease;
}

export const settingsProblems: HostPlatform["settingsProblems"] = (settings) => {
  const s = (settings ?? {}) as Partial<AwsSettings>;
  const problems: Problem[] = [];
  if (typeof s.region !== "string" || s.region.length === 0)
    problems.push({ field: "region", message: "missing; set the AWS region" });
  if (typeof s.clusterName !== "string" || s.clusterName.length === 0)
    problems.push({ field: "clusterName", message: "missing" });
  if (!s.instanceIds || typeof s.instanceIds !== "object") {
    problems.push({ field: "instanceIds", message: "missing; map every member name to its EC2 instance id" });
  }
  if (s.arch !== undefined && s.arch !== "amd64" && s.arch !== "arm64")
    problems.push({ field: "arch", message: `${JSON.stringify(s.arch)} is not amd64 or arm64` });
  if (
    s.stopTimeoutSeconds !== undefined &&
    (typeof s.stopTimeoutSeconds !== "number" || !Number.isInteger(s.stopTimeoutSeconds) || s.stopTimeoutSeconds < 1)
  )
    problems.push({ field: "stopTimeoutSeconds", message: "must be a whole number of seconds, 1 or more" });
  if (s.volumeIds !== undefined && (typeof s.volumeIds !== "object" || s.volumeIds === null))
    problems.push({ field: "volumeIds", message: "must map member names to EBS volume ids" });
  if (
    s.volumeSizesGiB !== undefined &&
    (typeof s.volumeSizesGiB !== "object" ||
      s.volumeSizesGiB === null ||
      Object.values(s.volumeSizesGiB).some((v) => typeof v !== "number" || !Number.isInteger(v) || v < 1))
  )
    problems.push({ field: "volumeSizesGiB", message: "must map member names to whole sizes in GiB, 1 or more" });
  if (s.kmsKeyId !== undefined && (typeof s.kmsKeyId !== "string" || s.kmsKeyId.length === 0))
    problems.push({ field: "kmsKeyId", message: "must be a KMS key ARN, id or alias" });
  problems.push(...identityProblems(s));
  problems.push(...releaseSettingsProblems(s.releaseBaseUrl, s.releaseSha256));
  problems.push(...exporterProblems(s.exporter, "exporter", s.arch === "arm64" ? "arm64" : "amd64"));
  return problems;
};

const isText = (v: unknown): v is string => typeof v === "string" && v.length > 0;
const isTextMap = (v: unknown): boolean =>
  typeof v === "object" && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === "string");

/** The identity settings (roles, endpoints, default tags) as the Pulumi layer records them. */
function identityProblems(s: Partial<AwsSettings>): Problem[] {
  const problems: Problem[] = [];
  if (s.assumeRoles !== undefined) {
    if (!Array.isArray(s.assumeRoles)) problems.push({ field: "assumeRoles", message: "must be a list of roles" });
    else
      s.assumeRoles.forEach((r: Partial<AwsAssumeRole>, i) => {
        if (!isText(r?.roleArn)) problems.push({ field: `assumeRoles[${i}].roleArn`, message: "missing" });
        const d = r?.durationSeconds;
        if (d !== undefined && (!Number.isInteger(d) || d < 900 || d > 43200))
          problems.push({ field: `assumeRoles[${i}].durationSeconds`, message: "must be 900 to 43200 seconds" });
      });
  }
  if (s.endpoints !== undefined && !isTextMap(s.endpoints))
    problems.push({ field: "endpoints", message: "must map ec2, ssm or sts to a URL" });
  if (s.defaultTags !== undefined && !isTextMap(s.defaultTags))
    problems.push({ field: "defaultTags", message: "must map tag keys to text values" });
  for (const field of ["allowedAccountIds", "forbiddenAccountIds"] as const) {
    const ids = s[field];
    if (ids !== undefined && (!Array.isArray(ids) || ids.some((id) => typeof id !== "string" || !/^\d{12}$/.test(id))))
      problems.push({ field, message: "must be a list of 12-digit AWS account ids" });
  }
  if (s.allowedAccountIds?.length && s.forbiddenAccountIds?.length)
    problems.push({ field: "forbiddenAccountIds", message: "is set with allowedAccountIds; keep one" });
  return problems;
}

export function createHostDriver(
  settings: Readonly<Record<string, unknown>>,
  context: HostDriverContext = {},
): HostDriver {
  assertSettings("aws", settingsProblems(settings));
  const s = settings as unknown as AwsSettings;
  return new SsmHostDriver({
    region: s.region,
    profile: s.profile,
    assumeRoles: s.assumeRoles,
    endpoints: s.endpoints,
    defaultTags: s.defaultTags,
    ...(s.allowedAccountIds ? { allowedAccountIds: s.allowedAccountIds } : {}),
    ...(s.forbiddenAccountIds ? { forbiddenAccountIds: s.forbiddenAccountIds } : {}),
    clusterName: s.clusterName,
    instanceIdFor: (server) => s.instanceIds[server.name],
    surge: s.surge,
    arch: s.arch,
    releaseBaseUrl: s.releaseBaseUrl,
    releaseSha256: s.releaseSha256,
    stopTimeoutSeconds: s.stopTimeoutSeconds,
    kmsKeyId: s.kmsKeyId,
    ...(s.exporter ? { exporter: s.exporter } : {}),
    // Members have a data volume exactly when the Pulumi layer recorded one for them.
    dataVolumeFor: (server) =>
      s.volumeIds?.[server.name]
        ? {
            volumeId: s.volumeIds[server.name],
            ...(s.volumeSizesGiB?.[server.name] !== undefined ? { sizeGiB: s.volumeSizesGiB[server.name] } : {}),
          }
        : undefined,
    log: context.log,
  });
}

export const listenHost = VM_LISTEN_HOST;
