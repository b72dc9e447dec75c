/**
 * The plan and the events as data (engine/rollout/plan-json.ts, events-json.ts): the documents' shapes, that the
 * plan document is the same for the same plan (the Pulumi output holding it must not change between previews), the
 * NDJSON events file (appended line by line, a failed write costing the file and not the rollout), and that a
 * rollout of a cluster with passwords writes none of them into its event records. No server, no socket.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DEFAULT_POLICY } from "../../engine/defaults";
import { RolloutEvent } from "../../engine/rollout/events";
import { EVENT_SCHEMA, eventRecord, openEventsFile } from "../../engine/rollout/events-json";
import { executeRollout } from "../../engine/rollout/execute";
import { ObservedCluster, ObservedServer } from "../../engine/rollout/observe";
import { planRollout, RolloutPlan } from "../../engine/rollout/plan";
import { PLAN_SCHEMA, planDocument } from "../../engine/rollout/plan-json";
import { canonicalJson } from "../../engine/util/json";
import { fakeRollout, fakeSpec, NEW, OLD } from "../support/fakes/fake-rollout";

const up = (name: string, version: string, configText?: string): ObservedServer => ({
  name,
  running: true,
  reachable: true,
  version,
  installedVersion: version,
  configText,
});
const surgeDown: ObservedServer = { name: "n-surge", running: false, reachable: false };

/** The configs the fake spec renders for its members. */
function desired(): Map<string, string> {
  const f = fakeRollout(fakeSpec());
  return new Map(f.options.spec.members.map((m) => [m.name, f.hosts.server(m.name).config ?? ""]));
}

/** The fake spec's members running `version` with the configs it renders, n1 the meta leader. */
function observedAt(version: string): ObservedCluster {
  const configs = desired();
  return {
    members: fakeSpec().members.map((m) => up(m.name, version, configs.get(m.name))),
    surge: surgeDown,
    metaLeader: "n1",
  };
}

const planAt = (running: string) => planRollout(observedAt(running), fakeSpec(), desired(), DEFAULT_POLICY);

describe("planDocument", () => {
  it("a rolling upgrade: every step in plan order, numbered from 1, with what its kind has", () => {
    const plan = planAt(OLD);
    const doc = planDocument(plan, "fake");
    expect(doc).toMatchObject({
      schema: PLAN_SCHEMA,
      cluster: "fake",
      kind: "rollout",
      targetVersion: NEW,
      surgeVersion: OLD,
      observed: true,
      refusals: [],
      estimatedSeconds: plan.estimatedSeconds,
    });
    expect(doc).not.toHaveProperty("assumed");
    expect(doc.steps.map((s) => `${s.index} ${s.kind} ${s.server ?? "-"} ${s.from ?? "-"} ${s.to ?? "-"}`)).toEqual([
      "1 preflight - - -",
      `2 surge-up n-surge - ${OLD}`,
      `3 restart-member n2 ${OLD} ${NEW}`,
      `4 restart-member n3 ${OLD} ${NEW}`,
      `5 restart-member n1 ${OLD} ${NEW}`,
      "6 surge-down n-surge - -",
      "7 final-check - - -",
    ]);
    expect(doc.steps[2]).toEqual({
      index: 3,
      kind: "restart-member",
      server: "n2",
      from: OLD,
      to: NEW,
      reason: plan.steps[2].reason,
    });
    // Plain JSON: nothing undefined (a Pulumi output cannot hold it), so the document survives the wire as it is.
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });

  it("nothing to do: a fixed document, the same from one preview to the next", () => {
    const first = planDocument(planAt(NEW), "fake");
    expect(first).toEqual({
      schema: PLAN_SCHEMA,
      cluster: "fake",
      kind: "rollout",
      targetVersion: NEW,
      observed: true,
      refusals: [],
      steps: [],
      estimatedSeconds: 0,
    });
    expect(canonicalJson(planDocument(planAt(NEW), "fake"))).toBe(canonicalJson(first));
    expect(canonicalJson(planDocument(planAt(OLD), "fake"))).toBe(canonicalJson(planDocument(planAt(OLD), "fake")));
  });

  it("a plan from the stack's inputs says it was not observed, and why; refusals and batches are carried", () => {
    const plan: RolloutPlan = {
      kind: "rollout",
      targetVersion: NEW,
      assumed: "the servers could not be observed (timed out)",
      refusals: ["version: downgrade of n1 refused"],
      steps: [
        { kind: "preflight", reason: "every member healthy" },
        { kind: "restart-member", server: "n2", from: OLD, to: NEW, reason: "upgrade", batch: 1 },
        { kind: "remove-member", server: "n4", from: OLD, to: "removed", reason: "left the stack" },
      ],
      estimatedSeconds: 42,
    };
    const doc = planDocument(plan, "c");
    expect(doc).toMatchObject({ observed: false, assumed: plan.assumed, refusals: plan.refusals });
    expect(doc.steps[1]).toMatchObject({ index: 2, server: "n2", batch: 1 });
    expect(doc.steps[2]).toMatchObject({ index: 3, kind: "remove-member", to: "removed" });
    expect(doc.steps[0]).toEqual({ index: 1, kind: "preflight", reason: "every member healthy" });
  });
});

