/**
 * The one schema of stack config (`nats-cluster:*` keys in `stacks/Pulumi.<stack>.yaml`), validated in one place.
 *
 * `parseStackConfig(raw)` is pure (no Pulumi): it turns the raw key → value map into a typed config and throws a
 * {@link StackConfigError} whose every line names the config key and the fix. Field checks are the engine's own
 * (`validateClusterSpec`), with its field paths mapped back to config keys, so the program refuses exactly what the
 * RollingUpgrade resource's `check` would refuse, but before anything is registered.
 * `readStackConfig()` reads the live Pulumi config and keeps the secret keys (`auth`, `systemAccount`) secret.
 */
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import {
  AuthSpec,
  ClusterSpec,
  DEFAULT_POLICY,
  JetStreamSpec,
  LameDuckSpec,
  RolloutPolicy,
  RouteMode,
  SurgeSpec,
  TlsSpec,
  validateClusterSpec,
} from "../engine";

/** The config namespace: every key is `nats-cluster:<key>` (the Pulumi project name). */
export const CONFIG_NAMESPACE = "nats-cluster";

/** Where the servers run: processes on this machine, or one EC2 instance per member. */
export type Platform = "local" | "aws";

/** Ports nats-server uses by default; VMs use them unless a member says otherwise. */
export const DEFAULT_PORTS = { clientPort: 4222, clusterPort: 6222, monitorPort: 8222 } as const;

/** One member as configured. On aws the host is the instance's private IP, known only once it exists. */
export interface MemberConfig {
  /** `server_name`, also the JetStream peer id: unique, stable. */
  readonly name: string;
  /** Address the engine and the peers use (local: 127.0.0.1); undefined on aws until the instance exists. */
  readonly host?: string;
  /** Client port. */
  readonly clientPort: number;
  /** Cluster (route) port. */
  readonly clusterPort: number;
  /** Monitoring port. */
  readonly monitorPort: number;
}

/** Settings of the local platform (every member a process on this machine). */
export interface LocalPlatformConfig {
  /** Absolute directory that holds one directory per server (binary link, config, pid file, store, log). */
  readonly stateDir: string;
  /** Absolute directory of cached nats-server binaries (`<dir>/v<version>/nats-server`, filled by provision.sh). */
  readonly binaryCacheDir: string;
}

/** Settings of the aws platform, consumed by components/aws (EC2, security groups, SSM). */
export interface AwsPlatformConfig {
  /** AWS region, e.g. eu-west-1. */
  readonly region: string;
  /** VPC of the instances and security group. */
  readonly vpcId: string;
  /** Subnets the members are spread over (member i goes to subnet i mod n). */
  readonly subnetIds: ReadonlyArray<string>;
  /** EC2 instance type. Default t3.small. */
  readonly instanceType: string;
  /** A pinned AMI id; undefined means the AWS platform looks one up (and pins it). */
  readonly amiId?: string;
  /** CIDRs allowed to reach the client port. */
  readonly clientCidrs: ReadonlyArray<string>;
  /** The one CIDR allowed to reach the monitoring port. */
  readonly adminCidr: string;
  /** Size of each member's JetStream EBS volume in GiB. Default 20. */
  readonly volumeSizeGb: number;
  /** EC2 key pair for emergency SSH; optional (in-place steps use SSM). */
  readonly keyName?: string;
}

