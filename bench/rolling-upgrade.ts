/**
 * `npm run bench`: every section below; `npm run bench -- --classic|--scale|--preview|--monitor|--supercluster` (any
 * of them) runs only those.
 *
 * classic: a rolling upgrade of 3- and 5-member JetStream clusters of real nats-servers under client load.
 * Prints the rollout's total time, per member time down and time in gates, and the floor: the same servers (surge
 * included) drained by lame duck and restarted bare in the same order, start-to-ready only, measured in the same run
 * under the same load, plus the configured soak times. total ÷ floor is what the tool itself costs.
 * Also: JetStream acked messages lost, meta-leader elections during the rollout, request/reply max gap.
 * scale (bench/scale.ts): 9 JetStream members (R3 streams) and 15 core-NATS members at rollout.maxUnavailable 1 and 3.
 * preview (bench/preview.ts): `pulumi preview` of a 3- and a 50-member local stack, side by side, with the real CLI.
 * monitor (bench/monitor-latency.ts): each gate's monitoring read over HTTP and over the system account ($SYS), median
 * and p95 (`BENCH_MONITOR_CALLS` calls each, default 300; `npm run bench:monitor`).
 * supercluster (bench/supercluster.ts): two JetStream clusters of three joined by gateways and a leaf cluster, rolled
 * by the engine's supercluster run on local processes: total time, time per cluster, elections, gaps.
 * Not a test: it asserts nothing, it measures.
 */
