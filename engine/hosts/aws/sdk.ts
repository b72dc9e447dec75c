/**
 * The AWS SDK boundary of the SSM host driver: the one client method it calls, lazy loaders for the SDK modules,
 * and error helpers. `import type` only: nothing here loads the SDK at import time, so the local platform (and any
 * code that merely imports the engine) never needs `@aws-sdk/*` on disk.
 *
 * Never run against a real AWS account: tests pass fake clients that record the real SDK command
 * objects the driver builds.
 */
import type * as Ec2Sdk from "@aws-sdk/client-ec2";
import type * as SsmSdk from "@aws-sdk/client-ssm";
import { describeError } from "../../util/async";

/**
 * What the driver needs of an AWS SDK v3 client: `send(command)`. A real `SSMClient` or `EC2Client` satisfies it;
 * tests pass fakes that inspect `command.constructor.name` and `command.input`.
 */
export interface AwsSdkClient {
  send(command: object): Promise<unknown>;
}

export type SsmModule = typeof SsmSdk;
export type Ec2Module = typeof Ec2Sdk;

/** Loads `@aws-sdk/client-ssm` on first use (the module system caches it). */
export function loadSsm(): SsmModule {
  return require("@aws-sdk/client-ssm") as SsmModule;
}

/** Loads `@aws-sdk/client-ec2` on first use. */
export function loadEc2(): Ec2Module {
  return require("@aws-sdk/client-ec2") as Ec2Module;
}

/** The AWS error code of an SDK error (`InvocationDoesNotExist`, `ParameterNotFound`, …), if it is one. */
export function awsErrorName(error: unknown): string | undefined {
  if (error && typeof error === "object" && "name" in error && typeof error.name === "string") return error.name;
  return undefined;
}

/** One role of the chain the driver assumes (the stack's `aws:assumeRoles`, in order), as STS AssumeRole takes it. */
export interface AwsAssumeRole {
  readonly roleArn: string;
  /** `RoleSessionName`; default `nats-rollout`. */
  readonly sessionName?: string;
  readonly externalId?: string;
  /** `DurationSeconds`; default STS's (one hour). */
  readonly durationSeconds?: number;
  readonly policy?: string;
  readonly policyArns?: ReadonlyArray<string>;
  readonly sourceIdentity?: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly transitiveTagKeys?: ReadonlyArray<string>;
}

/** Custom endpoints of the services the driver calls (the stack's `aws:endpoints`), e.g. VPC endpoints. */
export interface AwsEndpoints {
  readonly ec2?: string;
  readonly ssm?: string;
  readonly sts?: string;
}

/** Who the driver acts as: the same region, profile, role chain and endpoints as the stack's provider. */
export interface AwsIdentity {
  readonly region: string;
  readonly profile?: string;
  readonly assumeRoles?: ReadonlyArray<AwsAssumeRole>;
  readonly endpoints?: AwsEndpoints;
}

/** Temporary or long-term credentials, as SDK v3 clients take them. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/** What a client of the driver is built with. */
export interface AwsClientConfig {
  readonly region: string;
  readonly profile?: string;
  readonly endpoint?: string;
  readonly credentials?: () => Promise<AwsCredentials>;
}

export type AwsService = "ssm" | "ec2" | "sts";

/** Builds one SDK client; the default builds the real ones, tests pass fakes. */
export type AwsClientFactory = (service: AwsService, config: AwsClientConfig) => AwsSdkClient;

type StsModule = typeof import("@aws-sdk/client-sts");
type CredentialsNodeModule = typeof import("@aws-sdk/credential-provider-node");

/** Loads the STS client (`@aws-sdk/client-sts`, the same release as the SSM and EC2 clients) when a role is assumed. */
export function loadSts(): StsModule {
  return require("@aws-sdk/client-sts") as StsModule;
}

export const realClients: AwsClientFactory = (service, config) => {
  if (service === "ssm") return new (loadSsm().SSMClient)(config);
  if (service === "ec2") return new (loadEc2().EC2Client)(config);
  // The first role is assumed with the profile's credentials (or the default chain's), named explicitly.
  const base = config.credentials ?? sourceCredentials(config.profile);
  return new (loadSts().STSClient)({ ...config, credentials: base });
};