/** The stack config, parsed and validated; secrets in plain text (only parseStackConfig's callers see this). */
export interface ParsedStackConfig {
  /** `nats-cluster:platform`. */
  readonly platform: Platform;
  /** `nats-cluster:clusterName`, the `cluster.name` of every server. Default `nats-<stack>`. */
  readonly clusterName: string;
  /** `nats-cluster:version`, the nats-server version every member should run. */
  readonly version: string;
  /** `nats-cluster:members` / `nats-cluster:memberCount`. */
  readonly members: ReadonlyArray<MemberConfig>;
  /** `nats-cluster:surge`. */
  readonly surge: SurgeSpec;
  /** `nats-cluster:jetstream` (a boolean, or an object with limits). Default enabled. */
  readonly jetstream: JetStreamSpec;
  /** `nats-cluster:lameDuckDurationSeconds` (30) and `nats-cluster:lameDuckGracePeriodSeconds` (10). */
  readonly lameDuck: LameDuckSpec;
  /** `nats-cluster:routeMode` (explicit) and `nats-cluster:seeds` (default: the first member). */
  readonly routes: RouteMode;
  /** `nats-cluster:rollout`: RolloutPolicy fields to override. */
  readonly rollout: Partial<RolloutPolicy>;
  /** `nats-cluster:tls` (paths on the servers' hosts). */
  readonly tls?: TlsSpec;
  /** `nats-cluster:noAdvertise`. */
  readonly noAdvertise?: boolean;
  /** `nats-cluster:extraSettings`: restart-relevant settings rendered verbatim. */
  readonly extraSettings?: Readonly<Record<string, string | number | boolean>>;
  /** `nats-cluster:auth` merged with `nats-cluster:systemAccount` (both secret). */
  readonly auth?: AuthSpec;
  /** `nats-cluster:local`, with defaults resolved (present when platform is local). */
  readonly local?: LocalPlatformConfig;
  /** `nats-cluster:aws` (present when platform is aws). */
  readonly aws?: AwsPlatformConfig;
}

/** The stack config as the program uses it: the same, with the client auth kept a secret Output. */
export interface StackConfig extends Omit<ParsedStackConfig, "auth"> {
  /** Secret: never plain text in state or outputs. */
  readonly auth?: pulumi.Output<AuthSpec>;
}

/** One problem, by config key (without the namespace) and with the fix in the message. */
export interface ConfigProblem {
  /** The config key without the namespace, with the path inside its value, e.g. `members[1].clientPort`. */
  readonly key: string;
  /** What is wrong and how to fix it. */
  readonly message: string;
}

/** Bad stack config: the message lists every problem as `nats-cluster:<key>: <what is wrong; how to fix it>`. */
export class StackConfigError extends Error {
  constructor(
    readonly problems: ReadonlyArray<ConfigProblem>,
    stack?: string,
  ) {
    super(
      `invalid stack config${stack ? ` for stack "${stack}"` : ""} (${problems.length} problem${problems.length === 1 ? "" : "s"}; ` +
        `fix with \`pulumi config set ${CONFIG_NAMESPACE}:<key> <value>\`, \`--secret\` for auth, or edit stacks/Pulumi.<stack>.yaml):\n` +
        problems.map((p) => `  ${CONFIG_NAMESPACE}:${p.key}: ${p.message}`).join("\n"),
    );
    this.name = "StackConfigError";
  }
}

/** Where relative paths and defaults are resolved; tests pass their own. */
export interface ParseContext {
  /** The stack name, for the default cluster name and state directory. */
  readonly stack?: string;
  /** The project directory (where Pulumi.yaml is): relative paths are resolved against it. Default: cwd. */
  readonly projectDir?: string;
  /** Environment for defaults (NATS_SERVER_BIN_CACHE). Default: process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Every key this schema knows; any other `nats-cluster:` key is a typo and refused. */
export const CONFIG_KEYS = [
  "platform",
  "version",
  "clusterName",
  "members",
  "memberCount",
  "surge",
  "jetstream",
  "lameDuckDurationSeconds",
  "lameDuckGracePeriodSeconds",
  "routeMode",
  "seeds",
  "rollout",
  "auth",
  "systemAccount",
  "tls",
  "noAdvertise",
  "extraSettings",
  "local",
  "aws",
] as const;
export type ConfigKey = (typeof CONFIG_KEYS)[number];

/** The keys whose values are secrets: set them with `pulumi config set --secret`. */
export const SECRET_KEYS: ReadonlyArray<ConfigKey> = ["auth", "systemAccount"];

type Raw = Readonly<Record<string, unknown>>;
type Obj = Record<string, unknown>;

/** Collects problems; the readers return undefined for a bad value so parsing continues and reports everything. */
class Problems {
  readonly list: ConfigProblem[] = [];
  add(key: string, message: string): void {
    this.list.push({ key, message });
  }
}

/** Pulumi hands every config value over as a string; structured values are JSON. Tests may pass values directly. */
function decode(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const t = value.trim();
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      return JSON.parse(t);
    } catch {
      return value;
    }
  }
  return value;
}

const show = (v: unknown): string => (typeof v === "string" ? JSON.stringify(v) : String(JSON.stringify(v) ?? v));

