/**
 * The RollingUpgrade resource's provider: a thin adapter between Pulumi's dynamic-provider protocol and the rollout
 * engine.
 *
 * Pulumi serializes this object to source text and runs it in a separate process
 * (`@pulumi/pulumi/cmd/dynamic-provider`). Everything it captures is copied by value, so it captures nothing of the
 * engine: every method `require()`s the engine's compiled JavaScript from `enginePath` (an absolute path computed
 * by the program as a plain string). Only types are imported from the engine here (`import type`, erased at
 * compile time). Node built-ins are fine: the serializer turns them into `require("fs")`.
 *
 * Every wait lives in the engine with its own deadline: the Node dynamic-provider shim ignores `customTimeouts`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as Engine from "../engine";
import type { AuthSpec, ClusterSpec, HostDriver, RolloutPolicy, RolloutReport } from "../engine";
import type * as AwsSsm from "../engine/hosts/aws-ssm";

type EngineModule = typeof Engine;

/** The cluster as the engine wants it, minus client auth (a separate, secret input). */
export type PublicClusterSpec = Omit<ClusterSpec, "auth">;

/** How the provider reaches the hosts. */
export type DriverSettings =
  | {
      /** Members are processes on this machine (engine/hosts/local.ts). */
      readonly kind: "local";
      /** Absolute directory with one directory per server. */
      readonly stateDir: string;
      /** Absolute nats-server binary cache (`<dir>/v<version>/nats-server`); misses are downloaded and verified. */
      readonly binaryCacheDir: string;
    }
  | {
      /** EC2 instances reached through SSM (engine/hosts/aws-ssm.ts, next to the engine's compiled entry point). */
      readonly kind: "aws-ssm";
      /** AWS region of the instances. */
      readonly region: string;
      /** `cluster.name` (tags, default config parameter prefix). */
      readonly clusterName: string;
      /** Member name → EC2 instance id (the surge VM is found by its tags). */
      readonly instanceIds: Readonly<Record<string, string>>;
      /** Launch template and subnet of the surge VM. */
      readonly surge?: { readonly launchTemplateId: string; readonly subnetId: string };
    }
  | {
      /** A driver from another module (a platform of your own). */
      readonly kind: "module";
      /** Absolute path of compiled JavaScript exporting `exportName(settings): HostDriver`. */
      readonly modulePath: string;
      /** The factory's export name. Default `createHostDriver`. */
      readonly exportName?: string;
      /** Plain JSON settings handed to the factory (region, instance ids, …). No secrets. */
      readonly settings: Readonly<Record<string, unknown>>;
    };

/** The resource's inputs. Outputs carry all of them: `diff` sees old outputs, not old inputs. */
export interface RollingUpgradeInputs {
  /** The desired cluster (version, members, surge server, settings) without client auth. */
  readonly spec: PublicClusterSpec;
  /** Client auth and the system account. Secret: marked secret in state and outputs. */
  readonly auth?: AuthSpec;
  /** RolloutPolicy overrides (engine defaults for the rest). */
  readonly policy: Partial<RolloutPolicy>;
  /** "local" or "aws", for messages. */
  readonly platform: string;
  /** How to reach the hosts. */
  readonly driver: DriverSettings;
  /** Absolute path of the engine's compiled entry point (`dist/engine/index.js`). */
  readonly enginePath: string;
  /** Listen address rendered into server configs (local 127.0.0.1, VMs 0.0.0.0). */
  readonly listenHost: string;
}

/** The last bootstrap or rollout, as text and as data. */
export interface LastReport {
  /** What produced it. */
  readonly kind: "bootstrap" | "rollout";
  /** `succeeded`, `halted`, `no-change` (rollout) or `bootstrapped`. */
  readonly result: string;
  /** The version the cluster was taken to. */
  readonly targetVersion: string;
  /** When it finished (ISO 8601). */
  readonly finishedAt: string;
  /** Total time in seconds. */
  readonly totalSeconds: number;
  /** Per member: from → to, result, time without serving clients. */
  readonly members: ReadonlyArray<{
    readonly name: string;
    readonly from?: string;
    readonly to: string;
    readonly result: string;
    readonly downSeconds?: number;
  }>;
  /** Where it stopped, when it halted. */
  readonly halt?: {
    readonly server: string;
    readonly step: string;
    readonly gate: string;
    readonly observation: string;
    readonly rolledBack: boolean;
    readonly advice: string;
  };
  /** The engine's report, formatted for people (formatReport). */
  readonly text: string;
}

