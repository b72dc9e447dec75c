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
import type { EventSink, RolloutPlan, ServersSeen } from "../engine";
import { canonicalJson } from "../engine/util/json";
import { CheckFailure, checkFailures } from "./check-failures";
import {
  BREAK_LEASE_ENV,
  containsUnknown,
  hostsUnknown,
  inputProblems,
  leavingMembers,
  loadTimed,
  optionsFor,
  outputFiles,
  partialFailure,
  plain,
  plannedInputs,
  refusedReport,
  RollingUpgradeInputs,
} from "./cluster-rollout-inputs";
import { EngineModule, loadEngine } from "./engine-module";
import { LastReport, reportOf } from "./last-report";
import { planHandover } from "./plan-handover";
import { progress, progressShown } from "./progress";
import { watchForStop } from "./stop-request";

export type { PublicClusterSpec, RollingUpgradeInputs } from "./cluster-rollout-inputs";

/** Everything the resource stores: its inputs, and what the servers reported. */
export interface RollingUpgradeOutputs extends RollingUpgradeInputs, ServersSeen {
  /** The last bootstrap or rollout. */
  readonly lastReport: LastReport;
}

/** The inputs a diff compares; a change in any of them is an update (which reconciles the cluster). */
const COMPARED_INPUTS = ["spec", "auth", "policy", "platform", "settings", "platformSecrets", "tlsPem"] as const;

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
  handover.put(news.spec.name, previewKey(news, olds), plan);
  // A plan made without the servers is left to `diff`, which plans from the versions last recorded.
  if (plan.assumed !== undefined) return { inputs: news, failures };
  return { inputs: { ...news, plannedRollout: engine.planDocument(plan, news.spec.name) }, failures };
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
 * The plan `check` made, by cluster, for the `diff` that follows it with the same inputs (plan-handover.ts). The key
 * holds what the plan depends on: the compared inputs and the servers leaving (`check` finds them in the old inputs,
 * `diff` in the old outputs; they differ after a halted removal, and `diff` then plans again).
 */
const handover = planHandover<RolloutPlan>("__natsClusterHandedOver");

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
  const handed = handover.take(news.spec.name, previewKey(news, olds));
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
 * The one path of create and update: {@link reconcileLeased}, appending each event to the events file when one is
 * set. The file is opened before anything is touched: one that cannot be opened fails the update with nothing done.
 */
async function apply(
  id: string,
  inputs: RollingUpgradeInputs,
  previous?: RollingUpgradeOutputs,
): Promise<RollingUpgradeOutputs> {
  const engine = loadEngine();
  handover.drop(inputs.spec.name);
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