function readString(p: Problems, key: string, value: unknown, hint: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "string" && value.length > 0) return value;
  if (typeof value === "number") return String(value);
  p.add(key, `${show(value)} is not a text value; ${hint}`);
  return undefined;
}

function readInt(p: Problems, key: string, value: unknown, hint: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === "string" && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n === "number" && Number.isInteger(n)) return n;
  p.add(key, `${show(value)} is not a whole number; ${hint}`);
  return undefined;
}

function readBool(p: Problems, key: string, value: unknown): boolean | undefined {
  if (value === undefined || typeof value === "boolean") return value;
  if (value === "true" || value === "false") return value === "true";
  p.add(key, `${show(value)} is not true or false; write true or false`);
  return undefined;
}

function readObject(p: Problems, key: string, value: unknown, hint: string): Obj | undefined {
  const v = decode(value);
  if (v === undefined) return undefined;
  if (v !== null && typeof v === "object" && !Array.isArray(v)) return v as Obj;
  p.add(key, `expected an object, got ${Array.isArray(v) ? "a list" : show(v)}; ${hint}`);
  return undefined;
}

function readList(p: Problems, key: string, value: unknown, hint: string): unknown[] | undefined {
  const v = decode(value);
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v;
  p.add(key, `expected a list, got ${show(v)}; ${hint}`);
  return undefined;
}

function readStringList(p: Problems, key: string, value: unknown, hint: string): string[] | undefined {
  const list = readList(p, key, value, hint);
  if (!list) return undefined;
  const bad = list.findIndex((x) => typeof x !== "string" || x.length === 0);
  if (bad >= 0) {
    p.add(`${key}[${bad}]`, `${show(list[bad])} is not a text value; ${hint}`);
    return undefined;
  }
  return list as string[];
}

/** Unknown fields inside an object value are typos: name them and list the known ones. */
function refuseUnknownFields(p: Problems, key: string, obj: Obj, known: ReadonlyArray<string>): void {
  for (const field of Object.keys(obj)) {
    if (!known.includes(field)) p.add(`${key}.${field}`, `unknown field; the known fields are ${known.join(", ")}`);
  }
}

const ENDPOINT_FIELDS = ["name", "host", "clientPort", "clusterPort", "monitorPort"] as const;

/** A server entry: a name (aws) or an object with name, host and ports; missing ports take `defaults` when given. */
function readEndpoint(
  p: Problems,
  key: string,
  value: unknown,
  platform: Platform,
  extraFields: ReadonlyArray<string> = [],
): (MemberConfig & Obj) | undefined {
  const v = decode(value);
  if (typeof v === "string" && platform === "aws") return { name: v, ...DEFAULT_PORTS };
  const hint =
    platform === "local"
      ? "write { name, host, clientPort, clusterPort, monitorPort } (host defaults to 127.0.0.1)"
      : "write a name, or { name, clientPort?, clusterPort?, monitorPort? }";
  const obj = readObject(p, key, v, hint);
  if (!obj) return undefined;
  refuseUnknownFields(p, key, obj, [...ENDPOINT_FIELDS, ...extraFields]);
  const name = readString(p, `${key}.name`, obj.name, "give the server a name such as nats-a") ?? "";
  if (obj.name === undefined) p.add(`${key}.name`, "missing; give the server a name such as nats-a");
  const host = readString(p, `${key}.host`, obj.host, "write an IP address or DNS name");
  const port = (field: keyof typeof DEFAULT_PORTS): number => {
    const n = readInt(p, `${key}.${field}`, obj[field], "write a port number such as 4222");
    if (n !== undefined) return n;
    if (obj[field] === undefined && platform === "local") {
      p.add(`${key}.${field}`, `missing; every local server needs ports of its own (e.g. ${DEFAULT_PORTS[field]})`);
    }
    return DEFAULT_PORTS[field];
  };
  const endpoint = {
    clientPort: port("clientPort"),
    clusterPort: port("clusterPort"),
    monitorPort: port("monitorPort"),
  };
  return { ...obj, name, host: platform === "local" ? (host ?? "127.0.0.1") : host, ...endpoint };
}

