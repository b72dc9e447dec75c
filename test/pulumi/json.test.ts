/**
 * The plan and the events as data through the real Pulumi engine, on the local stack in a copy of the project on
 * free loopback ports (issue 18, item 3):
 * - `pulumi preview --json` of a version bump carries the plan document (`nats-cluster/plan@1`) in the
 *   RollingUpgrade's new state (`newState.inputs.plannedRollout`), planned from the live servers, the same plan
 *   the preview prints;
 * - `pulumi up` appends every event to `rollout.eventsFile` (NDJSON, `nats-cluster/event@1`), with no password of
 *   the stack's secret auth in it;
 * - the stack output `lastRolloutSummary` says how the last rollout went (result, duration, per member action,
 *   result and time down);
 * - after it, `preview --expect-no-changes` and `refresh --expect-no-changes` pass: the plan output does not move;
 *   setting another events file alone is no change either.
 * Skipped, with the reason printed, when scripts/provision.sh could not build the engine or `pulumi` is missing.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { EventRecord } from "../../engine/rollout/events-json";
import type { PlanDocument } from "../../engine/rollout/plan-json";
import { LocalProcessDriver } from "../../engine/hosts/local";
import { ServerEndpoint } from "../../engine/spec";
import type { LastReport } from "../../components/last-report";
import { expectRollingUpgradeDocument } from "../support/plans";
import { NEW_MINOR, OLD_MINOR } from "../support/versions";
import {
  engineUnavailable,
  loopbackServers,
  PreviewJson,
  projectCopy,
  pulumiOk,
  writeStack,
} from "./support/pulumi-project";

const PASSWORD = "json-test-password-8e30c4";
const FAST = { lameDuckGracePeriodSeconds: 1 };
const POLICY = { minHealthySeconds: 1, pollIntervalMs: 250 };

const unavailable = engineUnavailable();
if (unavailable)
  console.warn(`test/pulumi/json.test.ts SKIPPED: the real Pulumi engine is not available: ${unavailable}`);
const describeEngine = unavailable ? describe.skip : describe;

describeEngine("the plan and the events as data, through the real Pulumi engine", () => {
  let dir: string;
  let project: string;
  let members: ServerEndpoint[];
  let surge: ServerEndpoint;
  let driver: LocalProcessDriver;
  const pulumi = (...args: string[]) => pulumiOk(dir, project, args);
  const eventsFile = () => path.join(project, "events.ndjson");
  const records = (): EventRecord[] =>
    fs
      .readFileSync(eventsFile(), "utf8")
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as EventRecord);
  const summary = async () =>
    (JSON.parse(await pulumi("stack", "output", "--json", "--show-secrets")) as { lastRolloutSummary: LastReport })
      .lastRolloutSummary;

  beforeAll(async () => {
    ({ dir, project } = projectCopy("nats-pulumi-json-"));
    ({ members, surge } = await loopbackServers());
    const stateDir = path.join(dir, "servers");
    // A relative events file: the project directory's.
    const rollout = { ...POLICY, eventsFile: "events.ndjson", metricsFile: "rollout.prom" };
    writeStack(project, "json", { version: OLD_MINOR, members, surge, ...FAST, rollout, local: { stateDir } });
    driver = new LocalProcessDriver({ stateDir, binaries: { resolve: () => Promise.reject(new Error("unused")) } });
  }, 120_000);

  afterAll(async () => {
    if (!dir) return;
    for (const s of [...members, surge]) await driver.kill(s).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("up starts the cluster, appending its events to rollout.eventsFile", async () => {
    await pulumi("stack", "init", "json");
    const auth = { users: [{ user: "app", password: PASSWORD }] };
    await pulumi("config", "set", "--secret", "nats-cluster:auth", JSON.stringify(auth));
    await pulumi("up", "--yes");
    const started = records();
    expect(started.length).toBeGreaterThan(0);
    expect(started.every((r) => r.schema === "nats-cluster/event@1" && r.cluster === "nats-local")).toBe(true);
    expect(started.some((r) => r.kind === "step-done" && r.step === "start-cluster")).toBe(true);
    expect(await summary()).toMatchObject({ kind: "bootstrap", result: "succeeded", targetVersion: OLD_MINOR });
  });

  it("preview --json of a version bump carries the plan document in the RollingUpgrade's new state", async () => {
    await pulumi("config", "set", "nats-cluster:version", NEW_MINOR);
    const preview = JSON.parse(await pulumi("preview", "--json")) as PreviewJson;
    const step = preview.steps?.find((s) => s.urn.includes("RollingUpgrade"));
    expect(step?.op).toBe("update");
    const doc = step?.newState?.inputs?.plannedRollout as PlanDocument;
    console.log(`pulumi preview --json, the RollingUpgrade's plannedRollout:\n${JSON.stringify(doc, null, 2)}`);
    expect(doc?.cluster).toBe("nats-local");
    expectRollingUpgradeDocument(
      doc,
      members.map((m) => m.name),
      OLD_MINOR,
      NEW_MINOR,
    );
    // The plan the preview printed is that one (check planned it; diff printed it without observing again).
    const printed = (preview.diagnostics ?? []).map((d) => d.message ?? "").join("");
    expect(printed).toContain(`Rollout to nats-server ${NEW_MINOR}, 7 steps, about ${doc.estimatedSeconds}s:`);
  });

  it("up rolls the cluster: every event in the file, no password; lastRolloutSummary per member", async () => {
    const before = records().length;
    await pulumi("up", "--yes");
    const text = fs.readFileSync(eventsFile(), "utf8");
    expect(text).not.toContain(PASSWORD);
    const rolled = records().slice(before);
    console.log(
      `events file after the rollout: ${rolled.length} more lines, the last:\n${JSON.stringify(rolled.at(-1))}`,
    );
    expect(rolled[0]).toMatchObject({ kind: "info" });
    expect(rolled[0].message).toContain(`Rollout to nats-server ${NEW_MINOR}`);
    const done = rolled.filter((r) => r.kind === "step-done" && r.step === "restart-member");
    expect(done.map((r) => r.server).sort()).toEqual(members.map((m) => m.name));
    // rollout.metricsFile: the rollout's figures for node_exporter's textfile collector, each member's down time.
    const prom = fs.readFileSync(path.join(project, "rollout.prom"), "utf8");
    expect(prom).toContain(
      `nats_rollout_last_result{result="succeeded",target_version="${NEW_MINOR}",cluster="nats-local"} 1`,
    );
    for (const m of members)
      expect(prom).toMatch(
        new RegExp(`nats_rollout_last_member_down_seconds\\{member="${m.name}",action="restart-member"`),
      );
    expect(prom).not.toContain(PASSWORD);

    const last = await summary();
    console.log(`lastRolloutSummary: ${JSON.stringify({ ...last, text: "…" })}`);
    expect(last).toMatchObject({ kind: "rollout", result: "succeeded", targetVersion: NEW_MINOR });
    expect(last.totalSeconds).toBeGreaterThan(0);
    expect(last.members.map((m) => m.name).sort()).toEqual(members.map((m) => m.name));
    for (const m of last.members) {
      expect(m).toMatchObject({ action: "restart-member", result: "done", from: OLD_MINOR, to: NEW_MINOR });
      expect(m.downSeconds).toBeGreaterThan(0);
    }
  });

  it("after it, nothing to do: preview and refresh find no change, the plan output stays as it was; another events file is no change", async () => {
    const state = () => pulumi("stack", "export").then((s) => JSON.stringify(planOf(JSON.parse(s))));
    const recorded = await state();
    expect(JSON.parse(recorded)).toMatchObject({ targetVersion: NEW_MINOR, kind: "rollout" });
    await pulumi("preview", "--expect-no-changes");
    // Where the events go is no change of the cluster.
    await pulumi("config", "set", "--path", "nats-cluster:rollout.eventsFile", "events-2.ndjson");
    await pulumi("preview", "--expect-no-changes");
    const preview = JSON.parse(await pulumi("preview", "--json")) as PreviewJson;
    expect((preview.steps ?? []).filter((s) => s.op !== "same")).toEqual([]);
    await pulumi("refresh", "--yes", "--expect-no-changes");
    expect(await state()).toBe(recorded);
  });

  it("destroy", async () => {
    await pulumi("destroy", "--yes");
    for (const m of members) expect(await driver.isRunning(m)).toBe(false);
  });
});

/** The RollingUpgrade's recorded plannedRollout output in a `pulumi stack export`. */
function planOf(exported: {
  deployment?: { resources?: Array<{ type: string; outputs?: Record<string, unknown> }> };
}): unknown {
  return exported.deployment?.resources?.find((r) => r.type.endsWith("RollingUpgrade"))?.outputs?.plannedRollout;
}
