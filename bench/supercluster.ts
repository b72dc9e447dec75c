/**
 * The `supercluster` section of `npm run bench`: one run of the engine's supercluster rollout (reconcileSupercluster,
 * what `pulumi up` of a stack with `nats-cluster:clusters` runs) on local nats-server processes: `east` and `west`,
 * three JetStream members and a surge server each, joined by gateways, one meta group spanning both, and a leaf
 * cluster of one server whose hub is east. Started at the old version by the same call, then rolled to the new one
 * under load: an acked publisher to an R3 stream placed in each cluster, a requester in east asking a responder in
 * west (across the gateway) and a requester in east sending to a subscriber on the leaf, both at least once (each
 * request retried until answered), and a meta-leader election counter over every member.
 *
 * Local processes rather than the lab: a lab run is nine VMs and three `pulumi up`s (test/lab/lab-supercluster.test.ts
 * prints its figures); the row here is the engine's own cost, repeatable on a laptop.
 */
import { NatsConnection } from "@nats-io/nats-core";
import { RolloutPolicy } from "../engine/spec";
import { formatEvent, RolloutEvent } from "../engine/rollout/events";
import { reconcileSupercluster } from "../engine/supercluster/reconcile";
import { formatSuperclusterReport } from "../engine/supercluster/format";
import { atLeastOnce } from "../test/support/at-least-once";
import { LocalTestCluster } from "../test/support/local-cluster";
import { freePorts } from "../test/support/ports";
import { MetaLeaderWatch } from "../test/support/quorum-watch";
import { AckedPublisher, appOptions, connect, createR3Stream } from "../test/support/traffic";
import { NEW_MINOR, OLD_MINOR } from "../test/support/versions";

export interface SuperclusterRow {
  readonly result: string;
  readonly clusters: number;
  /** Members of every cluster (the leaf's included), surge servers not counted. */
  readonly members: number;
  readonly seconds: number;
  /** Each cluster's own rollout time, in the order rolled. */
  readonly perCluster: ReadonlyArray<{ readonly name: string; readonly seconds: number; readonly why: string }>;
  readonly acked: number;
  readonly lost: number;
  readonly elections: number;
  /** Longest time the west responder went without a new request from east. */
  readonly crossGapMs: number;
  readonly crossRetries: number;
  /** Longest time the leaf's subscriber went without a new message. */
  readonly leafGapMs: number;
  readonly leafRetries: number;
}

const LEAF = "lf1";
/**
 * nats-server refuses leaf nodes and gateways on one server without a system account ("leaf nodes and gateways (both
 * being defined) require a system account to also be configured"): east is a hub with gateways.
 */
const SYS = { user: "sys", password: `sys-${Math.random().toString(36).slice(2)}` };

/** East and west with gateway ports (and east's leafnode ports), the leaf cluster pointing at east. */
async function makeSupercluster(): Promise<{ east: LocalTestCluster; west: LocalTestCluster; leaf: LocalTestCluster }> {
  const overrides = { auth: { systemAccount: SYS } };
  const east = await LocalTestCluster.create({
    members: 3,
    version: OLD_MINOR,
    jetstream: true,
    namePrefix: "ea",
    overrides,
  });
  const west = await LocalTestCluster.create({
    members: 3,
    version: OLD_MINOR,
    jetstream: true,
    namePrefix: "we",
    overrides,
  });
  const leaf = await LocalTestCluster.create({ members: 1, version: OLD_MINOR, namePrefix: "lf", overrides });
  const ports = await freePorts(4 + 4 + 3);
  const withGateways = (c: LocalTestCluster, from: number) => ({
    members: c.spec.members.map((m, i) => ({ ...m, gatewayPort: ports[from + i] })),
    surge: { ...c.spec.surge, gatewayPort: ports[from + 3] },
  });
  const e = withGateways(east, 0);
  const w = withGateways(west, 4);
  const eastMembers = e.members.map((m, i) => ({ ...m, leafnodePort: ports[8 + i] }));
  const gatewayUrls = (members: ReadonlyArray<{ gatewayPort: number }>) =>
    members.map((m) => `nats://127.0.0.1:${m.gatewayPort}`);
  east.spec = {
    ...east.spec,
    ...e,
    members: eastMembers,
    name: "east",
    gateways: { remotes: [{ name: "west", urls: gatewayUrls(w.members) }] },
    leafnodes: { expected: [{ name: LEAF }] },
  };
  west.spec = {
    ...west.spec,
    ...w,
    name: "west",
    gateways: { remotes: [{ name: "east", urls: gatewayUrls(e.members) }] },
  };
  leaf.spec = {
    ...leaf.spec,
    name: "leaf",
    hub: { urls: eastMembers.map((m) => `nats-leaf://127.0.0.1:${m.leafnodePort}`) },
  };
  return { east, west, leaf };
}

