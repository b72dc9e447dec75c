/**
 * One cluster's rollout inputs and what the rollout providers do with them, shared by the RollingUpgrade provider
 * (one cluster) and the SuperclusterRollout provider (each of its clusters): the engine's options of a cluster, the
 * members leaving it, the refusals of bad input (`inputProblems`), TLS stand-ins for a preview, the files the
 * rollout writes, and the partial failure that records what the servers run after a halt.
 *
 * Like the providers, this is serialized to source text with them and runs in Pulumi's dynamic-provider process: it
 * captures nothing of the engine (only types are imported from it); the engine is loaded through engine-module.ts.
 */
import * as path from "node:path";
import type {
  AuthSpec,
  ClusterSpec,
  HostDriver,
  LeavingServers,
  PlanDocument,
  Problem,
  ReleasePins,
  RolloutPlan,
  RolloutPolicy,
  RolloutReport,
  ServerEndpoint,
  TlsPem,
} from "../engine";
import { canonicalJson } from "../engine/util/json";
import { EngineModule, loadEngine } from "./engine-module";
import { LastReport, reportOf } from "./last-report";
import { progress } from "./progress";

/** The cluster as the engine wants it, minus client auth (a separate, secret input). */
export type PublicClusterSpec = Omit<ClusterSpec, "auth">;

/** The resource's inputs. Outputs carry all of them: `diff` sees old outputs, not old inputs. */
export interface RollingUpgradeInputs {
  /** The desired cluster (version, members, surge server, settings) without client auth. */
  readonly spec: PublicClusterSpec;
  /** Client auth and the system account. Secret: marked secret in state and outputs. */
  readonly auth?: AuthSpec;
  /** RolloutPolicy overrides (engine defaults for the rest). */
  readonly policy: Partial<RolloutPolicy>;
  /** The platform: the engine's host driver folder (engine/hosts/<platform>). */
  readonly platform: string;
  /** The platform driver's settings: plain JSON, nothing machine-specific, no secrets. */
  readonly settings: Readonly<Record<string, unknown>>;
  /** The platform driver's secrets (an SSH key, …). Secret, like auth. */
  readonly platformSecrets?: Readonly<Record<string, string>>;
  /**
   * The TLS material the platform delivers to every host (`spec.tls.pem`): certificate, key, CA. Secret, like auth
   * (the key is; the certificate and CA ride along so one value says what the hosts get).
   */
  readonly tlsPem?: TlsPem;
  /**
   * `project/stack`, named in the rollout lease this resource's create and update hold. Not compared by `diff`: the
   * same cluster applied from another stack is the same cluster.
   */
  readonly leaseStack?: string;
  /**
   * `nats-cluster:rollout.eventsFile`: the file create and update append the rollout's events to, one JSON line each
   * (`~/` is the home directory, a relative path is the project directory's). Not compared by `diff`: where the
   * events go changes nothing on the servers.
   */
  readonly eventsFile?: string;
  /** `nats-cluster:rollout.metricsFile`: where the rollout's figures go (Prometheus text). Not compared by `diff`. */
  readonly metricsFile?: string;
  /** `nats-cluster:rollout.timelineFile`: where the rollout is drawn (SVG). Not compared by `diff`. */
  readonly timelineFile?: string;
  /**
   * The plan as data (`nats-cluster/plan@1`), set by `check` from the servers, not by the program: `pulumi preview
   * --json` shows it in the resource's new state (`newState.inputs.plannedRollout`: a preview has no outputs yet),
   * and after `pulumi up` the output is the plan that update was made from. Absent when no plan was made from the
   * servers then: the first deployment (`create` starts the cluster), hosts not created yet, or servers not
   * answering (the plan printed is then made from the versions last recorded). Not compared by `diff`, and the same
   * document for the same plan, so a preview with nothing to do shows no change.
   */
  readonly plannedRollout?: PlanDocument;
}

/** The placeholder Pulumi sends for values not known yet (during preview). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export function containsUnknown(value: unknown): boolean {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(containsUnknown);
  if (value && typeof value === "object") return Object.values(value).some(containsUnknown);
  return false;
}

/** Outputs without undefined values (a protobuf Struct cannot hold them). */
export function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export function fullSpec(inputs: RollingUpgradeInputs): ClusterSpec {
  const withAuth = inputs.auth ? { ...inputs.spec, auth: inputs.auth } : inputs.spec;
  return inputs.tlsPem ? { ...withAuth, tls: { ...withAuth.tls, pem: inputs.tlsPem } } : withAuth;
}

export function driverFor(engine: EngineModule, inputs: RollingUpgradeInputs): HostDriver {
  return engine.loadHostPlatform(inputs.platform).createHostDriver(inputs.settings, {
    secrets: inputs.platformSecrets,
    log: (line) => progress(line),
  });
}

export function optionsFor(engine: EngineModule, inputs: RollingUpgradeInputs, olds?: Partial<RollingUpgradeInputs>) {
  return {
    spec: fullSpec(inputs),
    driver: driverFor(engine, inputs),
    policy: inputs.policy,
    listenHost: engine.loadHostPlatform(inputs.platform).listenHost,
    leaving: leavingFrom(engine, inputs, olds),
  };
}

