/**
 * Quorum-aware batches on real servers: a 7-member JetStream cluster rolled with rollout.maxUnavailable 3 under
 * acked publishers on three R3 and two R1 file streams placed by server tags. The preview's batches are read, then
 * one R3 stream is moved onto two members the preview put in one batch: the rollout must plan again from the servers
 * and never take both down together. Watched from outside: no Raft group ever has more peers down than its quorum
 * allows, every stream's leader comes back within an election, every acknowledged message is kept.
 */
import { NatsConnection } from "@nats-io/nats-core";
import { AckPolicy, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { MonitorClient } from "../../engine/monitor/client";
import { formatEvent, RolloutEvent } from "../../engine/rollout/events";
import { previewRollout, runRollout } from "../../engine/rollout/execute";
import { formatPlan, RolloutPlan } from "../../engine/rollout/plan";
import { formatReport } from "../../engine/rollout/report";
import { monitorUrl, RolloutPolicy, ServerEndpoint } from "../../engine/spec";
import { LocalTestCluster } from "../support/local-cluster";
import { DownIntervals } from "../support/down-intervals";
import { DownWatch, StreamLeaderWatch } from "../support/quorum-watch";
import { AckedPublisher, appOptions, connect } from "../support/traffic";
import { NEW_MINOR, OLD_MINOR } from "../support/versions";

const MEMBERS = 7;
const PREFIX = "bq";
const POLICY: Partial<RolloutPolicy> = {
  minHealthySeconds: 2,
  pollIntervalMs: 250,
  healthyDeadlineSeconds: 90,
  maxUnavailable: 3,
};
/** nats-server's Raft elections time out between 4 and 9 s (raft.go): a leader must be back within one. */
const ELECTION_MS = 9_000;

const index = (name: string) => Number(name.slice(PREFIX.length));
const nameOf = (i: number) => `${PREFIX}${i}`;

/** Tags on member i: `t-a-b-c` for every triple it is in (so a stream can be placed on any three), and `one-i`. */
function tagsOf(i: number): string[] {
  const tags = [`one-${i}`];
  for (let a = 1; a <= MEMBERS; a++)
    for (let b = a + 1; b <= MEMBERS; b++)
      for (let c = b + 1; c <= MEMBERS; c++) if ([a, b, c].includes(i)) tags.push(`t-${a}-${b}-${c}`);
  return tags;
}
const tripleTag = (names: string[]) =>
  `t-${names
    .map(index)
    .sort((x, y) => x - y)
    .join("-")}`;

/** The member steps of a plan as batches of names. */
function batchesOf(plan: RolloutPlan): string[][] {
  const out: string[][] = [];
  for (const s of plan.steps) if (s.batch !== undefined) (out[s.batch - 1] ??= []).push(s.server!);
  return out;
}

describe("quorum-aware batches of a JetStream cluster (7 members, maxUnavailable 3)", () => {
  let cluster: LocalTestCluster;
  let nc: NatsConnection;
  let watcher: NatsConnection;

  beforeAll(async () => {
    cluster = await LocalTestCluster.create({
      members: MEMBERS,
      version: OLD_MINOR,
      jetstream: true,
      namePrefix: PREFIX,
      graceSeconds: 1,
      configSuffix: (s: ServerEndpoint) =>
        s.name.endsWith("-surge")
          ? ""
          : `\nserver_tags: [${tagsOf(index(s.name))
              .map((t) => `"${t}"`)
              .join(", ")}]\n`,
    });
    await cluster.bootstrap(POLICY);
    nc = await connect(appOptions(cluster.spec, "batches-publisher"));
    watcher = await connect(appOptions(cluster.spec, "batches-watcher"));
  }, 120_000);

  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    await watcher?.close().catch(() => undefined);
    await cluster?.destroy();
  });

  /** Where a stream's replicas are, as its leader reports them (once it has all of them current). */
  async function peersOf(stream: string, expected?: string[]): Promise<string[]> {
    const jsm = await jetstreamManager(nc);
    for (let attempt = 0; ; attempt++) {
      const info = await jsm.streams.info(stream).catch(() => undefined);
      const c = info?.cluster;
      const peers = c?.leader ? [c.leader, ...(c.replicas ?? []).map((r) => r.name)].sort() : [];
      const settled =
        (c?.replicas ?? []).every((r) => r.current && !r.offline) &&
        peers.length === (info?.config.num_replicas ?? 0) &&
        (!expected || peers.join() === [...expected].sort().join());
      if (settled) return peers;
      if (attempt > 240) throw new Error(`stream ${stream} did not settle: ${JSON.stringify(c)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it("batches by placement, plans again when a stream moved, and no Raft group ever loses its quorum", async () => {
    const jsm = await jetstreamManager(nc);
    const cluster_ = cluster.spec.name;
    const place = async (name: string, replicas: number, tag: string) => {
      await jsm.streams.add({
        name,
        subjects: [`${name.toLowerCase()}.>`],
        num_replicas: replicas,
        storage: StorageType.File,
        placement: { cluster: cluster_, tags: [tag] },
      });
    };
    await place("A", 3, "t-1-2-3");
    await place("B", 3, "t-3-4-5");
    await place("C", 3, "t-5-6-7");
    await place("D", 1, "one-2");
    await place("E", 1, "one-6");
    for (const s of ["A", "B", "C"])
      await jsm.consumers.add(s, { durable_name: `${s}1`, ack_policy: AckPolicy.Explicit });
    expect(await peersOf("A")).toEqual(["bq1", "bq2", "bq3"]);
    expect(await peersOf("B")).toEqual(["bq3", "bq4", "bq5"]);

    // What `pulumi preview` would show.
    const target = { ...cluster.spec, version: NEW_MINOR };
    const { plan: preview, observed } = await previewRollout(cluster.options(POLICY, { spec: target }));
    process.stdout.write(formatPlan(preview) + "\n");
    const leader = observed.metaLeader!;
    const previewBatches = batchesOf(preview);
    expect(previewBatches.at(-1)).toEqual([leader]);
    expect(preview.steps.find((s) => s.server === "bq2")!.reason).not.toMatch(/stream D/); // R1: no constraint
    // Between preview and up, stream C moves onto two members the preview batched together.
    const together = previewBatches.find((b) => b.length >= 2)!;
    const [p, q] = together;
    const third = [1, 2, 3, 4, 5, 6, 7].map(nameOf).find((n) => n !== p && n !== q && n !== leader)!;
    const info = await jsm.streams.info("C");
    await jsm.streams.update("C", {
      ...info.config,
      placement: { cluster: cluster_, tags: [tripleTag([p, q, third])] },
    });
    const groups: Record<string, string[]> = {
      A: await peersOf("A"),
      B: await peersOf("B"),
      C: await peersOf("C", [p, q, third]),
    };
    process.stdout.write(`stream C moved onto ${groups.C.join(", ")}; ${p} and ${q} were in one preview batch\n`);

    const publishers = ["A", "B", "C", "D", "E"].map((s) => new AckedPublisher(nc, `${s.toLowerCase()}.x`, 50));
    const down = new DownWatch(cluster.spec.members);
    const rolled = new DownIntervals(cluster.driver, cluster.spec.members);
    const leaders = new StreamLeaderWatch(watcher, ["A", "B", "C"]);
    await leaders.start();
    down.start();
    publishers.forEach((pub) => pub.start());
    const events: RolloutEvent[] = [];
    cluster.spec = target;
    let report;
    try {
      report = await runRollout(
        cluster.options(POLICY, {
          onEvent: (e) => {
            events.push(e);
            process.stdout.write(formatEvent(e) + "\n");
          },
        }),
      );
    } finally {
      await Promise.all(publishers.map((pub) => pub.stop()));
      await down.stop();
      await leaders.stop();
    }
    process.stdout.write(formatReport(report) + "\n");
    process.stdout.write(
      `down sets seen (${down.samples} samples): ${JSON.stringify(down.downSets)}\n` +
        `why: ${down.downDetails.join(" ")}\n` +
        `longest leaderless: ${JSON.stringify(Object.fromEntries(leaders.longestLeaderlessMs))} ms\n`,
    );

    expect(report.result).toBe("succeeded");
    for (const m of cluster.spec.members)
      expect((await new MonitorClient(monitorUrl(m)).varz()).version).toBe(NEW_MINOR);

    // The batches as run: at most 3, the R3 groups' peers (C where it is now) in different batches, leader alone last.
    const ran: string[][] = [];
    for (const m of report.members) (ran[m.batch! - 1] ??= []).push(m.name);
    process.stdout.write(`preview batches ${JSON.stringify(previewBatches)}; ran ${JSON.stringify(ran)}\n`);
    expect(report.members.map((m) => m.result)).toEqual(Array(MEMBERS).fill("done"));
    expect(ran.flat().sort()).toEqual(cluster.spec.members.map((m) => m.name).sort());
    expect(Math.max(...ran.map((b) => b.length))).toBeLessThanOrEqual(3);
    expect(ran.some((b) => b.length >= 2)).toBe(true);
    expect(ran.at(-1)).toEqual([leader]);
    for (const peers of Object.values(groups))
      for (const batch of ran) expect(batch.filter((n) => peers.includes(n)).length).toBeLessThanOrEqual(1);
    expect(ran.some((b) => b.includes(p) && b.includes(q))).toBe(false);
    // Each batch was planned again from the servers.
    const planned = events.filter((e) => /^batch \d+: .*planned again from what the servers report/.test(e.message));
    expect(planned).toHaveLength(ran.length);

    // Batches really ran together (the rollout's own stop/start calls; sampling can miss a 0.2 s overlap); seen
    // from outside, never more than 3 down, no R3 group with 2 peers down.
    expect(rolled.maxDown).toBeGreaterThanOrEqual(2);
    expect(down.maxDown).toBeLessThanOrEqual(3);
    for (const [stream, peers] of Object.entries(groups))
      expect([stream, down.maxDownOf(peers) <= 1, down.downDetails]).toEqual([stream, true, down.downDetails]);
    for (const [stream, ms] of leaders.longestLeaderlessMs) {
      expect([stream, ms < ELECTION_MS]).toEqual([stream, true]);
    }
    expect(leaders.polls).toBeGreaterThan(20);

    // Every acknowledged message is kept, R3 and R1 alike.
    for (const [i, stream] of ["A", "B", "C", "D", "E"].entries()) {
      const pub = publishers[i];
      expect(pub.acked.size).toBeGreaterThan(10);
      for (const [seq, id] of pub.acked) {
        const msg = await jsm.streams.getMessage(stream, { seq });
        expect(msg?.string()).toBe(id);
      }
    }
  }, 300_000);
});
