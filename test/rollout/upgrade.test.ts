/**
 * The whole rolling upgrade against real servers: a 3-member JetStream cluster at the older minor version with an
 * R3 file stream, a publisher publishing with acks and a request/reply client running throughout; upgrade to the
 * newer minor, then downgrade back the same path.
 */
import { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { CLIENT_ONLY_SURGE_SOAK_SECONDS, isWatchStream } from "../../engine/defaults";
import { MonitorClient } from "../../engine/monitor/client";
import { formatEvent, RolloutEvent } from "../../engine/rollout/events";
import { runRollout } from "../../engine/rollout/execute";
import { formatReport, RolloutReport } from "../../engine/rollout/report";
import { monitorUrl, RolloutPolicy } from "../../engine/spec";
import { LocalTestCluster } from "../support/local-cluster";
import { AckedPublisher, appOptions, connect, createR3Stream } from "../support/traffic";
import { NEW_MINOR, OLD_MINOR } from "../support/versions";

// minHealthySeconds above CLIENT_ONLY_SURGE_SOAK_SECONDS, so the surge server's shorter soak shows.
const FAST: Partial<RolloutPolicy> = { minHealthySeconds: 3, pollIntervalMs: 250, healthyDeadlineSeconds: 60 };

describe("rolling upgrade of a JetStream cluster under traffic", () => {
  let cluster: LocalTestCluster;
  let nc: NatsConnection;
  const events: RolloutEvent[] = [];

  beforeAll(async () => {
    cluster = await LocalTestCluster.create({
      members: 3,
      version: OLD_MINOR,
      jetstream: true,
      namePrefix: "up",
      graceSeconds: 2,
    });
    await cluster.bootstrap(FAST);
    nc = await connect(appOptions(cluster.spec, "test-publisher"));
    await createR3Stream(nc, "ORDERS", "orders.>");
  });

  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    await cluster?.destroy();
  });

  async function rollTo(version: string): Promise<{ report: RolloutReport; publisher: AckedPublisher }> {
    const publisher = new AckedPublisher(nc, "orders.new");
    publisher.start();
    cluster.spec = { ...cluster.spec, version };
    try {
      const report = await runRollout({
        spec: cluster.spec,
        driver: cluster.driver,
        listenHost: "127.0.0.1",
        policy: FAST,
        onEvent: (e) => {
          events.push(e);
          process.stdout.write(formatEvent(e) + "\n");
        },
      });
      process.stdout.write(formatReport(report) + "\n");
      return { report, publisher };
    } finally {
      await publisher.stop();
    }
  }

  async function expectAllAcked(publisher: AckedPublisher): Promise<void> {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info("ORDERS");
    expect(publisher.acked.size).toBeGreaterThan(20);
    expect(info.state.messages).toBeGreaterThanOrEqual(publisher.acked.size);
    for (const [seq, id] of publisher.acked) {
      const msg = await jsm.streams.getMessage("ORDERS", { seq });
      expect(msg?.string()).toBe(id);
    }
  }

  /**
   * The rollout's own watch published with acks through every member (its publishers homed one per member) and lost
   * nothing, and its stream is gone.
   */
  async function expectWatchPublished(report: RolloutReport): Promise<void> {
    const pub = report.clientImpact?.publishing;
    expect(pub?.skipped).toBeUndefined();
    expect(pub?.cleanup).toBeUndefined();
    expect(pub?.readBack).toBeUndefined();
    expect(pub?.stream).toMatch(/^NATS_ROLLOUT_WATCH_/);
    expect(pub?.perMember.map((m) => m.member)).toEqual(cluster.spec.members.map((m) => m.name));
    for (const m of pub?.perMember ?? []) {
      process.stdout.write(
        `watch publisher on ${m.member}: ${m.published} published, ${m.acked} acked, ${m.timedOut} timed out, ` +
          `${m.failed} failed, ${m.lost} lost, longest gap ${m.maxGapMs} ms\n`,
      );
      expect(m.acked).toBeGreaterThan(0);
      expect(m.lost).toBe(0);
      expect(m.published).toBe(m.acked + m.timedOut + m.failed);
    }
    expect(formatReport(report)).toMatch(/\n {2}acked publishing: \d+ published, \d+ acked, .* 0 lost, /);
    const left: string[] = [];
    for await (const name of (await jetstreamManager(nc)).streams.names()) if (isWatchStream(name)) left.push(name);
    expect(left).toEqual([]);
  }

  async function expectClusterAt(version: string): Promise<void> {
    for (const m of cluster.spec.members) {
      expect((await new MonitorClient(monitorUrl(m)).varz()).version).toBe(version);
    }
    // The surge server is gone and left no ghost: the meta leader sees exactly the three members.
    expect(await cluster.driver.isRunning(cluster.spec.surge)).toBe(false);
    const anyMember = new MonitorClient(monitorUrl(cluster.spec.members[0]));
    const leader = (await anyMember.jsz()).meta_cluster!.leader!;
    const leaderMember = cluster.spec.members.find((m) => m.name === leader)!;
    const meta = (await new MonitorClient(monitorUrl(leaderMember)).jsz()).meta_cluster!;
    const peers = [meta.leader, ...(meta.replicas ?? []).map((r) => r.name)].sort();
    expect(peers).toEqual(cluster.spec.members.map((m) => m.name).sort());
    expect((meta.replicas ?? []).every((r) => r.current && !r.offline)).toBe(true);
  }

  it("upgrades every member to the newer minor, one at a time, with no acked message lost", async () => {
    const { report, publisher } = await rollTo(NEW_MINOR);
    expect(report.result).toBe("succeeded");
    expect(report.members.map((m) => m.result)).toEqual(["done", "done", "done"]);
    expect(report.surge?.removed).toBe(true);
    await expectClusterAt(NEW_MINOR);
    await expectAllAcked(publisher);
    await expectWatchPublished(report);
    // Request/reply kept working (the rollout's own watch: a pair homed on each member): the longest gap must be far
    // below a member's downtime budget.
    const felt = report.clientImpact!;
    process.stdout.write(
      `request/reply: ${felt.requests} requests, ${felt.failures} failed, max gap ${felt.maxGapMs} ms\n`,
    );
    expect(felt.requests).toBeGreaterThan(20);
    expect(felt.maxGapMs).toBeLessThan(10_000);
    // Never a second member down: restarts never overlap.
    const starts = events.filter((e) => e.kind === "step-start" && e.step === "restart-member").map((e) => e.elapsedMs);
    const dones = events.filter((e) => e.kind === "step-done" && e.step === "restart-member").map((e) => e.elapsedMs);
    for (let i = 1; i < starts.length; i++) expect(starts[i]).toBeGreaterThanOrEqual(dones[i - 1]);
    // Surge up before the first member, down after the last.
    const order = events.filter((e) => e.kind === "step-start").map((e) => e.step);
    expect(order[0]).toBe("preflight");
    expect(order[1]).toBe("surge-up");
    expect(order.slice(-2)).toEqual(["surge-down", "final-check"]);
    // Members soak for minHealthySeconds; the client-only surge server (capacity, asked again before every lame
    // duck) for CLIENT_ONLY_SURGE_SOAK_SECONDS.
    for (const m of report.members) expect(m.soakMs).toBeGreaterThanOrEqual(3000);
    const surgeGates = events.find((e) => e.server === cluster.spec.surge.name && /gates passed/.test(e.message));
    const surgeSoak = Number(surgeGates?.message.match(/soak (\d+(?:\.\d+)?)s/)?.[1]);
    expect(surgeSoak).toBeGreaterThanOrEqual(CLIENT_ONLY_SURGE_SOAK_SECONDS);
    expect(surgeSoak).toBeLessThan(3);
  });

  it("downgrades back to the older minor by the same path", async () => {
    events.length = 0;
    const { report, publisher } = await rollTo(OLD_MINOR);
    expect(report.result).toBe("succeeded");
    await expectClusterAt(OLD_MINOR);
    await expectAllAcked(publisher);
    await expectWatchPublished(report);
  });

  it("a second run with nothing to change does nothing", async () => {
    const report = await runRollout(cluster.options(FAST));
    expect(report.result).toBe("no-change");
  });
});