/** The SDK's default credential chain (environment, profile, SSO, container, instance metadata). */
function sourceCredentials(profile: string | undefined): () => Promise<AwsCredentials> {
  const chain = (require("@aws-sdk/credential-provider-node") as CredentialsNodeModule).defaultProvider(
    profile ? { profile } : {},
  );
  return () => chain();
}

/** Refresh assumed credentials this long before they expire. */
const REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * Credentials of the last role of `identity.assumeRoles`, each assumed (STS AssumeRole) with the credentials of the
 * one before it, the first with the profile's (or the default chain's); cached until five minutes before they expire.
 */
export function assumedRoleCredentials(
  identity: AwsIdentity,
  clients: AwsClientFactory,
  now: () => number = Date.now,
): () => Promise<AwsCredentials> {
  const roles = identity.assumeRoles ?? [];
  let cached: AwsCredentials | undefined;
  let pending: Promise<AwsCredentials> | undefined;
  const assumeAll = async (): Promise<AwsCredentials> => {
    let credentials: AwsCredentials | undefined;
    for (const role of roles) {
      const source = credentials;
      const sts = clients("sts", {
        region: identity.region,
        ...(identity.profile ? { profile: identity.profile } : {}),
        ...(identity.endpoints?.sts ? { endpoint: identity.endpoints.sts } : {}),
        ...(source ? { credentials: async () => source } : {}),
      });
      credentials = await assumeRole(sts, role);
    }
    if (!credentials) throw new Error("no role to assume");
    return credentials;
  };
  return async () => {
    if (cached && (!cached.expiration || cached.expiration.getTime() - now() > REFRESH_MARGIN_MS)) return cached;
    pending ??= assumeAll().finally(() => (pending = undefined));
    cached = await pending;
    return cached;
  };
}

async function assumeRole(sts: AwsSdkClient, role: AwsAssumeRole): Promise<AwsCredentials> {
  const sdk = loadSts();
  let out: {
    Credentials?: { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string; Expiration?: Date };
  };
  try {
    out = (await sts.send(
      new sdk.AssumeRoleCommand({
        RoleArn: role.roleArn,
        RoleSessionName: role.sessionName ?? "nats-rollout",
        ...(role.externalId ? { ExternalId: role.externalId } : {}),
        ...(role.durationSeconds ? { DurationSeconds: role.durationSeconds } : {}),
        ...(role.policy ? { Policy: role.policy } : {}),
        ...(role.policyArns?.length ? { PolicyArns: role.policyArns.map((arn) => ({ arn })) } : {}),
        ...(role.sourceIdentity ? { SourceIdentity: role.sourceIdentity } : {}),
        ...(role.tags ? { Tags: Object.entries(role.tags).map(([Key, Value]) => ({ Key, Value })) } : {}),
        ...(role.transitiveTagKeys?.length ? { TransitiveTagKeys: [...role.transitiveTagKeys] } : {}),
      }),
    )) as typeof out;
  } catch (error) {
    throw new Error(`STS AssumeRole of ${role.roleArn} (the stack's aws:assumeRoles) failed: ${describeError(error)}`, {
      cause: error,
    });
  }
  const c = out.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey)
    throw new Error(`STS AssumeRole of ${role.roleArn} returned no credentials`);
  return {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
    ...(c.Expiration ? { expiration: c.Expiration } : {}),
  };
}

/** What a client of the driver (SSM, EC2, STS) is built with: region, profile, endpoint and any assumed role. */
export function clientConfigFor(
  service: AwsService,
  identity: AwsIdentity,
  credentials: (() => Promise<AwsCredentials>) | undefined,
): AwsClientConfig {
  const endpoint = identity.endpoints?.[service];
  return {
    region: identity.region,
    // With a role, the profile is only the source of the first AssumeRole: the client takes the role's credentials.
    ...(identity.profile && !credentials ? { profile: identity.profile } : {}),
    ...(endpoint ? { endpoint } : {}),
    ...(credentials ? { credentials } : {}),
  };
}

export { sleep } from "../../util/async";
