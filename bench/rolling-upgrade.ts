/**
 * `npm run bench`: a rolling upgrade of 3- and 5-member JetStream clusters of real nats-servers under client load.
 * Prints the rollout's total time, per member time down and time in gates, and the floor: the same servers (surge
 * included) drained by lame duck and restarted bare in the same order, start-to-ready only, measured in the same run
 * under the same load, plus the configured soak times. total ÷ floor is what the tool itself costs.
 * Also: JetStream acked messages lost, meta-leader elections during the rollout, request/reply max gap.
 * Not a test: it asserts nothing, it measures.
 */
import { connect, NatsConnection } from "nats";
import { installBinary } from "../engine/hosts/driver";
import { MonitorClient } from "../engine/monitor/client";
import { runRollout } from "../engine/rollout/execute";
import { formatReport } from "../engine/rollout/report";
import { TrafficWatch } from "../engine/rollout/traffic-watch";
import { configTextFor } from "../engine/config/text";
import { clientUrl, monitorUrl, RolloutPolicy, ServerEndpoint } from "../engine/spec";
import { LocalTestCluster } from "../test/support/local-cluster";
import { AckedPublisher, appOptions, createR3Stream } from "../test/support/traffic";
import { NEW_MINOR, OLD_MINOR } from "../test/support/versions";

const POLICY: Partial<RolloutPolicy> = { minHealthySeconds: 10, pollIntervalMs: 250 };
const IDLE_CLIENTS = 12;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counts JetStream meta-leader changes by polling every member's view. */
class ElectionCounter {
  private leader?: string;
  changes = 0;
  private running = true;
  private loop: Promise<void>;
  constructor(members: ReadonlyArray<ServerEndpoint>) {
    const monitors = members.map((m) => new MonitorClient(monitorUrl(m), 1000));
    this.loop = (async () => {
      while (this.running) {
        for (const m of monitors) {
          const leader = (await m.jsz().catch(() => undefined))?.meta_cluster?.leader;
          if (leader) {
            if (this.leader && leader !== this.leader) this.changes++;
            this.leader = leader;
            break;
          }
        }
        await sleep(200);
      }
    })();
  }
  async stop(): Promise<number> {
    this.running = false;
    await this.loop;
    return this.changes;
  }
}

async function waitReady(server: ServerEndpoint): Promise<void> {
  const monitor = new MonitorClient(monitorUrl(server), 1000);
  for (;;) {
    const ok = await monitor
      .healthz({ "js-server-only": "true" })
      .then((r) => r.httpStatus === 200)
      .catch(() => false);
    if (ok) return;
    await sleep(25);
  }
}

