/**
 * Config-only changes: what nats-server reloads in place (client auth, TLS) is rolled out as a reload — same
 * processes, new config_load_time — and anything else (routes, max_payload) as a rolling restart through the surge
 * path.
 */
import { MonitorClient } from "../../engine/monitor/client";
import { previewRollout, runRollout } from "../../engine/rollout/execute";
import { monitorUrl, RolloutPolicy } from "../../engine/spec";
import { LocalTestCluster } from "../support/local-cluster";
import { NEW_MINOR } from "../support/versions";

const FAST: Partial<RolloutPolicy> = { minHealthySeconds: 1, pollIntervalMs: 250, healthyDeadlineSeconds: 30 };

describe("config changes without a version change", () => {
  let cluster: LocalTestCluster;
  beforeAll(async () => {
    cluster = await LocalTestCluster.create({ members: 3, version: NEW_MINOR, namePrefix: "cfg" });
    await cluster.bootstrap(FAST);
  });
  afterAll(async () => {
    await cluster?.destroy();
  });
  const pids = () => cluster.spec.members.map((m) => cluster.driver.pid(m));
  const opts = () => cluster.options(FAST, { watchTraffic: false });

  it("an auth change is a rolling reload: no restart, no surge server, config_load_time moves", async () => {
    const before = pids();
    const loadedBefore = await Promise.all(
      cluster.spec.members.map(async (m) => (await new MonitorClient(monitorUrl(m)).varz()).config_load_time),
    );
    cluster.spec = { ...cluster.spec, auth: { users: [{ user: "app", password: "s3cret-pass" }] } };
    const { plan } = await previewRollout(opts());
    expect(plan.steps.filter((s) => s.kind === "reload-member")).toHaveLength(3);
    expect(plan.steps.some((s) => s.kind === "surge-up" || s.kind === "restart-member")).toBe(false);
    const report = await runRollout(opts());
    expect(report.result).toBe("succeeded");
    expect(pids()).toEqual(before);
    const loadedAfter = await Promise.all(
      cluster.spec.members.map(async (m) => (await new MonitorClient(monitorUrl(m)).varz()).config_load_time),
    );
    loadedAfter.forEach((t, i) => expect(Date.parse(t!)).toBeGreaterThan(Date.parse(loadedBefore[i]!)));
    for (const m of cluster.spec.members) expect(await cluster.driver.readConfig(m)).toContain("s3cret-pass");
    // The secret never shows in what the rollout reports.
    expect(JSON.stringify(report)).not.toContain("s3cret-pass");
  });

  it("a route change (explicit → seed) is a rolling restart, and the mesh is whole afterwards", async () => {
    cluster.spec = { ...cluster.spec, routes: { kind: "seed", seeds: [cluster.spec.members[0].name] } };
    const { plan } = await previewRollout(opts());
    expect(plan.steps.filter((s) => s.kind === "restart-member")).toHaveLength(3);
    expect((await runRollout(opts())).result).toBe("succeeded");
  });

  it("a setting that needs a restart is a rolling restart with the surge server", async () => {
    const before = pids();
    cluster.spec = { ...cluster.spec, extraSettings: { max_payload: 2097152 } };
    const { plan } = await previewRollout(opts());
    expect(plan.steps.filter((s) => s.kind === "restart-member").map((s) => s.reason)).toEqual(
      Array(3).fill(
        "config change that needs a restart (listeners, names, routes, gateways, client TLS on/off, JetStream or extra settings)",
      ),
    );
    const report = await runRollout(opts());
    expect(report.result).toBe("succeeded");
    pids().forEach((p, i) => expect(p).not.toBe(before[i]));
    for (const m of cluster.spec.members) {
      const varz = (await new MonitorClient(monitorUrl(m)).varz()) as unknown as { max_payload: number };
      expect(varz.max_payload).toBe(2097152);
    }
  });
});
