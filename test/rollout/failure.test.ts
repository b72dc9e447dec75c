/**
 * What happens when things go wrong, against real servers: a target binary that cannot start, a target that starts
 * but never passes its gates, and a cluster that is unhealthy before anything starts.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { MonitorClient } from "../../engine/monitor/client";
import { formatEvent } from "../../engine/rollout/events";
import { RolloutHalted, runRollout } from "../../engine/rollout/execute";
import { formatReport } from "../../engine/rollout/report";
import { monitorUrl, RolloutPolicy } from "../../engine/spec";
import { LocalTestCluster } from "../support/local-cluster";
import { natsServerBinary, NEW_MINOR, OLD_MINOR } from "../support/versions";

const FAST: Partial<RolloutPolicy> = { minHealthySeconds: 1, pollIntervalMs: 250, healthyDeadlineSeconds: 8 };
const BROKEN = "2.99.0"; // a binary that exits at once
const WRONG = "2.99.1"; // starts fine but reports another version: its gates never pass

describe("failure handling", () => {
  let cluster: LocalTestCluster;
  let fakes: string;

  beforeAll(async () => {
    fakes = fs.mkdtempSync("/tmp/nats-fake-bins-");
    const broken = path.join(fakes, "broken");
    fs.writeFileSync(broken, "#!/bin/sh\necho 'nats-server: simulated fatal error: cannot start' >&2\nexit 1\n", {
      mode: 0o755,
    });
    const wrong = path.join(fakes, "wrong");
    fs.writeFileSync(wrong, `#!/bin/sh\nexec ${natsServerBinary(NEW_MINOR)} "$@"\n`, { mode: 0o755 });
    cluster = await LocalTestCluster.create({
      members: 3,
      version: OLD_MINOR,
      jetstream: true,
      namePrefix: "fail",
      extraBinaries: { [BROKEN]: broken, [WRONG]: wrong },
    });
    await cluster.bootstrap(FAST);
  });

  afterAll(async () => {
    await cluster?.destroy();
    fs.rmSync(fakes, { recursive: true, force: true });
  });

  const pids = () => cluster.spec.members.map((m) => cluster.driver.pid(m));

  async function expectHealthyAt(version: string): Promise<void> {
    for (const m of cluster.spec.members) {
      const monitor = new MonitorClient(monitorUrl(m));
      expect((await monitor.varz()).version).toBe(version);
      expect((await monitor.healthz()).httpStatus).toBe(200);
    }
    expect(await cluster.driver.isRunning(cluster.spec.surge)).toBe(false);
  }

  async function haltedRollout(version: string): Promise<RolloutHalted> {
    const err = await runRollout({
      spec: { ...cluster.spec, version },
      driver: cluster.driver,
      listenHost: "127.0.0.1",
      policy: FAST,
      watchTraffic: false,
      onEvent: (e) => process.stdout.write(formatEvent(e) + "\n"),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RolloutHalted);
    process.stdout.write(formatReport((err as RolloutHalted).report) + "\n");
    return err as RolloutHalted;
  }

  it("a target that cannot start halts at the first member and rolls it back; no other member is touched", async () => {
    const before = pids();
    const { report } = await haltedRollout(BROKEN);
    const first = report.halt!.server;
    expect(report.result).toBe("halted");
    expect(report.halt).toMatchObject({ code: "RolledBack", gate: "start" });
    expect(report.halt!.observation).toContain("simulated fatal error");
    expect(report.halt!.rolledBack).toBe(true);
    expect(report.members).toHaveLength(1);
    expect(report.members[0]).toMatchObject({ name: first, result: "rolled-back", from: OLD_MINOR });
    // Every other member still runs the very same process.
    const after = pids();
    cluster.spec.members.forEach((m, i) => {
      if (m.name !== first) expect(after[i]).toBe(before[i]);
    });
    await expectHealthyAt(OLD_MINOR);
  });

  it("a target whose gates never pass halts at the deadline, names the gate and what it saw, and rolls back", async () => {
    const { report } = await haltedRollout(WRONG);
    expect(report.halt).toMatchObject({ code: "RolledBack", gate: "version" });
    expect(report.halt!.observation).toContain(`/varz version ${NEW_MINOR}, expected ${WRONG}`);
    expect(report.halt!.rolledBack).toBe(true);
    await expectHealthyAt(OLD_MINOR);
  });

  it("without auto-rollback the failed member stays down and the surge server keeps carrying clients", async () => {
    const err = await runRollout({
      spec: { ...cluster.spec, version: BROKEN },
      driver: cluster.driver,
      listenHost: "127.0.0.1",
      policy: { ...FAST, autoRollback: false },
      watchTraffic: false,
    }).catch((e: unknown) => e as RolloutHalted);
    const report = (err as RolloutHalted).report;
    expect(report.halt).toMatchObject({ code: "LeftAsIs", rolledBack: false });
    expect(report.surge?.removed).toBe(false);
    expect(await cluster.driver.isRunning(cluster.spec.surge)).toBe(true);
    const down = cluster.spec.members.find((m) => m.name === report.halt!.server)!;
    expect(await cluster.driver.isRunning(down)).toBe(false);

    // Re-running with the good old version recovers: the down member is started, the surge server leaves.
    const recovered = await runRollout(cluster.options(FAST, { watchTraffic: false }));
    expect(recovered.result).toBe("succeeded");
    expect(recovered.members.map((m) => m.action)).toContain("recover-member");
    await expectHealthyAt(OLD_MINOR);
  });

  it("a member found down is started again first (at the target, through its gates), then the rollout goes on", async () => {
    const victim = cluster.spec.members[1];
    await cluster.driver.kill(victim);
    const report = await runRollout(
      cluster.options(FAST, { spec: { ...cluster.spec, version: NEW_MINOR }, watchTraffic: false }),
    );
    expect(report.result).toBe("succeeded");
    expect(report.members[0]).toMatchObject({
      name: victim.name,
      action: "recover-member",
      to: NEW_MINOR,
      result: "done",
    });
    // Found down: the report does not invent how long it was down.
    expect(report.members[0].downMs).toBeUndefined();
    expect(report.members[0].note).toMatch(/was found down; serving again after/);
    expect(
      report.members
        .filter((m) => m.action === "restart-member")
        .map((m) => m.name)
        .sort(),
    ).toEqual(
      cluster.spec.members
        .filter((m) => m !== victim)
        .map((m) => m.name)
        .sort(),
    );
    await expectHealthyAt(NEW_MINOR);
  });
});