async function benchOne(members: number): Promise<Record<string, number | string>> {
  const cluster = await LocalTestCluster.create({
    members,
    version: OLD_MINOR,
    jetstream: true,
    namePrefix: `b${members}-`,
    graceSeconds: 2,
  });
  const idle: NatsConnection[] = [];
  let nc: NatsConnection | undefined;
  try {
    await cluster.bootstrap(POLICY);
    nc = await connect(appOptions(cluster.spec, "bench-publisher"));
    await createR3Stream(nc, "BENCH", "bench.>");
    for (let i = 0; i < IDLE_CLIENTS; i++) {
      const server = cluster.spec.members[i % members];
      const c = await connect({ servers: [clientUrl(server)], maxReconnectAttempts: -1, reconnectTimeWait: 100 });
      c.subscribe(`bench.idle.${i}`);
      idle.push(c);
    }
    const publisher = new AckedPublisher(nc, "bench.orders");
    const watch = new TrafficWatch(cluster.spec);
    await watch.start();
    publisher.start();
    const elections = new ElectionCounter(cluster.spec.members);

    const report = await runRollout(
      cluster.options(POLICY, { spec: { ...cluster.spec, version: NEW_MINOR }, watchTraffic: false }),
    );
    const electionCount = await elections.stop();
    const felt = await watch.stop();
    await publisher.stop();
    process.stdout.write(formatReport(report) + "\n");

    // Acked messages lost: every acknowledged sequence must still hold its message.
    const jsm = await nc.jetstreamManager();
    let lost = 0;
    for (const [seq, id] of publisher.acked) {
      const msg = await jsm.streams.getMessage("BENCH", { seq }).catch(() => undefined);
      if (!msg || new TextDecoder().decode(msg.data) !== id) lost++;
    }

    // The floor, same run, same load: surge up bare, each member in the same order drained and restarted bare.
    const order = report.members.map((m) => cluster.spec.members.find((s) => s.name === m.name)!);
    const spec = { ...cluster.spec, version: NEW_MINOR };
    const floorPublisher = new AckedPublisher(nc, "bench.orders");
    const floorWatch = new TrafficWatch(spec);
    await floorWatch.start();
    floorPublisher.start();
    const floorStart = Date.now();
    await cluster.driver.provision(spec.surge);
    await installBinary(cluster.driver, spec.surge, NEW_MINOR);
    await cluster.driver.writeConfig(spec.surge, configTextFor(spec, spec.surge, cluster.driver, "127.0.0.1"));
    await cluster.driver.start(spec.surge);
    await waitReady(spec.surge);
    for (const member of order) {
      await cluster.driver.signalLameDuck(member);
      await cluster.driver.waitForExit(member, 150_000);
      await cluster.driver.start(member);
      await waitReady(member);
    }
    await cluster.driver.signalLameDuck(spec.surge);
    await cluster.driver.waitForExit(spec.surge, 150_000);
    const floorMeasuredMs = Date.now() - floorStart;
    await floorWatch.stop();
    await floorPublisher.stop();
    await cluster.driver.deprovision(spec.surge);
    const soakMs = (order.length + 1) * (POLICY.minHealthySeconds ?? 10) * 1000;
    const floorMs = floorMeasuredMs + soakMs;

    const down = report.members.map((m) => m.downMs ?? 0);
    // The same floor computed from the rollout's own drains and restarts (same run, same client placement): what
    // remains of total ÷ this is purely the tool's own work (pre-flight, gates beyond ready, final check).
    const inRunFloorMs =
      down.reduce((a, b) => a + b, 0) + (report.surge?.readyMs ?? 0) + (report.surge?.drainMs ?? 0) + soakMs;
    const gates = report.members.map((m) => (m.gateTimings?.at(-1)?.ms ?? 0) + (m.soakMs ?? 0));
    return {
      members,
      result: report.result,
      totalS: +(report.totalMs / 1000).toFixed(1),
      floorS: +(floorMs / 1000).toFixed(1),
      floorBareS: +(floorMeasuredMs / 1000).toFixed(1),
      soakS: soakMs / 1000,
      ratio: +(report.totalMs / floorMs).toFixed(3),
      inRunFloorS: +(inRunFloorMs / 1000).toFixed(1),
      inRunRatio: +(report.totalMs / inRunFloorMs).toFixed(3),
      maxDownS: +(Math.max(...down) / 1000).toFixed(1),
      meanGatesS: +(gates.reduce((a, b) => a + b, 0) / gates.length / 1000).toFixed(1),
      acked: publisher.acked.size,
      ackedLost: lost,
      metaElections: electionCount,
      reqMaxGapMs: felt.maxGapMs,
      reqFailed: felt.failures,
    };
  } finally {
    await Promise.all(idle.map((c) => c.close().catch(() => undefined)));
    await nc?.close().catch(() => undefined);
    await cluster.destroy();
  }
}

async function main(): Promise<void> {
  const sizes = (process.env.BENCH_SIZES ?? "3,5").split(",").map(Number);
  console.log(
    `bench: rolling upgrade ${OLD_MINOR} → ${NEW_MINOR}, policy ${JSON.stringify(POLICY)}, lame duck 30s/2s, ${IDLE_CLIENTS} idle clients + acked publisher + request/reply`,
  );
  const rows = [];
  for (const n of sizes) rows.push(await benchOne(n));
  console.log(
    "\nmembers  total   floor (bare + soak)      ratio  in-run floor  ratio  max down  gates+soak/member  acked  lost  elections  req max gap  req failed",
  );
  for (const r of rows) {
    console.log(
      `${String(r.members).padStart(7)}  ${String(r.totalS).padStart(5)}s  ${String(r.floorS).padStart(5)}s (${r.floorBareS}s + ${r.soakS}s)`.padEnd(
        42,
      ) +
        `${String(r.ratio).padStart(6)}  ${String(r.inRunFloorS).padStart(11)}s  ${String(r.inRunRatio).padStart(5)}  ${String(r.maxDownS).padStart(7)}s  ${String(r.meanGatesS).padStart(16)}s  ${String(r.acked).padStart(5)}  ${String(r.ackedLost).padStart(4)}  ${String(r.metaElections).padStart(9)}  ${String(r.reqMaxGapMs).padStart(9)}ms  ${String(r.reqFailed).padStart(10)}`,
    );
  }
  console.log("\ntargets: ratio <= 1.10, 0 acked messages lost, <= 1 meta-leader election per rollout");
  console.log(
    "floor: the same servers drained by lame duck and restarted bare in the same order after the rollout, under the same load, plus the soaks.",
  );
  console.log(
    "Lame duck closes about one client per second, so a drain's length follows how many clients the server holds at that moment;",
  );
  console.log(
    "the in-run floor uses the rollout's own drains and restarts (same client placement), so its ratio is the tool's own cost alone.",
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
