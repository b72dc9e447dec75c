/**
 * The SuperclusterRollout resource's provider: a thin adapter between Pulumi's dynamic-provider protocol and the
 * engine's supercluster run (engine/supercluster/: one cluster at a time, each through the single-cluster reconcile).
 * Each cluster's inputs are looked at as a RollingUpgrade's would be (cluster-rollout-inputs.ts: the same refusals,
 * options, leaving members, TLS stand-in), so a cluster is checked and driven the same whether it is alone or one of
 * several. Serialized and run like the RollingUpgrade provider: it captures nothing of the engine (types only).
 */
import type {
  AuthSpec,
  EventSink,
  EventsFile,
  Problem,
  RolloutPolicy,
  SuperclusterCluster,
  SuperclusterOutcome,
  SuperclusterPlan,
  SuperclusterPlanDocument,
  TlsPem,
} from "../engine";
import { canonicalJson } from "../engine/util/json";
import { CheckFailure, checkFailures } from "./check-failures";
import {
  BREAK_LEASE_ENV,
  containsUnknown,
  fullSpec,
  hostsUnknown,
  inputProblems,
  optionsFor,
  outputFiles,
  partialFailure,
  plain,
  plannedInputs,
  PublicClusterSpec,
  refusedReport,
  RollingUpgradeInputs,
} from "./cluster-rollout-inputs";
import { EngineModule, loadEngine } from "./engine-module";
import { LastReport, reportOf } from "./last-report";
import { planHandover } from "./plan-handover";
import { progress, progressShown } from "./progress";
import { watchForStop } from "./stop-request";

/** One cluster of the supercluster: its spec (no client auth) and its hosts' driver settings. */
export interface SuperclusterRolloutCluster {
  readonly spec: PublicClusterSpec;
  /** The platform driver's settings for this cluster's hosts (plain JSON, no secrets). */
  readonly settings: Readonly<Record<string, unknown>>;
}

/** The resource's inputs: the clusters, and what they share. Outputs carry all of them (`diff` sees old outputs). */
export interface SuperclusterRolloutInputs {
  /** Every cluster, in config order. */
  readonly clusters: ReadonlyArray<SuperclusterRolloutCluster>;
  /** Client auth and the system account, every cluster's. Secret. */
  readonly auth?: AuthSpec;
  /** RolloutPolicy overrides (engine defaults for the rest), every cluster's. */
  readonly policy: Partial<RolloutPolicy>;
  /** The platform of every cluster. */
  readonly platform: string;
  /** The platform driver's secrets. Secret. */
  readonly platformSecrets?: Readonly<Record<string, string>>;
  /** The TLS material every host gets (one CA for the supercluster: gateways trust each other). Secret. */
  readonly tlsPem?: TlsPem;
  /** `project/stack`, named in every cluster's rollout lease. Not compared by `diff`. */
  readonly leaseStack?: string;
  /** Where the events go, one JSON line each, every cluster's (each line names its cluster). Not compared. */
  readonly eventsFile?: string;
  /** Where each cluster's figures go: `-<cluster>` before the `.prom` ending. Not compared. */
  readonly metricsFile?: string;
  /** Where each cluster's rollout is drawn: `-<cluster>` before the `.svg` ending. Not compared. */
  readonly timelineFile?: string;
  /**
   * The plan as data (`nats-cluster/supercluster-plan@1`: the order, and each cluster's `nats-cluster/plan@1`), set
   * by `check` from the servers, not by the program: `pulumi preview --json` shows it in the resource's new state
   * (`newState.inputs.plannedRollout`), and after `pulumi up` the output is the plan that update was made from.
   * Absent when no plan was made from the servers: the first deployment, hosts not created yet, or a cluster whose
   * servers did not answer. Not compared by `diff`.
   */
  readonly plannedRollout?: SuperclusterPlanDocument;
}

/** The last supercluster run: how it ended, as text, and each cluster's own last report. */
export interface SuperclusterLastReport {
  /** `done`, `halted`, `interrupted` or `refused` (the engine's SuperclusterOutcome status); `bootstrap` at create. */
  readonly status: string;
  /** The clusters not reached by the run, in config order. */
  readonly left: ReadonlyArray<string>;
  /** Cluster name → its last report (kept from an earlier run for a cluster this one did not reach). */
  readonly clusters: Readonly<Record<string, LastReport>>;
  /** The whole run, formatted for people (formatSuperclusterReport). */
  readonly text: string;
}

