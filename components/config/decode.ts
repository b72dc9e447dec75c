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
  LameDuckSpec,
  Problem,
  RolloutPolicy,
  TlsPem,
  TlsSpec,
} from "../../engine";
import { validateClusterSpec, validatePolicy, POLICY_FIELDS } from "../../engine/validate";
import { validateSupercluster } from "../../engine/supercluster/validate";
import { versionProblem } from "../../engine/versions";
import { clusterPlatformNames, findClusterPlatform } from "../platforms";
import { ClusterPlatform, DecodeContext } from "../platforms/platform";
import { decodeClusters, linksOfConfig } from "./clusters";
import { exporterPortClash } from "./exporter";
import type { ExporterRelease } from "../../engine/exporter";
import { FieldOrigins } from "./origins";
import { decodeJetStream, decodeMembers, decodeRoutes, decodeSurge } from "./servers";
import { specOf } from "./spec-of";
import type { ClusterConfig, SharedStackConfig, StackConfig, SuperclusterStackConfig, TlsGenerate } from "./types";
import {
  booleanish,
  didYouMean,
  numberish,
  Problems,
  readBool,
  readInt,
  readObject,
  readString,
  refuseUnknownFields,
} from "./values";

export type {
  ClusterConfig,
  SharedStackConfig,
  StackConfig,
  SuperclusterStackConfig,
  SurgePlacement,
  TlsGenerate,
} from "./types";

/** The config namespace: every key is `nats-cluster:<key>` (the Pulumi project name). */
export const CONFIG_NAMESPACE = "nats-cluster";

/** The keys every stack may set, besides each platform's own block (`nats-cluster:<platform>`). */
export const CORE_KEYS = [
  "platform",
  "version",
  "clusterName",
  "clusters",
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
  return specOf(config, { ...config, name: config.clusterName }, {}, hosts);
}

/**
 * Decode and validate a stack of one cluster (the command line drives one): a supercluster stack is refused, naming
 * `nats-cluster:clusters`. See {@link decodeAnyStackConfig}.
 */
export function decodeStackConfig(raw: Raw, options: DecodeOptions = {}): StackConfig {
  const config = decodeAnyStackConfig(raw, options);
  if (config.clusters === undefined) return config;
  throw new StackConfigError(
    [
      {
        field: "clusters",
        message:
          "this stack is a supercluster, and this reads a stack of one cluster; run it with `pulumi preview` / " +
          "`pulumi up`, or remove clusters",
      },
    ],
    options.stack,
  );
}

/**
 * Decode and validate the raw `nats-cluster:*` values (keys without the namespace): a stack of one cluster, or a
 * supercluster when `nats-cluster:clusters` is set. Pure: no Pulumi, no I/O. Throws a StackConfigError naming every
 * bad key and its fix; never quotes a secret value.
 */
export function decodeAnyStackConfig(raw: Raw, options: DecodeOptions = {}): StackConfig | SuperclusterStackConfig {
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
  // Without a known platform, member and surge rules are the local platform's (the messages still help).
  const rules = platform ?? findClusterPlatform("local")!;
  const shared = decodeShared(p, raw, platform, context, origins);

  if (raw.clusters !== undefined) {
    const clusters = decodeClusters(p, raw, rules, shared);
    if (platform) {
      const exporter = (shared.platformSettings as { exporter?: ExporterRelease } | undefined)?.exporter;
      exporterPortClash(
        p,
        platform.name,
        exporter,
        clusters.flatMap((c) => [...c.members, c.surge]),
      );
    }
    const links = linksOfConfig(clusters);
    const specs = clusters.map((cluster, i) => ({
      spec: specOf(shared, cluster, links[i]),
      origins: clusterOrigins(origins, raw.clusters, i, cluster),
    }));
    reportEngineProblems(p, shared, specs, true);
    if (p.list.length > 0) throw new StackConfigError(p.list, options.stack);
    return { ...shared, name: `nats-${context.stack}`, clusters };
  }

  const clusterName =
    readString(p, "clusterName", raw.clusterName, "write a name such as nats-prod") ?? `nats-${context.stack}`;
  origins.set("name", "clusterName");
  origins.set("members", raw.memberCount !== undefined ? "memberCount" : "members");
  const members = decodeMembers(p, raw, rules, clusterName);
  const surge = decodeSurge(p, raw, rules, clusterName);
  const config: StackConfig = { ...shared, clusterName, members, surge, routes: decodeRoutes(p, raw, members) };

  // An exporter on one of the servers' own ports would answer the install's check with nats-server's monitoring.
  if (platform) {
    const exporter = (shared.platformSettings as { exporter?: ExporterRelease } | undefined)?.exporter;
    exporterPortClash(p, platform.name, exporter, [...members, config.surge]);
  }
  reportEngineProblems(p, shared, [{ spec: clusterSpecOf(config), origins }]);
  if (p.list.length > 0) throw new StackConfigError(p.list, options.stack);
  return config;
}

