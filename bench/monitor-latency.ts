/**
 * What a gate's read costs over HTTP (`MonitorClient`, the monitoring port) and over NATS as the system account
 * (`SystemAccountMonitor`, `$SYS.REQ.SERVER.<id>.*`): on a 3-member JetStream cluster of real nats-servers with an R3
 * stream, every call the gates make (varz, routez, healthz js-server-only, full healthz, jsz at the meta leader), a
 * bounded number of times each, HTTP and $SYS alternated call by call so both see the same machine. Sequential calls,
 * warm (the first calls, which open connections, are left out): the per-poll cost of a gate. Not a test.
 */
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { MonitorClient } from "../engine/monitor/client";
import { ServerMonitor } from "../engine/monitor/monitor";
import { SystemAccountMonitor } from "../engine/monitor/system-client";
import { monitorUrl, RolloutPolicy } from "../engine/spec";
import { LocalTestCluster } from "../test/support/local-cluster";
import { appOptions, createR3Stream } from "../test/support/traffic";
import { NEW_MINOR } from "../test/support/versions";

const POLICY: Partial<RolloutPolicy> = { minHealthySeconds: 1, pollIntervalMs: 250 };
const WARMUP = 20;

export interface LatencyRow {
  readonly call: string;
  readonly n: number;
  readonly http: { readonly medianMs: number; readonly p95Ms: number };
  readonly sys: { readonly medianMs: number; readonly p95Ms: number };
}

/** The q-quantile of sorted values (nearest rank). */
function quantile(sorted: ReadonlyArray<number>, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function summary(ms: number[]): { medianMs: number; p95Ms: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  return { medianMs: quantile(sorted, 0.5), p95Ms: quantile(sorted, 0.95) };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Median and p95 of each gate call over HTTP and over $SYS, `calls` times each (bounded to 20..2000). */
export async function benchMonitorLatency(calls: number): Promise<LatencyRow[]> {
  const n = Math.min(2000, Math.max(20, Math.floor(calls)));
  const cluster = await LocalTestCluster.create({
    members: 3,
    version: NEW_MINOR,
    jetstream: true,
    namePrefix: "lat",
    overrides: {
      auth: { users: [{ user: "app", password: "app-pass" }], systemAccount: { user: "sys", password: "sys-pass" } },
    },
  });
  const monitors: ServerMonitor[] = [];
  try {
    await cluster.bootstrap(POLICY);
    const nc = await connect(appOptions(cluster.spec, "bench-latency", { user: "app", pass: "app-pass" }));
    await createR3Stream(nc, "LAT", "lat.>");
    const js = jetstream(nc);
    for (let i = 0; i < 100; i++) await js.publish("lat.x", new TextEncoder().encode(`m${i}`));
    const member = cluster.spec.members[0];
    const http = new MonitorClient(monitorUrl(member));
    const sys = new SystemAccountMonitor(cluster.spec, member);
    const leaderName = (await http.jsz()).meta_cluster?.leader;
    const leader = cluster.spec.members.find((m) => m.name === leaderName) ?? member;
    const httpLeader = new MonitorClient(monitorUrl(leader));
    const sysLeader = new SystemAccountMonitor(cluster.spec, leader);
    monitors.push(http, sys, httpLeader, sysLeader);

    const cases: ReadonlyArray<{ call: string; http: () => Promise<unknown>; sys: () => Promise<unknown> }> = [
      { call: "varz", http: () => http.varz(), sys: () => sys.varz() },
      { call: "routez", http: () => http.routez(), sys: () => sys.routez() },
      {
        call: "healthz js-server-only",
        http: () => http.healthz({ jsServerOnly: true }),
        sys: () => sys.healthz({ jsServerOnly: true }),
      },
      {
        call: "healthz (full, details)",
        http: () => http.healthz({ details: true }),
        sys: () => sys.healthz({ details: true }),
      },
      { call: `jsz at the meta leader`, http: () => httpLeader.jsz(), sys: () => sysLeader.jsz() },
    ];
    const rows: LatencyRow[] = [];
    for (const c of cases) {
      for (let i = 0; i < WARMUP; i++) {
        await c.http();
        await c.sys();
      }
      const httpMs: number[] = [];
      const sysMs: number[] = [];
      for (let i = 0; i < n; i++) {
        // Alternate which goes first, so neither always runs right after the other.
        if (i % 2 === 0) {
          httpMs.push(await timed(c.http));
          sysMs.push(await timed(c.sys));
        } else {
          sysMs.push(await timed(c.sys));
          httpMs.push(await timed(c.http));
        }
      }
      rows.push({ call: c.call, n, http: summary(httpMs), sys: summary(sysMs) });
    }
    await nc.close();
    return rows;
  } finally {
    await Promise.all(monitors.map((m) => m.close()));
    await cluster.destroy();
  }
}

/** The table, then one machine-readable line per call. */
export function printLatency(rows: ReadonlyArray<LatencyRow>): void {
  const ms = (v: number) => `${v.toFixed(2)} ms`.padStart(10);
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`.padStart(10);
  const head = (text: string) => text.padStart(10);
  console.log(
    `\n${"call".padEnd(26)}  ${"calls".padStart(5)}  ${head("HTTP p50")}  ${head("HTTP p95")}  ${head("$SYS p50")}  ` +
      `${head("$SYS p95")}  ${head("ratio p50")}  ${head("ratio p95")}`,
  );
  for (const r of rows) {
    console.log(
      `${r.call.padEnd(26)}  ${String(r.n).padStart(5)}  ${ms(r.http.medianMs)}  ${ms(r.http.p95Ms)}  ` +
        `${ms(r.sys.medianMs)}  ${ms(r.sys.p95Ms)}  ${ratio(r.sys.medianMs, r.http.medianMs)}  ` +
        `${ratio(r.sys.p95Ms, r.http.p95Ms)}`,
    );
  }
  console.log("p50: median; ratio: $SYS ÷ HTTP (below 1: the system account is faster)");
  for (const r of rows) {
    console.log(
      `monitor-latency call=${r.call.replace(/[^A-Za-z0-9-]+/g, "_").replace(/_+$/, "")} n=${r.n} ` +
        `http_median_ms=${r.http.medianMs.toFixed(3)} http_p95_ms=${r.http.p95Ms.toFixed(3)} ` +
        `sys_median_ms=${r.sys.medianMs.toFixed(3)} sys_p95_ms=${r.sys.p95Ms.toFixed(3)} ` +
        `ratio_median=${(r.sys.medianMs / r.http.medianMs).toFixed(3)} ratio_p95=${(r.sys.p95Ms / r.http.p95Ms).toFixed(3)}`,
    );
  }
}
