/**
 * The engine's command line (`node dist/cli/nats-rollout.js`) as an operator at 3 a.m. uses it: `--help`, clear
 * usage errors, a relative `--state-dir` (resolved, not a crash), and a plan/rollout/observe/stop on a real local
 * cluster of the oldest pinned version with client and system-account passwords; the plan as JSON (`plan --json`)
 * and the rollout's events as NDJSON (`--events FILE`), with no password in them. Runs the compiled CLI in its own
 * process, as an operator would.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { MonitorClient } from "../engine/monitor/client";
import { EVENT_SCHEMA, EventRecord } from "../engine/rollout/events-json";
import { PLAN_SCHEMA, PlanDocument } from "../engine/rollout/plan-json";
import { ClusterSpec, monitorUrl } from "../engine/spec";
import { LocalProcessDriver } from "../engine/hosts/local";
import { ensureBuilt } from "./support/engine-process";
import { expectRollingUpgradeDocument } from "./support/plans";
import { freePorts } from "./support/ports";
import { sampleSpec } from "./support/sample-spec";
import { BIN_CACHE, NEW_MINOR, OLD_MINOR } from "./support/versions";

const run = promisify(execFile);
const CLI = path.join(__dirname, "..", "dist", "cli", "nats-rollout.js");
const PASSWORD = "cli-test-app-password-e41b07";
const SYS_PASSWORD = "cli-test-sys-password-93ac5d";

/** Exit code 0; otherwise the failure shows what the CLI printed (a CI run showed only "Expected: 0, Received: 2"). */
function expectDone(run: { code: number; out: string }): void {
  expect({ code: run.code, out: run.code === 0 ? "" : run.out }).toEqual({ code: 0, out: "" });
}

