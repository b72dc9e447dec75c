/**
 * The RollingUpgrade provider: its check called directly (failures name the property; a version that was never
 * released is refused, one that cannot be checked is a warning), then the same provider serialized and run in the
 * REAL dynamic-provider process over gRPC (Check, Diff, Create, Update, Cancel, Read, Delete) against a real
 * 3-member JetStream cluster of the oldest pinned version on free loopback ports: bootstrap, a halted rollout to a
 * binary that cannot start (it rolls back and fails the update with the report), a rollout stopped by the CLI's
 * Cancel (Ctrl-C) after the member in progress and resumed by the next update, a crashed member healed by a plain
 * update (diff sees the drift), and the LocalNatsProcess delete that stops each member. Every process is stopped by
 * PID in afterAll.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MonitorClient } from "../../engine/monitor/client";
import type { PlanDocument } from "../../engine/rollout/plan-json";
import { monitorUrl, ServerEndpoint } from "../../engine/spec";
import { localNatsProcessProvider } from "../../components/platforms/local/process";
import {
  PublicClusterSpec,
  RollingUpgradeInputs,
  RollingUpgradeOutputs,
  rollingUpgradeProvider,
} from "../../components/rolling-upgrade-provider";
import { LocalTestCluster } from "../support/local-cluster";
import { OwnedPids } from "../support/owned-pids";
import { FakeReleaseServer } from "../support/release-server";
import { BIN_CACHE, NEW_MINOR, OLD_MINOR, natsServerBinary } from "../support/versions";
import { ProviderProcess, RpcFailure } from "./support/provider-process";

const REPO = path.join(__dirname, "..", "..");
const ENGINE = path.join(REPO, "dist", "engine", "index.js");
const URN = "urn:pulumi:test::nats-cluster::pulumi-nodejs:dynamic/nats-cluster:RollingUpgrade::test-rollout";
/** A version whose "binary" exits at once: the rollout must halt at the first member and roll it back. */
const BROKEN = "9.9.9";

beforeAll(() => {
  // The provider require()s the engine's compiled JavaScript; scripts/test.sh builds it, a bare `jest` may not have.
  if (!fs.existsSync(ENGINE))
    execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.json"], {
      cwd: path.join(__dirname, "..", ".."),
    });
}, 120_000);

function endpoint(name: string, base: number): ServerEndpoint {
  return { name, host: "127.0.0.1", clientPort: base, clusterPort: base + 1, monitorPort: base + 2 };
}

/** Inputs for a spec on made-up ports (the direct tests never start a server). */
function inputs(
  overrides: Partial<PublicClusterSpec> = {},
  extra: Partial<RollingUpgradeInputs> = {},
): RollingUpgradeInputs {
  return {
    spec: {
      name: "unit",
      version: NEW_MINOR,
      members: [endpoint("a", 31000), endpoint("b", 31010), endpoint("c", 31020)],
      surge: endpoint("s", 31030),
      routes: { kind: "explicit" },
      jetstream: { enabled: true },
      lameDuck: { durationSeconds: 30, gracePeriodSeconds: 10 },
      ...overrides,
    },
    policy: {},
    platform: "local",
    // A closed loopback port: a version not in the cache is never looked up on the internet by a test.
    settings: {
      stateDir: "/nonexistent/state",
      binaryCacheDir: BIN_CACHE,
      releaseBaseUrl: "https://127.0.0.1:9/releases",
    },
    ...extra,
  };
}

/** What the resource stored after a create/update with these inputs. */
function outputsOf(i: RollingUpgradeInputs, versions?: Record<string, string>): RollingUpgradeOutputs {
  return {
    ...i,
    versions: versions ?? Object.fromEntries(i.spec.members.map((m) => [m.name, i.spec.version])),
    surgeRunning: false,
    lastReport: {
      kind: "bootstrap",
      result: "succeeded",
      targetVersion: i.spec.version,
      finishedAt: "",
      totalSeconds: 0,
      members: [],
      text: "",
    },
  };
}
void outputsOf;

/** console.log lines printed while `fn` runs. */
/** What `fs.statSync` says of a path that does not exist. */
function expectedEnoent(file: string): string {
  try {
    fs.statSync(file);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`${file} exists`);
}

async function printed<T>(fn: () => Promise<T>): Promise<{ result: T; lines: string }> {
  const spy = jest.spyOn(console, "log").mockImplementation(() => undefined);
  try {
    const result = await fn();
    return { result, lines: spy.mock.calls.map((c) => c.join(" ")).join("\n") };
  } finally {
    spy.mockRestore();
  }
}

