/**
 * The stack's `aws:*` settings, forwarded into the platform's explicit provider: an explicit `aws.Provider` reads
 * none of them by itself (pulumi/pulumi-aws#1307), so without this a stack's `aws:assumeRoles`, account guard or
 * default tags would silently not apply. The same role chain, endpoints and default tags go to the engine's driver
 * (engine/hosts/aws), so the rollout acts as the same identity. Every shape is checked before anything is created,
 * each problem naming its key and the fix. Verified with Pulumi mocks only.
 */
import type * as aws from "@pulumi/aws";
import type { AwsAssumeRole, AwsEndpoints } from "../../../engine/hosts/aws/sdk";
import {
  decodeJson,
  Obj,
  Problems,
  readBool,
  readInt,
  readList,
  readObject,
  readString,
  readStringList,
  refuseUnknownFields,
} from "../../config/values";

/** What the stack's `aws:*` settings give the provider and the driver. */
export interface StackAws {
  /** Provider arguments besides region and profile. */
  readonly providerArgs: Omit<aws.ProviderArgs, "region" | "profile">;
  /** `aws:profile`, when set. */
  readonly profile?: string;
  /** The driver's side: the role chain, its endpoints and the tags its surge VM carries. */
  readonly assumeRoles?: ReadonlyArray<AwsAssumeRole>;
  readonly endpoints?: AwsEndpoints;
  readonly defaultTags?: Readonly<Record<string, string>>;
  /** The account guard, which the driver checks too (engine/hosts/aws/account-guard.ts). */
  readonly allowedAccountIds?: ReadonlyArray<string>;
  readonly forbiddenAccountIds?: ReadonlyArray<string>;
}

const ROLE_FIELDS = [
  "roleArn",
  "sessionName",
  "externalId",
  "duration",
  "policy",
  "policyArns",
  "sourceIdentity",
  "tags",
  "transitiveTagKeys",
];
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/;
const ACCOUNT_ID = /^\d{12}$/;
const TEXT = ["stsRegion", "customCaBundle", "httpProxy", "httpsProxy", "noProxy", "retryMode"] as const;
const FLAGS = [
  "skipCredentialsValidation",
  "skipMetadataApiCheck",
  "skipRegionValidation",
  "skipRequestingAccountId",
  "insecure",
  "useFipsEndpoint",
  "useDualstackEndpoint",
] as const;
const FILE_LISTS = ["sharedConfigFiles", "sharedCredentialsFiles"] as const;
/** Credentials the driver could not share (static keys, web identity): refused with the way that works for both. */
const REFUSED: Record<string, string> = {
  accessKey: "static keys in stack config are not forwarded; put them in a profile (aws:profile) or AWS_ACCESS_KEY_ID",
  secretKey: "static keys in stack config are not forwarded; put them in a profile (aws:profile) or the environment",
  token: "static keys in stack config are not forwarded; put them in a profile (aws:profile) or AWS_SESSION_TOKEN",
  assumeRoleWithWebIdentity:
    "the rollout's driver cannot assume a role with a web identity; use aws:assumeRoles, or pass your own provider",
};
/** Every `aws:*` key read here; any other one is reported as not forwarded. */
export const FORWARDED_KEYS = [
  "region",
  "profile",
  "assumeRoles",
  "assumeRole",
  "allowedAccountIds",
  "forbiddenAccountIds",
  "defaultTags",
  "ignoreTags",
  "endpoints",
  "maxRetries",
  ...TEXT,
  ...FLAGS,
  ...FILE_LISTS,
];

/** A Go duration as the provider takes it (`1h`, `15m`, `1h30m`, `900s`), in seconds; undefined when it is not one. */
export function durationSeconds(text: string): number | undefined {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!m || text === "") return undefined;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

function readTextMap(p: Problems, key: string, value: unknown, hint: string): Record<string, string> | undefined {
  const obj = readObject(p, key, value, hint);
  if (!obj) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) {
    const text = readString(p, `${key}.${k}`, v, hint);
    if (text !== undefined) out[k] = text;
  }
  return out;
}