/** Everything the resource stores: its inputs, and what the servers reported, by cluster. */
export interface SuperclusterRolloutOutputs extends SuperclusterRolloutInputs {
  /** Cluster name → member name → the version its `/varz` reported when last seen. */
  readonly versions: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Cluster name → whether its surge server was running when last seen. */
  readonly surgeRunning: Readonly<Record<string, boolean>>;
  readonly lastReport: SuperclusterLastReport;
}

/** The inputs a diff compares; a change in any of them is an update (which reconciles the supercluster). */
const COMPARED_INPUTS = ["clusters", "auth", "policy", "platform", "platformSecrets", "tlsPem"] as const;

/** Cluster `i` of the inputs, looked at as a RollingUpgrade's inputs (what the per-cluster helpers take). */
function clusterView(inputs: SuperclusterRolloutInputs, i: number): RollingUpgradeInputs {
  const { clusters: _clusters, plannedRollout: _plan, ...shared } = inputs;
  return { ...shared, spec: inputs.clusters[i].spec, settings: inputs.clusters[i].settings };
}

/** The cluster of the old inputs with the same name, looked at the same way; undefined for a new cluster. */
function oldView(olds: Partial<SuperclusterRolloutInputs> | undefined, name: string): RollingUpgradeInputs | undefined {
  const i = (olds?.clusters ?? []).findIndex((c) => c.spec?.name === name);
  return i < 0 ? undefined : clusterView(olds as SuperclusterRolloutInputs, i);
}

/** Problems of cluster `i` at `clusters[i].…`; the shared inputs' (auth, policy, files) once. */
function atCluster(i: number, problem: Problem): Problem {
  const own = /^(spec|settings)\b/.test(problem.field);
  return own ? { ...problem, field: `clusters[${i}].${problem.field}` } : problem;
}

/**
 * Each cluster's refusals (the RollingUpgrade's: platform, settings, an unsafe downgrade, a version never released,
 * files), and the supercluster's rules (each cluster's spec, gateways that join every other cluster, a leaf's hub).
 */
async function check(
  olds: Partial<SuperclusterRolloutInputs> | undefined,
  news: SuperclusterRolloutInputs,
): Promise<{ inputs: SuperclusterRolloutInputs; failures: CheckFailure[] }> {
  const engine = loadEngine();
  const problems: Problem[] = [];
  const seen = new Set<string>();
  const add = (p: Problem) => {
    const key = `${p.field}\n${p.message}`;
    if (!seen.has(key)) problems.push(p);
    seen.add(key);
  };
  for (let i = 0; i < news.clusters.length; i++) {
    const view = clusterView(news, i);
    const found = await inputProblems(engine, oldView(olds, view.spec.name), view, { inSupercluster: true });
    found.map((p) => atCluster(i, p)).forEach(add);
  }
  const known = news.clusters.every((_, i) => !hostsUnknown(clusterView(news, i))) && !containsUnknown(news.tlsPem);
  if (known && problems.length === 0) {
    const specs = news.clusters.map((_, i) => fullSpec(clusterView(news, i)));
    for (const p of engine.validateSupercluster(specs)) {
      add({ ...p, field: p.field.replace(/^(clusters\[\d+\])\./, "$1.spec.") });
    }
    // A leaf's new hub credentials must be ones its hub, as last applied, already accepts (leaves roll first).
    const before = (olds?.clusters ?? []).flatMap((c) => (c.spec ? [fullSpec(oldView(olds, c.spec.name)!)] : []));
    for (const p of engine.hubCredentialsChangeProblems(before, specs)) {
      add({ ...p, field: p.field.replace(/^(clusters\[\d+\])\./, "$1.spec.") });
    }
  }
  // Planned from the servers once the input is sound and the hosts are known, as a RollingUpgrade's check does; a
  // first deployment is not planned (`create` follows, with no `diff`, and starts every cluster).
  if (!known || problems.length > 0 || olds?.clusters === undefined) {
    return { inputs: news, failures: checkFailures(problems) };
  }
  const plan = await previewPlan(engine, news, olds);
  // A plan of a cluster whose servers did not answer is left to `diff`, which falls back on the versions recorded.
  if (plan.order.some((o) => o.plan.assumed !== undefined)) return { inputs: news, failures: [] };
  handover.put(nameOf(news), previewKey(news, olds), plan);
  return { inputs: { ...news, plannedRollout: engine.superclusterPlanDocument(plan) }, failures: [] };
}

