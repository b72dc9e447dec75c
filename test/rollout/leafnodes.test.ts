/**
 * A hub cluster of 3 and two leaves, on real nats-server processes, rolled leaves first (the order nats-server's only
 * hub/leaf version rule, the hub's `leafnodes { min_version }`, never refuses: README, "Superclusters and leaf nodes").
 *
 * - `leaf1`: a leaf server the test starts itself at 2.15.2 (`leafnodes { remotes }` listing the members' rendered
 *   leafnode ports), reconnecting every 5 s (`leafnodes { reconnect }`, nats-server's default is 1 s): long enough
 *   that a member which held it passes every other gate before it is back, so the hold shows in the gate timings.
 * - `leafsite`: a leaf cluster the engine renders (`hub: { urls }`: every server, its surge server too, a leaf of the
 *   hub), one member and a surge server, rolled 2.14.9 → 2.15.2 first, each server gated on its own connection back
 *   to the hub (`hub` gate).
 * Then the hub is rolled 2.14.9 → 2.15.2; each member whose restart took a leaf away is held until the leaf is
 * connected again to any member (the leafnodes gate reads every member's /leafz). Throughout, a requester in the hub
 * sends numbered messages to a subscriber on a leaf, each retried until the subscriber acknowledges it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ChildProcess } from "node:child_process";
import { NatsConnection } from "@nats-io/nats-core";
import { MonitorClient } from "../../engine/monitor/client";
import { formatEvent, RolloutEvent } from "../../engine/rollout/events";
import { executeRollout } from "../../engine/rollout/execute";
import { formatReport } from "../../engine/rollout/report";
import { monitorUrl, RolloutPolicy } from "../../engine/spec";
import { LocalTestCluster } from "../support/local-cluster";
import { startServer, stopServer } from "../support/nats-process";
import { freePorts } from "../support/ports";
import { atLeastOnce } from "../support/at-least-once";
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

describe("a hub cluster and its leaves, rolled leaves first", () => {
  let hub: LocalTestCluster;
  let site: LocalTestCluster;
  let leaf: ChildProcess | undefined;
  let leafClientPort = 0;
  let leafMonitorPort = 0;
  const ncs: NatsConnection[] = [];

  beforeAll(async () => {
    hub = await LocalTestCluster.create({ members: 3, version: OLD_MINOR, namePrefix: "hub" });
    const ports = await freePorts(hub.spec.members.length + 2);
    const members = hub.spec.members.map((m, i) => ({ ...m, leafnodePort: ports[i] }));
    hub.spec = { ...hub.spec, name: "hub", members, leafnodes: { expected: [{ name: LEAF }, { name: "ls1" }] } };
    await hub.bootstrap(POLICY);

    site = await LocalTestCluster.create({ members: 1, version: OLD_MINOR, namePrefix: "ls" });
    const hubUrls = members.map((m) => `nats-leaf://127.0.0.1:${m.leafnodePort}`);
    site.spec = { ...site.spec, name: "leafsite", hub: { urls: hubUrls } };
    await site.bootstrap(POLICY);

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
    await site?.destroy();
    await hub?.destroy();
  });

  /** The hub members a leaf server is connected to, by the hub's own /leafz. */
  const leafOn = async (name = LEAF): Promise<string[]> => {
    const on: string[] = [];
    for (const m of hub.spec.members) {
      const l = await new MonitorClient(monitorUrl(m), 1000).leafz().catch(() => undefined);
      if (l?.leafs?.some((x) => x.name === name && x.account === "$G")) on.push(m.name);
    }
    return on;
  };

  /** Numbered messages from a requester in the hub to a subscriber `on` a leaf, at least once. */
  const hubToLeaf = async (on: NatsConnection, subject: string) => {
    const requester = await connect(appOptions(hub.spec, `hub-requester-${subject}`));
    ncs.push(requester);
    return atLeastOnce(requester, on, subject, `hub → leaf (${subject})`);
  };

  it("the rendered leafnodes block accepts the leaf on one member; /leafz there names it, bound to $G", async () => {
    for (let i = 0; i < 60 && ((await leafOn()).length === 0 || (await leafOn("ls1")).length === 0); i++)
      await new Promise((r) => setTimeout(r, 250));
    const on = await leafOn();
    console.log(`leaf ${LEAF} connected to ${on.join(", ")}`);
    expect(on).toHaveLength(1);
    const leafSide = await new MonitorClient(`http://127.0.0.1:${leafMonitorPort}`).leafz();
    expect(leafSide.leafs?.map((l) => [l.name, l.is_spoke])).toEqual([[on[0], true]]);
    expect((await new MonitorClient(`http://127.0.0.1:${leafMonitorPort}`).varz()).version).toBe(NEW_MINOR);
    // The engine-rendered leaf cluster: its member is on the hub too (its surge server is not up).
    expect(await leafOn("ls1")).toHaveLength(1);
  }, 30_000);

  it("rolls the leaf cluster first, each of its servers gated on its own connection back to the hub", async () => {
    const subscriber = await connect(appOptions(site.spec, "site-subscriber"));
    ncs.push(subscriber);
    const stop = await hubToLeaf(subscriber, "to.site");
    site.spec = { ...site.spec, version: NEW_MINOR };
    const outcome = await executeRollout(
      site.options(POLICY, { onEvent: (e) => process.stdout.write(formatEvent(e) + "\n") }),
    );
    const traffic = await stop();
    if (outcome.status !== "done") throw new Error(`not done: ${JSON.stringify(outcome, null, 1).slice(0, 3000)}`);
    console.log(`${formatReport(outcome.report)}\n${traffic.summary}`);
    expect(outcome.report.result).toBe("succeeded");
    const restarted = outcome.report.members.filter((m) => m.action === "restart-member");
    expect(restarted.map((m) => m.name)).toEqual(["ls1"]);
    expect(restarted[0].gateTimings?.map((g) => g.gate)).toContain("hub");
    expect(formatReport(outcome.report)).toMatch(/hub \d+\.\ds/);
    // At least once through the leaf cluster's own rollout (its subscriber moved to its surge server and back).
    expect(traffic.acked).toBe(traffic.sent);
    expect(traffic.missing).toEqual([]);
    expect(await leafOn("ls1")).toHaveLength(1);
  }, 180_000);

  it("rolls the hub, each member held until the leaf is back; every message reaches the leaf's subscriber", async () => {
    const subscriber = await connect({
      servers: [`nats://127.0.0.1:${leafClientPort}`],
      name: "leaf-subscriber",
      maxReconnectAttempts: -1,
    });
    ncs.push(subscriber);
    const stop = await hubToLeaf(subscriber, "to.leaf");

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
    const traffic = await stop();
    watching = false;
    await watch;
    if (outcome.status !== "done") throw new Error(`not done: ${JSON.stringify(outcome, null, 1).slice(0, 3000)}`);
    console.log(formatReport(outcome.report));

    const absent = samples.filter((s) => s.on.length === 0);
    console.log(`${traffic.summary}; leaf absent from the hub in ${absent.length} of ${samples.length} samples`);

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
    expect(traffic.acked).toBe(traffic.sent);
    expect(traffic.missing).toEqual([]);
    expect((await leafOn()).length).toBe(1);
    expect((await leafOn("ls1")).length).toBe(1);
    for (const m of hub.spec.members) expect((await new MonitorClient(monitorUrl(m)).varz()).version).toBe(NEW_MINOR);
  }, 300_000);

  it("with a leaf gone, pre-flight refuses the hub's next rollout naming the leaf; nothing is touched", async () => {
    await stopServer(leaf!);
    const pids = hub.spec.members.map((m) => hub.driver.pid(m));
    hub.spec = { ...hub.spec, version: OLD_MINOR };
    // Pre-flight gives a sick member a minute (engine/defaults.ts PREFLIGHT_DEADLINE_MS, for a network just healed);
    // the refusal is the same after 5 s, and the suite is a minute shorter.
    const outcome = await executeRollout(
      hub.options({ ...POLICY, healthyDeadlineSeconds: 5 }, { seams: { pace: { preflightDeadlineMs: 5_000 } } }),
    );
    expect(outcome.status).not.toBe("done");
    if (outcome.status === "refused") console.log(`refused: ${outcome.plan.refusals.join("; ")}`);
    expect(JSON.stringify(outcome)).toMatch(/not connected: leaf1 \(\$G\)/);
    expect(hub.spec.members.map((m) => hub.driver.pid(m))).toEqual(pids);
    for (const m of hub.spec.members) expect((await new MonitorClient(monitorUrl(m)).varz()).version).toBe(NEW_MINOR);
  }, 120_000);
});