function readRole(p: Problems, key: string, value: unknown): { provider: Obj; driver: AwsAssumeRole } | undefined {
  const hint = `write { roleArn: arn:aws:iam::<account>:role/<name>, sessionName?, externalId?, duration? }`;
  const obj = readObject(p, key, value, hint);
  if (!obj) return undefined;
  refuseUnknownFields(p, key, obj, ROLE_FIELDS);
  const roleArn = readString(p, `${key}.roleArn`, obj.roleArn, hint);
  if (obj.roleArn === undefined) p.add(`${key}.roleArn`, `missing; ${hint}`);
  else if (roleArn && !ROLE_ARN.test(roleArn))
    p.add(`${key}.roleArn`, `${p.show(key, roleArn)} is not a role ARN; write arn:aws:iam::123456789012:role/<name>`);
  const text = (field: string) => readString(p, `${key}.${field}`, obj[field], `write ${field} as text`);
  const duration = text("duration");
  const seconds = duration === undefined ? undefined : durationSeconds(duration);
  if (duration !== undefined && (seconds === undefined || seconds < 900 || seconds > 43200))
    p.add(`${key}.duration`, `${p.show(key, duration)} is not a duration of 15m to 12h; write one such as 1h or 30m`);
  const policyArns = readStringList(p, `${key}.policyArns`, obj.policyArns, "list policy ARNs");
  const tags = readTextMap(p, `${key}.tags`, obj.tags, "write { key: value } session tags");
  const transitiveTagKeys = readStringList(p, `${key}.transitiveTagKeys`, obj.transitiveTagKeys, "list tag keys");
  const [sessionName, externalId, policy, sourceIdentity] = [
    "sessionName",
    "externalId",
    "policy",
    "sourceIdentity",
  ].map(text);
  if (!roleArn) return undefined;
  const driver: AwsAssumeRole = {
    roleArn,
    ...(sessionName ? { sessionName } : {}),
    ...(externalId ? { externalId } : {}),
    ...(seconds ? { durationSeconds: seconds } : {}),
    ...(policy ? { policy } : {}),
    ...(policyArns ? { policyArns } : {}),
    ...(sourceIdentity ? { sourceIdentity } : {}),
    ...(tags ? { tags } : {}),
    ...(transitiveTagKeys ? { transitiveTagKeys } : {}),
  };
  const { durationSeconds: _s, ...rest } = driver;
  return { provider: { ...rest, ...(duration ? { duration } : {}) }, driver };
}

function readAccounts(p: Problems, key: string, value: unknown): string[] | undefined {
  const ids = readStringList(p, key, value, "list 12-digit account ids");
  ids?.forEach((id, i) => {
    if (!ACCOUNT_ID.test(id)) p.add(`${key}[${i}]`, `${p.show(key, id)} is not an account id; write 12 digits`);
  });
  return ids;
}

/**
 * Reads `aws:*` through `get` (Pulumi's `new pulumi.Config("aws").get`), checked against the platform's region.
 * Throws one error listing every problem (`aws:assumeRoles[0].roleArn: missing; write …`).
 */