/**
 * The members of the inputs last applied that the new inputs no longer have: the engine removes each one the
 * servers still show (running, in the JetStream meta group, a config on its host) and plans nothing for one that
 * is gone, so the removal is reconciled from the servers, not from this list. Their hosts are reached with the
 * settings last applied (the new settings may no longer name an SSH host key or an instance of theirs). After a
 * halted removal the state keeps the inputs last applied, so the next `pulumi up` names them again and resumes.
 */
export function leavingFrom(
  engine: EngineModule,
  news: RollingUpgradeInputs,
  olds: Partial<RollingUpgradeInputs> | undefined,
): LeavingServers | undefined {
  const members = leavingMembers(news, olds);
  if (members.length === 0 || !olds?.platform || !olds.settings || containsUnknown(olds.settings)) return undefined;
  const sameHosts = olds.platform === news.platform && canonicalJson(olds.settings) === canonicalJson(news.settings);
  return { members, driver: sameHosts ? undefined : driverFor(engine, olds as RollingUpgradeInputs) };
}

/** The members of the old inputs (or outputs) that the new inputs no longer have. */
export function leavingMembers(
  news: RollingUpgradeInputs,
  olds: Partial<RollingUpgradeInputs> | undefined,
): ServerEndpoint[] {
  const names = new Set((news.spec?.members ?? []).map((m) => m.name));
  return (olds?.spec?.members ?? []).filter((m) => !names.has(m.name));
}

/**
 * The engine's spec and policy validation, the platform's settings, an unsafe downgrade from the version the
 * resource had, a version that was never released (checked against the binary cache or the release listing where
 * they can be reached) and an events file that cannot be written. Warnings (an even number of JetStream members, a
 * version that cannot be checked) are printed, not refused.
 */
export async function inputProblems(
  engine: EngineModule,
  olds: Partial<RollingUpgradeInputs> | undefined,
  news: RollingUpgradeInputs,
  { inSupercluster = false }: { readonly inSupercluster?: boolean } = {},
): Promise<Problem[]> {
  const problems: Problem[] = [];
  const platformNames = engine.hostPlatformNames();
  if (!platformNames.includes(news.platform)) {
    problems.push({
      field: "platform",
      message: `${JSON.stringify(news.platform)} is not one of ${platformNames.join(", ")}`,
    });
    return problems;
  }
  problems.push(...outputFileProblems(engine, news));
  // Values not known yet (preview before the hosts exist) are checked when they are known.
  if (hostsUnknown(news) || containsUnknown(news.tlsPem)) return problems;

  const platform = engine.loadHostPlatform(news.platform);
  for (const problem of platform.settingsProblems(news.settings)) {
    problems.push({ field: `settings.${problem.field}`, message: problem.message });
  }
  const spec = fullSpec(news);
  // In a supercluster the spec's rules are the supercluster's (validateSupercluster, run by its provider once); the
  // version's grammar is checked here, before the release lookup below relies on it.
  const versionBad = inSupercluster ? engine.versionProblem(spec.version) : undefined;
  if (versionBad) problems.push({ field: "spec.version", message: versionBad });
  for (const problem of inSupercluster ? [] : engine.validateClusterSpec(spec)) {
    problems.push({
      field: problem.field.startsWith("auth")
        ? problem.field
        : problem.field.startsWith("tls.pem.")
          ? `tlsPem.${problem.field.slice("tls.pem.".length)}`
          : `spec.${problem.field}`,
      message: problem.message,
    });
  }
  problems.push(...engine.validatePolicy(news.policy, spec.lameDuck?.durationSeconds));
  for (const warning of engine.clusterSpecWarnings(spec))
    console.log(`warning: spec.${warning.field}: ${warning.message}`);

  const from = olds?.spec?.version;
  if (engine.isVersion(from) && engine.isVersion(spec.version) && news.policy?.allowUnsafeDowngrade !== true) {
    const problem = engine.downgradeProblem(from, spec.version);
    if (problem)
      problems.push({
        field: "spec.version",
        message: `${problem}; set rollout.allowUnsafeDowngrade to true to force it`,
      });
  }
  if (problems.length === 0 && from !== spec.version) {
    const setting = (key: string) =>
      typeof news.settings[key] === "string" ? (news.settings[key] as string) : undefined;
    const cacheDir = setting("binaryCacheDir");
    const arch = setting("arch");
    const store = new engine.BinaryStore({
      cacheDir: cacheDir ? engine.expandHome(cacheDir) : engine.defaultBinaryCacheDir(),
      releaseBaseUrl: setting("releaseBaseUrl"),
      releaseSha256: news.settings.releaseSha256 as ReleasePins | undefined,
      ...(arch === "amd64" || arch === "arm64" ? { arch } : {}),
    });
    const availability = await store.availability(spec.version);
    if (availability.state === "untrusted") {
      problems.push({ field: "settings.releaseSha256", message: availability.detail });
    } else if (availability.state === "missing") {
      problems.push({
        field: "spec.version",
        message: `nats-server ${spec.version} was never released: ${availability.detail}`,
      });
    } else if (availability.state === "unknown") {
      console.log(
        `warning: spec.version: nats-server ${spec.version} could not be checked (not in the binary cache, and ` +
          `${availability.detail}); a version that does not exist fails its download before any member is touched`,
      );
    }
  }
  return problems;
}