/** Everything the resource stores: its inputs, and what the servers reported. */
export interface RollingUpgradeOutputs extends RollingUpgradeInputs {
  /** Member name → the version its `/varz` reported when last seen, or why it could not say. */
  readonly versions: Readonly<Record<string, string>>;
  /** Whether a surge server was running when last seen (left over from an interrupted rollout). */
  readonly surgeRunning: boolean;
  /** The last bootstrap or rollout. */
  readonly lastReport: LastReport;
}

/** A check failure, as Pulumi shows it: the input property and why. */
export interface CheckFailure {
  /** The input property path, e.g. `spec.members[1].clientPort`. */
  readonly property: string;
  /** What is wrong and how to fix it. */
  readonly reason: string;
}

/** The placeholder Pulumi sends for values not known yet (during preview). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** The inputs a diff compares; a change in any of them is an update (which reconciles the cluster). */
const COMPARED_INPUTS = ["spec", "auth", "policy", "platform", "driver", "enginePath", "listenHost"] as const;

/** How long `diff` may spend observing the cluster before it prints the plan from the inputs instead. */
const PREVIEW_OBSERVE_DEADLINE_MS = 30_000;

function containsUnknown(value: unknown): boolean {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(containsUnknown);
  if (value && typeof value === "object") return Object.values(value).some(containsUnknown);
  return false;
}

/** JSON with sorted keys, undefined dropped: the wire (protobuf Struct) keeps no undefined and no key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`)
      .join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** Outputs without undefined values (a protobuf Struct cannot hold them). */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** The engine's compiled entry point; falls back to the project's dist/ (the provider runs in the project dir). */
function resolveEnginePath(enginePath: string): string {
  const fallback = path.join(process.cwd(), "dist", "engine", "index.js");
  for (const candidate of [enginePath, fallback]) {
    if (typeof candidate === "string" && path.isAbsolute(candidate) && fs.existsSync(candidate)) return candidate;
  }
  throw new Error(
    `the rollout engine's compiled JavaScript is missing (${enginePath}, ${fallback}); run \`npm run build\` in the project, then retry`,
  );
}

function loadEngine(enginePath: string): EngineModule {
  return require(resolveEnginePath(enginePath)) as EngineModule;
}

function makeDriver(engine: EngineModule, settings: DriverSettings, enginePath: string): HostDriver {
  if (settings.kind === "local") {
    return new engine.LocalProcessDriver({
      stateDir: settings.stateDir,
      binaries: new engine.BinaryStore({ cacheDir: settings.binaryCacheDir }),
    });
  }
  if (settings.kind === "aws-ssm") {
    // Loaded only here, so the local platform never loads the AWS SDK.
    const { SsmHostDriver } = require(
      path.join(path.dirname(resolveEnginePath(enginePath)), "hosts", "aws-ssm.js"),
    ) as typeof AwsSsm;
    return new SsmHostDriver({
      region: settings.region,
      clusterName: settings.clusterName,
      instanceIdFor: (server) => settings.instanceIds[server.name],
      surge: settings.surge,
      log: (line) => console.log(line),
    });
  }
  const exportName = settings.exportName ?? "createHostDriver";
  const mod = require(settings.modulePath) as Record<string, unknown>;
  const factory = mod[exportName];
  if (typeof factory !== "function")
    throw new Error(`${settings.modulePath} exports no function ${exportName}(settings) returning a HostDriver`);
  return (factory as (s: Readonly<Record<string, unknown>>) => HostDriver)(settings.settings);
}

function fullSpec(inputs: RollingUpgradeInputs): ClusterSpec {
  return inputs.auth ? { ...inputs.spec, auth: inputs.auth } : inputs.spec;
}

function printEvents(engine: EngineModule): Engine.EventSink {
  return (event) => console.log(engine.formatEvent(event));
}

/** Member → version as the servers report it now. */
async function observeVersions(
  engine: EngineModule,
  spec: ClusterSpec,
  driver: HostDriver,
): Promise<{ versions: Record<string, string>; surgeRunning: boolean }> {
  const observed = await engine.observeCluster(spec, driver);
  const versions: Record<string, string> = {};
  for (const m of observed.members)
    versions[m.name] = m.version ?? (m.running ? `unreachable (${m.error ?? "no answer"})` : "not running");
  return { versions, surgeRunning: observed.surge.running };
}