import * as os from "node:os";
import { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { surgeSoakSeconds } from "../engine/defaults";
import { installBinary } from "../engine/hosts/driver";
import { MonitorClient } from "../engine/monitor/client";
import { resolvePolicy, runRollout } from "../engine/rollout/execute";
import { formatReport } from "../engine/rollout/report";
import { TrafficWatch } from "../engine/rollout/traffic-watch";
import { configTextFor } from "../engine/config/text";
import { clientUrl, monitorUrl, RolloutPolicy, ServerEndpoint } from "../engine/spec";
import { LocalTestCluster } from "../test/support/local-cluster";
import { AckedPublisher, appOptions, createR3Stream } from "../test/support/traffic";
import { NEW_MINOR, OLD_MINOR } from "../test/support/versions";
import { benchPreview, PreviewRun } from "./preview";
import { benchScale, scaleLine } from "./scale";
import { benchMonitorLatency, printLatency } from "./monitor-latency";
import { benchSupercluster, superclusterLine } from "./supercluster";

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
      .healthz({ jsServerOnly: true })
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
    const jsm = await jetstreamManager(nc);
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
    // Every member's soak and the surge server's (shorter when it is client-only).
    const soakMs =
      (order.length * (POLICY.minHealthySeconds ?? 10) + surgeSoakSeconds(spec.surge, resolvePolicy(POLICY))) * 1000;
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

const SECTIONS = ["classic", "scale", "preview", "monitor", "supercluster"] as const;

async function main(): Promise<void> {
  const asked = SECTIONS.filter((s) => process.argv.includes(`--${s}`));
  const sections = asked.length ? asked : SECTIONS;
  console.log(
    `bench sections: ${sections.join(", ")}  (load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")})`,
  );
  if (sections.includes("classic")) await classic();
  if (sections.includes("scale")) await scale();
  if (sections.includes("preview")) await preview();
  if (sections.includes("monitor")) await monitor();
  if (sections.includes("supercluster")) await supercluster();
}

/** The supercluster row: every cluster rolled by one run, one at a time. */
async function supercluster(): Promise<void> {
  console.log(
    `\nsupercluster: ${OLD_MINOR} → ${NEW_MINOR} by one supercluster run (engine, local processes), east and west ` +
      "(3 JetStream members + surge each) joined by gateways, a leaf cluster of one on east; policy " +
      `${JSON.stringify(POLICY)}, lame duck 30s/2s; an acked publisher per cluster's R3 stream, east → west ` +
      "requests and east → leaf messages (each retried until answered)",
  );
  const r = await benchSupercluster(POLICY);
  console.log(
    "\nclusters  members   total  per cluster (order rolled)                          acked  lost  elections  " +
      "cross-gateway gap  leaf gap",
  );
  const perCluster = r.perCluster.map((c) => `${c.name} ${c.seconds.toFixed(1)}s`).join(", ");
  console.log(
    `${String(r.clusters).padStart(8)}  ${String(r.members).padStart(7)}  ${String(r.seconds).padStart(5)}s  ` +
      `${perCluster.padEnd(50)}  ${String(r.acked).padStart(5)}  ${String(r.lost).padStart(4)}  ` +
      `${String(r.elections).padStart(9)}  ${String(r.crossGapMs).padStart(15)}ms  ${String(r.leafGapMs).padStart(6)}ms` +
      (r.result === "done" ? "" : `  ${r.result.toUpperCase()}`),
  );
  for (const c of r.perCluster) console.log(`  ${c.name}: ${c.why}`);
  console.log("targets: 0 acked messages lost, <= 1 meta-leader election for the whole supercluster");
  console.log(superclusterLine(r));
}

/** Each gate's monitoring read over HTTP and over the system account, side by side. */
async function monitor(): Promise<void> {
  const calls = Number(process.env.BENCH_MONITOR_CALLS ?? 300);
  console.log(
    `
monitor: each gate's read over HTTP (the monitoring port) and over NATS as the system account ($SYS.REQ.SERVER.<id>.*), ` +
      `3-member JetStream cluster ${NEW_MINOR} with an R3 stream, ${calls} sequential calls each after a warm-up, HTTP and $SYS alternated`,
  );
  printLatency(await benchMonitorLatency(calls));
}

/** The scale rows: speed-up of batches over one member at a time. */
async function scale(): Promise<void> {
  const shapes = [
    { members: 9, jetstream: true },
    { members: 15, jetstream: false },
  ].filter((s) => !process.env.BENCH_SCALE_SIZES || process.env.BENCH_SCALE_SIZES.split(",").includes(`${s.members}`));
  console.log(
    `\nscale: rolling upgrade ${OLD_MINOR} → ${NEW_MINOR} at rollout.maxUnavailable 1 and 3, policy ${JSON.stringify(POLICY)}, ` +
      `lame duck 30s/2s, ${IDLE_CLIENTS} idle clients + request/reply + an acked publisher per R3 stream (JetStream rows: ` +
      "six R3 file streams, one replica per zone of three members)",
  );
  const rows = await benchScale(shapes, POLICY);
  console.log(
    "\nmembers  jetstream  max unavailable  batches   total  speed-up  acked  lost  most down at once  elections  req max gap  req failed",
  );
  for (const r of rows) {
    console.log(
      `${String(r.members).padStart(7)}  ${(r.jetstream ? "on (R3)" : "off").padEnd(9)}  ${String(r.maxUnavailable).padStart(15)}  ` +
        `${String(r.batches).padStart(7)}  ${String(r.seconds).padStart(5)}s  ${r.speedup.toFixed(2).padStart(7)}×  ` +
        `${String(r.jetstream ? r.acked : "—").padStart(5)}  ${String(r.lost).padStart(4)}  ${String(r.maxDown).padStart(17)}  ` +
        `${String(r.elections ?? "—").padStart(9)}  ${String(r.reqMaxGapMs).padStart(9)}ms  ${String(r.reqFailed).padStart(10)}` +
        (r.result === "succeeded" ? "" : `  ${r.result.toUpperCase()}`),
    );
  }
  console.log(
    "\ntargets: core NATS at 15 members >= 2.5× faster at maxUnavailable 3; 0 acked messages lost everywhere",
  );
  console.log("most down at once: members not ready (/healthz?js-server-only) at one moment, sampled every 200 ms");
  for (const r of rows) console.log(scaleLine(r));
}

/** `pulumi preview` of 3 and 50 members, side by side. */
async function preview(): Promise<void> {
  console.log(
    "\npreview: `pulumi preview` (real CLI, file backend) after a version bump, 3-member (JetStream) and 50-member " +
      "(core) local stacks, and Pulumi alone with the same resources per member (floor), alternated",
  );
  const result = await benchPreview(Number(process.env.BENCH_PREVIEW_RUNS ?? 5));
  if ("skipped" in result) {
    console.log(`preview SKIPPED: ${result.skipped}`);
    return;
  }
  const median = (xs: ReadonlyArray<number | undefined>) => {
    const v = xs.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
    return v.length ? v[Math.floor((v.length - 1) / 2)] : NaN;
  };
  const col = (runs: ReadonlyArray<PreviewRun>, f: (r: PreviewRun) => number | undefined) => median(runs.map(f));
  const cpu = (runs: ReadonlyArray<PreviewRun>, kind?: keyof PreviewRun["cpuMs"]) =>
    col(runs, (r) => (kind ? r.cpuMs[kind] : Object.values(r.cpuMs).reduce((a, b) => a + b, 0)));
  const sec = (n: number) => (Number.isNaN(n) ? "—" : `${(n / 1000).toFixed(2)}s`);
  const msOrDash = (n: number) => (Number.isNaN(n) ? "—" : `${n} ms`);
  console.log(
    "\nproject       members     up  preview: median (each run)               CPU    cli  lang-host  program  " +
      "provider  peak mem  program declared  diff observe+plan",
  );
  for (const s of result.stacks) {
    const wall = s.runs.map((r) => (r.wallMs / 1000).toFixed(2)).join(", ");
    console.log(
      `${s.project.padEnd(12)}  ${String(s.members).padStart(7)}  ${(s.upMs / 1000).toFixed(1).padStart(5)}s  ` +
        `${sec(col(s.runs, (r) => r.wallMs))} (${wall})`.padEnd(41) +
        `${sec(cpu(s.runs)).padStart(5)}  ${sec(cpu(s.runs, "cli")).padStart(5)}  ` +
        `${sec(cpu(s.runs, "language-host")).padStart(9)}  ${sec(cpu(s.runs, "program")).padStart(7)}  ` +
        `${sec(cpu(s.runs, "provider")).padStart(8)}  ${String(col(s.runs, (r) => r.peakRssMb)).padStart(5)} MB  ` +
        `${msOrDash(col(s.runs, (r) => r.programMs)).padStart(16)}  ` +
        `${msOrDash(col(s.runs, (r) => r.diffObservePlanMs)).padStart(17)}`,
    );
  }
  const of = (project: string, members: number) =>
    result.stacks.find((s) => s.project === project && s.members === members)!.runs;
  const wallOf = (project: string, members: number) => col(of(project, members), (r) => r.wallMs) / 1000;
  const cpuOf = (project: string, members: number) => cpu(of(project, members)) / 1000;
  const delta = wallOf("nats-cluster", 50) - wallOf("nats-cluster", 3);
  const floorDelta = wallOf("floor", 50) - wallOf("floor", 3);
  const flatDelta = wallOf("floor-flat", 50) - wallOf("floor-flat", 3);
  const cpuDelta = (project: string) => (cpuOf(project, 50) - cpuOf(project, 3)).toFixed(2);
  console.log(
    `\n50 members vs 3: +${delta.toFixed(2)} s per preview (target: at most +0.5 s), CPU +${cpuDelta("nats-cluster")} s; ` +
      `Pulumi alone with the same resources per member: +${floorDelta.toFixed(2)} s, CPU +${cpuDelta("floor")} s; ` +
      `with one resource per member: +${flatDelta.toFixed(2)} s, CPU +${cpuDelta("floor-flat")} s`,
  );
  console.log(
    "CPU: user + system time of the preview's processes (the Pulumi CLI, the Node language host, the program, the " +
      "dynamic provider), medians; less sensitive than wall time to what else runs on the machine. program declared: " +
      "the program's process uptime when every resource was declared (node, the Pulumi SDK, TypeScript, config); " +
      "diff: the RollingUpgrade's check observing every server and planning (its diff takes that plan). The rest is " +
      "the Pulumi CLI's own (start, plugins, state, a check and a diff per resource over gRPC). floor: a project with " +
      "nothing of ours declaring the same resources per member (a component and a dynamic resource under it), run " +
      "the same way; floor-flat: the dynamic resource alone.",
  );
  console.log(
    `preview members=3 seconds=${wallOf("nats-cluster", 3).toFixed(2)} members=50 ` +
      `seconds=${wallOf("nats-cluster", 50).toFixed(2)} delta=${delta.toFixed(2)} floor_delta=${floorDelta.toFixed(2)} ` +
      `flat_delta=${flatDelta.toFixed(2)}`,
  );
}

async function classic(): Promise<void> {
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