/** A run of the CLI: its exit code, stdout alone, and stdout and stderr together. */
async function cli(args: string[], cwd: string): Promise<{ code: number; out: string; stdout: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, NATS_SERVER_BIN_CACHE: BIN_CACHE },
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, out: stdout + stderr, stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}`, stdout: e.stdout ?? "" };
  }
}

describe("nats-rollout, the engine's command line", () => {
  let dir: string;
  let spec: ClusterSpec;

  beforeAll(async () => {
    ensureBuilt();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-cli-"));
    const ports = await freePorts(12);
    const at = (i: number) => ({ clientPort: ports[i], clusterPort: ports[4 + i], monitorPort: ports[8 + i] });
    const base = sampleSpec("loopback", {
      version: OLD_MINOR,
      lameDuck: { durationSeconds: 30, gracePeriodSeconds: 1 },
    });
    spec = {
      ...base,
      name: "cli-test",
      members: base.members.map((m, i) => ({ ...m, ...at(i) })),
      surge: { ...base.surge, ...at(3) },
      auth: { users: [{ user: "app", password: PASSWORD }], systemAccount: { user: "sys", password: SYS_PASSWORD } },
    };
    fs.writeFileSync(path.join(dir, "spec.json"), JSON.stringify(spec));
  }, 180_000);

  afterAll(async () => {
    if (!dir) return;
    const driver = new LocalProcessDriver({
      stateDir: path.join(dir, "servers"),
      binaries: { resolve: async () => "" },
    });
    for (const s of [...spec.members, spec.surge]) await driver.kill(s).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("--help lists the commands, the sources and the exit codes", async () => {
    const { code, out } = await cli(["--help"], dir);
    expect(code).toBe(0);
    expect(out).toMatch(/Commands:[\s\S]*plan[\s\S]*rollout[\s\S]*observe[\s\S]*stop/);
    expect(out).toMatch(/--stack NAME[\s\S]*--stack-file FILE[\s\S]*--spec FILE/);
    expect(out).toMatch(/Exit codes: 0 done, 1 error, 2 halted, 3 refused \(nothing touched\), 4 interrupted/);
  });

  it("says what is wrong with the command line, and where to look", async () => {
    const noSource = await cli(["plan"], dir);
    expect(noSource.code).toBe(1);
    expect(noSource.out).toContain("give exactly one of --stack NAME, --stack-file FILE, --spec FILE");
    expect(noSource.out).toContain("see --help");
    const noDir = await cli(["plan", "--spec", "spec.json"], dir);
    expect(noDir.out).toContain("the local platform needs --state-dir DIR");
    expect((await cli(["bootstrap", "--spec", "spec.json", "--state-dir", "servers"], dir)).out).toContain(
      "unknown command bootstrap",
    );
    const jsonRollout = await cli(["rollout", "--spec", "spec.json", "--state-dir", "servers", "--json"], dir);
    expect(jsonRollout.code).toBe(1);
    expect(jsonRollout.out).toContain("--json goes with plan (observe always prints JSON); for rollout's events use");
    const planEvents = await cli(["plan", "--spec", "spec.json", "--state-dir", "servers", "--events", "e"], dir);
    expect(planEvents.out).toContain("--events FILE goes with rollout");
    const nowhere = await cli(
      ["rollout", "--spec", "spec.json", "--state-dir", "servers", "--events", "no/such/dir/events.ndjson"],
      dir,
    );
    expect(nowhere.code).toBe(1);
    expect(nowhere.out).toMatch(/nats-rollout: --events no\/such\/dir\/events\.ndjson: .*ENOENT/);
    expect(fs.existsSync(path.join(dir, "servers"))).toBe(false); // nothing was started
  });

  it("a relative --state-dir is resolved: rollout starts the cluster, then rolls it (a second rollout at once is refused by the lease), from the directory it was run in; stop only with --yes", async () => {
    const plan = await cli(["plan", "--spec", "spec.json", "--state-dir", "servers"], dir);
    expectDone(plan);
    expect(plan.out).toMatch(new RegExp(`Start of a new cluster at nats-server ${OLD_MINOR.replace(/\./g, "\\.")}`));
    const startPlan = await cli(["plan", "--spec", "spec.json", "--state-dir", "servers", "--json"], dir);
    expectDone(startPlan);
    expect(JSON.parse(startPlan.stdout)).toMatchObject({
      schema: PLAN_SCHEMA,
      cluster: "cli-test",
      kind: "bootstrap",
      targetVersion: OLD_MINOR,
      observed: true,
      steps: [{ index: 1, kind: "start-cluster", to: OLD_MINOR }],
    });

    const started = await cli(
      ["rollout", "--spec", "spec.json", "--state-dir", "servers", "--policy", '{"minHealthySeconds":1}'],
      dir,
    );
    expectDone(started);
    expect(started.out).toContain(`Start of the cluster at ${OLD_MINOR}: SUCCEEDED`);
    // The servers' directories are where the operator said, relative to where the command ran.
    for (const m of spec.members) expect(fs.existsSync(path.join(dir, "servers", m.name, "nats.conf"))).toBe(true);

    const observed = await cli(["observe", "--spec", "spec.json", "--state-dir", "servers"], dir);
    expectDone(observed);
    expect(JSON.parse(observed.out).members.map((m: { version: string }) => m.version)).toEqual([
      OLD_MINOR,
      OLD_MINOR,
      OLD_MINOR,
    ]);

    // The plan of the upgrade as one JSON document on stdout, and nothing else there.
    const upgradePlan = await cli(
      ["plan", "--spec", "spec.json", "--state-dir", "servers", "--version", NEW_MINOR, "--json"],
      dir,
    );
    expectDone(upgradePlan);
    const doc = JSON.parse(upgradePlan.stdout) as PlanDocument;
    console.log(`nats-rollout plan --json:\n${upgradePlan.stdout}`);
    expect(doc.cluster).toBe("cli-test");
    expectRollingUpgradeDocument(
      doc,
      spec.members.map((m) => m.name),
      OLD_MINOR,
      NEW_MINOR,
    );

    // Two operators roll the same cluster at once: one rolls it, the other is refused by the lease, naming the first.
    // Both append their events to one file: the refused one, refused before its rollout began, adds none.
    const rolloutArgs = [
      "rollout",
      "--spec",
      "spec.json",
      "--state-dir",
      "servers",
      "--version",
      NEW_MINOR,
      "--policy",
      '{"minHealthySeconds":1}',
      "--events",
      "events.ndjson",
      "--metrics",
      "rollout.prom",
    ];
    const both = await Promise.all([cli(rolloutArgs, dir), cli(rolloutArgs, dir)]);
    const rolled = both.find((r) => r.code === 0);
    const refused = both.find((r) => r.code !== 0);
    expect(rolled?.out).toContain(`Rollout to ${NEW_MINOR}: SUCCEEDED`);
    expect(refused?.code).toBe(3);
    expect(refused?.out).toMatch(
      /nats-rollout: refused: another rollout holds the lease of cluster cli-test: \S+@\S+ pid \d+, stack cli, started \S+; last heartbeat \d+s ago \(lease on n1\)\. Nothing was touched/,
    );
    expect(refused?.out).not.toContain("Rollout to");
    console.log(refused?.out);
    for (const m of spec.members) expect((await new MonitorClient(monitorUrl(m)).varz()).version).toBe(NEW_MINOR);

    // The events file: one JSON object a line, in order, the rollout's whole story, no password.
    const text = fs.readFileSync(path.join(dir, "events.ndjson"), "utf8");
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(SYS_PASSWORD);
    const records = text
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as EventRecord);
    console.log(`events file: ${records.length} lines, e.g.\n${text.split("\n").slice(-3).join("\n")}`);
    for (const r of records) {
      expect(r).toMatchObject({ schema: EVENT_SCHEMA, cluster: "cli-test" });
      expect(new Date(r.time).toISOString()).toBe(r.time);
    }
    const times = records.map((r) => Date.parse(r.time));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(records.find((r) => r.kind === "info")?.message).toContain(`Rollout to nats-server ${NEW_MINOR}`);
    const done = records.filter((r) => r.kind === "step-done" && r.step === "restart-member");
    expect(done.map((r) => r.server).sort()).toEqual(spec.members.map((m) => m.name).sort());
    for (const r of done) expect(r.durationMs).toBeGreaterThan(0);
    const passes = records.filter((r) => r.kind === "gate-pass");
    expect(passes.length).toBeGreaterThanOrEqual(spec.members.length);
    for (const r of passes) expect(typeof r.durationMs).toBe("number");

    // The metrics file (only the rollout that ran writes one): each member's down time and gates, the result.
    const prom = fs.readFileSync(path.join(dir, "rollout.prom"), "utf8");
    console.log(`metrics file: ${prom.split("\n").length} lines, e.g.\n${prom.split("\n").slice(0, 12).join("\n")}`);
    expect(prom).toContain(
      `nats_rollout_last_result{result="succeeded",target_version="${NEW_MINOR}",cluster="cli-test"} 1`,
    );
    for (const m of spec.members) {
      expect(prom).toMatch(
        new RegExp(
          `nats_rollout_last_member_down_seconds\\{member="${m.name}",action="restart-member",result="done",cluster="cli-test"\\} \\d`,
        ),
      );
      expect(prom).toMatch(new RegExp(`nats_rollout_last_member_gate_seconds\\{member="${m.name}",gate="ready"`));
    }
    expect(prom).not.toContain(PASSWORD);
    const notProm = await cli(["rollout", "--spec", "spec.json", "--state-dir", "servers", "--metrics", "x.txt"], dir);
    expect(notProm.out).toContain("--metrics x.txt: x.txt does not end in .prom");

    // stop stops a whole cluster: only with --yes.
    const unconfirmed = await cli(["stop", "--spec", "spec.json", "--state-dir", "servers"], dir);
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.out).toContain(
      "stop stops every server of cluster cli-test (lame duck first) and removes their hosts' state: add --yes to do it",
    );
    for (const m of spec.members) expect((await new MonitorClient(monitorUrl(m)).varz()).version).toBe(NEW_MINOR);
    const stopped = await cli(["stop", "--spec", "spec.json", "--state-dir", "servers", "--yes"], dir);
    expectDone(stopped);
    expect(stopped.out).toContain("stopped every server of cli-test");
  }, 300_000);
});
