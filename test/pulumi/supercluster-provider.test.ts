/**
 * The SuperclusterRollout provider serialized and run in the REAL dynamic-provider process over gRPC (Check, Create,
 * Diff, Update, Read, Delete), against real servers on free loopback ports: clusters a and b, two members and a surge
 * server each, joined by gateways (plaintext, no JetStream: what is tested here is the adapter, not the gates).
 * - Check names a bad cluster's field as `clusters[i].spec.…`, and the supercluster's rules (a gateway remote that is
 *   no cluster) the same way;
 * - Create starts both clusters; the outputs have every cluster's versions;
 * - Diff prints the plan cluster by cluster;
 * - an Update to a binary that cannot start halts in the first cluster: the update fails with the whole report
 *   (`not reached: b`), the partial state keeps the inputs last applied with what every cluster runs, and b's
 *   servers are the same processes;
 * - Read reports the versions by cluster; Delete leaves no surge server.
 * Every server is stopped by PID in afterAll.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalProcessDriver } from "../../engine/hosts/local";
import { MonitorClient } from "../../engine/monitor/client";
import { monitorUrl, ServerEndpoint } from "../../engine/spec";
import { superclusterRolloutProvider } from "../../components/supercluster-rollout-provider";
import type { PublicClusterSpec } from "../../components/cluster-rollout-inputs";
import { freePorts } from "../support/ports";
import { NEW_MINOR, OLD_MINOR, natsServerBinary } from "../support/versions";
import { ProviderProcess, RpcFailure } from "./support/provider-process";

const REPO = path.join(__dirname, "..", "..");
const URN = "urn:pulumi:test::nats-cluster::pulumi-nodejs:dynamic/nats-cluster:SuperclusterRollout::test-sc";
/** A version whose "binary" exits at once: the first cluster's rollout halts at its first member. */
const BROKEN = "9.9.9";
const noDriverBinaries = { resolve: () => Promise.reject(new Error("unused")) };

type Props = Record<string, unknown>;