function readMembers(p: Problems, raw: Raw, platform: Platform, clusterName: string): MemberConfig[] {
  const count = readInt(p, "memberCount", raw.memberCount, "write the number of members, 3 or 5");
  if (raw.members !== undefined && raw.memberCount !== undefined) {
    p.add("memberCount", "set either members or memberCount, not both; remove one");
    return [];
  }
  if (raw.members === undefined && count === undefined) {
    p.add(
      "members",
      platform === "local"
        ? "missing; list the members as { name, host, clientPort, clusterPort, monitorPort }"
        : "missing; set memberCount (3 or 5) or list member names",
    );
    return [];
  }
  if (count !== undefined) {
    if (platform === "local") {
      p.add("memberCount", "the local platform needs ports per member; list them under members instead");
      return [];
    }
    if (count < 1 || count > 15) {
      p.add("memberCount", `${count} members is not a cluster size this supports; use 3 or 5`);
      return [];
    }
    return Array.from({ length: count }, (_, i) => ({ name: `${clusterName}-${i + 1}`, ...DEFAULT_PORTS }));
  }
  const list = readList(p, "members", raw.members, "list the members") ?? [];
  return list
    .map((m, i) => readEndpoint(p, `members[${i}]`, m, platform))
    .filter((m): m is MemberConfig & Obj => m !== undefined);
}

function readSurge(p: Problems, raw: Raw, platform: Platform, clusterName: string): SurgeSpec {
  const fallback = { name: `${clusterName}-surge`, host: "", ...DEFAULT_PORTS };
  if (raw.surge === undefined) {
    p.add(
      "surge",
      platform === "local"
        ? "missing; describe the temporary surge server: { name, host, clientPort, clusterPort, monitorPort }"
        : "missing; give the surge server a fixed private IP in the first subnet: { host: 10.0.1.250 }",
    );
    return fallback;
  }
  const obj = readObject(
    p,
    "surge",
    raw.surge,
    "write { name, host, clientPort, clusterPort, monitorPort, jetstream? }",
  );
  if (!obj) return fallback;
  const endpoint = readEndpoint(p, "surge", { name: fallback.name, ...obj }, platform, ["jetstream"]);
  if (!endpoint) return fallback;
  if (platform === "aws" && endpoint.host === undefined)
    p.add("surge.host", "missing; the surge instance needs a fixed private IP in the first subnet, e.g. 10.0.1.250");
  const jetstream = readBool(p, "surge.jetstream", obj.jetstream);
  const { name, clientPort, clusterPort, monitorPort } = endpoint;
  return {
    name,
    host: endpoint.host ?? "",
    clientPort,
    clusterPort,
    monitorPort,
    ...(jetstream !== undefined ? { jetstream } : {}),
  };
}

function readJetStream(p: Problems, raw: Raw): JetStreamSpec {
  const v = decode(raw.jetstream);
  if (v === undefined) return { enabled: true };
  if (typeof v === "boolean" || typeof v === "string") return { enabled: readBool(p, "jetstream", v) ?? true };
  const obj = readObject(p, "jetstream", v, "write true, false, or { enabled, maxMemoryBytes?, maxFileBytes? }");
  if (!obj) return { enabled: true };
  refuseUnknownFields(p, "jetstream", obj, ["enabled", "maxMemoryBytes", "maxFileBytes"]);
  const maxMemoryBytes = readInt(p, "jetstream.maxMemoryBytes", obj.maxMemoryBytes, "write a number of bytes");
  const maxFileBytes = readInt(p, "jetstream.maxFileBytes", obj.maxFileBytes, "write a number of bytes");
  return {
    enabled: readBool(p, "jetstream.enabled", obj.enabled) ?? true,
    ...(maxMemoryBytes !== undefined ? { maxMemoryBytes } : {}),
    ...(maxFileBytes !== undefined ? { maxFileBytes } : {}),
  };
}

function readRoutes(p: Problems, raw: Raw, members: ReadonlyArray<MemberConfig>): RouteMode {
  const mode = readString(p, "routeMode", raw.routeMode, 'write "explicit" or "seed"') ?? "explicit";
  const seeds = readStringList(p, "seeds", raw.seeds, "list member names");
  if (mode === "explicit") {
    if (seeds !== undefined)
      p.add("seeds", 'seeds are used only with routeMode "seed"; remove seeds or set routeMode to seed');
    return { kind: "explicit" };
  }
  if (mode !== "seed") {
    p.add(
      "routeMode",
      `${show(mode)} is not a route mode; write "explicit" (every member lists every member) or "seed" (members list the seeds)`,
    );
    return { kind: "explicit" };
  }
  return { kind: "seed", seeds: seeds ?? (members[0] ? [members[0].name] : []) };
}