function reportOf(engine: EngineModule, report: RolloutReport): LastReport {
  const h = report.halt;
  return plain<LastReport>({
    kind: "rollout",
    result: report.result,
    targetVersion: report.targetVersion,
    finishedAt: new Date().toISOString(),
    totalSeconds: Math.round(report.totalMs / 100) / 10,
    members: report.members.map((m) => ({
      name: m.name,
      from: m.from,
      to: m.to,
      result: m.result,
      downSeconds: m.downMs === undefined ? undefined : Math.round(m.downMs / 100) / 10,
    })),
    halt: h
      ? {
          server: h.server,
          step: h.step,
          gate: h.gate,
          observation: h.observation,
          rolledBack: h.rolledBack,
          advice: h.advice,
        }
      : undefined,
    text: engine.formatReport(report),
  });
}

/**
 * An Error that makes `pulumi up` fail and, with `id` and `properties`, records what the servers run now (the
 * dynamic-provider shim turns them into a partial-failure response). A plain Error with fields, not a subclass:
 * the serialized form of a class extending Error loses its message.
 */
function partialFailure(message: string, id: string, properties: Record<string, unknown>): Error {
  return Object.assign(new Error(message), { id, properties });
}

/**
 * Run the engine's rollout, printing its events as they happen. A halt throws with the formatted report as the
 * message (the rollout's halt fails `pulumi up`); `previous` outputs, when given, are recorded with the versions
 * seen after the halt, so `pulumi stack output` shows the halt report.
 */
async function rollout(
  engine: EngineModule,
  inputs: RollingUpgradeInputs,
  id: string,
  previous?: RollingUpgradeOutputs,
): Promise<RolloutReport> {
  const spec = fullSpec(inputs);
  const driver = makeDriver(engine, inputs.driver, inputs.enginePath);
  try {
    return await engine.runRollout({
      spec,
      driver,
      policy: inputs.policy,
      listenHost: inputs.listenHost,
      onEvent: printEvents(engine),
    });
  } catch (err) {
    if (err instanceof engine.RolloutRefused) {
      throw new Error(`RollingUpgrade: the rollout was refused before anything was touched.\n${err.message}`, {
        cause: err,
      });
    }
    if (err instanceof engine.RolloutHalted) {
      const text = engine.formatReport(err.report);
      console.log(text);
      const message = `RollingUpgrade: the rollout HALTED.\n${text}`;
      if (!previous) throw new Error(message, { cause: err });
      const seen = await observeVersions(engine, spec, driver).catch(() => ({
        versions: previous.versions,
        surgeRunning: previous.surgeRunning,
      }));
      // The engine re-marks outputs secret by the NEW inputs' secrets: record the new auth (or none) so that the
      // recorded auth is always covered. The planner compares the configs on the hosts, so nothing is lost.
      const { auth: _previousAuth, ...kept } = previous;
      throw partialFailure(
        message,
        id,
        plain({
          ...kept,
          ...(inputs.auth ? { auth: inputs.auth } : {}),
          ...seen,
          lastReport: reportOf(engine, err.report),
        }),
      );
    }
    throw err;
  }
}

function propertyFor(field: string): string {
  return field.startsWith("auth") ? field : `spec.${field}`;
}

function policyFailures(policy: unknown): CheckFailure[] {
  if (policy === undefined) return [];
  if (!policy || typeof policy !== "object" || Array.isArray(policy))
    return [{ property: "policy", reason: "must be an object of RolloutPolicy fields" }];
  const failures: CheckFailure[] = [];
  for (const [k, v] of Object.entries(policy)) {
    const ok = typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v) && v >= 0);
    if (!ok)
      failures.push({
        property: `policy.${k}`,
        reason: `${JSON.stringify(v)} is neither true/false nor a number of 0 or more`,
      });
  }
  return failures;
}

