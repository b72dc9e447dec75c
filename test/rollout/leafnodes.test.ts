/**
 * A hub cluster of 3 with one leaf server, on real nats-server processes: the `leafnodes { listen }` the engine
 * renders on every member accepts a leaf server the test starts (`leafnodes { remotes }` listing the members), and a
 * rollout of the hub 2.14.9 → 2.15.2 holds each member whose restart took the leaf away until the leaf is connected
 * again (to any member: the leafnodes gate reads every member's /leafz), while a requester in the hub sends numbered
 * messages to a subscriber on the leaf, each retried until the subscriber acknowledges it (at least once).
 *
 * The leaf runs 2.15.2 before the hub does: leaves before their hub, the order nats-server's only hub/leaf version
 * rule (the hub's `leafnodes { min_version }`) never refuses (README, "Superclusters and leaf nodes").
 * The leaf reconnects every 5 s (`leafnodes { reconnect }`, nats-server's default is 1 s): long enough that a member
 * which held it passes every other gate before the leaf is back, so the hold is visible in the gate timings.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ChildProcess } from "node:child_process";
import { NatsConnection } from "nats";
import { MonitorClient } from "../../engine/monitor/client";
import { formatEvent, RolloutEvent } from "../../engine/rollout/events";
import { executeRollout } from "../../engine/rollout/execute";
import { formatReport } from "../../engine/rollout/report";
import { monitorUrl, RolloutPolicy } from "../../engine/spec";
import { LocalTestCluster } from "../support/local-cluster";
import { startServer, stopServer } from "../support/nats-process";
import { freePorts } from "../support/ports";
import { appOptions, connect } from "../support/traffic";
import { NEW_MINOR, OLD_MINOR } from "../support/versions";

const POLICY: Partial<RolloutPolicy> = { minHealthySeconds: 1, pollIntervalMs: 250, healthyDeadlineSeconds: 60 };
const LEAF = "leaf1";
const LEAF_RECONNECT_SECONDS = 5;

/** Where the leaf is connected, as every hub member's /leafz says, sampled by the test itself (not the gate). */
interface Sample {
  readonly at: number;
  readonly on: ReadonlyArray<string>;
}