/** The plan `check` made, for the `diff` that follows it with the same inputs (plan-handover.ts). */
const handover = planHandover<SuperclusterPlan>("__natsSuperclusterHandedOver");

/** What a plan depends on: the compared inputs, and the clusters as last applied (their leaving members). */
function previewKey(news: SuperclusterRolloutInputs, olds: Partial<SuperclusterRolloutInputs> | undefined): string {
  return canonicalJson([COMPARED_INPUTS.map((k) => news[k]), olds?.clusters]);
}

/** The engine's options of every cluster (planned with a stand-in certificate while this update issues one). */
async function clustersFor(
  engine: EngineModule,
  news: SuperclusterRolloutInputs,
  olds: Partial<SuperclusterRolloutInputs> | undefined,
  planning: boolean,
): Promise<SuperclusterCluster[]> {
  const out: SuperclusterCluster[] = [];
  for (let i = 0; i < news.clusters.length; i++) {
    const view = clusterView(news, i);
    const before = oldView(olds, view.spec.name);
    out.push(optionsFor(engine, planning ? await plannedInputs(engine, view, before) : view, before));
  }
  return out;
}

/** Observe every cluster (within the preview's deadline) and plan, touching nothing. */
async function previewPlan(
  engine: EngineModule,
  news: SuperclusterRolloutInputs,
  olds: Partial<SuperclusterRolloutOutputs>,
): Promise<SuperclusterPlan> {
  const clusters = await clustersFor(engine, news, olds, true);
  const fallback = Object.fromEntries(
    news.clusters.map((c) => [c.spec.name, { versions: olds.versions?.[c.spec.name] }]),
  );
  return (await engine.previewSupercluster({ clusters }, fallback)).plan;
}

/** The supercluster's name in messages: its clusters. */
const nameOf = (inputs: Partial<SuperclusterRolloutInputs>) =>
  (inputs.clusters ?? []).map((c) => c.spec?.name).join("+");

/** The plans printed by `diff` in this process, so `update` need not print the same plan again (see RollingUpgrade). */
function shownPlans(): Record<string, string> {
  const g = globalThis as { __natsSuperclusterShownPlans?: Record<string, string> };
  return (g.__natsSuperclusterShownPlans ??= {});
}

/**
 * A change when any compared input differs, or when the servers of any cluster need something (drift): every
 * cluster is observed. Prints the plan cluster by cluster when there is a change.
 */
async function diff(
  _id: string,
  olds: Partial<SuperclusterRolloutOutputs>,
  news: SuperclusterRolloutInputs,
): Promise<{ changes: boolean; replaces: string[]; deleteBeforeReplace: boolean }> {
  const changed = COMPARED_INPUTS.filter((k) => canonicalJson(olds[k]) !== canonicalJson(news[k]));
  const unknown = news.clusters.some((_, i) => hostsUnknown(clusterView(news, i)));
  const engine = loadEngine();
  const plan = unknown
    ? undefined
    : (handover.take(nameOf(news), previewKey(news, olds)) ?? (await previewPlan(engine, news, olds)));
  const work = plan !== undefined && (plan.refusals.length > 0 || plan.order.some((o) => o.plan.steps.length > 0));
  const changes = changed.length > 0 || unknown || work;
  if (changes) {
    const versions = news.clusters
      .map((c) => [c.spec.name, oldView(olds, c.spec.name)?.spec.version, c.spec.version])
      .filter(([, from, to]) => from !== to)
      .map(([name, from, to]) => `${name} ${from ?? "(new)"} → ${to}`);
    const why = [
      versions.length ? `version ${versions.join(", ")}` : undefined,
      changed.length ? `changed: ${changed.join(", ")}` : undefined,
      changed.length === 0 ? "the servers differ from the stack (drift)" : undefined,
    ].filter(Boolean);
    console.log(`SuperclusterRollout ${nameOf(news)}: ${why.join("; ")}`);
    if (containsUnknown(news.tlsPem) && plan) {
      console.log(
        "new TLS material is issued by this update: the plan below was made with a stand-in certificate for the " +
          "same hosts",
      );
    }
    if (plan) {
      const text = engine.formatSuperclusterPlan(plan);
      console.log(shownPlans()[nameOf(news)] === text ? "(the plan is as shown above)" : text);
      shownPlans()[nameOf(news)] = text;
    } else {
      console.log("the hosts are not created yet: the plan is made when they are (`pulumi up` prints it)");
    }
  }
  return { changes, replaces: [], deleteBeforeReplace: false };
}