const POLICY_KEYS = Object.keys(DEFAULT_POLICY) as Array<keyof RolloutPolicy>;
/** Policy numbers that must be above zero (a zero deadline or poll interval makes no sense). */
const POSITIVE_POLICY_KEYS: ReadonlyArray<keyof RolloutPolicy> = [
  "healthyDeadlineSeconds",
  "pollIntervalMs",
  "stopTimeoutSeconds",
];

function readRollout(p: Problems, raw: Raw): Partial<RolloutPolicy> {
  const obj = readObject(p, "rollout", raw.rollout, `write an object with any of ${POLICY_KEYS.join(", ")}`);
  if (!obj) return {};
  refuseUnknownFields(p, "rollout", obj, POLICY_KEYS);
  const policy: Record<string, number | boolean> = {};
  for (const k of POLICY_KEYS) {
    if (obj[k] === undefined) continue;
    const key = `rollout.${k}`;
    if (typeof DEFAULT_POLICY[k] === "boolean") {
      const b = readBool(p, key, obj[k]);
      if (b !== undefined) policy[k] = b;
      continue;
    }
    const raw = typeof obj[k] === "string" ? Number(obj[k]) : obj[k];
    if (typeof raw !== "number" || !Number.isFinite(raw) || raw < 0)
      p.add(key, `${show(obj[k])} is not a number of 0 or more; write e.g. ${DEFAULT_POLICY[k]}`);
    else if (raw === 0 && POSITIVE_POLICY_KEYS.includes(k))
      p.add(key, `must be above 0; write e.g. ${DEFAULT_POLICY[k]}`);
    else policy[k] = raw;
  }
  return policy as Partial<RolloutPolicy>;
}

/** `auth`: exactly the engine's AuthSpec shape (token | users | nkeys [+ probeNkeySeed]); values are never echoed. */
function readAuth(p: Problems, raw: Raw): AuthSpec | undefined {
  const auth = readObject(
    p,
    "auth",
    raw.auth,
    "write { token } or { users: [{ user, password }] } or { nkeys: [U…], probeNkeySeed }",
  );
  const sys = readObject(p, "systemAccount", raw.systemAccount, "write { user, password }");
  if (auth) refuseUnknownFields(p, "auth", auth, ["token", "users", "nkeys", "probeNkeySeed"]);
  if (sys) refuseUnknownFields(p, "systemAccount", sys, ["user", "password"]);
  if (!auth && !sys) return undefined;
  return {
    ...(auth as AuthSpec | undefined),
    ...(sys ? { systemAccount: sys as unknown as NonNullable<AuthSpec["systemAccount"]> } : {}),
  };
}

function readTls(p: Problems, raw: Raw): TlsSpec | undefined {
  const obj = readObject(
    p,
    "tls",
    raw.tls,
    "write { certFile, keyFile, caFile?, verify?, probeCertFile?, probeKeyFile? } (server paths on the servers' hosts; probe paths on the machine running pulumi)",
  );
  if (!obj) return undefined;
  refuseUnknownFields(p, "tls", obj, ["certFile", "keyFile", "caFile", "verify", "probeCertFile", "probeKeyFile"]);
  const verify = readBool(p, "tls.verify", obj.verify);
  return { ...(obj as unknown as TlsSpec), ...(verify !== undefined ? { verify } : {}) };
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

function checkCidr(p: Problems, key: string, value: string): void {
  const m = CIDR.exec(value);
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32)
    p.add(key, `${show(value)} is not an IPv4 CIDR; write one such as 10.0.0.0/16`);
}

const AWS_FIELDS = [
  "region",
  "vpcId",
  "subnetIds",
  "instanceType",
  "amiId",
  "clientCidrs",
  "adminCidr",
  "volumeSizeGb",
  "keyName",
];

