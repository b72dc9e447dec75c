/**
 * The one decoder of stack config (`nats-cluster:*` keys in `stacks/Pulumi.<stack>.yaml`): raw key → value map in,
 * typed {@link StackConfig} out, or a {@link StackConfigError} whose every line names the config key and the fix.
 * Pure (no Pulumi, no I/O), so `pulumi preview`, the engine's command line and the tests decode alike.
 *
 * Field rules are the engine's own (`validateClusterSpec`, `validatePolicy`): the decoder turns values into the
 * engine's spec and records, for each engine field it fills, the config key it came from; an engine problem is
 * reported under that key. The program thus refuses exactly what the RollingUpgrade's `check` would refuse, but
 * before anything is registered. Platform blocks (`nats-cluster:local`, `nats-cluster:aws`, …) are decoded by their
 * platform (components/platforms/<name>).
 */
import {
  AuthSpec,
  ClusterSpec,
  DEFAULT_LAME_DUCK,
  DEFAULT_PORTS,
  JetStreamSpec,
  LameDuckSpec,
  Problem,
  RolloutPolicy,
  RouteMode,
  TlsPem,
  TlsSpec,
} from "../../engine";
import { validateClusterSpec, validatePolicy, POLICY_FIELDS } from "../../engine/validate";
import { versionProblem } from "../../engine/versions";
import { clusterPlatformNames, findClusterPlatform } from "../platforms";
import { ClusterPlatform, DecodeContext, ServerPlacement } from "../platforms/platform";
import { exporterPortClash } from "./exporter";
import type { ExporterRelease } from "../../engine/exporter";
import {
  booleanish,
  decodeJson,
  didYouMean,
  numberish,
  Obj,
  Problems,
  readBool,
  readInt,
  readList,
  readObject,
  readString,
  readStringList,
  refuseUnknownFields,
} from "./values";

/** The config namespace: every key is `nats-cluster:<key>` (the Pulumi project name). */
export const CONFIG_NAMESPACE = "nats-cluster";

/** The keys every stack may set, besides each platform's own block (`nats-cluster:<platform>`). */
export const CORE_KEYS = [
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
  "tlsPem",
  "monitoring",
  "noAdvertise",
  "extraSettings",
] as const;

/** The core keys whose values are secrets: set them with `pulumi config set --secret`. */
export const SECRET_KEYS: ReadonlyArray<string> = ["auth", "systemAccount", "tlsPem"];

/** The surge server as configured: a server, optionally running JetStream. */
export type SurgePlacement = ServerPlacement & { readonly jetstream?: boolean };

