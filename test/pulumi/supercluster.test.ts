/**
 * A supercluster stack (`nats-cluster:clusters`) through the real Pulumi engine on the local platform, in a copy of
 * the project on free loopback ports: clusters east and west (two members and a surge server each, JetStream on, one
 * meta group across both) joined by gateways whose remotes the stack derives, mutual TLS with the one CA the stack
 * makes for both.
 * - `up` starts both clusters; every member's gateways gate (`/gatewayz`) passes for the other cluster;
 * - `config set version` → `preview` shows the plan cluster by cluster and touches nothing;
 * - `up` rolls both clusters, one after the other; every member on the new version, `/gatewayz` whole again;
 * - `refresh --expect-no-changes` and `preview --expect-no-changes` are clean; no plaintext key in the state;
 * - `destroy` stops every server.
 * Skipped, with the reason printed, when the Pulumi engine is not available.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { gatewaysGate } from "../../engine/gates/checks";
import { LocalProcessDriver } from "../../engine/hosts/local";
import { MonitorClient } from "../../engine/monitor/client";
import { monitorUrl, ServerEndpoint } from "../../engine/spec";
import { freePorts } from "../support/ports";
import { NEW_MINOR, OLD_MINOR } from "../support/versions";
import type { SuperclusterPlanDocument } from "../../engine/supercluster/plan-json";
import {
  diagnosticsOf,
  engineUnavailable,
  PreviewJson,
  projectCopy,
  pulumiOk,
  writeStack,
} from "./support/pulumi-project";
import { OwnedPids } from "../support/owned-pids";

const STACK = "sc";
const FAST = { lameDuckGracePeriodSeconds: 1, rollout: { minHealthySeconds: 1, pollIntervalMs: 250 } };

const unavailable = engineUnavailable();
if (unavailable)
  console.warn(`test/pulumi/supercluster.test.ts SKIPPED: the Pulumi engine is not available: ${unavailable}`);
const describeEngine = unavailable ? describe.skip : describe;

type Server = ServerEndpoint & { gatewayPort: number };
const noDriverBinaries = { resolve: () => Promise.reject(new Error("unused")) };
const varz = (s: ServerEndpoint) => new MonitorClient(monitorUrl(s)).varz();

describeEngine("a supercluster of two clusters through the real Pulumi engine", () => {
  let dir: string;
  let project: string;
  let driver: LocalProcessDriver;
  const clusters: Record<"east" | "west", { members: Server[]; surge: Server }> = {} as never;
  /** Every server seen, for the teardown and the destroy test (killed only while still itself: owned-pids.ts). */
  const pids = new OwnedPids();
  const pulumi = (...args: string[]) => pulumiOk(dir, project, args);
  const every = () => Object.values(clusters).flatMap((c) => [...c.members, c.surge]);
  const recordPids = () => every().forEach((s) => pids.add(driver.pid(s)));

  /** The gateways gate on every member of `name`, for the other cluster. */
  async function gatewaysOf(name: "east" | "west"): Promise<string[]> {
    const other = name === "east" ? "west" : "east";
    const verdicts = await Promise.all(
      clusters[name].members.map((m) =>
        gatewaysGate([other]).check({
          server: m,
          monitor: new MonitorClient(monitorUrl(m)),
          expect: { version: "", routePeers: [] },
        }),
      ),
    );
    return verdicts.map((v, i) => `${clusters[name].members[i].name}: ${v.ok ? "ok" : v.observation}`);
  }

  beforeAll(async () => {
    ({ dir, project } = projectCopy("nats-pulumi-supercluster-"));
    const ports = await freePorts(24);
    const at = (name: string, i: number): Server => ({
      name,
      host: "127.0.0.1",
      clientPort: ports[4 * i],
      clusterPort: ports[4 * i + 1],
      monitorPort: ports[4 * i + 2],
      gatewayPort: ports[4 * i + 3],
    });
    clusters.east = { members: [at("east-a", 0), at("east-b", 1)], surge: at("east-surge", 2) };
    clusters.west = { members: [at("west-a", 3), at("west-b", 4)], surge: at("west-surge", 5) };
    const stateDir = path.join(dir, "servers");
    writeStack(project, STACK, {
      // The local stack's one-cluster keys give way to the clusters.
      clusterName: undefined,
      members: undefined,
      surge: undefined,
      routeMode: undefined,
      version: OLD_MINOR,
      clusters: [
        { name: "east", ...clusters.east },
        { name: "west", ...clusters.west },
      ],
      ...FAST,
      local: { stateDir },
    });
    driver = new LocalProcessDriver({ stateDir, binaries: noDriverBinaries });
  }, 120_000);

  afterAll(async () => {
    if (!dir) return;
    recordPids();
    pids.killAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("up starts both clusters, joined by gateways: every member's /gatewayz has the other cluster", async () => {
    await pulumi("stack", "init", STACK);
    const out = await pulumi("up", "--yes");
    console.log(`pulumi up of a new supercluster:\n${diagnosticsOf(out)}`);
    recordPids();
    for (const s of every().filter((s) => !s.name.endsWith("surge"))) expect((await varz(s)).version).toBe(OLD_MINOR);
    expect(await gatewaysOf("east")).toEqual(["east-a: ok", "east-b: ok"]);
    expect(await gatewaysOf("west")).toEqual(["west-a: ok", "west-b: ok"]);
    const outputs = JSON.parse(await pulumi("stack", "output", "--json")) as {
      versions: Record<string, Record<string, string>>;
      clientUrls: Record<string, string[]>;
    };
    expect(outputs.versions).toEqual({
      east: { "east-a": OLD_MINOR, "east-b": OLD_MINOR },
      west: { "west-a": OLD_MINOR, "west-b": OLD_MINOR },
    });
    expect(outputs.clientUrls.west).toEqual(clusters.west.members.map((m) => `nats://127.0.0.1:${m.clientPort}`));
  }, 600_000);

  it("after `config set version`, preview (--json) shows the plan cluster by cluster, as text and as data; touches nothing", async () => {
    await pulumi("config", "set", "nats-cluster:version", NEW_MINOR);
    const preview = JSON.parse(await pulumi("preview", "--json")) as PreviewJson;
    const out = (preview.diagnostics ?? []).map((d) => d.message ?? "").join("");
    console.log(`pulumi preview of the supercluster's upgrade:\n${out}`);
    expect(out).toMatch(/Supercluster of 2 clusters, one at a time, in this order/);
    const printedOrder = [1, 2].map((n) => new RegExp(`${n}\\. cluster (east|west): `).exec(out)?.[1]);
    const [from, to] = [OLD_MINOR, NEW_MINOR].map((v) => v.replace(/\./g, "\\."));
    for (const m of [...clusters.east.members, ...clusters.west.members]) {
      expect(out).toMatch(new RegExp(`restart-member\\s+${m.name}\\s+${from} → ${to}`));
    }
    // The same plan as data, in the SuperclusterRollout's new state: check planned it from the servers, and diff
    // printed that plan (one observation per preview).
    const step = preview.steps?.find((s) => s.urn.includes("SuperclusterRollout"));
    expect(step?.op).toBe("update");
    const doc = step?.newState?.inputs?.plannedRollout as SuperclusterPlanDocument;
    console.log(`its plannedRollout:\n${JSON.stringify(doc, null, 2)}`);
    expect(doc.schema).toBe("nats-cluster/supercluster-plan@1");
    expect(doc.refusals).toEqual([]);
    expect(doc.clusters.map((c) => c.cluster)).toEqual(printedOrder);
    expect(doc.clusters.map((c) => c.index)).toEqual([1, 2]);
    for (const c of doc.clusters) {
      expect(c.plan).toMatchObject({ schema: "nats-cluster/plan@1", cluster: c.cluster, targetVersion: NEW_MINOR });
      const restarts = c.plan.steps.filter((st) => st.kind === "restart-member");
      expect(restarts.map((st) => [st.server, st.from, st.to]).sort()).toEqual(
        clusters[c.cluster as keyof typeof clusters].members.map((m) => [m.name, OLD_MINOR, NEW_MINOR]).sort(),
      );
    }
    expect(doc.estimatedSeconds).toBe(doc.clusters.reduce((sum, c) => sum + c.plan.estimatedSeconds, 0));
    for (const m of [...clusters.east.members, ...clusters.west.members]) {
      expect((await varz(m)).version).toBe(OLD_MINOR);
    }
  });

  it("up rolls both clusters, one after the other; every /gatewayz whole at the end", async () => {
    const out = await pulumi("up", "--yes");
    const summary = diagnosticsOf(out);
    console.log(`pulumi up of the supercluster's upgrade:\n${summary}`);
    expect(summary).toMatch(/Supercluster rollout: DONE \(2 clusters reached, 0 left\)/);
    recordPids();
    for (const m of [...clusters.east.members, ...clusters.west.members]) {
      expect((await varz(m)).version).toBe(NEW_MINOR);
    }
    for (const c of Object.values(clusters)) expect(await driver.isRunning(c.surge)).toBe(false);
    expect(await gatewaysOf("east")).toEqual(["east-a: ok", "east-b: ok"]);
    expect(await gatewaysOf("west")).toEqual(["west-a: ok", "west-b: ok"]);
    const outputs = JSON.parse(await pulumi("stack", "output", "--json", "--show-secrets")) as {
      versions: Record<string, Record<string, string>>;
      lastRolloutReport: string;
    };
    expect(outputs.versions.west).toEqual({ "west-a": NEW_MINOR, "west-b": NEW_MINOR });
    expect(outputs.lastRolloutReport).toMatch(/cluster east .*: done/);
    expect(outputs.lastRolloutReport).toMatch(/cluster west .*: done/);
  }, 600_000);

  it("refresh and preview find nothing to change; the state holds no plaintext key", async () => {
    await pulumi("refresh", "--yes", "--expect-no-changes");
    await pulumi("preview", "--expect-no-changes");
    const state = await pulumi("stack", "export");
    expect(state).not.toMatch(/BEGIN (EC |RSA )?PRIVATE KEY/);
    expect(state).toContain("ciphertext");
  });

  it("destroy stops every server", async () => {
    recordPids();
    expect(pids.size).toBeGreaterThanOrEqual(4);
    await pulumi("destroy", "--yes");
    expect(pids.alive()).toEqual([]);
  });
});