export function readStackAws(get: (key: string) => string | undefined, region: string): StackAws {
  const p = new Problems();
  const raw = (key: string): unknown => decodeJson(get(key));
  const key = (k: string) => `aws:${k}`;
  const args: Record<string, unknown> = {};

  for (const [k, fix] of Object.entries(REFUSED)) if (get(k) !== undefined) p.add(key(k), `is set, but ${fix}`);
  const stackRegion = readString(p, key("region"), raw("region"), "write a region such as eu-west-1");
  if (stackRegion && stackRegion !== region)
    p.add(
      key("region"),
      `${p.show("region", stackRegion)} differs from nats-cluster:aws.region ${p.show("region", region)}: every ` +
        `resource and the rollout use nats-cluster:aws.region; set both to the same region, or remove aws:region`,
    );
  const profile = readString(p, key("profile"), raw("profile"), "write a named profile of ~/.aws/config");

  let roles: Array<{ provider: Obj; driver: AwsAssumeRole }> = [];
  if (raw("assumeRoles") !== undefined && raw("assumeRole") !== undefined)
    p.add(key("assumeRole"), "is set with aws:assumeRoles; keep one (aws:assumeRoles, a list, is the current one)");
  else if (raw("assumeRoles") !== undefined) {
    const list = readList(p, key("assumeRoles"), raw("assumeRoles"), "list roles: [{ roleArn: … }]") ?? [];
    roles = list.flatMap((r, i) => readRole(p, `${key("assumeRoles")}[${i}]`, r) ?? []);
  } else if (raw("assumeRole") !== undefined) {
    roles = [readRole(p, key("assumeRole"), raw("assumeRole"))].flatMap((r) => r ?? []);
  }
  if (roles.length) args.assumeRoles = roles.map((r) => r.provider);

  const allowed = readAccounts(p, key("allowedAccountIds"), raw("allowedAccountIds"));
  const forbidden = readAccounts(p, key("forbiddenAccountIds"), raw("forbiddenAccountIds"));
  if (allowed && forbidden)
    p.add(key("forbiddenAccountIds"), "is set with aws:allowedAccountIds; the provider takes one of them, keep one");
  if (allowed) args.allowedAccountIds = allowed;
  if (forbidden) args.forbiddenAccountIds = forbidden;

  let defaultTags: Record<string, string> | undefined;
  const tagsHint = "write { tags: { key: value } }";
  const tagsObj = readObject(p, key("defaultTags"), raw("defaultTags"), tagsHint);
  if (tagsObj) {
    refuseUnknownFields(p, key("defaultTags"), tagsObj, ["tags"]);
    defaultTags = readTextMap(p, `${key("defaultTags")}.tags`, tagsObj.tags, tagsHint) ?? {};
    args.defaultTags = { tags: defaultTags };
  }
  const ignore = readObject(p, key("ignoreTags"), raw("ignoreTags"), "write { keys?: [...], keyPrefixes?: [...] }");
  if (ignore) {
    refuseUnknownFields(p, key("ignoreTags"), ignore, ["keys", "keyPrefixes"]);
    for (const f of ["keys", "keyPrefixes"]) readStringList(p, `${key("ignoreTags")}.${f}`, ignore[f], "list tag keys");
    args.ignoreTags = ignore;
  }

  // A list of { service: url } objects, as the provider takes it; ec2, ssm and sts also serve the driver.
  let endpoints: Record<string, string> | undefined;
  const endpointsHint = "write [{ ec2: https://…, ssm: https://… }]";
  const endpointList = readList(p, key("endpoints"), raw("endpoints"), endpointsHint);
  if (endpointList) {
    const maps = endpointList.map((e, i) => readTextMap(p, `${key("endpoints")}[${i}]`, e, endpointsHint) ?? {});
    endpoints = Object.assign({}, ...maps);
    args.endpoints = maps;
  }

  for (const f of TEXT) {
    const v = readString(p, key(f), raw(f), `write ${f} as text`);
    if (v !== undefined) args[f] = v;
  }
  for (const f of FLAGS) {
    const v = readBool(p, key(f), raw(f));
    if (v !== undefined) args[f] = v;
  }
  for (const f of FILE_LISTS) {
    const v = readStringList(p, key(f), raw(f), "list file paths");
    if (v !== undefined) args[f] = v;
  }
  const maxRetries = readInt(p, key("maxRetries"), raw("maxRetries"), "write a whole number such as 25");
  if (maxRetries !== undefined) args.maxRetries = maxRetries;

  if (p.list.length > 0)
    throw new Error(
      `the stack's aws:* settings, forwarded to the aws platform's provider, have problems:\n` +
        p.list.map((x) => `  ${x.field}: ${x.message}`).join("\n"),
    );
  const driverEndpoints = endpoints
    ? Object.fromEntries(Object.entries(endpoints).filter(([service]) => ["ec2", "ssm", "sts"].includes(service)))
    : {};
  return {
    providerArgs: args as StackAws["providerArgs"],
    ...(profile ? { profile } : {}),
    ...(roles.length ? { assumeRoles: roles.map((r) => r.driver) } : {}),
    ...(Object.keys(driverEndpoints).length ? { endpoints: driverEndpoints } : {}),
    ...(defaultTags && Object.keys(defaultTags).length ? { defaultTags } : {}),
    ...(allowed?.length ? { allowedAccountIds: allowed } : {}),
    ...(forbidden?.length ? { forbiddenAccountIds: forbidden } : {}),
  };
}