describe("a hub cluster rolled while a leaf server stays connected to it", () => {
  let hub: LocalTestCluster;
  let leaf: ChildProcess | undefined;
  let leafClientPort = 0;
  let leafMonitorPort = 0;
  const ncs: NatsConnection[] = [];

  beforeAll(async () => {
    hub = await LocalTestCluster.create({ members: 3, version: OLD_MINOR, namePrefix: "hub" });
    const ports = await freePorts(hub.spec.members.length + 2);
    const members = hub.spec.members.map((m, i) => ({ ...m, leafnodePort: ports[i] }));
    hub.spec = { ...hub.spec, name: "hub", members, leafnodes: { expected: [{ name: LEAF }] } };
    await hub.bootstrap(POLICY);

    [leafClientPort, leafMonitorPort] = ports.slice(members.length);
    const urls = members.map((m) => `"nats-leaf://127.0.0.1:${m.leafnodePort}"`).join(", ");
    const file = path.join(hub.stateDir, "leaf1.conf");
    fs.writeFileSync(
      file,
      [
        `server_name: "${LEAF}"`,
        `listen: "127.0.0.1:${leafClientPort}"`,
        `http: "127.0.0.1:${leafMonitorPort}"`,
        `leafnodes {`,
        `  reconnect: "${LEAF_RECONNECT_SECONDS}s"`,
        `  remotes: [ { urls: [${urls}] } ]`,
        `}`,
        "",
      ].join("\n"),
    );
    leaf = await startServer(NEW_MINOR, file);
  }, 120_000);

  afterAll(async () => {
    for (const nc of ncs) await nc.close().catch(() => undefined);
    if (leaf) await stopServer(leaf);
    await hub?.destroy();
  });

  const leafOn = async (): Promise<string[]> => {
    const on: string[] = [];
    for (const m of hub.spec.members) {
      const l = await new MonitorClient(monitorUrl(m), 1000).leafz().catch(() => undefined);
      if (l?.leafs?.some((x) => x.name === LEAF && x.account === "$G")) on.push(m.name);
    }
    return on;
  };

  it("the rendered leafnodes block accepts the leaf on one member; /leafz there names it, bound to $G", async () => {
    for (let i = 0; i < 60 && (await leafOn()).length === 0; i++) await new Promise((r) => setTimeout(r, 250));
    const on = await leafOn();
    console.log(`leaf ${LEAF} connected to ${on.join(", ")}`);
    expect(on).toHaveLength(1);
    const leafSide = await new MonitorClient(`http://127.0.0.1:${leafMonitorPort}`).leafz();
    expect(leafSide.leafs?.map((l) => [l.name, l.is_spoke])).toEqual([[on[0], true]]);
    expect((await new MonitorClient(`http://127.0.0.1:${leafMonitorPort}`).varz()).version).toBe(NEW_MINOR);
  }, 30_000);

  it("rolls the hub, each member held until the leaf is back; every message reaches the leaf's subscriber", async () => {
    const subscriber = await connect({
      servers: [`nats://127.0.0.1:${leafClientPort}`],
      name: "leaf-subscriber",
      maxReconnectAttempts: -1,
    });
    const requester = await connect(appOptions(hub.spec, "hub-requester"));
    ncs.push(subscriber, requester);
    const firstSeen = new Map<number, number>();
    let deliveries = 0;
    const sub = subscriber.subscribe("to.leaf.>");
    void (async () => {
      for await (const m of sub) {
        deliveries++;
        const n = Number(m.subject.split(".")[2]);
        if (!firstSeen.has(n)) firstSeen.set(n, Date.now());
        m.respond();
      }
    })();
    await subscriber.flush();

    let running = true;
    let sent = 0;
    let retries = 0;
    const acked = new Set<number>();
    const requests = (async () => {
      while (running) {
        const n = ++sent;
        // At least once: the same message again until the leaf's subscriber acknowledges it, 100 ms apart (while
        // the leaf is away the hub answers "no responders" at once), for at most a minute.
        for (let attempt = 0; attempt < 600; attempt++) {
          const ok = await requester
            .request(`to.leaf.${n}`, new Uint8Array(0), { timeout: 500 })
            .then(() => true)
            .catch(() => false);
          if (ok) {
            acked.add(n);
            break;
          }
          retries++;
          await new Promise((r) => setTimeout(r, 100));
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const samples: Sample[] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        samples.push({ at: Date.now(), on: await leafOn() });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    const events: Array<{ at: number; e: RolloutEvent }> = [];
    hub.spec = { ...hub.spec, version: NEW_MINOR };
    const outcome = await executeRollout(
      hub.options(POLICY, {
        onEvent: (e) => {
          events.push({ at: Date.now(), e });
          process.stdout.write(formatEvent(e) + "\n");
        },
      }),
    );
    running = false;
    await requests;
    watching = false;
    await watch;
    if (outcome.status !== "done") throw new Error(`not done: ${JSON.stringify(outcome, null, 1).slice(0, 3000)}`);
    console.log(formatReport(outcome.report));

    // What the leaf felt: the longest time without a new message at its subscriber.
    const times = [...firstSeen.entries()].sort(([a], [b]) => a - b).map(([, t]) => t);
    const longestGap = Math.max(0, ...times.slice(1).map((t, i) => t - times[i]));
    const absent = samples.filter((s) => s.on.length === 0);
    console.log(
      `hub → leaf: ${sent} messages, ${acked.size} acknowledged, ${retries} retries, ${deliveries} deliveries, ` +
        `${firstSeen.size} distinct at the leaf; leaf's longest gap ${(longestGap / 1000).toFixed(2)}s; ` +
        `leaf absent from the hub in ${absent.length} of ${samples.length} samples`,
    );

    expect(outcome.report.result).toBe("succeeded");
    const restarted = outcome.report.members.filter((m) => m.action === "restart-member");
    expect(restarted.map((m) => m.name).sort()).toEqual(["hub1", "hub2", "hub3"]);
    // The report names the leaf gate's time for every restarted member.
    for (const m of restarted) expect(m.gateTimings?.map((g) => g.gate)).toContain("leafnodes");
    expect(formatReport(outcome.report)).toMatch(/leafnodes \d+\.\ds/);

    // Each member that held the leaf when its lame duck began: the leaf went away, and was back (on some member,
    // by the test's own /leafz samples) before that member's gates passed.
    const at = (server: string, pick: (e: RolloutEvent) => boolean) =>
      events.find(({ e }) => e.server === server && e.step === "restart-member" && pick(e))?.at;
    let held = 0;
    for (const m of hub.spec.members) {
      const lameDuck = at(m.name, (e) => e.message.startsWith("lame duck"));
      const passed = at(m.name, (e) => e.kind === "gate-pass");
      expect(lameDuck).toBeDefined();
      expect(passed).toBeDefined();
      const before = samples.filter((s) => s.at <= lameDuck!).pop();
      if (!before?.on.includes(m.name)) continue;
      held++;
      const during = samples.filter((s) => s.at > lameDuck! && s.at < passed!);
      const lastAbsent = during.filter((s) => s.on.length === 0).pop();
      console.log(
        `${m.name} held the leaf: absent until ${lastAbsent ? ((lastAbsent.at - lameDuck!) / 1000).toFixed(1) : "-"}s ` +
          `after its lame duck, gates passed ${((passed! - lameDuck!) / 1000).toFixed(1)}s after it`,
      );
      expect(lastAbsent).toBeDefined();
      expect(during.filter((s) => s.at > lastAbsent!.at).some((s) => s.on.length === 1)).toBe(true);
    }
    expect(held).toBeGreaterThanOrEqual(1);

    // At least once, and nothing lost: every message sent was acknowledged by the leaf's subscriber.
    expect(acked.size).toBe(sent);
    for (let n = 1; n <= sent; n++) expect(firstSeen.has(n)).toBe(true);
    expect((await leafOn()).length).toBe(1);
    for (const m of hub.spec.members) expect((await new MonitorClient(monitorUrl(m)).varz()).version).toBe(NEW_MINOR);
  }, 300_000);
});