/** The stack config, decoded and validated. `auth` and `platformSecrets` are plain here: callers keep them secret. */
export interface StackConfig {
  /** `nats-cluster:platform`: the folder name of a platform (local, aws, ssh, …). */
  readonly platform: string;
  /** `nats-cluster:<platform>`, decoded by the platform. */
  readonly platformSettings: unknown;
  /** The platform's secret keys (e.g. an SSH private key), by key. */
  readonly platformSecrets?: Readonly<Record<string, string>>;
  /** `nats-cluster:clusterName`, the `cluster.name` of every server. Default `nats-<stack>`. */
  readonly clusterName: string;
  /** `nats-cluster:version`, the nats-server version every member should run. */
  readonly version: string;
  /** `nats-cluster:members` / `nats-cluster:memberCount`. */
  readonly members: ReadonlyArray<ServerPlacement>;
  /** `nats-cluster:surge`. */
  readonly surge: SurgePlacement;
  /** `nats-cluster:jetstream` (a boolean, or an object with limits). Default enabled. */
  readonly jetstream: JetStreamSpec;
  /** `nats-cluster:lameDuckDurationSeconds` and `nats-cluster:lameDuckGracePeriodSeconds`. */
  readonly lameDuck: LameDuckSpec;
  /** `nats-cluster:routeMode` (explicit) and `nats-cluster:seeds` (default: the first member). */
  readonly routes: RouteMode;
  /** `nats-cluster:rollout`: RolloutPolicy fields to override. */
  readonly rollout: Partial<RolloutPolicy>;
  /**
   * `nats-cluster:rollout.eventsFile`: the file `pulumi up` appends the rollout's events to, one JSON line each
   * (`~/` is the home directory, a relative path is the project directory's). Not a policy field: where events go
   * changes nothing on the servers.
   */
  readonly eventsFile?: string;
  /**
   * `nats-cluster:rollout.metricsFile`: where `pulumi up` writes the last rollout's figures in Prometheus' text
   * format, for node_exporter's textfile collector (a `.prom` file in its directory). Not a policy field either.
   */
  readonly metricsFile?: string;
  /** `nats-cluster:rollout.timelineFile`: where `pulumi up` draws the rollout as a picture (an `.svg` file). */
  readonly timelineFile?: string;
  /**
   * `nats-cluster:tls`: what clients and routes run (`clients`, `routes`, `verify`) and where the material comes
   * from: `generate` (a CA the stack makes for itself), `nats-cluster:tlsPem` (secret), or paths on the hosts.
   */
  readonly tls?: Omit<TlsSpec, "pem">;
  /** `nats-cluster:tlsPem` (secret): the servers' certificate, key and CA as PEM, delivered by the platform. */
  readonly tlsPem?: TlsPem;
  /** `nats-cluster:tls.generate`: the stack makes its own CA and server certificate (ClusterCertificates). */
  readonly tlsGenerate?: TlsGenerate;
  /** `nats-cluster:monitoring`: `http` or `system-account` (the monitoring port then binds to 127.0.0.1). */
  readonly monitoring?: "http" | "system-account";
  /** `nats-cluster:noAdvertise`. */
  readonly noAdvertise?: boolean;
  /** `nats-cluster:extraSettings`: restart-relevant settings rendered verbatim. */
  readonly extraSettings?: Readonly<Record<string, string | number | boolean>>;
  /** `nats-cluster:auth` merged with `nats-cluster:systemAccount` (both secret). */
  readonly auth?: AuthSpec;
}

/** `nats-cluster:tls.generate`: a CA of the stack's own and a server certificate for every host. */
export interface TlsGenerate {
  /** How long the server certificate is valid. Default 365. */
  readonly validityDays?: number;
  /** Bump it to issue a new server certificate (a rolling reload). */
  readonly rotation?: number;
}

/** Bad stack config: the message lists every problem as `nats-cluster:<key>: <what is wrong; how to fix it>`. */
export class StackConfigError extends Error {
  constructor(
    readonly problems: ReadonlyArray<Problem>,
    stack?: string,
  ) {
    super(
      `invalid stack config${stack ? ` for stack "${stack}"` : ""} (${problems.length} ` +
        `problem${problems.length === 1 ? "" : "s"}; fix with \`pulumi config set ${CONFIG_NAMESPACE}:<key> <value>\`, ` +
        "`--secret` for auth, or edit stacks/Pulumi.<stack>.yaml):\n" +
        problems.map((p) => `  ${CONFIG_NAMESPACE}:${p.field}: ${p.message}`).join("\n"),
    );
    this.name = "StackConfigError";
  }
}

/** Where relative paths and defaults are resolved; tests pass their own. */
export interface DecodeOptions {
  /** The stack name, for the default cluster name and state directory. */
  readonly stack?: string;
  /** The project directory (where Pulumi.yaml is): relative paths are resolved against it. Default: cwd. */
  readonly projectDir?: string;
}

type Raw = Readonly<Record<string, unknown>>;

/**
 * Which config key each engine field came from, recorded as the decoder fills the spec: an engine problem at
 * `lameDuck.durationSeconds` is reported at `nats-cluster:lameDuckDurationSeconds`.
 */
class FieldOrigins {
  private readonly origins = new Map<string, string>();
  set(engineField: string, configKey: string): void {
    this.origins.set(engineField, configKey);
  }
  /** The config key of an engine field path: its longest recorded prefix, with the rest of the path kept. */
  keyOf(field: string): string {
    let best = "";
    for (const prefix of this.origins.keys()) {
      const matches = field === prefix || field.startsWith(`${prefix}.`) || field.startsWith(`${prefix}[`);
      if (matches && prefix.length > best.length) best = prefix;
    }
    return best ? this.origins.get(best)! + field.slice(best.length) : field;
  }
}

