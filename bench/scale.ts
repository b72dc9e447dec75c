/**
 * The `scale` section of `npm run bench`: the same rolling upgrade at rollout.maxUnavailable 1 and 3, on a
 * 9-member JetStream cluster with R3 file streams and on a 15-member core-NATS cluster, each row on a fresh cluster
 * under the same load (idle clients spread over the members, request/reply, acked publishers on every stream).
 *
 * The R3 streams are placed one replica per zone, as production clusters place them (`unique_tag` on an
 * availability-zone tag): members 1-3, 4-6 and 7-9 are three zones, and six streams each have one replica in every
 * zone (placed by per-server tags). Members of one zone share no stream, so a zone can be down together; the meta
 * leader goes last, alone.
 */
import { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { MonitorClient } from "../engine/monitor/client";
import { formatEvent } from "../engine/rollout/events";
import { runRollout } from "../engine/rollout/execute";
import { TrafficWatch } from "../engine/rollout/traffic-watch";
import { clientUrl, monitorUrl, RolloutPolicy, ServerEndpoint } from "../engine/spec";
import { LocalTestCluster } from "../test/support/local-cluster";
import { DownWatch } from "../test/support/quorum-watch";
import { AckedPublisher, appOptions } from "../test/support/traffic";
import { NEW_MINOR, OLD_MINOR } from "../test/support/versions";

export interface ScaleRow {
  readonly members: number;
  readonly jetstream: boolean;
  readonly maxUnavailable: number;
  readonly result: string;
  readonly batches: number;
  readonly seconds: number;
  readonly acked: number;
  readonly lost: number;
  readonly maxDown: number;
  readonly elections?: number;
  readonly reqMaxGapMs: number;
  readonly reqFailed: number;
  /** Seconds spent in the steps that are not members: pre-flight, surge up, surge down, final check. */
  readonly fixed: Readonly<Record<string, number>>;
}

const IDLE_CLIENTS = 12;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One replica per zone (members 1-3, 4-6, 7-9): the streams' member indexes. */
const ZONED_STREAMS = [
  [1, 4, 7],
  [2, 5, 8],
  [3, 6, 9],
  [1, 5, 9],
  [2, 6, 7],
  [3, 4, 8],
];

/** Counts JetStream meta-leader changes by polling the members' view. */
async function countElections(members: ReadonlyArray<ServerEndpoint>, running: () => boolean): Promise<number> {
  const monitors = members.map((m) => new MonitorClient(monitorUrl(m), 1000));
  let leader: string | undefined;
  let changes = 0;
  while (running()) {
    for (const m of monitors) {
      const seen = (await m.jsz().catch(() => undefined))?.meta_cluster?.leader;
      if (seen) {
        if (leader && seen !== leader) changes++;
        leader = seen;
        break;
      }
    }
    await sleep(200);
  }
  return changes;
}

export async function benchScaleRow(
  members: number,
  jetstream: boolean,
  maxUnavailable: number,
  basePolicy: Partial<RolloutPolicy>,
): Promise<ScaleRow> {
  const prefix = `s${members}${jetstream ? "j" : "c"}${maxUnavailable}-`;
  const index = (s: ServerEndpoint) => Number(s.name.slice(prefix.length));
  const streams = jetstream ? ZONED_STREAMS.filter((s) => Math.max(...s) <= members) : [];
  const cluster = await LocalTestCluster.create({
    members,
    version: OLD_MINOR,
    jetstream,
    namePrefix: prefix,
    graceSeconds: 2,
    configSuffix: (s) => {
      const tags = streams.flatMap((peers, k) => (peers.includes(index(s)) ? [`s${k + 1}`] : []));
      return tags.length ? `\nserver_tags: [${tags.map((t) => `"${t}"`).join(", ")}]\n` : "";
    },
  });
  const policy = { ...basePolicy, maxUnavailable };
  const idle: NatsConnection[] = [];
  let nc: NatsConnection | undefined;
  try {
    await cluster.bootstrap(policy);
    nc = await connect(appOptions(cluster.spec, "bench-scale"));
    const jsm = jetstream ? await jetstreamManager(nc) : undefined;
    for (const [k] of streams.entries()) {
      await jsm!.streams.add({
        name: `S${k + 1}`,
        subjects: [`scale.s${k + 1}.>`],
        num_replicas: 3,
        storage: StorageType.File,
        placement: { cluster: cluster.spec.name, tags: [`s${k + 1}`] },
      });
    }
    for (let i = 0; i < IDLE_CLIENTS; i++) {
      const server = cluster.spec.members[i % members];
      const c = await connect({ servers: [clientUrl(server)], maxReconnectAttempts: -1, reconnectTimeWait: 100 });
      c.subscribe(`scale.idle.${i}`);
      idle.push(c);
    }
    const publishers = streams.map((_, k) => new AckedPublisher(nc!, `scale.s${k + 1}.x`, 100));
    const watch = new TrafficWatch(cluster.spec);
    const down = new DownWatch(cluster.spec.members);
    await watch.start();
    down.start();
    publishers.forEach((p) => p.start());
    let running = true;
    const elections = jetstream ? countElections(cluster.spec.members, () => running) : Promise.resolve(undefined);

    const fixed: Record<string, number> = {};
    const report = await runRollout(
      cluster.options(policy, {
        spec: { ...cluster.spec, version: NEW_MINOR },
        watchTraffic: false,
        onEvent: (e) => {
          // BENCH_EVENTS=1: the rollout's progress lines too (where a row's time goes).
          if (process.env.BENCH_EVENTS) console.log(formatEvent(e));
          if (e.kind === "step-done" && e.step && !e.step.endsWith("-member"))
            fixed[e.step] = +((e.durationMs ?? 0) / 1000).toFixed(1);
        },
      }),
    );
    running = false;
    const electionCount = await elections;
    await Promise.all(publishers.map((p) => p.stop()));
    await down.stop();
    const felt = await watch.stop();

    let acked = 0;
    let lost = 0;
    for (const [k, publisher] of publishers.entries()) {
      for (const [seq, id] of publisher.acked) {
        acked++;
        const msg = await jsm!.streams.getMessage(`S${k + 1}`, { seq }).catch(() => undefined);
        if (!msg || new TextDecoder().decode(msg.data) !== id) lost++;
      }
    }
    return {
      members,
      jetstream,
      maxUnavailable,
      result: report.result,
      batches: Math.max(0, ...report.members.map((m) => m.batch ?? 0)) || report.members.length,
      seconds: +(report.totalMs / 1000).toFixed(1),
      acked,
      lost,
      maxDown: down.maxDown,
      elections: electionCount,
      reqMaxGapMs: felt.maxGapMs,
      reqFailed: felt.failures,
      fixed,
    };
  } finally {
    await Promise.all(idle.map((c) => c.close().catch(() => undefined)));
    await nc?.close().catch(() => undefined);
    await cluster.destroy();
  }
}

/** Both rows of one cluster shape (maxUnavailable 1, then 3), with the speed-up of each over 1. */
export async function benchScale(
  shapes: ReadonlyArray<{ members: number; jetstream: boolean }>,
  policy: Partial<RolloutPolicy>,
): Promise<Array<ScaleRow & { speedup: number }>> {
  const rows: Array<ScaleRow & { speedup: number }> = [];
  for (const shape of shapes) {
    const one = await benchScaleRow(shape.members, shape.jetstream, 1, policy);
    console.log(`  ${shape.members} members, maxUnavailable 1: ${one.seconds}s (${JSON.stringify(one.fixed)})`);
    const three = await benchScaleRow(shape.members, shape.jetstream, 3, policy);
    console.log(`  ${shape.members} members, maxUnavailable 3: ${three.seconds}s (${JSON.stringify(three.fixed)})`);
    rows.push({ ...one, speedup: 1 }, { ...three, speedup: +(one.seconds / three.seconds).toFixed(2) });
  }
  return rows;
}

/** The machine-readable line of a row. */
export function scaleLine(r: ScaleRow & { speedup: number }): string {
  return (
    `scale members=${r.members} jetstream=${r.jetstream ? "on" : "off"} max_unavailable=${r.maxUnavailable} ` +
    `seconds=${r.seconds} speedup=${r.speedup.toFixed(1)} lost=${r.lost} max_down=${r.maxDown}`
  );
}