/** A report file of one cluster: `-<cluster>` before the ending (`rollout.prom` → `rollout-east.prom`). */
function perCluster(file: string | undefined, cluster: string): string | undefined {
  if (file === undefined) return undefined;
  const dot = file.lastIndexOf(".");
  return dot > file.lastIndexOf("/") ? `${file.slice(0, dot)}-${cluster}${file.slice(dot)}` : `${file}-${cluster}`;
}

/**
 * Hold every cluster's rollout lease (a second roller of any cluster is refused, naming the first, before anything
 * is touched), then run `fn`; the leases are taken in config order and released in reverse.
 */
async function withLeases<T>(
  engine: EngineModule,
  leases: ReadonlyArray<SuperclusterCluster>,
  stack: string,
  fn: (lost: () => string | undefined) => Promise<T>,
): Promise<{ status: "ran"; result: T } | { status: "refused"; message: string }> {
  if (leases.length === 0) return { status: "ran", result: await fn(() => undefined) };
  const [first, ...rest] = leases;
  const held = await engine.withRolloutLease(
    { spec: first.spec, driver: first.driver, breakLease: process.env[BREAK_LEASE_ENV] || undefined, log: progress },
    { stack },
    (lease) => withLeases(engine, rest, stack, (lost) => fn(() => lease.lost() ?? lost())),
  );
  if (held.status === "refused") return { status: "refused", message: `${first.spec.name}: ${held.refusal.message}` };
  return held.result;
}

/** The events file, one line per event naming its cluster; opened before anything is touched. */
function eventsSink(engine: EngineModule, inputs: SuperclusterRolloutInputs): { sink?: EventSink; close(): void } {
  const file = outputFiles(engine, clusterView(inputs, 0)).eventsFile;
  if (file === undefined) return { close: () => undefined };
  const files: Record<string, EventsFile> = {};
  const warn = (message: string) => console.log(`warning: ${message}`);
  const fileOf = (cluster: string) => (files[cluster] ??= engine.openEventsFile(file, cluster, warn));
  fileOf(inputs.clusters[0].spec.name);
  return {
    sink: (event) => fileOf(event.cluster ?? inputs.clusters[0].spec.name).sink(event),
    close: () => Object.values(files).forEach((f) => f.close()),
  };
}

/**
 * The one path of create and update: every cluster's lease held, the engine's supercluster run, its progress printed
 * as it happens (Ctrl-C stops it after the member in progress). A halt, an interruption or a refusal anywhere fails
 * the operation with the report, recording what the servers of every cluster run now.
 */
async function apply(
  id: string,
  inputs: SuperclusterRolloutInputs,
  previous?: SuperclusterRolloutOutputs,
): Promise<SuperclusterRolloutOutputs> {
  const engine = loadEngine();
  handover.drop(nameOf(inputs));
  const clusters = await clustersFor(engine, inputs, previous, false);
  const events = eventsSink(engine, inputs);
  const stop = watchForStop();
  try {
    const leased = await withLeases(engine, clusters, inputs.leaseStack ?? "pulumi", (lost) =>
      engine.reconcileSupercluster({
        clusters,
        stopRequested: () => stop.requested() ?? lost(),
        onEvent: (event) => {
          events.sink?.(event);
          progress(engine.formatEvent(event)); // it names the event's cluster
        },
      }),
    );
    await progressShown();
    if (leased.status === "refused")
      throw new Error(`SuperclusterRollout ${nameOf(inputs)}: refused: ${leased.message}`);
    const outcome = leased.result;
    for (const reached of outcome.clusters) {
      if (reached.outcome.status === "refused") continue;
      const files = outputFiles(engine, clusterView(inputs, 0));
      const own = {
        metricsFile: perCluster(files.metricsFile, reached.name),
        timelineFile: perCluster(files.timelineFile, reached.name),
      };
      await engine.writeReportFiles(own, reached.outcome.report, reached.name, progress, (line) =>
        console.log(`warning: ${line}`),
      );
    }
    const record = recordOf(engine, inputs, previous, outcome);
    if (outcome.status === "done") {
      console.log(record.lastReport.text);
      return record;
    }
    const headline = { halted: "HALTED", interrupted: "was INTERRUPTED", refused: "was REFUSED" }[outcome.status];
    const message = `SuperclusterRollout ${nameOf(inputs)}: the rollout ${headline}.\n${record.lastReport.text}`;
    // The state keeps the inputs last applied (the next diff still sees the change), with what the servers run now.
    if (!previous) throw partialFailure(message, id, record);
    const { auth: _a, platformSecrets: _s, tlsPem: _t, ...kept } = previous;
    const secrets = { auth: inputs.auth, platformSecrets: inputs.platformSecrets, tlsPem: inputs.tlsPem };
    const { versions, surgeRunning, lastReport } = record;
    throw partialFailure(message, id, plain({ ...kept, ...secrets, versions, surgeRunning, lastReport }));
  } finally {
    stop.dispose();
    events.close();
    delete shownPlans()[nameOf(inputs)];
  }
}

