/**
 * Two clusters joined by gateways (a supercluster of two, each cluster its own spec as with one stack per cluster),
 * on real nats-server processes: the `gateway {}` block the engine renders joins them (`/gatewayz`: every server
 * has its outbound gateway to the other cluster, by name; each cluster receives inbound ones), a rollout of one
 * cluster gates each member on its gateways to the other while a requester in one cluster asks a responder in the
 * other, and with the other cluster gone pre-flight refuses, naming the missing gateway, before anything is touched.
 * The crossing requests that fail are not asserted to be none (they cannot be: README, "Superclusters and leaf
 * nodes"), but each must be explained by what the test watched: the responder's west server had no outbound gateway
 * into east (the east server holding it had exited; nats-server reconnects it after a fixed second), or the requester
 * was being moved off its server by a lame duck.
 */
import { NatsConnection } from "@nats-io/nats-core";
import { MonitorClient } from "../../engine/monitor/client";
import { formatEvent } from "../../engine/rollout/events";
import { executeRollout } from "../../engine/rollout/execute";
import { formatReport } from "../../engine/rollout/report";
import { ClusterSpec, monitorUrl, RolloutPolicy } from "../../engine/spec";
import { gatewaysGateOf } from "../support/gateways";
import { LocalTestCluster } from "../support/local-cluster";
import { freePorts } from "../support/ports";
import { appOptions, connect } from "../support/traffic";
import { NEW_MINOR, OLD_MINOR } from "../support/versions";

const POLICY: Partial<RolloutPolicy> = { minHealthySeconds: 1, pollIntervalMs: 250, healthyDeadlineSeconds: 30 };
/** How long a crossing request waits for its reply. */
const REQUEST_TIMEOUT_MS = 2000;

/** Gateway ports for each server of `spec`, and its gateway URLs (members only) for the other cluster. */
async function withGatewayPorts(spec: ClusterSpec): Promise<{ spec: ClusterSpec; urls: string[] }> {
  const ports = await freePorts(spec.members.length + 1);
  const members = spec.members.map((m, i) => ({ ...m, gatewayPort: ports[i] }));
  const surge = { ...spec.surge, gatewayPort: ports[spec.members.length] };
  return { spec: { ...spec, members, surge }, urls: members.map((m) => `nats://127.0.0.1:${m.gatewayPort}`) };
}

