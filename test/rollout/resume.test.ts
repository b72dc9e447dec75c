/**
 * Resume: the engine process is SIGKILLed in the middle of a rollout and run again. The second run decides from what
 * the servers report (their /varz versions, which processes run), finishes the rollout and removes the orphaned
 * surge server. Uses the patch step inside the newest line (e.g. 2.15.1 → 2.15.2).
 */
import { MonitorClient } from "../../engine/monitor/client";
import { formatEvent } from "../../engine/rollout/events";
import { previewRollout, runRollout } from "../../engine/rollout/execute";
import { monitorUrl, RolloutPolicy } from "../../engine/spec";
import { rolloutKilledWhen } from "../support/engine-process";
import { LocalTestCluster } from "../support/local-cluster";
import { NEW_MINOR, NEW_MINOR_PREV_PATCH } from "../support/versions";

const FAST: Partial<RolloutPolicy> = { minHealthySeconds: 1, pollIntervalMs: 250, healthyDeadlineSeconds: 30 };

describe("resume after the engine is killed", () => {
  let cluster: LocalTestCluster;

  beforeEach(async () => {
    cluster = await LocalTestCluster.create({
      members: 3,
      version: NEW_MINOR_PREV_PATCH,
      jetstream: true,
      namePrefix: "res",
    });
    await cluster.bootstrap(FAST);
  });
  afterEach(async () => {
    await cluster?.destroy();
  });

  const versions = () =>
    Promise.all(
      cluster.spec.members.map(
        async (m) => (await new MonitorClient(monitorUrl(m)).varz().catch(() => undefined))?.version,
      ),
    );

  async function resume() {
    const report = await runRollout({
      spec: cluster.spec,
      driver: cluster.driver,
      listenHost: "127.0.0.1",
      policy: FAST,
      watchTraffic: false,
      onEvent: (e) => process.stdout.write(formatEvent(e) + "\n"),
    });
    expect(report.result).toBe("succeeded");
    expect(await versions()).toEqual([NEW_MINOR, NEW_MINOR, NEW_MINOR]);
    expect(await cluster.driver.isRunning(cluster.spec.surge)).toBe(false);
    return report;
  }

  it("killed after the first member: the re-run adopts the surge server and upgrades only the others", async () => {
    cluster.spec = { ...cluster.spec, version: NEW_MINOR };
    const first = await rolloutKilledWhen(cluster.spec, cluster.stateDir, FAST, /restart-member: done/);
    expect(first.killed).toBe(true);
    const seen = await versions();
    expect(seen.filter((v) => v === NEW_MINOR)).toHaveLength(1);
    expect(await cluster.driver.isRunning(cluster.spec.surge)).toBe(true); // orphaned by the kill

    const { plan } = await previewRollout(cluster.options(FAST));
    expect(plan.steps.filter((s) => s.kind === "restart-member")).toHaveLength(2);
    expect(plan.steps.find((s) => s.kind === "surge-up")?.reason).toContain("already running");

    const report = await resume();
    expect(report.members).toHaveLength(2);
  });

  it("killed while a member is in lame duck: the re-run brings that member back first", async () => {
    cluster.spec = { ...cluster.spec, version: NEW_MINOR };
    const first = await rolloutKilledWhen(cluster.spec, cluster.stateDir, FAST, /restart-member: lame duck/);
    expect(first.killed).toBe(true);
    const victim = cluster.spec.members.find((m) =>
      new RegExp(`${m.name}\\s+restart-member: lame duck`).test(first.output),
    )!;
    expect(await cluster.driver.waitForExit(victim, 30_000)).toBe(true); // lame duck finishes without the engine
    const report = await resume();
    expect(report.members.find((m) => m.name === victim.name)?.action).toBe("recover-member");
  });

  it("killed after the last member: the re-run only removes the orphaned surge server", async () => {
    cluster.spec = { ...cluster.spec, version: NEW_MINOR };
    const first = await rolloutKilledWhen(cluster.spec, cluster.stateDir, FAST, /surge-down: lame duck: its clients/);
    expect(first.killed).toBe(true);
    const { plan } = await previewRollout(cluster.options(FAST));
    expect(plan.steps.map((s) => s.kind)).toEqual(["surge-down"]);
    await runRollout(cluster.options(FAST, { watchTraffic: false }));
    expect(await cluster.driver.isRunning(cluster.spec.surge)).toBe(false);
    expect(await versions()).toEqual([NEW_MINOR, NEW_MINOR, NEW_MINOR]);
  });
});
