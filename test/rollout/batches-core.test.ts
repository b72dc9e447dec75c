/**
 * Batches of a core-NATS cluster (JetStream off: no quorum to keep) on real servers, 7 members at
 * rollout.maxUnavailable 3: batched up to the limit; a member of a batch that cannot start halts the rollout and
 * rolls back that batch, every member of it, touching nothing else; a member that goes down between two batches
 * stops the rollout before the next batch, and a re-run starts it first and finishes.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { MonitorClient } from "../../engine/monitor/client";
import { formatEvent, RolloutEvent } from "../../engine/rollout/events";
import { RolloutHalted, runRollout } from "../../engine/rollout/execute";
import { formatReport, RolloutReport } from "../../engine/rollout/report";
import { monitorUrl, RolloutPolicy } from "../../engine/spec";
import { LocalTestCluster } from "../support/local-cluster";
import { DownIntervals } from "../support/down-intervals";
import { DownWatch } from "../support/quorum-watch";
import { natsServerBinary, NEW_MINOR, NEW_MINOR_PREV_PATCH, OLD_MINOR } from "../support/versions";

const MEMBERS = 7;
const PREFIX = "bc";
const POLICY: Partial<RolloutPolicy> = {
  minHealthySeconds: 1,
  pollIntervalMs: 250,
  healthyDeadlineSeconds: 20,
  maxUnavailable: 3,
};

describe("batches of a core-NATS cluster (7 members, maxUnavailable 3)", () => {
  let cluster: LocalTestCluster;
  let fakes: string;

  beforeAll(async () => {
    // NEW_MINOR for this cluster: the real binary, except on bc2, where it cannot start.
    fakes = fs.mkdtempSync("/tmp/nats-batch-bins-");
    const failsOn2 = path.join(fakes, "fails-on-2");
    fs.writeFileSync(
      failsOn2,
      `#!/bin/sh\ncase "$*" in *"/${PREFIX}2/nats.conf"*) echo 'nats-server: simulated fatal error on ${PREFIX}2' >&2; exit 1;; esac\n` +
        `exec ${natsServerBinary(NEW_MINOR)} "$@"\n`,
      { mode: 0o755 },
    );
    cluster = await LocalTestCluster.create({
      members: MEMBERS,
      version: OLD_MINOR,
      jetstream: false,
      namePrefix: PREFIX,
      extraBinaries: { [NEW_MINOR]: failsOn2 },
    });
    await cluster.bootstrap(POLICY);
  }, 120_000);

  afterAll(async () => {
    await cluster?.destroy();
    if (fakes) fs.rmSync(fakes, { recursive: true, force: true });
  });

  const names = (...i: number[]) => i.map((n) => `${PREFIX}${n}`);
  const versions = () =>
    Promise.all(cluster.spec.members.map(async (m) => (await new MonitorClient(monitorUrl(m)).varz()).version));
  const pids = () => cluster.spec.members.map((m) => cluster.driver.pid(m));
  const batchesOf = (report: RolloutReport) => {
    const out: string[][] = [];
    for (const m of report.members) if (m.batch !== undefined) (out[m.batch - 1] ??= []).push(m.name);
    return out.map((b) => b.sort());
  };

  async function roll(version: string, onEvent?: (e: RolloutEvent) => void): Promise<RolloutReport> {
    cluster.spec = { ...cluster.spec, version };
    const events = (e: RolloutEvent) => {
      process.stdout.write(formatEvent(e) + "\n");
      onEvent?.(e);
    };
    try {
      const report = await runRollout(cluster.options(POLICY, { onEvent: events }));
      process.stdout.write(formatReport(report) + "\n");
      return report;
    } catch (err) {
      if (err instanceof RolloutHalted) process.stdout.write(formatReport(err.report) + "\n");
      throw err;
    }
  }

  it("batched up to the limit: 3, 3, 1 members down together, request/reply answered throughout", async () => {
    const down = new DownWatch(cluster.spec.members);
    const rolled = new DownIntervals(cluster.driver, cluster.spec.members);
    down.start();
    const report = await roll(NEW_MINOR_PREV_PATCH).finally(() => down.stop());
    expect(report.result).toBe("succeeded");
    expect(batchesOf(report)).toEqual([names(1, 2, 3), names(4, 5, 6), names(7)]);
    expect(await versions()).toEqual(Array(MEMBERS).fill(NEW_MINOR_PREV_PATCH));
    // The batch ran together (from the rollout's own stop/start calls); seen from outside, never more than 3 down.
    expect(rolled.maxDown).toBe(3);
    expect([down.maxDown <= 3, down.downDetails]).toEqual([true, down.downDetails]); // on failure: why each was down
    expect(report.clientImpact!.requests).toBeGreaterThan(20);
    expect(report.clientImpact!.maxGapMs).toBeLessThan(10_000);
  }, 180_000);

  it("a member of a batch that cannot start: that batch, every member of it, is rolled back; nothing else is touched", async () => {
    const before = pids();
    const err = await roll(NEW_MINOR).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RolloutHalted);
    const report = (err as RolloutHalted).report;
    expect(report.halt).toMatchObject({ code: "RolledBack", server: `${PREFIX}2`, gate: "start", rolledBack: true });
    expect(report.halt!.observation).toContain(`simulated fatal error on ${PREFIX}2`);
    expect(report.members.map((m) => [m.name, m.result]).sort()).toEqual(names(1, 2, 3).map((n) => [n, "rolled-back"]));
    expect(report.members.find((m) => m.name === `${PREFIX}1`)!.note).toContain(
      `rolled back with its batch (${PREFIX}2 failed)`,
    );
    expect(await versions()).toEqual(Array(MEMBERS).fill(NEW_MINOR_PREV_PATCH));
    // bc4..bc7: the very same processes.
    expect(pids().slice(3)).toEqual(before.slice(3));
    expect(await cluster.driver.isRunning(cluster.spec.surge)).toBe(false);
  }, 180_000);

  it("a member that goes down between two batches stops the rollout there; a re-run starts it first", async () => {
    // Back to the older minor (a real downgrade path); bc7 dies as the first batch finishes.
    const victim = cluster.spec.members[6];
    let done = 0;
    const err = await roll(OLD_MINOR, (e) => {
      if (e.kind === "step-done" && e.step === "restart-member" && ++done === 3) {
        process.kill(cluster.driver.pid(victim)!, "SIGKILL");
      }
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RolloutHalted);
    const report = (err as RolloutHalted).report;
    expect(report.halt).toMatchObject({ code: "MemberLost", server: victim.name, gate: "observe" });
    expect(report.halt!.observation).toMatch(/found down before batch 2 .*no member of that batch was touched/);
    expect(
      report.members
        .filter((m) => m.result === "done")
        .map((m) => m.name)
        .sort(),
    ).toEqual(names(1, 2, 3));
    expect(await cluster.driver.isRunning(cluster.spec.surge)).toBe(true); // carries clients while bc7 is down

    const resumed = await roll(OLD_MINOR);
    expect(resumed.result).toBe("succeeded");
    expect(resumed.members[0]).toMatchObject({ name: victim.name, action: "recover-member", result: "done" });
    expect(batchesOf(resumed)).toEqual([names(4, 5, 6)]);
    expect(await versions()).toEqual(Array(MEMBERS).fill(OLD_MINOR));
    expect(await cluster.driver.isRunning(cluster.spec.surge)).toBe(false);
  }, 240_000);
});