export async function benchSupercluster(policy: Partial<RolloutPolicy>): Promise<SuperclusterRow> {
  const { east, west, leaf } = await makeSupercluster();
  const clusters = [east, west, leaf];
  const ncs: NatsConnection[] = [];
  const run = (version: string, onEvent?: (e: RolloutEvent) => void) => {
    for (const c of clusters) c.spec = { ...c.spec, version };
    return reconcileSupercluster({ clusters: clusters.map((c) => c.options(policy)), onEvent });
  };
  // BENCH_EVENTS=1: the runs' progress lines too (where the time goes).
  const events = process.env.BENCH_EVENTS ? (e: RolloutEvent) => console.log(formatEvent(e)) : undefined;
  try {
    const start = await run(OLD_MINOR, events);
    if (start.status !== "done") throw new Error(`the supercluster did not start:\n${formatSuperclusterReport(start)}`);
    const eastNc = await connect(appOptions(east.spec, "bench-sc-east"));
    const westNc = await connect(appOptions(west.spec, "bench-sc-west"));
    const leafNc = await connect(appOptions(leaf.spec, "bench-sc-leaf"));
    const requester = await connect(appOptions(east.spec, "bench-sc-requester"));
    ncs.push(eastNc, westNc, leafNc, requester);
    await createR3Stream(eastNc, "SC_EAST", "sc.east.>", "east");
    await createR3Stream(westNc, "SC_WEST", "sc.west.>", "west");
    const publishers = [new AckedPublisher(eastNc, "sc.east.x"), new AckedPublisher(westNc, "sc.west.x")];
    const stopCross = await atLeastOnce(requester, westNc, "bench.cross", "east → west");
    const stopLeaf = await atLeastOnce(requester, leafNc, "bench.leaf", "east → leaf");
    const elections = new MetaLeaderWatch([...east.spec.members, ...west.spec.members]);
    elections.start();
    publishers.forEach((p) => p.start());

    const started = Date.now();
    const outcome = await run(NEW_MINOR, events);
    const seconds = (Date.now() - started) / 1000;
    await Promise.all(publishers.map((p) => p.stop()));
    const electionCount = await elections.stop();
    const cross = await stopCross();
    const leafFelt = await stopLeaf();
    console.log(formatSuperclusterReport(outcome));
    console.log(`  ${cross.summary}\n  ${leafFelt.summary}\n  meta leaders seen: ${elections.leaders.join(" → ")}`);

    let lost = 0;
    for (const [i, stream] of ["SC_EAST", "SC_WEST"].entries())
      lost += (await publishers[i].lostMessages(eastNc, stream)).length;
    return {
      result: outcome.status,
      clusters: clusters.length,
      members: clusters.reduce((n, c) => n + c.spec.members.length, 0),
      seconds: +seconds.toFixed(1),
      perCluster: outcome.clusters.map((c) => ({
        name: c.name,
        why: c.why,
        seconds: c.outcome.status === "refused" ? 0 : +(c.outcome.report.totalMs / 1000).toFixed(1),
      })),
      acked: publishers.reduce((n, p) => n + p.acked.size, 0),
      lost,
      elections: electionCount,
      crossGapMs: cross.longestGapMs,
      crossRetries: cross.retries,
      leafGapMs: leafFelt.longestGapMs,
      leafRetries: leafFelt.retries,
    };
  } finally {
    await Promise.all(ncs.map((nc) => nc.close().catch(() => undefined)));
    for (const c of clusters) await c.destroy();
  }
}

/** The machine-readable line: gap_ms is the longer of the two gaps (across the gateway, to the leaf). */
export function superclusterLine(r: SuperclusterRow): string {
  return (
    `supercluster clusters=${r.clusters} members=${r.members} seconds=${r.seconds} lost=${r.lost} ` +
    `elections=${r.elections} gap_ms=${Math.max(r.crossGapMs, r.leafGapMs)}`
  );
}