describe("provider methods, called directly", () => {
  const check = (olds: Partial<RollingUpgradeInputs> | undefined, news: RollingUpgradeInputs) =>
    rollingUpgradeProvider.check(olds, news);
  const properties = async (news: RollingUpgradeInputs, olds?: Partial<RollingUpgradeInputs>) =>
    (await printed(() => check(olds, news))).result.failures.map((f) => f.property);

  it("check accepts a valid spec", async () => {
    expect((await check(undefined, inputs())).failures).toEqual([]);
  });

  it("check: a bad version names spec.version and the fix", async () => {
    const { failures } = await check(undefined, inputs({ version: "v2.15.2" }));
    expect(failures).toEqual([{ property: "spec.version", reason: expect.stringContaining("write 2.15.2") }]);
    expect(await properties(inputs({ version: "latest" }))).toEqual(["spec.version"]);
  });

  it("check: duplicate member names", async () => {
    expect(
      await properties(inputs({ members: [endpoint("a", 31000), endpoint("a", 31010), endpoint("c", 31020)] })),
    ).toEqual(["spec.members[1].name"]);
  });

  it("check: a port clash", async () => {
    expect(
      await properties(
        inputs({
          members: [endpoint("a", 31000), { ...endpoint("b", 31010), monitorPort: 31000 }, endpoint("c", 31020)],
        }),
      ),
    ).toEqual(["spec.members[1].monitorPort"]);
  });

  it("check: an events file that cannot be appended to names eventsFile and the config key", async () => {
    const fix = "set nats-cluster:rollout.eventsFile to a file in a directory this user can write";
    const missing = await check(undefined, inputs({}, { eventsFile: "/nonexistent/dir/events.ndjson" }));
    expect(missing.failures).toEqual([
      {
        property: "eventsFile",
        reason: `/nonexistent/dir/events.ndjson: ${expectedEnoent("/nonexistent/dir")}; ${fix}`,
      },
    ]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-events-check-"));
    try {
      expect((await check(undefined, inputs({}, { eventsFile: path.join(dir, "events.ndjson") }))).failures).toEqual(
        [],
      );
      expect((await check(undefined, inputs({}, { eventsFile: dir }))).failures).toEqual([
        { property: "eventsFile", reason: `${dir} is not a file; ${fix}` },
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("check: lame duck below 30 s", async () => {
    const { failures } = await check(undefined, inputs({ lameDuck: { durationSeconds: 10, gracePeriodSeconds: 5 } }));
    expect(failures).toEqual([
      { property: "spec.lameDuck.durationSeconds", reason: expect.stringContaining("minimum is 30 seconds") },
    ]);
  });

  it("check: an unsafe downgrade from the version the resource had, unless allowed; a safe one passes", async () => {
    const { failures } = await check(inputs({ version: "2.15.2" }), inputs({ version: "2.13.0" }));
    expect(failures).toEqual([
      {
        property: "spec.version",
        reason: expect.stringMatching(/downgrade 2\.15\.2 → 2\.13\.0 is unsafe.*allowUnsafeDowngrade/),
      },
    ]);
    // properties(news, olds):
    expect(await properties(inputs({ version: "2.15.2" }), inputs({ version: "2.13.0" }))).toEqual([]); // an upgrade
    expect(
      await properties(
        inputs({ version: "2.13.0" }, { policy: { allowUnsafeDowngrade: true } }),
        inputs({ version: "2.15.2" }),
      ),
    ).toEqual([]); // forced
    // One minor line back: safe.
    expect(await properties(inputs({ version: OLD_MINOR }), inputs({ version: NEW_MINOR }))).toEqual([]);
  });

  it("check: auth problems name auth.*, policy problems policy.*, a relative state dir settings.stateDir", async () => {
    const bad = inputs(
      {},
      {
        auth: { token: "t", systemAccount: { user: "sys", password: "p" } },
        policy: { minHealthySeconds: -1 },
        settings: { stateDir: "rel" },
      },
    );
    expect(await properties(bad)).toEqual(["settings.stateDir", "auth.token", "policy.minHealthySeconds"]);
    expect(
      await properties(inputs({}, { auth: { token: "t", systemAccount: { user: "sys", password: "p" } } })),
    ).toEqual(["auth.token"]);
  });

  it("check: an even JetStream member count is a printed warning, not a failure", async () => {
    const { result, lines } = await printed(() =>
      check(undefined, inputs({ members: [endpoint("a", 31000), endpoint("b", 31010)] })),
    );
    expect(result.failures).toEqual([]);
    expect(lines).toMatch(/warning: spec\.members: 2 JetStream members lose quorum/);
  });

  it("check: a version that was never released is refused; one that cannot be checked is a warning", async () => {
    const releases = new FakeReleaseServer();
    await releases.start();
    try {
      const at = (version: string, releaseBaseUrl: string, releaseSha256?: object) =>
        inputs(
          { version },
          { settings: { stateDir: "/nonexistent/state", binaryCacheDir: BIN_CACHE, releaseBaseUrl, releaseSha256 } },
        );
      // A plain-http mirror (this one) without a pin for the version: refused before anything is asked of it.
      const unpinned = await check(undefined, at("2.99.1", releases.base));
      expect(unpinned.failures).toEqual([
        {
          property: "settings.releaseSha256",
          reason: expect.stringContaining(`releaseBaseUrl ${releases.base} is plain http and releaseSha256 pins no`),
        },
      ]);
      expect(releases.requests).toEqual([]);
      // Pinned, it is asked; it has no 2.99.1: its SHA256SUMS answers 404.
      const { failures } = await check(undefined, at("2.99.1", releases.base, { "2.99.1": { amd64: "a".repeat(64) } }));
      expect(failures).toEqual([
        {
          property: "spec.version",
          reason: expect.stringMatching(/nats-server 2\.99\.1 was never released: .*HTTP 404/),
        },
      ]);
      // Nothing answers on port 9: not refused, and the warning says plainly that it could not be checked.
      const { result, lines } = await printed(() => check(undefined, at("2.99.1", "https://127.0.0.1:9/releases")));
      expect(result.failures).toEqual([]);
      expect(lines).toMatch(
        /warning: spec\.version: nats-server 2\.99\.1 could not be checked \(not in the binary cache/,
      );
      // A cached version needs no network at all.
      expect((await check(undefined, at(NEW_MINOR, "http://127.0.0.1:9/releases"))).failures).toEqual([]);
    } finally {
      await releases.close();
    }
  });

  it("check: values not known yet (preview) are not judged", async () => {
    const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
    expect(
      (await check(undefined, inputs({ members: [{ ...endpoint("a", 31000), host: unknown }] }))).failures,
    ).toEqual([]);
  });

  it("check: an unknown platform names the ones there are", async () => {
    const { failures } = await check(undefined, inputs({}, { platform: "gcp" }));
    expect(failures).toEqual([{ property: "platform", reason: expect.stringMatching(/"gcp" is not one of .*local/) }]);
  });
});

describe("through the real dynamic-provider process, on a real cluster", () => {
  let cluster: LocalTestCluster;
  let provider: ProviderProcess;
  let bins: string;
  let props: RollingUpgradeInputs;
  let outs: Record<string, unknown>;
  let id: string;

  const varzVersions = () =>
    Promise.all(cluster.spec.members.map(async (m) => (await new MonitorClient(monitorUrl(m)).varz()).version));

  beforeAll(async () => {
    cluster = await LocalTestCluster.create({
      members: 3,
      version: OLD_MINOR,
      jetstream: true,
      namePrefix: "pv",
    });
    // The provider process resolves binaries from a cache dir: the real pinned ones, plus one that cannot start.
    bins = fs.mkdtempSync(path.join(os.tmpdir(), "nats-provider-bins-"));
    for (const v of [OLD_MINOR, NEW_MINOR]) {
      fs.mkdirSync(path.join(bins, `v${v}`));
      fs.symlinkSync(natsServerBinary(v), path.join(bins, `v${v}`, "nats-server"));
    }
    fs.mkdirSync(path.join(bins, `v${BROKEN}`));
    fs.writeFileSync(
      path.join(bins, `v${BROKEN}`, "nats-server"),
      "#!/bin/sh\necho 'broken build: refusing to start' >&2\nexit 1\n",
      { mode: 0o755 },
    );

    const { auth: _none, ...spec } = cluster.spec;
    props = {
      spec,
      policy: { minHealthySeconds: 1, pollIntervalMs: 250, healthyDeadlineSeconds: 60, stopTimeoutSeconds: 40 },
      platform: "local",
      settings: { stateDir: cluster.stateDir, binaryCacheDir: bins },
    };
    provider = await ProviderProcess.start(rollingUpgradeProvider, REPO);
  });

  afterAll(async () => {
    await provider?.stop();
    await cluster?.destroy(); // SIGKILL by pid, every server (surge included) this cluster ever started
    if (cluster) expect(cluster.pids.alive()).toEqual([]);
    fs.rmSync(bins, { recursive: true, force: true });
  });

  const at = (version: string): RollingUpgradeInputs => ({ ...props, spec: { ...props.spec, version } });

  it("Check refuses a bad version, naming the property", async () => {
    expect((await provider.check(URN, {}, at(OLD_MINOR) as unknown as Record<string, unknown>)).failures).toEqual([]);
    const { failures } = await provider.check(URN, {}, at("v2.15.2") as unknown as Record<string, unknown>);
    expect(failures.map((f) => f.property)).toEqual(["spec.version"]);
  });

  it("Create bootstraps 3 members at the oldest pinned version; the outputs carry the inputs and the versions", async () => {
    const created = await provider.create(URN, at(OLD_MINOR) as unknown as Record<string, unknown>);
    id = created.id;
    outs = created.outs;
    expect(id).toBe(cluster.spec.name);
    expect(await varzVersions()).toEqual([OLD_MINOR, OLD_MINOR, OLD_MINOR]);
    expect(outs.versions).toEqual(Object.fromEntries(cluster.spec.members.map((m) => [m.name, OLD_MINOR])));
    expect(outs.spec).toEqual(at(OLD_MINOR).spec);
    expect(outs.settings).toEqual(props.settings);
    expect(outs).not.toHaveProperty("enginePath");
    expect(outs.lastReport).toMatchObject({ kind: "bootstrap", result: "succeeded" });
    expect(provider.output).toContain(`Start of a new cluster at nats-server ${OLD_MINOR}`);
    expect(provider.output).toMatch(/start-cluster: no member runs: start all 3 at/);
  });

  it("Diff: no change at the same version; a version bump prints the ordered plan from the live cluster", async () => {
    expect((await provider.diff(URN, id, outs, at(OLD_MINOR) as unknown as Record<string, unknown>)).changes).toBe(
      false,
    );
    const before = provider.output.length;
    expect((await provider.diff(URN, id, outs, at(NEW_MINOR) as unknown as Record<string, unknown>)).changes).toBe(
      true,
    );
    const plan = provider.output.slice(before);
    expect(plan).toContain(`version ${OLD_MINOR} → ${NEW_MINOR}`);
    expect(plan).toContain(`Rollout to nats-server ${NEW_MINOR}`);
    expect(plan).toMatch(
      /preflight[\s\S]*surge-up\s+pv-surge[\s\S]*restart-member[\s\S]*restart-member[\s\S]*restart-member[\s\S]*surge-down[\s\S]*final-check/,
    );
    for (const m of cluster.spec.members)
      expect(plan).toMatch(new RegExp(`restart-member\\s+${m.name}\\s+${OLD_MINOR} → ${NEW_MINOR}`));
  });

  it("Check plans from the live cluster: its inputs carry the plan document, and the Diff after it prints that plan", async () => {
    const same = await provider.check(URN, outs, at(OLD_MINOR) as unknown as Record<string, unknown>);
    expect(same.failures).toEqual([]);
    expect(same.inputs.plannedRollout).toEqual({
      schema: "nats-cluster/plan@1",
      cluster: cluster.spec.name,
      kind: "rollout",
      targetVersion: OLD_MINOR,
      observed: true,
      refusals: [],
      steps: [],
      estimatedSeconds: 0,
    });
    expect((await provider.diff(URN, id, outs, same.inputs)).changes).toBe(false);

    const bumped = await provider.check(URN, outs, at(NEW_MINOR) as unknown as Record<string, unknown>);
    const doc = bumped.inputs.plannedRollout as PlanDocument;
    expect(doc).toMatchObject({ kind: "rollout", targetVersion: NEW_MINOR, observed: true, surgeVersion: OLD_MINOR });
    const restarts = doc.steps.filter((s) => s.kind === "restart-member");
    expect(restarts.map((s) => s.server).sort()).toEqual(cluster.spec.members.map((m) => m.name).sort());
    const before = provider.output.length;
    expect((await provider.diff(URN, id, outs, bumped.inputs)).changes).toBe(true);
    // The plan printed is that document's: the same text as the Diff above printed, so not printed again. (The
    // provider's stdout reaches this process on its own stream: wait for it.)
    const text = `Rollout to nats-server ${NEW_MINOR}, ${doc.steps.length} steps, about ${doc.estimatedSeconds}s:`;
    for (let i = 0; i < 50 && !provider.output.includes("(the plan is as shown above)", before); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(provider.output.slice(before)).toContain("(the plan is as shown above)");
    expect(provider.output.slice(0, before)).toContain(text);
  });

  it("Update to a version that cannot start halts at the first member, rolls it back, and fails with the report", async () => {
    let failure: RpcFailure | undefined;
    try {
      await provider.update(URN, id, outs, at(BROKEN) as unknown as Record<string, unknown>);
    } catch (err) {
      failure = err as RpcFailure;
    }
    expect(failure?.message).toContain("the rollout HALTED");
    expect(failure?.message).toMatch(/HALTED at pv\d \(restart-member\), gate start/);
    expect(failure?.message).toContain("rolled back");
    // The partial state records what the servers run now and the halt report; the spec stays the one last applied.
    const partial = failure?.partial;
    expect(partial?.id).toBe(id);
    expect((partial?.properties.lastReport as { result: string; halt: { rolledBack: boolean } }).result).toBe("halted");
    expect((partial?.properties.lastReport as { halt: { rolledBack: boolean } }).halt).toMatchObject({
      code: "RolledBack",
      rolledBack: true,
    });
    expect((partial?.properties.spec as { version: string }).version).toBe(OLD_MINOR);
    expect(partial?.properties.versions).toEqual(outs.versions);
    expect(await varzVersions()).toEqual([OLD_MINOR, OLD_MINOR, OLD_MINOR]);
    // Progress was printed as it happened, the halt included.
    expect(provider.output).toMatch(/HALT restart-member: start: /);
    outs = partial!.properties;
  });

  it("Cancel (the CLI's first Ctrl-C) stops the rollout after the member in progress; the next update resumes", async () => {
    const before = provider.output.length;
    const update = provider.update(URN, id, outs, at(NEW_MINOR) as unknown as Record<string, unknown>);
    // Cancel while the first member restarts.
    const deadline = Date.now() + 60_000;
    while (!/restart-member: (upgrade|lame duck)/.test(provider.output.slice(before)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await provider.cancel();
    const failure = (await update.then(
      () => undefined,
      (err: RpcFailure) => err,
    )) as RpcFailure;
    expect(failure?.message).toContain("the rollout was INTERRUPTED");
    expect(failure?.message).toMatch(/INTERRUPTED before restart-member pv\d/);
    expect(failure?.message).toContain("run the same command again (`pulumi up`) to resume");
    const partial = failure.partial!.properties;
    expect(partial.surgeRunning).toBe(true); // kept serving, as the report says
    const versions = Object.values(partial.versions as Record<string, string>);
    // Exactly the member in progress was finished: one at the new version, two untouched.
    expect(versions.filter((v) => v === NEW_MINOR)).toHaveLength(1);
    expect(versions.filter((v) => v === OLD_MINOR)).toHaveLength(2);
    expect(partial.lastReport).toMatchObject({ result: "interrupted" });
    // A Ctrl-C is a one-time request: a fresh provider process (as the next `pulumi up` starts) resumes.
    await provider.stop();
    provider = await ProviderProcess.start(rollingUpgradeProvider, REPO);
    outs = await provider.update(URN, id, partial, at(NEW_MINOR) as unknown as Record<string, unknown>);
    expect(await varzVersions()).toEqual([NEW_MINOR, NEW_MINOR, NEW_MINOR]);
    expect(outs.surgeRunning).toBe(false);
    expect(provider.output).toMatch(/adopted the surge server left by an interrupted rollout/);
    // Back to the old version for the next test.
    outs = await provider.update(URN, id, outs, at(OLD_MINOR) as unknown as Record<string, unknown>);
    expect(await varzVersions()).toEqual([OLD_MINOR, OLD_MINOR, OLD_MINOR]);
  });

  it("Update to the newer minor rolls every member, checked through each server's /varz", async () => {
    const before = provider.output.length;
    outs = await provider.update(URN, id, outs, at(NEW_MINOR) as unknown as Record<string, unknown>);
    expect(await varzVersions()).toEqual([NEW_MINOR, NEW_MINOR, NEW_MINOR]);
    expect(outs.versions).toEqual(Object.fromEntries(cluster.spec.members.map((m) => [m.name, NEW_MINOR])));
    expect(outs.surgeRunning).toBe(false);
    const report = outs.lastReport as {
      result: string;
      members: Array<{ name: string; from: string; to: string; result: string }>;
      text: string;
    };
    expect(report.result).toBe("succeeded");
    expect(report.members.map((m) => [m.from, m.to, m.result])).toEqual(Array(3).fill([OLD_MINOR, NEW_MINOR, "done"]));
    expect(report.text).toContain(`Rollout to ${NEW_MINOR}: SUCCEEDED`);
    const progress = provider.output.slice(before);
    expect(progress).toMatch(/surge-up/);
    expect(progress).toMatch(/restart-member: gates passed in [0-9.]+s \(ready [0-9.]+s, version [0-9.]+s/);
    expect(await cluster.driver.isRunning(cluster.spec.surge)).toBe(false);
  });

  it("Read reports the live versions: no drift right after the update, and drift once a server changes behind its back", async () => {
    const read = await provider.read(URN, id, outs);
    expect(read.versions).toEqual(outs.versions);
    expect((await provider.diff(URN, id, read, at(NEW_MINOR) as unknown as Record<string, unknown>)).changes).toBe(
      false,
    );

    // A member stopped behind Pulumi's back: refresh records it, and the next diff wants to bring it back.
    const victim = cluster.spec.members[0];
    await cluster.driver.kill(victim);
    const drifted = await provider.read(URN, id, outs);
    expect((drifted.versions as Record<string, string>)[victim.name]).toBe("not running");
    expect((await provider.diff(URN, id, drifted, at(NEW_MINOR) as unknown as Record<string, unknown>)).changes).toBe(
      true,
    );
    await cluster.driver.start(victim); // still installed at the new version with its config
    await expect(provider.read(URN, id, outs)).resolves.toMatchObject({ versions: outs.versions });
  });

  it("a crashed member is healed by a plain update: diff sees it without a refresh, update recovers it", async () => {
    const victim = cluster.spec.members[2];
    await cluster.driver.kill(victim);
    // The stored outputs still say every member runs: only observing the servers shows the drift.
    const before = provider.output.length;
    expect((await provider.diff(URN, id, outs, at(NEW_MINOR) as unknown as Record<string, unknown>)).changes).toBe(
      true,
    );
    const plan = provider.output.slice(before);
    expect(plan).toContain("the servers differ from the stack (drift)");
    expect(plan).toMatch(new RegExp(`recover-member\\s+${victim.name}`));
    outs = await provider.update(URN, id, outs, at(NEW_MINOR) as unknown as Record<string, unknown>);
    expect(await varzVersions()).toEqual([NEW_MINOR, NEW_MINOR, NEW_MINOR]);
    expect(outs.lastReport).toMatchObject({
      result: "succeeded",
      members: [{ name: victim.name, action: "recover-member" }],
    });
  });

  it("Update when no member runs at all (hosts restarted) starts the cluster again instead of refusing", async () => {
    for (const m of cluster.spec.members) await cluster.driver.kill(m);
    const before = provider.output.length;
    outs = await provider.update(
      URN,
      id,
      await provider.read(URN, id, outs),
      at(NEW_MINOR) as unknown as Record<string, unknown>,
    );
    expect(provider.output.slice(before)).toContain(`Start of a new cluster at nats-server ${NEW_MINOR}`);
    expect(await varzVersions()).toEqual([NEW_MINOR, NEW_MINOR, NEW_MINOR]);
    expect(outs.lastReport).toMatchObject({ kind: "bootstrap", result: "succeeded" });
  });

  it("Delete removes only a left-over surge server; LocalNatsProcess delete stops each member and removes its directory", async () => {
    await cluster.driver.provision(cluster.spec.surge);
    await provider.delete(URN, id, outs);
    expect(fs.existsSync(cluster.driver.dir(cluster.spec.surge))).toBe(false);
    expect(await Promise.all(cluster.spec.members.map((m) => cluster.driver.isRunning(m)))).toEqual([true, true, true]);

    const pids = new OwnedPids();
    for (const m of cluster.spec.members) pids.add(cluster.driver.pid(m));
    expect(pids.size).toBe(3);
    const { lines } = await printed(() =>
      Promise.all(
        cluster.spec.members.map((m) =>
          localNatsProcessProvider.delete(path.join(cluster.stateDir, m.name), {
            endpoint: m,
            stateDir: cluster.stateDir,
            stopTimeoutSeconds: 40,
          }),
        ),
      ),
    );
    expect(lines).toMatch(/pv1: lame duck, then removing its directory/);
    expect(pids.alive()).toEqual([]);
    for (const m of cluster.spec.members) expect(fs.existsSync(cluster.driver.dir(m))).toBe(false);
  });
});