function decodePlatform(p: Problems, raw: Raw): ClusterPlatform | undefined {
  const names = clusterPlatformNames();
  const name = readString(p, "platform", raw.platform, `write one of ${names.join(", ")}`);
  if (name === undefined) {
    if (raw.platform === undefined) {
      p.add("platform", `missing; write one of ${names.join(", ")} (local: processes on this machine)`);
    }
    return undefined;
  }
  const found = findClusterPlatform(name);
  if (!found)
    p.add(
      "platform",
      `${p.show("platform", name)} is not a platform; write one of ${names.map((n) => `"${n}"`).join(", ")}`,
    );
  return found;
}

const ENDPOINT_FIELDS = ["name", "host", "clientPort", "clusterPort", "monitorPort"] as const;
type PortField = keyof typeof DEFAULT_PORTS;

/** A server entry: a name (where the platform places servers) or an object with name, host and ports. */
function decodeServer(
  p: Problems,
  key: string,
  value: unknown,
  platform: ClusterPlatform,
  extraFields: ReadonlyArray<string> = [],
): (ServerPlacement & Obj) | undefined {
  const v = decodeJson(value);
  const rules = platform.members;
  if (typeof v === "string" && rules.host === "assigned" && !rules.portsRequired) return { name: v, ...DEFAULT_PORTS };
  const obj = readObject(p, key, v, `write ${rules.memberExample}`);
  if (!obj) return undefined;
  refuseUnknownFields(p, key, obj, [...ENDPOINT_FIELDS, ...extraFields]);
  const name = readString(p, `${key}.name`, obj.name, "give the server a name such as nats-a") ?? "";
  if (obj.name === undefined) p.add(`${key}.name`, "missing; give the server a name such as nats-a");
  let host = readString(p, `${key}.host`, obj.host, "write an IP address or DNS name");
  if (host === undefined && rules.host === "loopback") host = "127.0.0.1";
  if (host === undefined && obj.host === undefined && rules.host === "required") {
    p.add(`${key}.host`, `missing; the ${platform.name} platform needs each server's address (${rules.memberExample})`);
  }
  const port = (field: PortField): number => {
    const n = readInt(p, `${key}.${field}`, obj[field], "write a port number such as 4222");
    if (n !== undefined) return n;
    if (obj[field] === undefined && rules.portsRequired) {
      p.add(
        `${key}.${field}`,
        `missing; every ${platform.name} server needs ports of its own (e.g. ${DEFAULT_PORTS[field]})`,
      );
    }
    return DEFAULT_PORTS[field];
  };
  const ports = { clientPort: port("clientPort"), clusterPort: port("clusterPort"), monitorPort: port("monitorPort") };
  return { ...obj, name, ...(host !== undefined ? { host } : {}), ...ports };
}

function placement(server: ServerPlacement & Obj): ServerPlacement {
  const { name, host, clientPort, clusterPort, monitorPort } = server;
  return { name, ...(host !== undefined ? { host } : {}), clientPort, clusterPort, monitorPort };
}