function driverFailures(driver: DriverSettings | undefined): CheckFailure[] {
  if (!driver || typeof driver !== "object")
    return [
      {
        property: "driver",
        reason:
          'missing; set { kind: "local", stateDir, binaryCacheDir }, { kind: "aws-ssm", … } or { kind: "module", modulePath, settings }',
      },
    ];
  if (driver.kind === "local") {
    return (["stateDir", "binaryCacheDir"] as const)
      .filter((k) => typeof driver[k] !== "string" || !path.isAbsolute(driver[k]))
      .map((k) => ({
        property: `driver.${k}`,
        reason: `${JSON.stringify(driver[k])} is not an absolute path; the provider runs in another process and directory`,
      }));
  }
  if (driver.kind === "aws-ssm") {
    const failures: CheckFailure[] = [];
    if (typeof driver.region !== "string" || driver.region.length === 0)
      failures.push({ property: "driver.region", reason: "missing; set the AWS region" });
    if (!driver.instanceIds || typeof driver.instanceIds !== "object")
      failures.push({
        property: "driver.instanceIds",
        reason: "missing; map every member name to its EC2 instance id",
      });
    return failures;
  }
  if (driver.kind === "module") {
    return typeof driver.modulePath === "string" && path.isAbsolute(driver.modulePath)
      ? []
      : [{ property: "driver.modulePath", reason: "must be an absolute path to compiled JavaScript" }];
  }
  return [
    {
      property: "driver.kind",
      reason: `${JSON.stringify((driver as { kind: unknown }).kind)} is not "local", "aws-ssm" or "module"`,
    },
  ];
}

/**
 * Refuse bad input before anything is touched, with failures naming the property: the engine's spec validation
 * (version format, duplicate names, port clashes, lame duck below 30 s, …) and an unsafe downgrade from the version
 * the resource had. Warnings (an even number of JetStream members) are printed, not refused.
 */
async function check(
  olds: Partial<RollingUpgradeInputs> | undefined,
  news: RollingUpgradeInputs,
): Promise<{ inputs: RollingUpgradeInputs; failures: CheckFailure[] }> {
  const failures: CheckFailure[] = [...policyFailures(news.policy), ...driverFailures(news.driver)];
  if (typeof news.enginePath !== "string" || !path.isAbsolute(news.enginePath)) {
    failures.push({
      property: "enginePath",
      reason: "must be the absolute path of the engine's compiled dist/engine/index.js",
    });
  }
  // Values not known yet (preview before the hosts exist) are checked when they are known.
  if (failures.length > 0 || containsUnknown(news.spec) || containsUnknown(news.auth))
    return { inputs: news, failures };

  const engine = loadEngine(news.enginePath);
  const spec = fullSpec(news);
  for (const problem of engine.validateClusterSpec(spec))
    failures.push({ property: propertyFor(problem.field), reason: problem.message });
  for (const warning of engine.clusterSpecWarnings(spec))
    console.log(`warning: ${propertyFor(warning.field)}: ${warning.message}`);
  // A well-formed version may still be one nobody released: locally, say where its binary will come from.
  if (news.driver.kind === "local" && failures.length === 0) {
    const store = new engine.BinaryStore({ cacheDir: news.driver.binaryCacheDir });
    if (!(await store.has(spec.version))) {
      console.log(
        `warning: spec.version: nats-server ${spec.version} is not in ${news.driver.binaryCacheDir}; it will be downloaded from the official release and SHA256-verified (an unreleased version fails there)`,
      );
    }
  }

  const from = olds?.spec?.version;
  const to = news.spec?.version;
  const versionOk = (v: unknown): v is string => typeof v === "string" && /^\d+\.\d+\.\d+$/.test(v);
  if (versionOk(from) && versionOk(to) && news.policy?.allowUnsafeDowngrade !== true) {
    const problem = engine.downgradeProblem(from, to);
    if (problem)
      failures.push({
        property: "spec.version",
        reason: `${problem}; set rollout.allowUnsafeDowngrade to true to force it`,
      });
  }
  return { inputs: news, failures };
}

/** When preview cannot observe the servers: the plan from the inputs alone (what changes, in which order). */
function planFromInputs(olds: Partial<RollingUpgradeOutputs>, news: RollingUpgradeInputs): string {
  const spec = news.spec;
  const grace = spec.lameDuck?.gracePeriodSeconds ?? 10;
  const soak = news.policy?.minHealthySeconds ?? 10;
  const members = Array.isArray(spec.members) ? spec.members : [];
  const lines = [`Rollout to nats-server ${spec.version} (from the stack's inputs; the servers were not observed):`];
  const oldVersion = olds.spec?.version ?? "?";
  lines.push(`   1. preflight       every member healthy, or nothing is touched`);
  lines.push(`   2. surge-up        ${String(spec.surge?.name ?? "?").padEnd(14)} ${oldVersion}`);
  members.forEach((m, i) => {
    const from = olds.versions?.[m.name] ?? oldVersion;
    lines.push(`  ${String(i + 3).padStart(2)}. restart-member  ${m.name.padEnd(14)} ${from} → ${spec.version}`);
  });
  lines.push(`  ${String(members.length + 3).padStart(2)}. surge-down      ${String(spec.surge?.name ?? "?")}`);
  lines.push(`  ${String(members.length + 4).padStart(2)}. final-check`);
  const estimate = members.length * (grace + 3 + soak + 2) + soak + 3 + grace + 2 + 3;
  lines.push(
    `  (members at the target are skipped and the JetStream meta leader goes last once observed; about ${estimate}s)`,
  );
  return lines.join("\n");
}

