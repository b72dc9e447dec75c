/**
 * The engine's command line (`node dist/cli/nats-rollout.js`) as an operator at 3 a.m. uses it: `--help`, clear
 * usage errors, a relative `--state-dir` (resolved, not a crash), and a plan/rollout/observe/stop on a real local
 * cluster of the oldest pinned version. Runs the compiled CLI in its own process, as an operator would.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { MonitorClient } from "../engine/monitor/client";
import { ClusterSpec, monitorUrl } from "../engine/spec";
import { LocalProcessDriver } from "../engine/hosts/local";
import { ensureBuilt } from "./support/engine-process";
import { freePorts } from "./support/ports";
import { sampleSpec } from "./support/sample-spec";
import { BIN_CACHE, NEW_MINOR, OLD_MINOR } from "./support/versions";

const run = promisify(execFile);
const CLI = path.join(__dirname, "..", "dist", "cli", "nats-rollout.js");

async function cli(args: string[], cwd: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, NATS_SERVER_BIN_CACHE: BIN_CACHE },
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
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
  });

  it("a relative --state-dir is resolved: rollout starts the cluster, then rolls it (a second rollout at once is refused by the lease), from the directory it was run in; stop only with --yes", async () => {
    const plan = await cli(["plan", "--spec", "spec.json", "--state-dir", "servers"], dir);
    expect(plan.code).toBe(0);
    expect(plan.out).toMatch(new RegExp(`Start of a new cluster at nats-server ${OLD_MINOR.replace(/\./g, "\\.")}`));

    const started = await cli(
      ["rollout", "--spec", "spec.json", "--state-dir", "servers", "--policy", '{"minHealthySeconds":1}'],
      dir,
    );
    expect(started.code).toBe(0);
    expect(started.out).toContain(`Start of the cluster at ${OLD_MINOR}: SUCCEEDED`);
    // The servers' directories are where the operator said, relative to where the command ran.
    for (const m of spec.members) expect(fs.existsSync(path.join(dir, "servers", m.name, "nats.conf"))).toBe(true);

    const observed = await cli(["observe", "--spec", "spec.json", "--state-dir", "servers"], dir);
    expect(observed.code).toBe(0);
    expect(JSON.parse(observed.out).members.map((m: { version: string }) => m.version)).toEqual([
      OLD_MINOR,
      OLD_MINOR,
      OLD_MINOR,
    ]);

    // Two operators roll the same cluster at once: one rolls it, the other is refused by the lease, naming the first.
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

    // stop stops a whole cluster: only with --yes.
    const unconfirmed = await cli(["stop", "--spec", "spec.json", "--state-dir", "servers"], dir);
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.out).toContain(
      "stop stops every server of cluster cli-test (lame duck first) and removes their hosts' state: add --yes to do it",
    );
    for (const m of spec.members) expect((await new MonitorClient(monitorUrl(m)).varz()).version).toBe(NEW_MINOR);
    const stopped = await cli(["stop", "--spec", "spec.json", "--state-dir", "servers", "--yes"], dir);
    expect(stopped.code).toBe(0);
    expect(stopped.out).toContain("stopped every server of cli-test");
  }, 300_000);
});