/** The outputs after a run: what each cluster reached reports now, the earlier record for the others. */
function recordOf(
  engine: EngineModule,
  inputs: SuperclusterRolloutInputs,
  previous: SuperclusterRolloutOutputs | undefined,
  outcome: SuperclusterOutcome,
): SuperclusterRolloutOutputs {
  const versions: Record<string, Readonly<Record<string, string>>> = { ...previous?.versions };
  const surgeRunning: Record<string, boolean> = { ...previous?.surgeRunning };
  const reports: Record<string, LastReport> = { ...previous?.lastReport?.clusters };
  for (const { name, outcome: o } of outcome.clusters) {
    versions[name] = o.seen.versions;
    surgeRunning[name] = o.seen.surgeRunning;
    const i = inputs.clusters.findIndex((c) => c.spec.name === name);
    reports[name] =
      o.status === "refused" ? refusedReport(engine, clusterView(inputs, i), o.plan) : reportOf(engine, o.report);
  }
  // Clusters the stack no longer has are not reported.
  const names = new Set(inputs.clusters.map((c) => c.spec.name));
  const only = <V>(r: Record<string, V>) => Object.fromEntries(Object.entries(r).filter(([k]) => names.has(k)));
  const lastReport: SuperclusterLastReport = {
    status: outcome.status,
    left: outcome.left,
    clusters: only(reports),
    text: engine.formatSuperclusterReport(outcome),
  };
  return plain({ ...inputs, versions: only(versions), surgeRunning: only(surgeRunning), lastReport });
}

/** First deployment: every cluster's hosts exist; the run starts each cluster (or adopts one already running). */
async function create(inputs: SuperclusterRolloutInputs): Promise<{ id: string; outs: SuperclusterRolloutOutputs }> {
  const id = nameOf(inputs);
  return { id, outs: await apply(id, inputs) };
}

async function update(
  id: string,
  olds: SuperclusterRolloutOutputs,
  news: SuperclusterRolloutInputs,
): Promise<{ outs: SuperclusterRolloutOutputs }> {
  return { outs: await apply(id, news, olds) };
}

/** What every cluster's servers run now (`pulumi refresh`); everything else is kept as it was. */
async function read(
  id: string,
  props: SuperclusterRolloutOutputs,
): Promise<{ id: string; props: SuperclusterRolloutOutputs }> {
  const engine = loadEngine();
  const versions: Record<string, Readonly<Record<string, string>>> = {};
  const surgeRunning: Record<string, boolean> = {};
  for (let i = 0; i < props.clusters.length; i++) {
    const { spec, driver } = optionsFor(engine, clusterView(props, i));
    const seen = engine.serversSeen(await engine.observeCluster(spec, driver));
    versions[spec.name] = seen.versions;
    surgeRunning[spec.name] = seen.surgeRunning;
  }
  return { id, props: plain({ ...props, versions, surgeRunning }) };
}

/** Remove every cluster's left-over surge server (lame duck first); members go with their hosts. */
async function remove(_id: string, props: SuperclusterRolloutOutputs): Promise<void> {
  const engine = loadEngine();
  for (let i = 0; i < props.clusters.length; i++) {
    const { spec, driver } = optionsFor(engine, clusterView(props, i));
    if (await driver.isRunning(spec.surge)) {
      console.log(`SuperclusterRollout ${spec.name}: removing the left-over surge server ${spec.surge.name}`);
      await engine.stopGracefully(driver, spec.surge, {
        timeoutSeconds: props.policy?.stopTimeoutSeconds ?? engine.DEFAULT_POLICY.stopTimeoutSeconds,
        signal: "best-effort",
      });
    }
    await driver.deprovision(spec.surge);
  }
}

/** The provider object handed to `pulumi.dynamic.Resource` (see rollingUpgradeProvider). */
export const superclusterRolloutProvider = { check, diff, create, update, read, delete: remove };