function readAws(p: Problems, raw: Raw): AwsPlatformConfig | undefined {
  if (raw.aws === undefined) {
    p.add(
      "aws",
      "missing; the aws platform needs { region, vpcId, subnetIds, clientCidrs, adminCidr } (see stacks/Pulumi.dev.yaml)",
    );
    return undefined;
  }
  const obj = readObject(
    p,
    "aws",
    raw.aws,
    "write { region, vpcId, subnetIds, instanceType?, amiId?, clientCidrs, adminCidr, volumeSizeGb?, keyName? }",
  );
  if (!obj) return undefined;
  refuseUnknownFields(p, "aws", obj, AWS_FIELDS);
  const need = (field: string, hint: string): string => {
    if (obj[field] === undefined) p.add(`aws.${field}`, `missing; ${hint}`);
    return readString(p, `aws.${field}`, obj[field], hint) ?? "";
  };
  const region = need("region", "write a region such as eu-west-1");
  const vpcId = need("vpcId", "write the VPC id (vpc-…)");
  if (vpcId && !/^vpc-[0-9a-f]+$/.test(vpcId))
    p.add("aws.vpcId", `${show(vpcId)} is not a VPC id; write one such as vpc-0abc1234def567890`);
  const subnetIds = readStringList(p, "aws.subnetIds", obj.subnetIds, "list subnet ids (subnet-…)") ?? [];
  if (obj.subnetIds === undefined || subnetIds.length === 0)
    p.add("aws.subnetIds", "missing; list one or more subnet ids (subnet-…), ideally one per availability zone");
  subnetIds.forEach((s, i) => {
    if (!/^subnet-[0-9a-f]+$/.test(s))
      p.add(`aws.subnetIds[${i}]`, `${show(s)} is not a subnet id; write one such as subnet-0abc1234def567890`);
  });
  const clientCidrs = readStringList(p, "aws.clientCidrs", obj.clientCidrs, "list CIDRs such as 10.0.0.0/16") ?? [];
  if (obj.clientCidrs === undefined || clientCidrs.length === 0)
    p.add("aws.clientCidrs", "missing; list the CIDRs clients connect from, e.g. [10.0.0.0/16]");
  clientCidrs.forEach((c, i) => checkCidr(p, `aws.clientCidrs[${i}]`, c));
  const adminCidr = need("adminCidr", "write the one CIDR allowed to reach the monitoring port, e.g. 10.0.99.0/24");
  if (adminCidr) checkCidr(p, "aws.adminCidr", adminCidr);
  const amiId = readString(p, "aws.amiId", obj.amiId, "write an AMI id (ami-…)");
  if (amiId !== undefined && !/^ami-[0-9a-f]+$/.test(amiId))
    p.add("aws.amiId", `${show(amiId)} is not an AMI id; write one such as ami-0abc1234def567890, or leave it out`);
  const volumeSizeGb = readInt(p, "aws.volumeSizeGb", obj.volumeSizeGb, "write a size in GiB such as 20") ?? 20;
  if (volumeSizeGb < 1) p.add("aws.volumeSizeGb", `${volumeSizeGb} GiB is too small; write e.g. 20`);
  const keyName = readString(p, "aws.keyName", obj.keyName, "write an EC2 key pair name, or leave it out");
  return {
    region,
    vpcId,
    subnetIds,
    instanceType:
      readString(p, "aws.instanceType", obj.instanceType, "write an instance type such as t3.small") ?? "t3.small",
    ...(amiId !== undefined ? { amiId } : {}),
    clientCidrs,
    adminCidr,
    volumeSizeGb,
    ...(keyName !== undefined ? { keyName } : {}),
  };
}

function readLocal(p: Problems, raw: Raw, context: ParseContext): LocalPlatformConfig {
  const obj = readObject(p, "local", raw.local, "write { stateDir?, binaryCacheDir? }") ?? {};
  refuseUnknownFields(p, "local", obj, ["stateDir", "binaryCacheDir"]);
  const projectDir = context.projectDir ?? process.cwd();
  const env = context.env ?? process.env;
  const stateDir =
    readString(p, "local.stateDir", obj.stateDir, "write a directory path") ??
    path.join(".state", context.stack ?? "local", "servers");
  const binaryCacheDir =
    readString(p, "local.binaryCacheDir", obj.binaryCacheDir, "write a directory path") ??
    env.NATS_SERVER_BIN_CACHE ??
    path.join(env.NATS_CLUSTER_CACHE ?? path.join(os.homedir(), ".cache", "nats-cluster"), "nats-server");
  return { stateDir: path.resolve(projectDir, stateDir), binaryCacheDir: path.resolve(projectDir, binaryCacheDir) };
}