function decodeMembers(
  p: Problems,
  raw: Raw,
  platform: ClusterPlatform,
  clusterName: string,
  origins: FieldOrigins,
): ServerPlacement[] {
  const count = readInt(p, "memberCount", raw.memberCount, "write the number of members, 3 or 5");
  origins.set("members", raw.memberCount !== undefined ? "memberCount" : "members");
  if (raw.members !== undefined && raw.memberCount !== undefined) {
    p.add("memberCount", "set either members or memberCount, not both; remove one");
    return [];
  }
  if (raw.members === undefined && count === undefined) {
    p.add(
      "members",
      platform.members.countAllowed
        ? "missing; set memberCount (3 or 5) or list member names"
        : `missing; list the members as ${platform.members.memberExample}`,
    );
    return [];
  }
  if (count !== undefined) {
    if (!platform.members.countAllowed) {
      p.add(
        "memberCount",
        `the ${platform.name} platform needs each member described; list them under members instead`,
      );
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
    .map((m, i) => decodeServer(p, `members[${i}]`, m, platform))
    .filter((m): m is ServerPlacement & Obj => m !== undefined)
    .map(placement);
}

function decodeSurge(p: Problems, raw: Raw, platform: ClusterPlatform, clusterName: string): SurgePlacement {
  const fallback = { name: `${clusterName}-surge`, ...DEFAULT_PORTS };
  if (raw.surge === undefined) {
    p.add("surge", `missing; describe the temporary surge server: ${platform.members.surgeExample}`);
    return fallback;
  }
  const obj = readObject(p, "surge", raw.surge, `write ${platform.members.surgeExample}`);
  if (!obj) return fallback;
  const server = decodeServer(p, "surge", { name: fallback.name, ...obj }, platform, ["jetstream"]);
  if (!server) return fallback;
  const jetstream = readBool(p, "surge.jetstream", obj.jetstream);
  return { ...placement(server), ...(jetstream !== undefined ? { jetstream } : {}) };
}

function decodeJetStream(p: Problems, raw: Raw): JetStreamSpec {
  const v = decodeJson(raw.jetstream);
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

function decodeRoutes(p: Problems, raw: Raw, members: ReadonlyArray<ServerPlacement>): RouteMode {
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
      `${p.show("routeMode", mode)} is not a route mode; write "explicit" (every member lists every member) ` +
        'or "seed" (members list the seeds)',
    );
    return { kind: "explicit" };
  }
  return { kind: "seed", seeds: seeds ?? (members[0] ? [members[0].name] : []) };
}

/**
 * `rollout`: scalars as YAML or `pulumi config set` left them; the rules are the engine's validatePolicy. Its
 * `eventsFile` is not the engine's policy: it comes out on its own.
 */
function decodeRollout(
  p: Problems,
  raw: Raw,
): { rollout: Partial<RolloutPolicy>; eventsFile?: string; metricsFile?: string; timelineFile?: string } {
  const fields = [...POLICY_FIELDS, "eventsFile", "metricsFile", "timelineFile"];
  const obj = readObject(p, "rollout", raw.rollout, `write an object with any of ${fields.join(", ")}`);
  if (!obj) return { rollout: {} };
  const { eventsFile: file, metricsFile: metricsRaw, timelineFile: timelineRaw, ...policy } = obj;
  const rollout = Object.fromEntries(
    Object.entries(policy).map(([k, v]) => [k, booleanish(numberish(v))]),
  ) as Partial<RolloutPolicy>;
  const hint = "write the path of a file to append the rollout's events to, e.g. ~/nats-rollout-events.ndjson";
  const files: { metricsFile?: string; timelineFile?: string } = {};
  const metricsFile = reportFile(
    p,
    "rollout.metricsFile",
    metricsRaw,
    ".prom",
    "in node_exporter's textfile directory, e.g. /var/lib/node_exporter/nats-rollout.prom",
  );
  if (metricsFile !== undefined) files.metricsFile = metricsFile;
  const timelineFile = reportFile(p, "rollout.timelineFile", timelineRaw, ".svg", "e.g. ~/nats-rollout.svg");
  if (timelineFile !== undefined) files.timelineFile = timelineFile;
  const eventsFile = readString(p, "rollout.eventsFile", file, hint);
  if (eventsFile === undefined) return { rollout, ...files };
  if (eventsFile.endsWith("/") || eventsFile.includes("\0")) {
    p.add("rollout.eventsFile", `${p.show("rollout.eventsFile", eventsFile)} is not a file's path; ${hint}`);
    return { rollout, ...files };
  }
  return { rollout, eventsFile, ...files };
}

/** A file the rollout writes its figures or picture to: text ending in `ending` (what reads it expects that). */
function reportFile(p: Problems, key: string, raw: unknown, ending: string, example: string): string | undefined {
  const hint = `write the path of a ${ending} file, ${example}`;
  const file = readString(p, key, raw, hint);
  if (file === undefined || file.endsWith(ending)) return file;
  p.add(key, `${p.show(key, file)} does not end in ${ending}; ${hint}`);
  return undefined;
}

/** `auth` + `systemAccount`: exactly the engine's AuthSpec shape; values are never echoed. */
function decodeAuth(p: Problems, raw: Raw): AuthSpec | undefined {
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

const TLS_FIELDS = [
  "clients",
  "routes",
  "verify",
  "generate",
  "certFile",
  "keyFile",
  "caFile",
  "probeCertFile",
  "probeKeyFile",
];

function decodeTls(p: Problems, raw: Raw): { tls?: Omit<TlsSpec, "pem">; tlsPem?: TlsPem; tlsGenerate?: TlsGenerate } {
  const obj = readObject(
    p,
    "tls",
    raw.tls,
    "write { generate: true } (the stack makes its own CA), or set the secret nats-cluster:tlsPem, or give " +
      "{ certFile, keyFile, caFile? } (paths on the servers' hosts); clients: required|optional|off, routes: true|false",
  );
  const pemObj = readObject(p, "tlsPem", raw.tlsPem, "write { certPem, keyPem, caPem } (PEM text), as a secret");
  if (!obj && !pemObj) return {};
  if (obj) refuseUnknownFields(p, "tls", obj, TLS_FIELDS);
  const tls: Record<string, unknown> = { ...(obj ?? {}) };
  delete tls.generate;
  for (const key of ["verify", "routes"]) {
    const value = readBool(p, `tls.${key}`, tls[key]);
    if (value !== undefined) tls[key] = value;
  }
  let tlsPem: TlsPem | undefined;
  if (pemObj) {
    refuseUnknownFields(p, "tlsPem", pemObj, ["certPem", "keyPem", "caPem"]);
    const read = (key: "certPem" | "keyPem" | "caPem") =>
      readString(p, `tlsPem.${key}`, pemObj[key], "PEM text (pulumi config set --secret --path nats-cluster:tlsPem.…)");
    const [certPem, keyPem, caPem] = [read("certPem"), read("keyPem"), read("caPem")];
    if (certPem !== undefined && keyPem !== undefined && caPem !== undefined) tlsPem = { certPem, keyPem, caPem };
  }
  let tlsGenerate: TlsGenerate | undefined;
  const generate = obj?.generate;
  if (generate === true || generate === "true") tlsGenerate = {};
  else if (generate !== undefined && generate !== false && generate !== "false") {
    const g = readObject(p, "tls.generate", generate, "write true, or { validityDays?, rotation? }");
    if (g) {
      refuseUnknownFields(p, "tls.generate", g, ["validityDays", "rotation"]);
      const validityDays = readInt(p, "tls.generate.validityDays", g.validityDays, "a number of days, e.g. 365");
      const rotation = readInt(p, "tls.generate.rotation", g.rotation, "a number; bump it for a new certificate");
      tlsGenerate = {
        ...(validityDays !== undefined ? { validityDays } : {}),
        ...(rotation !== undefined ? { rotation } : {}),
      };
    }
  }
  if (tlsGenerate && tlsPem) p.add("tls.generate", "set either tls.generate or nats-cluster:tlsPem, not both");
  if (tlsGenerate && (tls.certFile !== undefined || tls.keyFile !== undefined)) {
    p.add("tls.generate", "set either tls.generate or tls.certFile/keyFile, not both");
  }
  return { tls: tls as Omit<TlsSpec, "pem">, ...(tlsPem ? { tlsPem } : {}), ...(tlsGenerate ? { tlsGenerate } : {}) };
}

function decodeMonitoring(p: Problems, raw: Raw): StackConfig["monitoring"] {
  const value = raw.monitoring;
  if (value === undefined) return undefined;
  if (value === "http" || value === "system-account") return value;
  p.add(
    "monitoring",
    `${JSON.stringify(value)} is not "http" or "system-account" (the engine reads each server as the system ` +
      "account, and the monitoring port binds to 127.0.0.1)",
  );
  return undefined;
}

/** The keys a stack may set with this set of platforms: the core keys, each platform's block and secret keys. */
export function knownKeys(): string[] {
  const platformKeys = clusterPlatformNames().flatMap((n) => [n, ...(findClusterPlatform(n)?.secretKeys ?? [])]);
  return [...CORE_KEYS, ...platformKeys];
}

/** The engine's spec of a decoded config; hosts the platform assigns later get a placeholder (`<name>.host.invalid`).
 * */
export function clusterSpecOf(config: StackConfig, hosts?: ReadonlyArray<string>): ClusterSpec {
  const server = (s: ServerPlacement, host?: string) => ({
    name: s.name,
    host: host ?? s.host ?? `${s.name}.host.invalid`,
    clientPort: s.clientPort,
    clusterPort: s.clusterPort,
    monitorPort: s.monitorPort,
  });
  return {
    name: config.clusterName,
    version: config.version,
    members: config.members.map((m, i) => server(m, hosts?.[i])),
    surge: {
      ...server(config.surge),
      ...(config.surge.jetstream !== undefined ? { jetstream: config.surge.jetstream } : {}),
    },
    routes: config.routes,
    jetstream: config.jetstream,
    lameDuck: config.lameDuck,
    ...(config.auth ? { auth: config.auth } : {}),
    ...(config.tls || config.tlsPem
      ? { tls: { ...config.tls, ...(config.tlsPem ? { pem: config.tlsPem } : {}) } }
      : {}),
    ...(config.monitoring ? { monitoring: config.monitoring } : {}),
    ...(config.noAdvertise !== undefined ? { noAdvertise: config.noAdvertise } : {}),
    ...(config.extraSettings ? { extraSettings: config.extraSettings } : {}),
  };
}

/**
 * Decode and validate the raw `nats-cluster:*` values (keys without the namespace). Pure: no Pulumi, no I/O.
 * Throws a StackConfigError naming every bad key and its fix; never quotes a secret value.
 */
export function decodeStackConfig(raw: Raw, options: DecodeOptions = {}): StackConfig {
  const context: DecodeContext = { stack: options.stack ?? "dev", projectDir: options.projectDir ?? process.cwd() };
  // Another platform's module is loaded only when a key may be one of its secret keys: a local stack must not load
  // the aws platform (and @pulumi/aws with it) on every preview. The key's own platform is loaded anyway.
  const names = clusterPlatformNames();
  const selected = typeof raw.platform === "string" && names.includes(raw.platform) ? raw.platform : undefined;
  const explained = new Set<string>([
    ...CORE_KEYS,
    ...names,
    ...((selected && findClusterPlatform(selected)?.secretKeys) || []),
  ]);
  const unexplained = Object.keys(raw).filter((key) => !explained.has(key));
  const loaded = unexplained.length > 0 ? names : selected ? [selected] : [];
  const platformSecretKeys = loaded.flatMap((n) => findClusterPlatform(n)?.secretKeys ?? []);
  const p = new Problems([...SECRET_KEYS, ...platformSecretKeys]);
  const origins = new FieldOrigins();
  const known = unexplained.length > 0 ? knownKeys() : [];
  for (const key of unexplained) {
    if (!known.includes(key))
      p.add(key, `unknown key${didYouMean(key, known)}; the known keys are ${known.join(", ")}`);
  }

  const platform = decodePlatform(p, raw);
  const version = readString(p, "version", raw.version, "write a nats-server version such as 2.15.2") ?? "";
  origins.set("version", "version");
  if (raw.version === undefined) {
    p.add("version", "missing; set the nats-server version, e.g. `pulumi config set nats-cluster:version 2.15.2`");
  } else if (version && versionProblem(version)) p.add("version", versionProblem(version)!);

  const clusterName =
    readString(p, "clusterName", raw.clusterName, "write a name such as nats-prod") ?? `nats-${context.stack}`;
  origins.set("name", "clusterName");
  const lameDuck: LameDuckSpec = {
    durationSeconds:
      readInt(p, "lameDuckDurationSeconds", raw.lameDuckDurationSeconds, "write a number of seconds, 30 or more") ??
      DEFAULT_LAME_DUCK.durationSeconds,
    gracePeriodSeconds:
      readInt(
        p,
        "lameDuckGracePeriodSeconds",
        raw.lameDuckGracePeriodSeconds,
        "write a number of seconds below the duration, e.g. 10",
      ) ?? DEFAULT_LAME_DUCK.gracePeriodSeconds,
  };
  origins.set("lameDuck", "lameDuckDurationSeconds");
  origins.set("lameDuck.durationSeconds", "lameDuckDurationSeconds");
  origins.set("lameDuck.gracePeriodSeconds", "lameDuckGracePeriodSeconds");
  for (const key of ["surge", "tls", "noAdvertise", "extraSettings", "auth", "jetstream", "monitoring"])
    origins.set(key, key);
  origins.set("tls.pem", "tlsPem");
  origins.set("jetstream.enabled", "jetstream");
  origins.set("auth.systemAccount", "systemAccount");
  origins.set("routes", "routeMode");
  origins.set("routes.kind", "routeMode");
  origins.set("routes.seeds", "seeds");
  origins.set("policy", "rollout");

  // Without a known platform, member and surge rules are the local platform's (the messages still help).
  const rules = platform ?? findClusterPlatform("local")!;
  const members = decodeMembers(p, raw, rules, clusterName, origins);
  const noAdvertise = readBool(p, "noAdvertise", raw.noAdvertise);
  const extraSettings = readObject(
    p,
    "extraSettings",
    raw.extraSettings,
    "write { setting: value }, e.g. { max_payload: 2097152 }",
  ) as StackConfig["extraSettings"] | undefined;
  const { tls, tlsPem, tlsGenerate } = decodeTls(p, raw);
  const monitoring = decodeMonitoring(p, raw);
  const auth = decodeAuth(p, raw);
  const { rollout, eventsFile, metricsFile, timelineFile } = decodeRollout(p, raw);

  let platformSettings: unknown;
  let platformSecrets: Record<string, string> | undefined;
  for (const name of clusterPlatformNames()) {
    if (name !== platform?.name && raw[name] !== undefined) {
      p.add(name, `used only with platform "${name}"; remove it or set platform to ${name}`);
    }
  }
  if (platform) {
    platformSettings = platform.decodeSettings(raw[platform.name], p, context);
    for (const key of platform.secretKeys ?? []) {
      const value = readString(
        p,
        key,
        raw[key],
        `set it with \`pulumi config set --secret ${CONFIG_NAMESPACE}:${key} …\``,
      );
      if (value !== undefined) platformSecrets = { ...platformSecrets, [key]: value };
    }
    for (const problem of platform.requiredSecrets?.(platformSettings) ?? []) {
      if (raw[problem.field] === undefined) p.add(problem.field, problem.message);
    }
    for (const refused of platform.refusedKeys ?? []) {
      if (raw[refused.field] !== undefined) p.add(refused.field, refused.message);
    }
  }

  const config: StackConfig = {
    platform: platform?.name ?? "",
    platformSettings,
    ...(platformSecrets ? { platformSecrets } : {}),
    clusterName,
    version,
    members,
    surge: decodeSurge(p, raw, rules, clusterName),
    jetstream: decodeJetStream(p, raw),
    lameDuck,
    routes: decodeRoutes(p, raw, members),
    rollout,
    ...(eventsFile !== undefined ? { eventsFile } : {}),
    ...(metricsFile !== undefined ? { metricsFile } : {}),
    ...(timelineFile !== undefined ? { timelineFile } : {}),
    ...(tls ? { tls } : {}),
    ...(tlsPem ? { tlsPem } : {}),
    ...(tlsGenerate ? { tlsGenerate } : {}),
    ...(monitoring ? { monitoring } : {}),
    ...(noAdvertise !== undefined ? { noAdvertise } : {}),
    ...(extraSettings ? { extraSettings } : {}),
    ...(auth ? { auth } : {}),
  };

  // An exporter on one of the servers' own ports would answer the install's check with nats-server's monitoring.
  if (platform) {
    const exporter = (platformSettings as { exporter?: ExporterRelease } | undefined)?.exporter;
    exporterPortClash(p, platform.name, exporter, [...members, config.surge]);
  }

  // The engine's rules, on the spec and policy this config describes; a key already reported in the config's own
  // words (the version's grammar, a wrong type) is not reported twice.
  const engineProblems = [
    ...validateClusterSpec(clusterSpecOf(config)),
    ...validatePolicy(rollout, lameDuck.durationSeconds),
  ];
  const alreadyReported = p.list.map((x) => x.field);
  for (const problem of engineProblems) {
    // Generated material does not exist yet: the RollingUpgrade's check validates it once it does.
    if (tlsGenerate && /^tls\.(certFile|keyFile|routes)$/.test(problem.field)) continue;
    const key = origins.keyOf(problem.field);
    if (
      key === "version" ||
      alreadyReported.some((k) => key === k || key.startsWith(`${k}.`) || key.startsWith(`${k}[`))
    )
      continue;
    p.add(key, problem.message);
  }
  if (p.list.length > 0) throw new StackConfigError(p.list, options.stack);
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
