/**
 * A supercluster on real nats-server processes, rolled by one `reconcileSupercluster`: clusters `east` and `west` (3
 * JetStream members and a surge server each) joined by gateways, one JetStream meta group spanning both, and a leaf
 * cluster `edge` (one member, no JetStream) whose hub is east, every cluster with client users (the leaf connects to
 * its hub as one of them, `hub.user`; the password in no event or report). Traffic throughout: an acked publisher
 * to an R3 stream placed in each cluster, a requester in east asking a responder in west (across the gateway), and a
 * subscriber on the leaf receiving what west publishes (west → gateway → east → leaf). Started, then upgraded,
 * asserting the order (the leaf first, the cluster holding the meta leader last), at most one meta-leader election,
 * no acknowledged message lost, every /gatewayz whole and no ghost peer; the longest gaps are printed.
 * Then a downgrade whose leaf binary cannot start halts the run in its first cluster: the others are left untouched,
 * named; with the cause fixed, the same run again is the resume, and it is the downgrade under the same traffic and
 * checks as the upgrade. Last, the upgrade again with maxUnavailable 3: each cluster goes two members at once and one
 * (the meta group of 6 keeps its quorum of 4 with 2 down), never 3.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { MonitorClient } from "../../engine/monitor/client";
import { formatEvent, RolloutEvent } from "../../engine/rollout/events";
import { ClusterSpec, clientUrl, monitorUrl, RolloutPolicy } from "../../engine/spec";
import { formatSuperclusterReport } from "../../engine/supercluster/format";
import { previewSupercluster } from "../../engine/supercluster/preview";
import { reconcileSupercluster } from "../../engine/supercluster/reconcile";
import { SuperclusterOutcome } from "../../engine/supercluster/types";
import { formatSuperclusterPlan } from "../../engine/supercluster/format";
import { gatewaysGateOf } from "../support/gateways";
import { LocalTestCluster } from "../support/local-cluster";
import { metaPeersOf } from "../support/meta-peers";
import { DownWatch } from "../support/quorum-watch";
import { freePorts } from "../support/ports";
import { AckedPublisher, appOptions, connect } from "../support/traffic";
import { NEW_MINOR, OLD_MINOR } from "../support/versions";

const POLICY: Partial<RolloutPolicy> = { minHealthySeconds: 1, pollIntervalMs: 250, healthyDeadlineSeconds: 60 };
const BROKEN = "2.99.0"; // a binary that exits at once
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Gateway ports for every server of `spec`; its members' gateway URLs, for the other cluster. */
async function withGatewayPorts(spec: ClusterSpec): Promise<{ spec: ClusterSpec; urls: string[] }> {
  const ports = await freePorts(spec.members.length + 1);
  const members = spec.members.map((m, i) => ({ ...m, gatewayPort: ports[i] }));
  const surge = { ...spec.surge, gatewayPort: ports[spec.members.length] };
  return { spec: { ...spec, members, surge }, urls: members.map((m) => `nats://127.0.0.1:${m.gatewayPort}`) };
}

/** The meta leader as the JetStream servers report it, sampled; each change of name is an election. */
class MetaLeaderWatch {
  readonly seen: Array<{ at: number; leader: string }> = [];
  private running = false;
  private loop?: Promise<void>;
  constructor(private readonly servers: ClusterSpec["members"]) {}
  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        for (const s of this.servers) {
          const leader = await new MonitorClient(monitorUrl(s), 500)
            .jsz()
            .then((j) => j.meta_cluster?.leader)
            .catch(() => undefined);
          if (!leader) continue;
          if (this.seen.at(-1)?.leader !== leader) this.seen.push({ at: Date.now(), leader });
          break;
        }
        await sleep(250);
      }
    })();
  }
  async stop(): Promise<number> {
    this.running = false;
    await this.loop;
    return Math.max(0, this.seen.length - 1);
  }
}

/** Successful events over time; the longest stretch between two of them (or from the start to the first). */
class Gaps {
  private last: number;
  longestMs = 0;
  count = 0;
  constructor() {
    this.last = Date.now();
  }
  hit(): void {
    const now = Date.now();
    this.longestMs = Math.max(this.longestMs, now - this.last);
    this.last = now;
    this.count++;
  }
  end(): void {
    this.longestMs = Math.max(this.longestMs, Date.now() - this.last);
  }
}