/** Which config key an engine field path (from validateClusterSpec) came from. */
export function configKeyForField(field: string, platform: Platform): string {
  const rules: Array<[RegExp, string]> = [
    [/^name$/, "clusterName"],
    [/^lameDuck\.gracePeriodSeconds$/, "lameDuckGracePeriodSeconds"],
    [/^lameDuck(\.durationSeconds)?$/, "lameDuckDurationSeconds"],
    [/^routes(\.kind)?$/, "routeMode"],
    [/^routes\.seeds/, field.replace(/^routes\./, "")],
    [/^jetstream\.enabled$/, "jetstream"],
    [/^auth\.systemAccount/, field.replace(/^auth\./, "")],
    [/^members$/, platform === "aws" ? "memberCount" : "members"],
  ];
  for (const [pattern, key] of rules) if (pattern.test(field)) return key;
  return field;
}

/** The engine's spec for a parsed config; members without a host (aws, before the instances exist) get a placeholder.
 * */
export function clusterSpecOf(config: ParsedStackConfig, hosts?: ReadonlyArray<string>): ClusterSpec {
  return {
    name: config.clusterName,
    version: config.version,
    members: config.members.map((m, i) => ({
      name: m.name,
      host: hosts?.[i] ?? m.host ?? `${m.name}.host.invalid`,
      clientPort: m.clientPort,
      clusterPort: m.clusterPort,
      monitorPort: m.monitorPort,
    })),
    surge: config.surge,
    routes: config.routes,
    jetstream: config.jetstream,
    lameDuck: config.lameDuck,
    ...(config.auth ? { auth: config.auth } : {}),
    ...(config.tls ? { tls: config.tls } : {}),
    ...(config.noAdvertise !== undefined ? { noAdvertise: config.noAdvertise } : {}),
    ...(config.extraSettings ? { extraSettings: config.extraSettings } : {}),
  };
}

/**
 * Parse and validate the raw `nats-cluster:*` values (keys without the namespace). Pure: no Pulumi, no I/O.
 * Throws a StackConfigError naming every bad key and its fix.
 */