/** Whether the spec, auth or settings hold values not known yet (a preview before the hosts exist). */
export function hostsUnknown(news: RollingUpgradeInputs): boolean {
  return containsUnknown(news.spec) || containsUnknown(news.auth) || containsUnknown(news.settings);
}

/** A file setting's path: `~/` is the home directory, a relative path the project directory's (the cwd here). */
export function projectPath(engine: EngineModule, file: string): string {
  return path.resolve(engine.expandHome(file));
}

/** The files the rollout writes (events, metrics, timeline), resolved; the ones not set are left out. */
export function outputFiles(engine: EngineModule, inputs: RollingUpgradeInputs) {
  const at = (file: string | undefined) => (file === undefined ? {} : { file: projectPath(engine, file) });
  return {
    eventsFile: at(inputs.eventsFile).file,
    metricsFile: at(inputs.metricsFile).file,
    timelineFile: at(inputs.timelineFile).file,
  };
}

/** Why a file the rollout writes cannot be written, by its input property, naming the config key that sets it. */
export function outputFileProblems(engine: EngineModule, news: RollingUpgradeInputs): Problem[] {
  const fix = (key: string, what: string) =>
    `set nats-cluster:rollout.${key} to ${what} in a directory this user can write`;
  for (const key of ["eventsFile", "metricsFile", "timelineFile"] as const) {
    const value: unknown = news[key];
    if (value !== undefined && (typeof value !== "string" || value === ""))
      return [{ field: key, message: `${JSON.stringify(value)} is not a file's path; ${fix(key, "a file")}` }];
  }
  const files = outputFiles(engine, news);
  const problems: Problem[] = [];
  const events = files.eventsFile === undefined ? undefined : engine.outputFileProblem(files.eventsFile);
  if (events) problems.push({ field: "eventsFile", message: `${events}; ${fix("eventsFile", "a file")}` });
  for (const { key, problem } of engine.reportFileProblems(files)) {
    const what = `a ${engine.REPORT_FILE_ENDINGS[key]} file`;
    problems.push({ field: key, message: `${problem}; ${fix(key, what)}` });
  }
  return problems;
}

/**
 * Stand-in TLS material to plan with while the real one is being issued by this update. Its CA bundle also holds the
 * CA the servers present now, so the observation (which verifies them) still trusts them.
 */
export async function standIn(
  engine: EngineModule,
  news: RollingUpgradeInputs,
  now: TlsPem | undefined,
): Promise<TlsPem> {
  const pem = await engine.standInTlsPem(fullSpec({ ...news, tlsPem: undefined }));
  return now && !containsUnknown(now) ? { ...pem, caPem: `${pem.caPem}${now.caPem}` } : pem;
}

/**
 * The inputs to plan with. TLS material this update issues (the stack's certificates, new or renewed) is not known
 * at preview: plan with a stand-in for the same hosts, since the plan depends on there being new material, never on
 * its bytes.
 */
export async function plannedInputs(
  engine: EngineModule,
  news: RollingUpgradeInputs,
  olds: Partial<RollingUpgradeInputs> | undefined,
): Promise<RollingUpgradeInputs> {
  return containsUnknown(news.tlsPem) ? { ...news, tlsPem: await standIn(engine, news, olds?.tlsPem) } : news;
}

/** The engine, and how long loading it took (for {@link timed}). */
export function loadTimed(): { engine: EngineModule; loadMs: number } {
  const started = Date.now();
  const engine = loadEngine();
  return { engine, loadMs: Date.now() - started };
}

/**
 * An Error that fails `pulumi up` and, with `id` and `properties`, records what the servers run now (the
 * dynamic-provider shim turns it into a partial failure). The CLI prints a partial failure's `reasons`, not its
 * message, so the report goes in both. A plain Error with fields: a class extending Error loses its message when
 * the provider is serialized.
 */
export function partialFailure(message: string, id: string, properties: object): Error {
  return Object.assign(new Error(message), { id, properties, reasons: [message] });
}

/**
 * The env var that lets `pulumi up` break a stale rollout lease: the id the refusal names. An env var, not stack
 * config: breaking is a one-time act about one dead roller, and a config value would stay in the stack file and in
 * state, breaking every later stale lease (a slow but live roller's too) long after anyone remembers setting it.
 * The id makes it unable to break any lease but the one the operator read about.
 */
export const BREAK_LEASE_ENV = "NATS_ROLLOUT_BREAK_LEASE";

export function refusedReport(engine: EngineModule, inputs: RollingUpgradeInputs, plan: RolloutPlan): LastReport {
  const report: RolloutReport = {
    kind: plan.kind,
    targetVersion: plan.targetVersion,
    result: "no-change",
    members: [],
    totalMs: 0,
  };
  return { ...reportOf(engine, report), result: "refused", text: engine.formatPlan(plan) };
}