describe("a supercluster of two JetStream clusters and a leaf, rolled by one reconcileSupercluster", () => {
  let east: LocalTestCluster;
  let west: LocalTestCluster;
  let edge: LocalTestCluster;
  let fakes: string;
  const ncs: NatsConnection[] = [];
  const clusters = () => [east, west, edge];
  /** The client users of every cluster: the application's, and the one the leaf connects to its hub as. */
  const APP = { user: "app", pass: "supercluster-test-app-password" };
  const USERS = [
    { user: APP.user, password: APP.pass },
    { user: "leaf", password: "supercluster-test-leaf-password" },
  ];
  const app = (spec: ClusterSpec, name: string) => appOptions(spec, name, APP);
  const jsMembers = () => [...east.spec.members, ...west.spec.members];
  const run = (extra: { onEvent?: (e: RolloutEvent) => void; policy?: Partial<RolloutPolicy> } = {}) =>
    reconcileSupercluster({
      clusters: clusters().map((c) => ({ ...c.options({ ...POLICY, ...extra.policy }), watchTraffic: false })),
      onEvent: (e) => {
        extra.onEvent?.(e);
        process.stdout.write(formatEvent(e) + "\n");
      },
    });

  beforeAll(async () => {
    fakes = fs.mkdtempSync("/tmp/nats-fake-bins-");
    const broken = path.join(fakes, "broken");
    fs.writeFileSync(broken, "#!/bin/sh\necho 'nats-server: simulated fatal error: cannot start' >&2\nexit 1\n", {
      mode: 0o755,
    });
    east = await LocalTestCluster.create({ members: 3, version: OLD_MINOR, jetstream: true, namePrefix: "ea" });
    west = await LocalTestCluster.create({ members: 3, version: OLD_MINOR, jetstream: true, namePrefix: "we" });
    edge = await LocalTestCluster.create({
      members: 1,
      version: OLD_MINOR,
      namePrefix: "lf",
      extraBinaries: { [BROKEN]: broken },
    });
    const e = await withGatewayPorts({ ...east.spec, name: "east" });
    const w = await withGatewayPorts({ ...west.spec, name: "west" });
    const leafPorts = await freePorts(e.spec.members.length);
    const eastMembers = e.spec.members.map((m, i) => ({ ...m, leafnodePort: leafPorts[i] }));
    // A system account on both (one name across the gateways): nats-server needs it for gateways with leaf nodes,
    // and the engine steps the meta leader down through it before restarting it. Client users, every cluster's: the
    // hub accepts its leaf as it accepts clients, so the leaf connects as one of them (hub.user).
    const auth = { users: USERS, systemAccount: { user: "sys", password: "supercluster-test-system-password" } };
    east.spec = {
      ...e.spec,
      auth,
      members: eastMembers,
      gateways: { remotes: [{ name: "west", urls: w.urls }] },
      leafnodes: { expected: [{ name: "lf1" }] },
    };
    west.spec = { ...w.spec, auth, gateways: { remotes: [{ name: "east", urls: e.urls }] } };
    edge.spec = {
      ...edge.spec,
      name: "edge",
      auth: { users: USERS },
      hub: { urls: eastMembers.map((m) => `nats-leaf://127.0.0.1:${m.leafnodePort}`), user: "leaf" },
    };
  }, 60_000);

  afterAll(async () => {
    for (const nc of ncs) await nc.close().catch(() => undefined);
    for (const c of [edge, west, east]) await c?.destroy();
    if (fakes) fs.rmSync(fakes, { recursive: true, force: true });
  });

  /** The whole supercluster is healthy: every /gatewayz whole, the leaf on the hub, one meta group of the 6. */
  async function expectWhole(version: string): Promise<void> {
    for (let i = 0; i < 40; i++) {
      const seen = [...(await gatewaysGateOf(east, "west")), ...(await gatewaysGateOf(west, "east"))];
      if (seen.every((s) => s.ok)) break;
      await sleep(250);
    }
    const gateways = [...(await gatewaysGateOf(east, "west")), ...(await gatewaysGateOf(west, "east"))];
    console.log(gateways.map((g) => g.observation).join("\n"));
    expect(gateways.every((g) => g.ok)).toBe(true);
    // No ghost peer, none missing: the meta group is exactly the six members, as its leader reports it.
    expect(await metaPeersOf(jsMembers())).toEqual(
      jsMembers()
        .map((m) => m.name)
        .sort(),
    );
    for (const c of clusters()) {
      for (const m of c.spec.members) expect((await new MonitorClient(monitorUrl(m)).varz()).version).toBe(version);
      expect(await c.driver.isRunning(c.spec.surge)).toBe(false);
    }
    const leafz = await Promise.all(east.spec.members.map((m) => new MonitorClient(monitorUrl(m)).leafz()));
    expect(leafz.flatMap((l) => l.leafs ?? []).filter((l) => l.name === "lf1")).toHaveLength(1);
  }

  /** The clusters in the order the run took them, from its own events. */
  const orderOf = (events: RolloutEvent[]) =>
    events.filter((e) => e.message.startsWith("supercluster: cluster")).map((e) => e.cluster);

  it("starts the whole supercluster: one meta group across the gateways, the leaf on its hub", async () => {
    const events: RolloutEvent[] = [];
    const outcome = await run({ onEvent: (e) => events.push(e) });
    console.log(formatSuperclusterReport(outcome));
    expect(outcome.status).toBe("done");
    expect(outcome.left).toEqual([]);
    expect(orderOf(events)[0]).toBe("edge");
    // The leaf's password is rendered into its config file only: no event, no report quotes it.
    const said = `${events.map(formatEvent).join("\n")}\n${formatSuperclusterReport(outcome)}\n${JSON.stringify(outcome)}`;
    expect(said).not.toContain(USERS[1].password);
    await expectWhole(OLD_MINOR);
  }, 600_000);

  /** Upgrade or downgrade everything to `version` under traffic, and assert what the issue asks. */
  async function rollUnderTraffic(version: string): Promise<void> {
    const label = `${OLD_MINOR === version ? "downgrade" : "upgrade"} to ${version}`;
    // Streams placed in each cluster, an acked publisher each.
    const streams: Array<{ name: string; pub: AckedPublisher }> = [];
    for (const c of [east, west]) {
      const nc = await connect(app(c.spec, `${c.spec.name}-publisher`));
      ncs.push(nc);
      const name = `${c.spec.name.toUpperCase()}_${version.replace(/\./g, "_")}`;
      const subject = `${c.spec.name}.orders.${version}`;
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({
        name,
        subjects: [subject],
        num_replicas: 3,
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        placement: { cluster: c.spec.name, tags: [] },
      });
      const info = await jsm.streams.info(name);
      expect(info.cluster?.name).toBe(c.spec.name);
      const pub = new AckedPublisher(nc, subject, 20, `${c.spec.name}-`);
      pub.start();
      streams.push({ name, pub });
    }
    // A requester in east, a responder in west: each reply crosses the gateway.
    const responder = await connect(app(west.spec, "west-responder"));
    const requester = await connect(app(east.spec, "east-requester"));
    ncs.push(responder, requester);
    const sub = responder.subscribe("across.>");
    void (async () => {
      for await (const m of sub) m.respond(m.data);
    })();
    await responder.flush();
    for (let i = 0; i < 50; i++) {
      const ok = await requester.request("across.ping", new Uint8Array(0), { timeout: 500 }).then(
        () => true,
        () => false,
      );
      if (ok) break;
      await sleep(100);
    }
    // A subscriber on the leaf, fed from west: west → gateway → east → leaf connection.
    const leafSub = await connect({
      ...APP,
      servers: edge.spec.members.map(clientUrl),
      name: "leaf-subscriber",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    const westPub = await connect(app(west.spec, "west-to-leaf"));
    ncs.push(leafSub, westPub);
    const leafGaps = new Gaps();
    const ticks = leafSub.subscribe("to.leaf");
    void (async () => {
      for await (const _ of ticks) leafGaps.hit();
    })();
    await leafSub.flush();
    for (let i = 0; i < 100 && leafGaps.count === 0; i++) {
      westPub.publish("to.leaf");
      await sleep(100);
    }
    expect(leafGaps.count).toBeGreaterThan(0);

    const replyGaps = new Gaps();
    let asked = 0;
    let traffic = true;
    const loops = [
      (async () => {
        while (traffic) {
          asked++;
          await requester
            .request("across.ping", new Uint8Array(0), { timeout: 2000 })
            .then(() => replyGaps.hit())
            .catch(() => undefined);
          await sleep(100);
        }
      })(),
      (async () => {
        while (traffic) {
          westPub.publish("to.leaf");
          await sleep(50);
        }
      })(),
    ];
    const leaders = new MetaLeaderWatch(jsMembers());
    leaders.start();
    await sleep(1000);
    const leaderBefore = leaders.seen.at(-1)?.leader;
    const leaderCluster = east.spec.members.some((m) => m.name === leaderBefore) ? "east" : "west";

    for (const c of clusters()) c.spec = { ...c.spec, version };
    const events: RolloutEvent[] = [];
    const preview = await previewSupercluster({ clusters: clusters().map((c) => c.options(POLICY)) });
    console.log(formatSuperclusterPlan(preview.plan));
    expect(preview.plan.order.map((o) => o.cluster)).toEqual([
      "edge",
      ...["east", "west"].filter((c) => c !== leaderCluster),
      leaderCluster,
    ]);
    const outcome: SuperclusterOutcome = await run({ onEvent: (e) => events.push(e) });
    traffic = false;
    await Promise.all(loops);
    const elections = await leaders.stop();
    replyGaps.end();
    leafGaps.end();
    for (const s of streams) await s.pub.stop();
    console.log(formatSuperclusterReport(outcome));

    // Read back through a connection of its own, asked again while the JetStream API of a cluster just rolled
    // settles (seen once: the first request timed out right after the run, the publisher's connection moving back
    // from the surge server).
    const lost: Record<string, number> = {};
    for (const s of streams) {
      const cluster = s.name.startsWith("EAST") ? east : west;
      const reader = await connect(app(cluster.spec, `${s.name}-reader`));
      ncs.push(reader);
      for (let attempt = 1; lost[s.name] === undefined; attempt++) {
        try {
          lost[s.name] = (await s.pub.lostMessages(reader, s.name)).length;
        } catch (err) {
          if (attempt >= 10) throw err;
          console.log(`reading ${s.name} back, attempt ${attempt}: ${(err as Error).message}`);
          await sleep(1000);
        }
      }
    }
    const acked = streams.map((s) => `${s.name} ${s.pub.acked.size} acked (${s.pub.failures} retried)`).join(", ");
    console.log(
      `${label}: meta leader ${leaders.seen.map((l) => l.leader).join(" → ")} (${elections} election` +
        `${elections === 1 ? "" : "s"}); ${acked}; lost ${JSON.stringify(lost)}; east → west requests ${asked}, ` +
        `${replyGaps.count} replied, longest gap ${(replyGaps.longestMs / 1000).toFixed(2)}s; leaf got ` +
        `${leafGaps.count} messages, longest gap ${(leafGaps.longestMs / 1000).toFixed(2)}s`,
    );

    expect(outcome.status).toBe("done");
    expect(outcome.left).toEqual([]);
    // The leaf first; the cluster that held the meta leader last (the other one in between).
    expect(orderOf(events)).toEqual(["edge", ...["east", "west"].filter((c) => c !== leaderCluster), leaderCluster]);
    expect(outcome.clusters.map((c) => c.name)).toEqual(orderOf(events));
    // Every event of a cluster's own rollout names that cluster.
    expect(events.filter((e) => e.kind === "step-start").every((e) => e.cluster !== undefined)).toBe(true);
    expect(elections).toBeLessThanOrEqual(1);
    for (const s of streams) expect(s.pub.acked.size).toBeGreaterThan(0);
    expect(Object.values(lost)).toEqual([0, 0]);
    expect(replyGaps.count).toBeGreaterThan(0);
    await expectWhole(version);
  }

  it("upgrades the whole supercluster under traffic", () => rollUnderTraffic(NEW_MINOR), 900_000);

  it("a halt in the first cluster (the leaf's binary cannot start) leaves the others untouched, named as left; run again, it resumes: the downgrade under traffic", async () => {
    const pids = jsMembers().map((m) => [east, west].find((c) => c.spec.members.includes(m))!.driver.pid(m));
    edge.spec = { ...edge.spec, version: BROKEN };
    east.spec = { ...east.spec, version: OLD_MINOR };
    west.spec = { ...west.spec, version: OLD_MINOR };
    const outcome = await run();
    console.log(formatSuperclusterReport(outcome));
    expect(outcome.status).toBe("halted");
    expect(outcome.clusters.map((c) => c.name)).toEqual(["edge"]);
    expect(outcome.left).toEqual(["east", "west"]);
    expect(formatSuperclusterReport(outcome)).toMatch(/not reached: east, west; run again to resume/);
    // Nothing of east or west was touched: same processes, same version.
    expect(jsMembers().map((m) => [east, west].find((c) => c.spec.members.includes(m))!.driver.pid(m))).toEqual(pids);
    for (const m of jsMembers()) expect((await new MonitorClient(monitorUrl(m)).varz()).version).toBe(NEW_MINOR);
    // The leaf was rolled back to the version it ran, and serves.
    expect((await new MonitorClient(monitorUrl(edge.spec.members[0])).varz()).version).toBe(NEW_MINOR);

    // The cause fixed, the same run again is the resume, from what the servers report: the whole downgrade, under
    // the same traffic and checks as the upgrade (the leaf first, the meta leader's cluster last, at most one
    // election, nothing acked lost, every /gatewayz whole).
    await rollUnderTraffic(OLD_MINOR);
  }, 900_000);

  it("the upgrade with maxUnavailable 3: the meta group of 6 (quorum 4) lets at most 2 of a cluster's members down at once", async () => {
    // No stream of the test's may hold its own quorum against the batches: delete them (an R3 stream on all three
    // members of a cluster would make it one at a time, the stream's own rule).
    const admin = await connect(app(east.spec, "stream-admin"));
    ncs.push(admin);
    const jsm = await jetstreamManager(admin);
    for await (const name of jsm.streams.names()) await jsm.streams.delete(name);
    for (const c of clusters()) c.spec = { ...c.spec, version: NEW_MINOR };
    const policy = { maxUnavailable: 3 };
    const preview = await previewSupercluster({
      clusters: clusters().map((c) => c.options({ ...POLICY, ...policy })),
    });
    console.log(formatSuperclusterPlan(preview.plan));
    const batches = (cluster: string) => {
      const plan = preview.plan.order.find((o) => o.cluster === cluster)!.plan;
      const out: string[][] = [];
      for (const s of plan.steps) if (s.batch !== undefined) (out[s.batch - 1] ??= []).push(s.server!);
      return out;
    };
    const leaderCluster = preview.plan.metaLeader!.cluster;
    const follower = leaderCluster === "east" ? "west" : "east";
    // All three of the other cluster are followers: two together, then one; the leader's cluster: two, then it.
    expect(batches(follower).map((b) => b.length)).toEqual([2, 1]);
    expect(batches(leaderCluster).map((b) => b.length)).toEqual([2, 1]);
    expect(batches(leaderCluster)[1]).toEqual([preview.plan.metaLeader!.server]);

    const down = new DownWatch(jsMembers(), 100);
    down.start();
    const outcome = await run({ policy });
    await down.stop();
    console.log(formatSuperclusterReport(outcome));
    const most = (c: LocalTestCluster) => down.maxDownOf(c.spec.members.map((m) => m.name));
    console.log(`most members down at once (${down.samples} samples): east ${most(east)}, west ${most(west)}`);
    expect(outcome.status).toBe("done");
    expect(most(east)).toBeLessThanOrEqual(2);
    expect(most(west)).toBeLessThanOrEqual(2);
    await expectWhole(NEW_MINOR);
  }, 900_000);
});