export function parseStackConfig(raw: Raw, context: ParseContext = {}): ParsedStackConfig {
  const p = new Problems();
  for (const key of Object.keys(raw)) {
    if (!(CONFIG_KEYS as ReadonlyArray<string>).includes(key))
      p.add(key, `unknown key; the known keys are ${CONFIG_KEYS.join(", ")}`);
  }

  const platformText = readString(p, "platform", raw.platform, 'write "local" or "aws"');
  if (platformText === undefined && raw.platform === undefined)
    p.add("platform", 'missing; write "local" (processes on this machine) or "aws" (EC2 instances)');
  else if (platformText !== undefined && platformText !== "local" && platformText !== "aws")
    p.add("platform", `${show(platformText)} is not a platform; write "local" or "aws"`);
  const platform: Platform = platformText === "aws" ? "aws" : "local";

  const version = readString(p, "version", raw.version, "write a nats-server version such as 2.15.2") ?? "";
  if (raw.version === undefined)
    p.add("version", "missing; set the nats-server version, e.g. `pulumi config set nats-cluster:version 2.15.2`");
  else if (/^v\d+\.\d+\.\d+$/.test(version))
    p.add("version", `${show(version)} is not a version; write ${version.slice(1)}`);
  else if (version && !/^\d+\.\d+\.\d+$/.test(version))
    p.add("version", `${show(version)} is not a version; write MAJOR.MINOR.PATCH such as 2.15.2`);

  const clusterName =
    readString(p, "clusterName", raw.clusterName, "write a name such as nats-prod") ??
    `nats-${context.stack ?? "cluster"}`;
  const members = readMembers(p, raw, platform, clusterName);
  const lameDuck = {
    durationSeconds:
      readInt(p, "lameDuckDurationSeconds", raw.lameDuckDurationSeconds, "write a number of seconds, 30 or more") ?? 30,
    gracePeriodSeconds:
      readInt(
        p,
        "lameDuckGracePeriodSeconds",
        raw.lameDuckGracePeriodSeconds,
        "write a number of seconds below the duration, e.g. 10",
      ) ?? 10,
  };
  const noAdvertise = readBool(p, "noAdvertise", raw.noAdvertise);
  const extraSettings = readObject(
    p,
    "extraSettings",
    raw.extraSettings,
    "write { setting: value }, e.g. { max_payload: 2097152 }",
  ) as ParsedStackConfig["extraSettings"];
  const tls = readTls(p, raw);
  const auth = readAuth(p, raw);
  const config: ParsedStackConfig = {
    platform,
    clusterName,
    version,
    members,
    surge: readSurge(p, raw, platform, clusterName),
    jetstream: readJetStream(p, raw),
    lameDuck,
    routes: readRoutes(p, raw, members),
    rollout: readRollout(p, raw),
    ...(tls ? { tls } : {}),
    ...(noAdvertise !== undefined ? { noAdvertise } : {}),
    ...(extraSettings ? { extraSettings } : {}),
    ...(auth ? { auth } : {}),
    ...(platform === "local" ? { local: readLocal(p, raw, context) } : {}),
    ...(platform === "aws" ? { aws: readAws(p, raw) } : {}),
  };
  if (platform === "local" && raw.aws !== undefined)
    p.add("aws", 'used only with platform "aws"; remove it or set platform to aws');
  if (platform === "aws" && raw.local !== undefined)
    p.add("local", 'used only with platform "local"; remove it or set platform to local');

  // The engine's field checks, on the spec this config describes. Keys already reported above (in the config's own
  // words, e.g. the version) are not reported twice.
  const seen = p.list.map((x) => x.key);
  const reported = (key: string) => seen.some((k) => key === k || key.startsWith(`${k}.`) || key.startsWith(`${k}[`));
  for (const problem of validateClusterSpec(clusterSpecOf(config))) {
    const key = configKeyForField(problem.field, platform);
    if (key === "version" || reported(key)) continue;
    p.add(key, problem.message);
  }
  if (p.list.length > 0) throw new StackConfigError(p.list, context.stack);
  return config;
}

/** The `nats-cluster:*` entries of a full config map (`ns:key` → value), keyed without the namespace. */
export function namespaceEntries(
  all: Readonly<Record<string, unknown>>,
  namespace = CONFIG_NAMESPACE,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(all)) if (k.startsWith(`${namespace}:`)) out[k.slice(namespace.length + 1)] = v;
  return out;
}

/** Whether a config key holds a secret (internal SDK helper, present at run time though not in the typings). */
function isSecretConfigKey(fullKey: string): boolean | undefined {
  const runtime = pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean };
  return typeof runtime.isConfigSecret === "function" ? runtime.isConfigSecret(fullKey) : undefined;
}

/**
 * Read the stack's config through Pulumi and validate it. The secret keys become secret Outputs: the plain value
 * exists only in memory while the program runs (to validate it), never in state or outputs.
 */
export function readStackConfig(context: ParseContext = {}): StackConfig {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const stack = context.stack ?? pulumi.getStack();
  const raw = namespaceEntries(pulumi.runtime.allConfig());
  const parsed = parseStackConfig(raw, { ...context, stack });
  for (const key of SECRET_KEYS) {
    if (raw[key] !== undefined && isSecretConfigKey(`${CONFIG_NAMESPACE}:${key}`) === false) {
      throw new StackConfigError(
        [
          {
            key,
            message: `is stored in plain text in Pulumi.${stack}.yaml; remove it and set it with \`pulumi config set --secret ${CONFIG_NAMESPACE}:${key} '<json>'\``,
          },
        ],
        stack,
      );
    }
  }
  const { auth, ...rest } = parsed;
  // Built from getSecretObject so the Output is secret from the start, whatever the validation did with the value.
  const secretAuth = auth
    ? pulumi
        .all([
          config.getSecretObject<AuthSpec>("auth"),
          config.getSecretObject<AuthSpec["systemAccount"]>("systemAccount"),
        ])
        .apply(([a, s]) => pulumi.secret<AuthSpec>({ ...(a ?? {}), ...(s ? { systemAccount: s } : {}) }))
    : undefined;
  return { ...rest, ...(secretAuth ? { auth: secretAuth } : {}) };
}