describe("the SuperclusterRollout provider in the real dynamic-provider process", () => {
  let provider: ProviderProcess;
  let dir: string;
  let driver: LocalProcessDriver;
  let specs: Record<"a" | "b", PublicClusterSpec>;
  let id: string;
  let outs: Props;

  const servers = () => Object.values(specs).flatMap((s) => [...s.members, s.surge]);
  const inputs = (versions: { a: string; b: string }, bGateways = specs.b.gateways): Props => ({
    clusters: [
      {
        spec: { ...specs.a, version: versions.a },
        settings: { stateDir: path.join(dir, "servers"), binaryCacheDir: path.join(dir, "bins") },
      },
      {
        spec: { ...specs.b, version: versions.b, gateways: bGateways },
        settings: { stateDir: path.join(dir, "servers"), binaryCacheDir: path.join(dir, "bins") },
      },
    ],
    policy: { minHealthySeconds: 1, pollIntervalMs: 250, healthyDeadlineSeconds: 60, stopTimeoutSeconds: 40 },
    platform: "local",
  });
  const versionOf = async (s: ServerEndpoint) => (await new MonitorClient(monitorUrl(s)).varz()).version;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-sc-provider-"));
    // The binaries the provider resolves: the real pinned ones, and one that cannot start.
    for (const v of [OLD_MINOR, NEW_MINOR]) {
      fs.mkdirSync(path.join(dir, "bins", `v${v}`), { recursive: true });
      fs.symlinkSync(natsServerBinary(v), path.join(dir, "bins", `v${v}`, "nats-server"));
    }
    fs.mkdirSync(path.join(dir, "bins", `v${BROKEN}`));
    fs.writeFileSync(path.join(dir, "bins", `v${BROKEN}`, "nats-server"), "#!/bin/sh\necho broken >&2\nexit 1\n", {
      mode: 0o755,
    });
    const ports = await freePorts(24);
    const at = (name: string, i: number) => ({
      name,
      host: "127.0.0.1",
      clientPort: ports[4 * i],
      clusterPort: ports[4 * i + 1],
      monitorPort: ports[4 * i + 2],
      gatewayPort: ports[4 * i + 3],
    });
    const cluster = (name: "a" | "b", first: number, other: ReadonlyArray<ServerEndpoint>): PublicClusterSpec => ({
      name,
      version: OLD_MINOR,
      members: [at(`${name}1`, first), at(`${name}2`, first + 1)],
      surge: at(`${name}-surge`, first + 2),
      routes: { kind: "explicit" },
      jetstream: { enabled: false },
      lameDuck: { durationSeconds: 30, gracePeriodSeconds: 1 },
      gateways: {
        remotes: [{ name: name === "a" ? "b" : "a", urls: other.map((s) => `nats://127.0.0.1:${s.gatewayPort}`) }],
      },
    });
    const bMembers = [at("b1", 3), at("b2", 4)];
    const a = cluster("a", 0, bMembers);
    specs = { a, b: cluster("b", 3, a.members) };
    driver = new LocalProcessDriver({ stateDir: path.join(dir, "servers"), binaries: noDriverBinaries });
    provider = await ProviderProcess.start(superclusterRolloutProvider, REPO);
  }, 120_000);

  afterAll(async () => {
    await provider?.stop();
    if (!dir) return;
    for (const s of servers()) await driver.kill(s).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("Check names a bad cluster's field and the supercluster's rules under clusters[i].spec", async () => {
    expect((await provider.check(URN, {}, inputs({ a: OLD_MINOR, b: OLD_MINOR }))).failures).toEqual([]);
    const bad = await provider.check(URN, {}, inputs({ a: OLD_MINOR, b: "v2.15.2" }));
    expect(bad.failures.map((f) => f.property)).toContain("clusters[1].spec.version");
    const stray = await provider.check(
      URN,
      {},
      inputs({ a: OLD_MINOR, b: OLD_MINOR }, { remotes: [{ name: "c", urls: ["nats://127.0.0.1:1"] }] }),
    );
    expect(stray.failures.map((f) => `${f.property}: ${f.reason}`).join("\n")).toMatch(
      /clusters\[1\]\.spec\.gateways\.remotes\[0\]\.name: "c" is not a cluster of this supercluster/,
    );
  });

  it("Create starts both clusters; the outputs have every cluster's versions", async () => {
    const created = await provider.create(URN, inputs({ a: OLD_MINOR, b: OLD_MINOR }));
    ({ id, outs } = created);
    expect(id).toBe("a+b");
    expect(outs.versions).toEqual({ a: { a1: OLD_MINOR, a2: OLD_MINOR }, b: { b1: OLD_MINOR, b2: OLD_MINOR } });
    expect((outs.lastReport as { status: string }).status).toBe("done");
    for (const m of [...specs.a.members, ...specs.b.members]) expect(await versionOf(m)).toBe(OLD_MINOR);
  }, 300_000);

  it("Diff prints the plan cluster by cluster", async () => {
    const before = provider.output.length;
    expect((await provider.diff(URN, id, outs, inputs({ a: NEW_MINOR, b: NEW_MINOR }))).changes).toBe(true);
    for (let i = 0; i < 50 && !provider.output.includes("2. cluster", before); i++)
      await new Promise((r) => setTimeout(r, 100));
    const printed = provider.output.slice(before);
    expect(printed).toContain(
      `SuperclusterRollout a+b: version a ${OLD_MINOR} → ${NEW_MINOR}, b ${OLD_MINOR} → ${NEW_MINOR}`,
    );
    expect(printed).toMatch(/Supercluster of 2 clusters, one at a time/);
    expect(printed).toMatch(
      /1\. cluster a: [\s\S]*restart-member\s+a1[\s\S]*2\. cluster b: [\s\S]*restart-member\s+b1/,
    );
    expect((await provider.diff(URN, id, outs, inputs({ a: OLD_MINOR, b: OLD_MINOR }))).changes).toBe(false);
  });

  it("an Update that halts in the first cluster fails with the whole report and leaves the second untouched", async () => {
    const bPids = specs.b.members.map((m) => driver.pid(m));
    let failure: RpcFailure | undefined;
    try {
      await provider.update(URN, id, outs, inputs({ a: BROKEN, b: BROKEN }));
    } catch (err) {
      failure = err as RpcFailure;
    }
    expect(failure?.message).toContain("SuperclusterRollout a+b: the rollout HALTED");
    expect(failure?.message).toMatch(/1\. cluster a .*: halted/);
    expect(failure?.message).toContain("not reached: b; run again to resume");
    const partial = failure!.partial!.properties;
    expect(partial.versions).toEqual(outs.versions);
    expect((partial.lastReport as { status: string; left: string[] }).status).toBe("halted");
    expect((partial.lastReport as { left: string[] }).left).toEqual(["b"]);
    // The inputs last applied are kept, so the next diff still sees the change.
    const kept = (partial.clusters as Array<{ spec: PublicClusterSpec }>).map((c) => c.spec.version);
    expect(kept).toEqual([OLD_MINOR, OLD_MINOR]);
    expect(specs.b.members.map((m) => driver.pid(m))).toEqual(bPids);
    for (const m of [...specs.a.members, ...specs.b.members]) expect(await versionOf(m)).toBe(OLD_MINOR);
    outs = partial;
  }, 300_000);

  it("Read reports the versions by cluster; Delete leaves no surge server", async () => {
    const read = await provider.read(URN, id, outs);
    expect(read.versions).toEqual({ a: { a1: OLD_MINOR, a2: OLD_MINOR }, b: { b1: OLD_MINOR, b2: OLD_MINOR } });
    await provider.delete(URN, id, outs);
    for (const s of [specs.a.surge, specs.b.surge]) expect(await driver.isRunning(s)).toBe(false);
  }, 120_000);
});
