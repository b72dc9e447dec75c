/**
 * The RollingUpgrade provider: its methods called directly (check failures name the property; diff detects a
 * version change, drift and no change), then the same provider serialized and run in the REAL dynamic-provider
 * process over gRPC (Check, Diff, Create, Update, Read, Delete) against a real 3-member JetStream cluster of the
 * oldest pinned version on free loopback ports: bootstrap, a halted rollout to a binary that cannot start (it rolls
 * back and fails the update with the report), the rollout to the newer minor checked through each server's /varz,
 * and the LocalNatsProcess delete that stops each member. Every process is stopped by PID in afterAll.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MonitorClient } from "../../engine/monitor/client";
import { monitorUrl, ServerEndpoint } from "../../engine/spec";
import { localNatsProcessProvider } from "../../components/local-host";
import { defaultEnginePath } from "../../components/rolling-upgrade";
import {
  PublicClusterSpec,
  RollingUpgradeInputs,
  RollingUpgradeOutputs,
  rollingUpgradeProvider,
} from "../../components/rolling-upgrade-provider";
import { LocalTestCluster } from "../support/local-cluster";
import { BIN_CACHE, NEW_MINOR, OLD_MINOR, natsServerBinary } from "../support/versions";
import { ProviderProcess, RpcFailure } from "./support/provider-process";

const ENGINE = defaultEnginePath();
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
    driver: { kind: "local", stateDir: "/nonexistent/state", binaryCacheDir: BIN_CACHE },
    enginePath: ENGINE,
    listenHost: "127.0.0.1",
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
      result: "bootstrapped",
      targetVersion: i.spec.version,
      finishedAt: "",
      totalSeconds: 0,
      members: [],
      text: "",
    },
  };
}

/** console.log lines printed while `fn` runs. */
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

  it("check: auth problems name auth.*, policy problems policy.*, a relative state dir driver.stateDir", async () => {
    const bad = inputs(
      {},
      {
        auth: { token: "t", systemAccount: { user: "sys", password: "p" } },
        policy: { minHealthySeconds: -1 },
        driver: { kind: "local", stateDir: "rel", binaryCacheDir: "/b" },
      },
    );
    expect(await properties(bad)).toEqual(["policy.minHealthySeconds", "driver.stateDir"]);
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

  it("check: a well-formed version that is not in the binary cache is a printed warning (it would be downloaded)", async () => {
    const { result, lines } = await printed(() => check(undefined, inputs({ version: "2.99.1" })));
    expect(result.failures).toEqual([]);
    expect(lines).toMatch(
      /warning: spec\.version: nats-server 2\.99\.1 is not in .*; it will be downloaded from the official release and SHA256-verified/,
    );
  });

  it("check: values not known yet (preview) are not judged", async () => {
    const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
    expect(
      (await check(undefined, inputs({ members: [{ ...endpoint("a", 31000), host: unknown }] }))).failures,
    ).toEqual([]);
  });

  it("diff: no change when inputs and what the servers ran match", async () => {
    const { result, lines } = await printed(() => rollingUpgradeProvider.diff("id", outputsOf(inputs()), inputs()));
    expect(result.changes).toBe(false);
    expect(lines).toBe("");
  });

  it("diff: a version change is a change, and the plan is printed (from the inputs when the hosts cannot be reached)", async () => {
    const olds = outputsOf(
      inputs(
        { version: OLD_MINOR },
        { driver: { kind: "module", modulePath: "/nonexistent/driver.js", settings: {} } },
      ),
    );
    const news = inputs({}, { driver: olds.driver });
    const { result, lines } = await printed(() => rollingUpgradeProvider.diff("id", olds, news));
    expect(result).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect(lines).toContain(`version ${OLD_MINOR} → ${NEW_MINOR}`);
    expect(lines).toContain("could not observe the cluster");
    for (const m of ["a", "b", "c"])
      expect(lines).toMatch(new RegExp(`restart-member  ${m}\\s+${OLD_MINOR} → ${NEW_MINOR}`));
    expect(lines).toMatch(/surge-up\s+s /);
    expect(lines).toMatch(/about \d+s/);
  });

  it("diff: drift (a server on another version, a left-over surge server) is a change", async () => {
    const i = inputs();
    expect(
      (
        await printed(() =>
          rollingUpgradeProvider.diff("id", outputsOf(i, { a: NEW_MINOR, b: OLD_MINOR, c: NEW_MINOR }), i),
        )
      ).lines,
    ).toContain(`drift: b runs ${OLD_MINOR}`);
    const { result, lines } = await printed(() =>
      rollingUpgradeProvider.diff("id", { ...outputsOf(i), surgeRunning: true }, i),
    );
    expect(result.changes).toBe(true);
    expect(lines).toContain("surge s is still running");
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
      driver: { kind: "local", stateDir: cluster.stateDir, binaryCacheDir: bins },
      enginePath: ENGINE,
      listenHost: "127.0.0.1",
    };
    provider = await ProviderProcess.start(rollingUpgradeProvider, path.join(__dirname, "..", ".."));
  });

  afterAll(async () => {
    await provider?.stop();
    const pids = cluster
      ? cluster.spec.members.map((m) => cluster.driver.pid(m)).filter((p): p is number => p !== undefined)
      : [];
    await cluster?.destroy(); // SIGKILL by pid, every server (surge included) this cluster's state dir knows
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
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
    expect(outs.driver).toEqual(props.driver);
    expect(outs.enginePath).toBe(ENGINE);
    expect((outs.lastReport as { result: string }).result).toBe("bootstrapped");
    expect(provider.output).toContain(`starting 3 members at nats-server ${OLD_MINOR}`);
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
    expect(plan).toContain(`servers now: pv1 ${OLD_MINOR}, pv2 ${OLD_MINOR}, pv3 ${OLD_MINOR}`);
    expect(plan).toContain(`Rollout to nats-server ${NEW_MINOR}`);
    expect(plan).toMatch(
      /preflight[\s\S]*surge-up\s+pv-surge[\s\S]*restart-member[\s\S]*restart-member[\s\S]*restart-member[\s\S]*surge-down[\s\S]*final-check/,
    );
    for (const m of cluster.spec.members)
      expect(plan).toMatch(new RegExp(`restart-member\\s+${m.name}\\s+${OLD_MINOR} → ${NEW_MINOR}`));
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
    expect((partial?.properties.lastReport as { halt: { rolledBack: boolean } }).halt.rolledBack).toBe(true);
    expect((partial?.properties.spec as { version: string }).version).toBe(OLD_MINOR);
    expect(partial?.properties.versions).toEqual(outs.versions);
    expect(await varzVersions()).toEqual([OLD_MINOR, OLD_MINOR, OLD_MINOR]);
    // Progress was printed as it happened, the halt included.
    expect(provider.output).toMatch(/HALT restart-member: gate start/);
    outs = partial!.properties;
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

  it("Update when no member runs at all (hosts restarted) starts the cluster again instead of refusing", async () => {
    for (const m of cluster.spec.members) await cluster.driver.kill(m);
    const before = provider.output.length;
    outs = await provider.update(
      URN,
      id,
      await provider.read(URN, id, outs),
      at(NEW_MINOR) as unknown as Record<string, unknown>,
    );
    expect(provider.output.slice(before)).toContain(
      `no member is running: starting 3 members at nats-server ${NEW_MINOR}`,
    );
    expect(await varzVersions()).toEqual([NEW_MINOR, NEW_MINOR, NEW_MINOR]);
    expect((outs.lastReport as { result: string }).result).toBe("bootstrapped");
  });

  it("Delete removes only a left-over surge server; LocalNatsProcess delete stops each member and removes its directory", async () => {
    await cluster.driver.provision(cluster.spec.surge);
    await provider.delete(URN, id, outs);
    expect(fs.existsSync(cluster.driver.dir(cluster.spec.surge))).toBe(false);
    expect(await Promise.all(cluster.spec.members.map((m) => cluster.driver.isRunning(m)))).toEqual([true, true, true]);

    const pids = cluster.spec.members.map((m) => cluster.driver.pid(m)!);
    const { lines } = await printed(() =>
      Promise.all(
        cluster.spec.members.map((m) =>
          localNatsProcessProvider.delete(path.join(cluster.stateDir, m.name), {
            endpoint: m,
            stateDir: cluster.stateDir,
            enginePath: ENGINE,
            stopTimeoutSeconds: 40,
          }),
        ),
      ),
    );
    expect(lines).toMatch(/pv1: lame duck \(pid \d+\)/);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    for (const m of cluster.spec.members) expect(fs.existsSync(cluster.driver.dir(m))).toBe(false);
  });
});
