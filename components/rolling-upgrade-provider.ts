/**
 * The RollingUpgrade resource's provider: a thin adapter between Pulumi's dynamic-provider protocol and the
 * engine's one reconcile path (engine/rollout/reconcile.ts).
 *
 * Pulumi serializes this object to source text and runs it in a separate process
 * (`@pulumi/pulumi/cmd/dynamic-provider`) whose working directory is the project. Everything it captures is copied
 * by value, so it captures nothing of the engine: every method loads the engine's compiled JavaScript through
 * engine-module.ts. Only types are imported from the engine here (`import type`, erased at compile time).
 *
 * Every wait lives in the engine with its own deadline: the Node dynamic-provider shim ignores `customTimeouts`.
 */
import * as path from "node:path";
import type {
  AuthSpec,
  ClusterSpec,
  EventSink,
  HostDriver,
  LeavingServers,
  PlanDocument,
  Problem,
  ReleasePins,
  RolloutPlan,
  RolloutPolicy,
  RolloutReport,
  ServerEndpoint,
  ServersSeen,
  TlsPem,
} from "../engine";
import { canonicalJson } from "../engine/util/json";
import { CheckFailure, checkFailures } from "./check-failures";
import { EngineModule, loadEngine } from "./engine-module";
import { LastReport, reportOf } from "./last-report";
import { progress, progressShown } from "./progress";
import { watchForStop } from "./stop-request";

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

/** Everything the resource stores: its inputs, and what the servers reported. */
export interface RollingUpgradeOutputs extends RollingUpgradeInputs, ServersSeen {
  /** The last bootstrap or rollout. */
  readonly lastReport: LastReport;
}

/** The placeholder Pulumi sends for values not known yet (during preview). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** The inputs a diff compares; a change in any of them is an update (which reconciles the cluster). */
const COMPARED_INPUTS = ["spec", "auth", "policy", "platform", "settings", "platformSecrets", "tlsPem"] as const;

function containsUnknown(value: unknown): boolean {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(containsUnknown);
  if (value && typeof value === "object") return Object.values(value).some(containsUnknown);
  return false;
}

/** Outputs without undefined values (a protobuf Struct cannot hold them). */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function fullSpec(inputs: RollingUpgradeInputs): ClusterSpec {
  const withAuth = inputs.auth ? { ...inputs.spec, auth: inputs.auth } : inputs.spec;
  return inputs.tlsPem ? { ...withAuth, tls: { ...withAuth.tls, pem: inputs.tlsPem } } : withAuth;
}

function driverFor(engine: EngineModule, inputs: RollingUpgradeInputs): HostDriver {
  return engine.loadHostPlatform(inputs.platform).createHostDriver(inputs.settings, {
    secrets: inputs.platformSecrets,
    log: (line) => progress(line),
  });
}