async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000}s`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The ordered plan, printed during preview (console output of a dynamic provider reaches the CLI). */
async function printPlan(olds: Partial<RollingUpgradeOutputs>, news: RollingUpgradeInputs, why: string): Promise<void> {
  console.log(`RollingUpgrade ${news.spec.name}: ${why}`);
  if (containsUnknown(news.spec) || containsUnknown(news.auth)) {
    console.log(planFromInputs(olds, news));
    return;
  }
  try {
    const engine = loadEngine(news.enginePath);
    const driver = makeDriver(engine, news.driver, news.enginePath);
    const { observed, plan } = await withDeadline(
      engine.previewRollout({ spec: fullSpec(news), driver, policy: news.policy, listenHost: news.listenHost }),
      PREVIEW_OBSERVE_DEADLINE_MS,
      "observing the cluster",
    );
    const seen = observed.members
      .map((m) => `${m.name} ${m.version ?? (m.running ? "unreachable" : "not running")}`)
      .join(", ");
    console.log(
      `servers now: ${seen}${observed.surge.running ? `; surge ${observed.surge.name} running` : ""}${observed.metaLeader ? `; meta leader ${observed.metaLeader}` : ""}`,
    );
    console.log(engine.formatPlan(plan));
  } catch (err) {
    console.log(`could not observe the cluster (${err instanceof Error ? err.message : String(err)})`);
    console.log(planFromInputs(olds, news));
  }
}

/**
 * A change when any compared input differs, or when the servers drifted from the spec (a member on another
 * version, a left-over surge server, as `pulumi refresh` records). Prints the ordered plan when there is a change.
 */
async function diff(
  _id: string,
  olds: Partial<RollingUpgradeOutputs>,
  news: RollingUpgradeInputs,
): Promise<{ changes: boolean; replaces: string[]; deleteBeforeReplace: boolean }> {
  const changed = COMPARED_INPUTS.filter((k) => canonical(olds[k]) !== canonical(news[k]));
  const members = Array.isArray(news.spec?.members) ? news.spec.members : [];
  // Drift: a server reports something other than what this resource last applied (a version bump is not drift).
  const applied = olds.spec?.version ?? news.spec?.version;
  const drifted =
    olds.versions && !containsUnknown(news.spec)
      ? members
          .filter((m) => olds.versions![m.name] !== applied)
          .map((m) => `${m.name} runs ${olds.versions![m.name] ?? "?"}`)
      : [];
  if (olds.surgeRunning) drifted.push(`surge ${news.spec?.surge?.name} is still running`);
  const changes = changed.length > 0 || drifted.length > 0;
  if (changes) {
    const version =
      olds.spec?.version !== news.spec?.version ? `version ${olds.spec?.version} → ${news.spec?.version}` : undefined;
    const why = [
      version,
      changed.length ? `changed: ${changed.join(", ")}` : undefined,
      drifted.length ? `drift: ${drifted.join("; ")}` : undefined,
    ]
      .filter(Boolean)
      .join("; ");
    await printPlan(olds, news, why);
  }
  return { changes, replaces: [], deleteBeforeReplace: false };
}

/**
 * Start every member that is not running at the spec's version (the engine's bootstrap: members already running are
 * left alone), then roll whatever still differs (members that were running another version or config). The report
 * is the rollout's when one was needed, else a bootstrap report.
 */
async function startCluster(
  engine: EngineModule,
  inputs: RollingUpgradeInputs,
  id: string,
  why: string,
): Promise<LastReport> {
  const spec = fullSpec(inputs);
  const driver = makeDriver(engine, inputs.driver, inputs.enginePath);
  const started = Date.now();
  console.log(
    `RollingUpgrade ${spec.name}: ${why}: starting ${spec.members.length} members at nats-server ${spec.version} (${inputs.platform})`,
  );
  await engine.bootstrapCluster({
    spec,
    driver,
    policy: inputs.policy,
    listenHost: inputs.listenHost,
    onEvent: printEvents(engine),
  });

  const { plan } = await engine.previewRollout({ spec, driver, policy: inputs.policy, listenHost: inputs.listenHost });
  if (plan.steps.length > 0) {
    console.log(
      `RollingUpgrade ${spec.name}: some members were already running with another version or config; rolling them to the spec`,
    );
    return reportOf(engine, await rollout(engine, inputs, id));
  }
  const totalSeconds = Math.round((Date.now() - started) / 100) / 10;
  return {
    kind: "bootstrap",
    result: "bootstrapped",
    targetVersion: spec.version,
    finishedAt: new Date().toISOString(),
    totalSeconds,
    members: spec.members.map((m) => ({ name: m.name, to: spec.version, result: "started" })),
    text: `Bootstrap at ${spec.version}: ${spec.members.map((m) => m.name).join(", ")} healthy in ${totalSeconds}s`,
  };
}

/** First deployment: the cluster started at the spec's version (members found running are reconciled by a rollout). */
async function create(inputs: RollingUpgradeInputs): Promise<{ id: string; outs: RollingUpgradeOutputs }> {
  const engine = loadEngine(inputs.enginePath);
  const id = inputs.spec.name;
  const lastReport = await startCluster(engine, inputs, id, "bootstrapping");
  console.log(lastReport.text);
  const seen = await observeVersions(engine, fullSpec(inputs), makeDriver(engine, inputs.driver, inputs.enginePath));
  return { id, outs: plain({ ...inputs, ...seen, lastReport }) };
}

/**
 * The rollout: old outputs → new inputs, through the engine; a halt fails `pulumi up` with the report. When no
 * member runs at all (the hosts were restarted, the processes killed), there is nothing to roll and nobody to
 * protect: the cluster is started as on create, rather than refused by the rollout's pre-flight.
 */
async function update(
  id: string,
  olds: RollingUpgradeOutputs,
  news: RollingUpgradeInputs,
): Promise<{ outs: RollingUpgradeOutputs }> {
  const engine = loadEngine(news.enginePath);
  const spec = fullSpec(news);
  const driver = makeDriver(engine, news.driver, news.enginePath);
  const observed = await engine.observeCluster(spec, driver);
  let lastReport: LastReport;
  if (observed.members.every((m) => !m.running) && !observed.surge.running) {
    lastReport = await startCluster(engine, news, id, "no member is running");
  } else {
    lastReport = reportOf(engine, await rollout(engine, news, id, olds));
  }
  console.log(lastReport.text);
  const seen = await observeVersions(engine, spec, driver);
  return { outs: plain({ ...news, ...seen, lastReport }) };
}

/** What the servers run now (`pulumi refresh` shows drift); everything else is kept as it was. */
async function read(id: string, props: RollingUpgradeOutputs): Promise<{ id: string; props: RollingUpgradeOutputs }> {
  const engine = loadEngine(props.enginePath);
  const seen = await observeVersions(engine, fullSpec(props), makeDriver(engine, props.driver, props.enginePath));
  return { id, props: plain({ ...props, ...seen }) };
}

/**
 * Remove a surge server left over from an interrupted rollout (lame duck first, so its clients move). Members are
 * not stopped here: their hosts are their own resources (LocalNatsProcess, the EC2 instances) and go with them.
 */
async function remove(_id: string, props: RollingUpgradeOutputs): Promise<void> {
  const engine = loadEngine(props.enginePath);
  const driver = makeDriver(engine, props.driver, props.enginePath);
  const surge = props.spec.surge;
  if (await driver.isRunning(surge)) {
    console.log(
      `RollingUpgrade ${props.spec.name}: removing the left-over surge server ${surge.name} (lame duck first)`,
    );
    await driver.signalLameDuck(surge).catch(() => undefined);
    const stopSeconds = props.policy?.stopTimeoutSeconds ?? 150;
    if (!(await driver.waitForExit(surge, stopSeconds * 1000))) await driver.kill(surge);
  }
  await driver.deprovision(surge);
}

/**
 * The provider object handed to `pulumi.dynamic.Resource`. Its methods are typed with this module's interfaces;
 * Pulumi's ResourceProvider declares them with `any`, so the object is assignable to it.
 */
export const rollingUpgradeProvider = { check, diff, create, update, read, delete: remove };