/** What every cluster of the stack shares: the platform, the version, TLS, auth, lame duck, the rollout's policy. */
function decodeShared(
  p: Problems,
  raw: Raw,
  platform: ClusterPlatform | undefined,
  context: DecodeContext,
  origins: FieldOrigins,
): SharedStackConfig {
  const version = readString(p, "version", raw.version, "write a nats-server version such as 2.15.2") ?? "";
  origins.set("version", "version");
  if (raw.version === undefined) {
    p.add("version", "missing; set the nats-server version, e.g. `pulumi config set nats-cluster:version 2.15.2`");
  } else if (version && versionProblem(version)) p.add("version", versionProblem(version)!);

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

  const noAdvertise = readBool(p, "noAdvertise", raw.noAdvertise);
  const extraSettings = readObject(
    p,
    "extraSettings",
    raw.extraSettings,
    "write { setting: value }, e.g. { max_payload: 2097152 }",
  ) as SharedStackConfig["extraSettings"] | undefined;
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

  return {
    platform: platform?.name ?? "",
    platformSettings,
    ...(platformSecrets ? { platformSecrets } : {}),
    version,
    jetstream: decodeJetStream(p, "jetstream", raw.jetstream),
    lameDuck,
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
}

/**
 * Where one cluster of `nats-cluster:clusters` got each engine field: its own entry, or the shared key it did not
 * override. The gateways and the hub's URLs are derived from the other clusters, so their problems name the cluster.
 */
function clusterOrigins(shared: FieldOrigins, rawClusters: unknown, i: number, cluster: ClusterConfig): FieldOrigins {
  const at = `clusters[${i}]`;
  const entry = (Array.isArray(rawClusters) ? rawClusters[i] : undefined) as Record<string, unknown> | undefined;
  const own = (field: string) => entry?.[field] !== undefined;
  const origins = shared.copy();
  origins.set("name", `${at}.name`);
  origins.set("version", own("version") ? `${at}.version` : "version");
  origins.set("members", `${at}.${own("memberCount") ? "memberCount" : "members"}`);
  origins.set("surge", `${at}.surge`);
  for (const field of ["routes", "routes.kind"]) origins.set(field, `${at}.routeMode`);
  origins.set("routes.seeds", `${at}.seeds`);
  for (const field of ["jetstream", "jetstream.enabled"]) {
    origins.set(field, own("jetstream") ? `${at}.${field}` : cluster.hub ? `${at}.hub` : field);
  }
  origins.set("gateways", at);
  origins.set("gateways.port", `${at}.gatewayPort`);
  origins.set("leafnodes", `${at}.leafnodes`);
  origins.set("hub", `${at}.hub`);
  return origins;
}

/**
 * The engine's rules, on each cluster's spec and on the policy; a key already reported in the config's own words
 * (the version's grammar, a wrong type) is not reported twice.
 */
function reportEngineProblems(
  p: Problems,
  shared: SharedStackConfig,
  specs: ReadonlyArray<{ spec: ClusterSpec; origins: FieldOrigins }>,
  supercluster = false,
): void {
  const alreadyReported = p.list.map((x) => x.field);
  const versionKeys = new Set(["version", ...specs.map(({ origins }) => origins.keyOf("version"))]);
  // One cluster: its own rules. Several: the supercluster's, each problem at `clusters[i].<field of that cluster>`.
  const clusterProblems =
    specs.length === 1 && !supercluster
      ? validateClusterSpec(specs[0].spec).map((x) => ({ x, origins: specs[0].origins }))
      : validateSupercluster(specs.map(({ spec }) => spec)).map((x) => {
          const m = /^clusters\[(\d+)\]\.(.*)$/.exec(x.field);
          const origins = m ? specs[Number(m[1])]?.origins : undefined;
          return { x: m && origins ? { ...x, field: m[2] } : x, origins };
        });
  const problems = [
    ...clusterProblems,
    ...validatePolicy(shared.rollout, shared.lameDuck.durationSeconds).map((x) => ({ x, origins: specs[0]?.origins })),
  ];
  for (const { x: problem, origins } of problems) {
    // Generated material does not exist yet: the rollout's check validates it once it does.
    if (shared.tlsGenerate && /^tls\.(certFile|keyFile|routes)$/.test(problem.field)) continue;
    const key = origins ? origins.keyOf(problem.field) : problem.field;
    if (
      versionKeys.has(key) ||
      alreadyReported.some((k) => key === k || key.startsWith(`${k}.`) || key.startsWith(`${k}[`)) ||
      p.list.some((y) => y.field === key && y.message === problem.message)
    )
      continue;
    p.add(key, problem.message);
  }
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