function optionsFor(engine: EngineModule, inputs: RollingUpgradeInputs, olds?: Partial<RollingUpgradeInputs>) {
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
function leavingFrom(
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
function leavingMembers(news: RollingUpgradeInputs, olds: Partial<RollingUpgradeInputs> | undefined): ServerEndpoint[] {
  const names = new Set((news.spec?.members ?? []).map((m) => m.name));
  return (olds?.spec?.members ?? []).filter((m) => !names.has(m.name));
}

/**
 * The plans printed by `diff` in this process, by cluster, so `update` need not print the same plan again. On
 * `globalThis`: Pulumi's closure serializer gives each function its own copy of a captured module variable.
 */
function shownPlans(): Record<string, string> {
  const g = globalThis as { __natsClusterShownPlans?: Record<string, string> };
  return (g.__natsClusterShownPlans ??= {});
}

/**
 * Refuse bad input before anything is touched, with failures naming the property, then plan from the servers (the
 * `plannedRollout` input, which `pulumi preview --json` shows; the plan is handed to the `diff` that follows, which
 * prints it without observing the servers again). See {@link inputProblems} for what is refused.
 */
async function check(
  olds: Partial<RollingUpgradeInputs> | undefined,
  news: RollingUpgradeInputs,
): Promise<{ inputs: RollingUpgradeInputs; failures: CheckFailure[] }> {
  const { engine, loadMs } = loadTimed();
  const failures = checkFailures(await inputProblems(engine, olds, news));
  // Values not known yet (preview before the hosts exist) are checked, and planned with, when they are known. A
  // first deployment (no old inputs) is not planned here: `create` follows, with no `diff`, and starts the cluster.
  if (failures.length > 0 || hostsUnknown(news) || olds?.spec === undefined) return { inputs: news, failures };
  const plan = await timed("check", news, loadMs, () => previewPlan(engine, news, olds));
  handedOver()[news.spec.name] = { key: previewKey(news, olds), plan, at: Date.now() };
  // A plan made without the servers is left to `diff`, which plans from the versions last recorded.
  if (plan.assumed !== undefined) return { inputs: news, failures };
  return { inputs: { ...news, plannedRollout: engine.planDocument(plan, news.spec.name) }, failures };
}

/**
 * The engine's spec and policy validation, the platform's settings, an unsafe downgrade from the version the
 * resource had, a version that was never released (checked against the binary cache or the release listing where
 * they can be reached) and an events file that cannot be written. Warnings (an even number of JetStream members, a
 * version that cannot be checked) are printed, not refused.
 */
async function inputProblems(
  engine: EngineModule,
  olds: Partial<RollingUpgradeInputs> | undefined,
  news: RollingUpgradeInputs,
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
  for (const problem of engine.validateClusterSpec(spec)) {
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
function hostsUnknown(news: RollingUpgradeInputs): boolean {
  return containsUnknown(news.spec) || containsUnknown(news.auth) || containsUnknown(news.settings);
}

/** A file setting's path: `~/` is the home directory, a relative path the project directory's (the cwd here). */
function projectPath(engine: EngineModule, file: string): string {
  return path.resolve(engine.expandHome(file));
}

/** The files the rollout writes (events, metrics, timeline), resolved; the ones not set are left out. */
function outputFiles(engine: EngineModule, inputs: RollingUpgradeInputs) {
  const at = (file: string | undefined) => (file === undefined ? {} : { file: projectPath(engine, file) });
  return {
    eventsFile: at(inputs.eventsFile).file,
    metricsFile: at(inputs.metricsFile).file,
    timelineFile: at(inputs.timelineFile).file,
  };
}

/** Why a file the rollout writes cannot be written, by its input property, naming the config key that sets it. */
function outputFileProblems(engine: EngineModule, news: RollingUpgradeInputs): Problem[] {
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
async function standIn(engine: EngineModule, news: RollingUpgradeInputs, now: TlsPem | undefined): Promise<TlsPem> {
  const pem = await engine.standInTlsPem(fullSpec({ ...news, tlsPem: undefined }));
  return now && !containsUnknown(now) ? { ...pem, caPem: `${pem.caPem}${now.caPem}` } : pem;
}

/**
 * The inputs to plan with. TLS material this update issues (the stack's certificates, new or renewed) is not known
 * at preview: plan with a stand-in for the same hosts, since the plan depends on there being new material, never on
 * its bytes.
 */
async function plannedInputs(
  engine: EngineModule,
  news: RollingUpgradeInputs,
  olds: Partial<RollingUpgradeInputs> | undefined,
): Promise<RollingUpgradeInputs> {
  return containsUnknown(news.tlsPem) ? { ...news, tlsPem: await standIn(engine, news, olds?.tlsPem) } : news;
}

/** Observe the servers (within the preview's deadline) and plan, touching nothing. */
async function previewPlan(
  engine: EngineModule,
  news: RollingUpgradeInputs,
  olds: Partial<RollingUpgradeOutputs> | undefined,
): Promise<RolloutPlan> {
  const options = optionsFor(engine, await plannedInputs(engine, news, olds), olds);
  return (await engine.previewReconcile(options, { versions: olds?.versions })).plan;
}

/** The engine, and how long loading it took (for {@link timed}). */
function loadTimed(): { engine: EngineModule; loadMs: number } {
  const started = Date.now();
  const engine = loadEngine();
  return { engine, loadMs: Date.now() - started };
}

/**
 * What a preview costs, for the benchmark (`npm run bench`): set NATS_CLUSTER_TIMINGS to print it. The servers are
 * observed by `check`, or by `diff` when called on its own.
 */
async function timed<T>(method: string, news: RollingUpgradeInputs, loadMs: number, fn: () => Promise<T>) {
  const loaded = Date.now();
  const result = await fn();
  if (process.env.NATS_CLUSTER_TIMINGS) {
    console.log(
      `[timing] RollingUpgrade ${method}: engine loaded in ${loadMs} ms; ${news.spec?.members?.length} members ` +
        `and the surge server observed and the plan made in ${Date.now() - loaded} ms ` +
        `(provider process up ${Math.round(process.uptime() * 1000)} ms)`,
    );
  }
  return result;
}

/**
 * The plan `check` made, by cluster, for the `diff` that follows it with the same inputs (Pulumi calls the two in
 * turn for a resource, in this process): the servers are observed once per preview. Taken once, only while fresh,
 * and dropped by `create` and `update`. On `globalThis`, as {@link shownPlans}. The key holds what the plan depends
 * on: the compared inputs and the servers leaving (`check` finds them in the old inputs, `diff` in the old outputs;
 * they differ after a halted removal, and `diff` then plans again).
 */
function handedOver(): Record<string, HandedOver> {
  const g = globalThis as { __natsClusterHandedOver?: Record<string, HandedOver> };
  return (g.__natsClusterHandedOver ??= {});
}

interface HandedOver {
  readonly key: string;
  readonly plan: RolloutPlan;
  /** When `check` made it (ms since the epoch). */
  readonly at: number;
}

/** How long a plan `check` made is `diff`'s to take (the two are called in turn; this is ample). */
const HANDOVER_FRESH_MS = 60_000;

function previewKey(news: RollingUpgradeInputs, olds: Partial<RollingUpgradeInputs> | undefined): string {
  const leaving = leavingMembers(news, olds);
  const hosts = leaving.length > 0 ? [olds?.platform, olds?.settings] : [];
  return canonicalJson([COMPARED_INPUTS.map((k) => news[k]), leaving, hosts]);
}

/**
 * `diff`'s plan: the one `check` just made for these inputs, or (when `check` could not observe the servers) the
 * plan from the versions last recorded without asking them again, or, called on its own, its own observation.
 */
async function diffPlan(
  olds: Partial<RollingUpgradeOutputs>,
  news: RollingUpgradeInputs,
  { engine, loadMs }: { engine: EngineModule; loadMs: number },
): Promise<RolloutPlan> {
  const all = handedOver();
  const entry = all[news.spec.name];
  delete all[news.spec.name];
  const fresh = entry !== undefined && Date.now() - entry.at < HANDOVER_FRESH_MS;
  const handed = fresh && entry.key === previewKey(news, olds) ? entry.plan : undefined;
  if (!handed) return timed("diff", news, loadMs, () => previewPlan(engine, news, olds));
  if (handed.assumed === undefined) return handed;
  const options = optionsFor(engine, await plannedInputs(engine, news, olds), olds);
  return engine.previewAssumed(options, olds.versions, handed.assumed).plan;
}

/**
 * A change when any compared input differs, or when the servers need something (a member found down, one on
 * another version, a left-over surge server): the servers are observed (by `check`), so drift shows in every
 * preview and `pulumi up` heals it, without `--refresh`. Prints the ordered plan when there is a change.
 */
async function diff(
  _id: string,
  olds: Partial<RollingUpgradeOutputs>,
  news: RollingUpgradeInputs,
): Promise<{ changes: boolean; replaces: string[]; deleteBeforeReplace: boolean }> {
  const changed = COMPARED_INPUTS.filter((k) => canonicalJson(olds[k]) !== canonicalJson(news[k]));
  const pemPending = containsUnknown(news.tlsPem);
  const unknown = hostsUnknown(news);
  const loaded = loadTimed();
  const { engine } = loaded;
  const plan = unknown ? undefined : await diffPlan(olds, news, loaded);
  const changes =
    changed.length > 0 || unknown || (plan !== undefined && (plan.steps.length > 0 || plan.refusals.length > 0));
  if (changes) {
    const version =
      olds.spec?.version !== news.spec?.version ? `version ${olds.spec?.version} → ${news.spec?.version}` : undefined;
    const drift = changed.length === 0 ? "the servers differ from the stack (drift)" : undefined;
    const why = [version, changed.length ? `changed: ${changed.join(", ")}` : undefined, drift]
      .filter(Boolean)
      .join("; ");
    console.log(`RollingUpgrade ${news.spec?.name}: ${why}`);
    if (pemPending && plan) {
      console.log(
        "new TLS material is issued by this update: the plan below was made with a stand-in certificate for the " +
          "same hosts; a new certificate alone is a reload of each member, one at a time, no restart",
      );
    }
    if (plan) {
      // `pulumi up` runs diff twice (its preview, then the update): the same plan is printed once.
      const text = engine.formatPlan(plan);
      console.log(shownPlans()[news.spec.name] === text ? "(the plan is as shown above)" : text);
      shownPlans()[news.spec.name] = text;
    } else {
      console.log("the hosts are not created yet: the plan is made when they are (`pulumi up` prints it)");
    }
  }
  return { changes, replaces: [], deleteBeforeReplace: false };
}

/**
 * An Error that fails `pulumi up` and, with `id` and `properties`, records what the servers run now (the
 * dynamic-provider shim turns it into a partial failure). The CLI prints a partial failure's `reasons`, not its
 * message, so the report goes in both. A plain Error with fields: a class extending Error loses its message when
 * the provider is serialized.
 */
function partialFailure(message: string, id: string, properties: object): Error {
  return Object.assign(new Error(message), { id, properties, reasons: [message] });
}

/**
 * The env var that lets `pulumi up` break a stale rollout lease: the id the refusal names. An env var, not stack
 * config: breaking is a one-time act about one dead roller, and a config value would stay in the stack file and in
 * state, breaking every later stale lease (a slow but live roller's too) long after anyone remembers setting it.
 * The id makes it unable to break any lease but the one the operator read about.
 */
const BREAK_LEASE_ENV = "NATS_ROLLOUT_BREAK_LEASE";

/**
 * The one path of create and update: {@link reconcileLeased}, appending each event to the events file when one is
 * set. The file is opened before anything is touched: one that cannot be opened fails the update with nothing done.
 */
async function apply(
  id: string,
  inputs: RollingUpgradeInputs,
  previous?: RollingUpgradeOutputs,
): Promise<RollingUpgradeOutputs> {
  const engine = loadEngine();
  delete handedOver()[inputs.spec.name];
  if (inputs.eventsFile === undefined) return reconcileLeased(engine, id, inputs, previous);
  const file = outputFiles(engine, inputs).eventsFile!;
  const events = engine.openEventsFile(file, inputs.spec.name, (message) => console.log(`warning: ${message}`));
  try {
    return await reconcileLeased(engine, id, inputs, previous, events.sink);
  } finally {
    events.close();
  }
}

/**
 * The engine's reconcile, printing its progress as it happens, holding the cluster's rollout lease (a second roller,
 * from another checkout or the command line, is refused naming the first, before anything is touched). Ctrl-C during
 * the rollout stops it after the member in progress. A halt, a refusal or a stop fails the operation with the report
 * as its message and records what the servers run now.
 */
async function reconcileLeased(
  engine: EngineModule,
  id: string,
  inputs: RollingUpgradeInputs,
  previous?: RollingUpgradeOutputs,
  onEvent?: EventSink,
): Promise<RollingUpgradeOutputs> {
  const options = optionsFor(engine, inputs, previous);
  const stop = watchForStop();
  const shown = shownPlans()[inputs.spec.name];
  try {
    const leased = await engine.withRolloutLease(
      {
        spec: options.spec,
        driver: options.driver,
        breakLease: process.env[BREAK_LEASE_ENV] || undefined,
        log: (line) => progress(line),
      },
      { stack: inputs.leaseStack ?? "pulumi" },
      (lease) =>
        engine.reconcile({
          ...options,
          stopRequested: () => stop.requested() ?? lease.lost(),
          onEvent: (event) => {
            onEvent?.(event);
            // The plan made at the start: skip it when `diff` just printed the same text.
            if (event.kind === "info" && event.step === undefined && event.message === shown) {
              progress("(the plan is as shown above)");
              return;
            }
            progress(engine.formatEvent(event));
          },
        }),
    );
    await progressShown();
    // Refused before anything was touched: the state stays as it was (no partial failure to record).
    if (leased.status === "refused")
      throw new Error(`RollingUpgrade ${inputs.spec.name}: refused: ${leased.refusal.message}`);
    const outcome = leased.result;
    // The figures and the picture of what happened, whatever happened.
    if (outcome.status !== "refused") {
      await engine.writeReportFiles(outputFiles(engine, inputs), outcome.report, inputs.spec.name, progress, (line) =>
        console.log(`warning: ${line}`),
      );
    }
    const record = (lastReport: LastReport): RollingUpgradeOutputs => plain({ ...inputs, ...outcome.seen, lastReport });
    // After a halt, a refusal or a stop, the state keeps the inputs last applied (so the next diff still sees the
    // change), with what the servers run now. The secrets are the new inputs': Pulumi marks outputs secret by them.
    const recordFailure = (lastReport: LastReport): RollingUpgradeOutputs => {
      if (!previous) return record(lastReport);
      const { auth: _auth, platformSecrets: _secrets, tlsPem: _pem, ...kept } = previous;
      const secrets = { auth: inputs.auth, platformSecrets: inputs.platformSecrets, tlsPem: inputs.tlsPem };
      return plain({ ...kept, ...secrets, plannedRollout: inputs.plannedRollout, ...outcome.seen, lastReport });
    };
    switch (outcome.status) {
      case "done": {
        const lastReport = reportOf(engine, outcome.report);
        console.log(lastReport.text);
        return record(lastReport);
      }
      case "refused":
        throw partialFailure(
          `RollingUpgrade ${inputs.spec.name}: refused before anything was touched.\n${engine.formatPlan(outcome.plan)}`,
          id,
          recordFailure(refusedReport(engine, inputs, outcome.plan)),
        );
      case "halted":
      case "interrupted": {
        const lastReport = reportOf(engine, outcome.report);
        const headline = outcome.status === "halted" ? "the rollout HALTED" : "the rollout was INTERRUPTED";
        throw partialFailure(
          `RollingUpgrade ${inputs.spec.name}: ${headline}.\n${lastReport.text}`,
          id,
          recordFailure(lastReport),
        );
      }
    }
  } finally {
    stop.dispose();
    delete shownPlans()[inputs.spec.name];
  }
}

function refusedReport(engine: EngineModule, inputs: RollingUpgradeInputs, plan: RolloutPlan): LastReport {
  const report: RolloutReport = {
    kind: plan.kind,
    targetVersion: plan.targetVersion,
    result: "no-change",
    members: [],
    totalMs: 0,
  };
  return { ...reportOf(engine, report), result: "refused", text: engine.formatPlan(plan) };
}

/** First deployment: the hosts exist; reconcile starts the cluster (or adopts one already running). */
async function create(inputs: RollingUpgradeInputs): Promise<{ id: string; outs: RollingUpgradeOutputs }> {
  const id = inputs.spec.name;
  return { id, outs: await apply(id, inputs) };
}

/** Any change of inputs, or drift seen by `diff`: reconcile the cluster to the inputs. */
async function update(
  id: string,
  olds: RollingUpgradeOutputs,
  news: RollingUpgradeInputs,
): Promise<{ outs: RollingUpgradeOutputs }> {
  return { outs: await apply(id, news, olds) };
}

/** What the servers run now (`pulumi refresh`); everything else is kept as it was. */
async function read(id: string, props: RollingUpgradeOutputs): Promise<{ id: string; props: RollingUpgradeOutputs }> {
  const engine = loadEngine();
  const options = optionsFor(engine, props);
  const seen = engine.serversSeen(await engine.observeCluster(options.spec, options.driver));
  return { id, props: plain({ ...props, ...seen }) };
}

/**
 * Remove a surge server left over from an interrupted rollout (lame duck first, so its clients move). Members are
 * not stopped here: their hosts are their own resources and go with them.
 */
async function remove(_id: string, props: RollingUpgradeOutputs): Promise<void> {
  const engine = loadEngine();
  const { spec, driver } = optionsFor(engine, props);
  if (await driver.isRunning(spec.surge)) {
    console.log(
      `RollingUpgrade ${spec.name}: removing the left-over surge server ${spec.surge.name} (lame duck first)`,
    );
    await engine.stopGracefully(driver, spec.surge, {
      timeoutSeconds: props.policy?.stopTimeoutSeconds ?? engine.DEFAULT_POLICY.stopTimeoutSeconds,
      signal: "best-effort",
    });
  }
  await driver.deprovision(spec.surge);
}

/**
 * The provider object handed to `pulumi.dynamic.Resource`. Its methods are typed with this module's interfaces;
 * Pulumi's ResourceProvider declares them with `any`, so the object is assignable to it.
 */
export const rollingUpgradeProvider = { check, diff, create, update, read, delete: remove };