describe("two clusters joined by gateways", () => {
  let east: LocalTestCluster;
  let west: LocalTestCluster;
  const ncs: NatsConnection[] = [];

  beforeAll(async () => {
    east = await LocalTestCluster.create({ members: 2, version: OLD_MINOR, namePrefix: "ea" });
    west = await LocalTestCluster.create({ members: 2, version: NEW_MINOR, namePrefix: "we" });
    const e = await withGatewayPorts({ ...east.spec, name: "east" });
    const w = await withGatewayPorts({ ...west.spec, name: "west" });
    east.spec = { ...e.spec, gateways: { remotes: [{ name: "west", urls: w.urls }] } };
    west.spec = { ...w.spec, gateways: { remotes: [{ name: "east", urls: e.urls }] } };
    // Each cluster's first start does not wait for the other's gateways: started one after the other.
    await east.bootstrap(POLICY);
    await west.bootstrap(POLICY);
  }, 120_000);

  afterAll(async () => {
    for (const nc of ncs) await nc.close().catch(() => undefined);
    await east?.destroy();
    await west?.destroy();
  });

  const gateOf = gatewaysGateOf;

  it("the rendered gateway blocks join the clusters: every member has its gateway out; each cluster has some in", async () => {
    for (let i = 0; i < 40; i++) {
      const seen = [...(await gateOf(east, "west")), ...(await gateOf(west, "east"))];
      if (seen.every((s) => s.ok)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const eastSeen = await gateOf(east, "west");
    console.log(eastSeen.map((s) => s.observation).join("\n"));
    expect(eastSeen.every((s) => s.ok)).toBe(true);
    for (const s of eastSeen) expect(s.observation).toMatch(/^\/gatewayz east: out \[west\], in \[(west)?\]$/);
    expect((await gateOf(west, "east")).every((s) => s.ok)).toBe(true);
    // Each cluster as a whole receives the other's outbound connections (each server of the other makes one).
    const inboundOf = async (c: LocalTestCluster, remote: string) => {
      let n = 0;
      for (const m of c.spec.members)
        n += (await new MonitorClient(monitorUrl(m)).gatewayz()).inbound_gateways?.[remote]?.length ?? 0;
      return n;
    };
    expect(await inboundOf(east, "west")).toBeGreaterThanOrEqual(west.spec.members.length);
    expect(await inboundOf(west, "east")).toBeGreaterThanOrEqual(east.spec.members.length);
  }, 30_000);

  it("rolls east to the new version, each member gated on its gateways, while east asks west across them", async () => {
    // A responder in west, a requester in east: every reply crosses a gateway.
    const responder = await connect(appOptions(west.spec, "west-responder"));
    const requester = await connect(appOptions(east.spec, "east-requester"));
    ncs.push(responder, requester);
    const sub = responder.subscribe("across.>");
    void (async () => {
      for await (const m of sub) m.respond(m.data);
    })();
    await responder.flush();
    // West told east "no interest in $G" (A-) while it had no subscriber there (the gates' client probes crossed to it
    // at bootstrap); the A+ that undoes it when the responder subscribes crosses asynchronously, and until it has,
    // east answers "no responders" (503; seen on the first request). Start once a request has crossed.
    for (let i = 0; i < 50; i++) {
      const ok = await requester.request("across.ping", new Uint8Array(0), { timeout: 500 }).then(
        () => true,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    let asked = 0;
    /** A failed request: when it was sent, through which east server, and where the responder was. */
    const failures: Array<{ at: number; via?: string; responderOn?: string; error: string }> = [];
    let running = true;
    const t0 = Date.now();
    const secs = (ms: number) => `${((ms - t0) / 1000).toFixed(2)}s`;
    const loop = (async () => {
      while (running) {
        asked++;
        const sent = { at: Date.now(), via: requester.info?.server_name, responderOn: responder.info?.server_name };
        await requester
          .request("across.ping", new Uint8Array(0), { timeout: REQUEST_TIMEOUT_MS })
          .catch((err: Error) => failures.push({ ...sent, error: err.message }));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    // When the requester was off its server (moved by a lame duck): from its disconnect to its reconnect.
    const moving: Array<{ from: number; to: number }> = [];
    void (async () => {
      let since: number | undefined;
      for await (const st of requester.status()) {
        if (st.type === "disconnect") since = Date.now();
        if (st.type === "reconnect" && since !== undefined) {
          moving.push({ from: since, to: Date.now() });
          since = undefined;
        }
      }
    })();
    // Where each west server's one outbound gateway into east lands, as it changes: west's only way back to east
    // (replies and west's interest cross on it), cut while the east server holding it is gone.
    const wayBack: string[] = [];
    const cuts: Array<{ server: string; from: number; to: number }> = [];
    let watching = true;
    const watch = (async () => {
      const last = new Map<string, string>();
      const cutSince = new Map<string, number>();
      while (watching) {
        const names = new Map<string, string>();
        for (const m of [...east.spec.members, east.spec.surge]) {
          const v = await new MonitorClient(monitorUrl(m), 500).varz().catch(() => undefined);
          if (v) names.set(v.server_id, m.name);
        }
        for (const m of [...west.spec.members, west.spec.surge]) {
          const g = await new MonitorClient(monitorUrl(m), 500).gatewayz().catch(() => undefined);
          if (!g) continue;
          const id = g.outbound_gateways?.east?.connection?.name;
          const on = id ? (names.get(id) ?? id.slice(0, 8)) : "none";
          if (last.has(m.name) && last.get(m.name) !== on)
            wayBack.push(`${secs(Date.now())} ${m.name} → east on ${on}`);
          last.set(m.name, on);
          if (on === "none" && !cutSince.has(m.name)) cutSince.set(m.name, Date.now());
          if (on !== "none" && cutSince.has(m.name)) {
            cuts.push({ server: m.name, from: cutSince.get(m.name)!, to: Date.now() });
            cutSince.delete(m.name);
          }
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const [server, from] of cutSince) cuts.push({ server, from, to: Infinity });
    })();

    east.spec = { ...east.spec, version: NEW_MINOR };
    const outcome = await executeRollout(
      east.options(POLICY, { onEvent: (e) => process.stdout.write(formatEvent(e) + "\n") }),
    );
    running = false;
    await loop;
    watching = false;
    await watch;
    if (outcome.status !== "done") throw new Error(`not done: ${JSON.stringify(outcome, null, 1).slice(0, 3000)}`);
    console.log(formatReport(outcome.report));
    // Each failure is explained by what was watched, or it is something else (what the first slice guessed: interest
    // not yet across after a restart) and fails the test: the responder's server had no way back to east while the
    // request was outstanding, or the requester was being moved off its server.
    const overlaps = (a: { from: number; to: number }, at: number) => a.from <= at + REQUEST_TIMEOUT_MS && a.to >= at;
    const why = (f: (typeof failures)[number]) => {
      const cut = cuts.find((c) => c.server === f.responderOn && overlaps(c, f.at));
      if (cut) return `${cut.server} had no way back to east ${secs(cut.from)} → ${secs(cut.to)}`;
      const move = moving.find((m) => overlaps(m, f.at));
      if (move || f.via === undefined)
        return `the requester was being moved${move ? ` ${secs(move.from)} → ${secs(move.to)}` : ""}`;
      return undefined;
    };
    console.log(
      `east → west requests across the gateway: ${asked}, failed ${failures.length}\n` +
        failures
          .map(
            (f) =>
              `  sent ${secs(f.at)} via ${f.via} (responder on ${f.responderOn}): ${f.error}; ${why(f) ?? "UNEXPLAINED"}`,
          )
          .join("\n") +
        `\nwest's way back to east changed:\n${wayBack.map((w) => `  ${w}`).join("\n")}`,
    );
    expect(failures.filter((f) => why(f) === undefined)).toEqual([]);
    expect(outcome.report.result).toBe("succeeded");
    const restarted = outcome.report.members.filter((m) => m.action === "restart-member");
    expect(restarted.map((m) => m.name).sort()).toEqual(["ea1", "ea2"]);
    for (const m of restarted) expect(m.gateTimings?.map((g) => g.gate)).toContain("gateways");
    for (const m of east.spec.members) expect((await new MonitorClient(monitorUrl(m)).varz()).version).toBe(NEW_MINOR);
    expect(asked).toBeGreaterThan(0);
    // What crossing clusters felt is quoted above; the gate is what holds each member until its gateways are back.
    expect((await gateOf(east, "west")).every((s) => s.ok)).toBe(true);
  }, 240_000);

  it("with west gone, pre-flight refuses east's next rollout naming the missing gateway; nothing is touched", async () => {
    const pids = east.spec.members.map((m) => east.driver.pid(m));
    for (const m of west.spec.members) await west.driver.kill(m);
    east.spec = { ...east.spec, version: OLD_MINOR };
    // Pre-flight gives a sick member a minute (engine/defaults.ts PREFLIGHT_DEADLINE_MS, for a network just healed);
    // the refusal is the same after 5 s, and the suite is a minute shorter.
    const outcome = await executeRollout(
      east.options({ ...POLICY, healthyDeadlineSeconds: 5 }, { seams: { pace: { preflightDeadlineMs: 5_000 } } }),
    );
    expect(outcome.status).not.toBe("done");
    const text = JSON.stringify(outcome);
    if (outcome.status === "refused") console.log(`refused: ${outcome.plan.refusals.join("; ")}`);
    expect(text).toMatch(/no outbound gateway to west/);
    expect(east.spec.members.map((m) => east.driver.pid(m))).toEqual(pids);
    for (const m of east.spec.members) expect((await new MonitorClient(monitorUrl(m)).varz()).version).toBe(NEW_MINOR);
  }, 120_000);
});