describe("eventRecord", () => {
  it("one event as one JSON object: wall-clock time, elapsed time, and only the fields the event has", () => {
    const at = new Date("2026-12-06T06:18:22.152Z");
    const gate: RolloutEvent = {
      elapsedMs: 12_345,
      kind: "gate-pass",
      step: "restart-member",
      server: "n2",
      gate: "routes",
      durationMs: 812,
      message: "gates passed",
    };
    // Every field of the event, as it is, beside the schema, the time and the cluster.
    expect(eventRecord(gate, "fake", at)).toEqual({
      schema: EVENT_SCHEMA,
      time: "2026-12-06T06:18:22.152Z",
      cluster: "fake",
      ...gate,
    });
    expect(Object.keys(eventRecord({ elapsedMs: 0, kind: "info", message: "plan" }, "fake", at))).toEqual([
      "schema",
      "time",
      "elapsedMs",
      "cluster",
      "kind",
      "message",
    ]);
  });
});

describe("openEventsFile", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-events-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const event = (message: string): RolloutEvent => ({ elapsedMs: 1, kind: "info", message });

  it("each event is a whole line in the file when the sink returns; a second run appends", () => {
    const file = path.join(dir, "events.ndjson");
    const first = openEventsFile(file, "fake", () => undefined);
    first.sink(event("one"));
    expect(fs.readFileSync(file, "utf8")).toMatch(/^\{.*"message":"one"\}\n$/);
    first.sink(event("two\nlines"));
    first.close();
    const second = openEventsFile(file, "fake", () => undefined);
    second.sink(event("three"));
    second.close();
    const lines = fs.readFileSync(file, "utf8").trimEnd().split("\n");
    expect(lines.map((l) => JSON.parse(l).message)).toEqual(["one", "two\nlines", "three"]);
  });

  it("a file that cannot be opened throws at once; a write that fails later is reported once, not thrown", () => {
    expect(() => openEventsFile(path.join(dir, "missing", "events.ndjson"), "fake", () => undefined)).toThrow(/ENOENT/);
    if (!fs.existsSync("/dev/full")) return;
    const errors: string[] = [];
    const full = openEventsFile("/dev/full", "fake", (m) => errors.push(m));
    full.sink(event("one"));
    full.sink(event("two"));
    full.close();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^events file \/dev\/full: .*ENOSPC.*; no more events are written to it$/);
  });
});

describe("no secret in the event records", () => {
  const PASSWORD = "app-password-5f2c91e0";
  const SYS_PASSWORD = "sys-password-0b7d4a13";
  const spec = {
    ...fakeSpec(),
    auth: { users: [{ user: "app", password: PASSWORD }], systemAccount: { user: "sys", password: SYS_PASSWORD } },
  };

  it.each([
    ["a rollout that succeeds", "done", () => undefined],
    [
      "a rollout that halts and rolls back (the target cannot start)",
      "halted",
      (f: ReturnType<typeof fakeRollout>) =>
        (f.hosts.script.startFails = (s, v) => (s === "n2" && v === NEW ? `${s}: simulated fatal error` : undefined)),
    ],
  ])("%s, of a cluster with passwords", async (_what, status, script) => {
    const f = fakeRollout(spec);
    script(f);
    const outcome = await executeRollout(f.options);
    expect(outcome.status).toBe(status);
    // The configs written to the hosts do hold the passwords: the records are made from the events alone.
    expect(f.hosts.server("n1").config).toContain(PASSWORD);
    const stream = f.events.map((e) => JSON.stringify(eventRecord(e, spec.name))).join("\n");
    expect(f.events.length).toBeGreaterThan(5);
    expect(stream).not.toContain(PASSWORD);
    expect(stream).not.toContain(SYS_PASSWORD);
  });
});
