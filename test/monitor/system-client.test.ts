/**
 * Monitoring through the system account (`monitoring: "system-account"`) against real servers: the same decoded
 * facts as the HTTP monitoring port, a restarted server found again under its new server id, a stopped or frozen
 * server and wrong credentials as MonitorErrors within the timeout, then a whole rolling upgrade that never reaches
 * the members' HTTP monitoring: their `http` listener is moved (by a config line the engine does not know) to ports
 * the engine is never told, and the ports the spec names are held by listeners that count every connection.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { NatsConnection } from "@nats-io/nats-core";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { MonitorClient } from "../../engine/monitor/client";
import { MonitorError } from "../../engine/monitor/errors";
import { createMonitor } from "../../engine/monitor/factory";
import { ServerMonitor } from "../../engine/monitor/monitor";
import { SystemAccountMonitor } from "../../engine/monitor/system-client";
import { routePeers } from "../../engine/monitor/types";
import { formatEvent, RolloutEvent } from "../../engine/rollout/events";
import { runRollout } from "../../engine/rollout/execute";
import { raftGroupsOf } from "../../engine/rollout/observe";
import { reconcile } from "../../engine/rollout/reconcile";
import { formatReport } from "../../engine/rollout/report";
import { ClusterSpec, monitorUrl, RolloutPolicy, ServerEndpoint } from "../../engine/spec";
import { connectSystemTo } from "../../engine/nats-client";
import { RolloutContext } from "../../engine/rollout/context";
import { EventLog } from "../../engine/rollout/events";
import { resolvePolicy } from "../../engine/rollout/execute";
import { drain } from "../../engine/rollout/steps";
import { LocalTestCluster } from "../support/local-cluster";
import { freePorts } from "../support/ports";
import { AckedPublisher, appOptions, connect, createR3Stream } from "../support/traffic";
import { NEW_MINOR, OLD_MINOR } from "../support/versions";

const AUTH: ClusterSpec["auth"] = {
  users: [{ user: "app", password: "app-pass" }],
  systemAccount: { user: "sys", password: "sys-pass" },
};
const FAST: Partial<RolloutPolicy> = { minHealthySeconds: 1, pollIntervalMs: 250, healthyDeadlineSeconds: 60 };
const MONITOR_CONNECTION_NAME = "nats-cluster-rollout-monitor";

/** Connections of a server, by name, read over HTTP (`/connz` names each client). */
async function connectionNames(httpBase: string): Promise<string[]> {
  const body = (await (await fetch(`${httpBase}/connz?limit=1024`)).json()) as { connections?: { name?: string }[] };
  return (body.connections ?? []).map((c) => c.name ?? "");
}

describe("SystemAccountMonitor against a 3-member JetStream cluster", () => {
  let cluster: LocalTestCluster;
  let nc: NatsConnection;
  const opened: ServerMonitor[] = [];
  const sys = (server: ServerEndpoint, timeoutMs?: number, spec?: ClusterSpec): SystemAccountMonitor => {
    const m = new SystemAccountMonitor(spec ?? cluster.spec, server, timeoutMs);
    opened.push(m);
    return m;
  };
  const httpOf = (server: ServerEndpoint) => new MonitorClient(monitorUrl(server));

  beforeAll(async () => {
    cluster = await LocalTestCluster.create({
      members: 3,
      version: NEW_MINOR,
      jetstream: true,
      namePrefix: "sm",
      graceSeconds: 5,
      overrides: { auth: AUTH, monitoring: "system-account" },
    });
    // The cluster starts through the engine's gates read over $SYS (monitoring "system-account").
    await cluster.bootstrap(FAST);
    nc = await connect(appOptions(cluster.spec, "sysmon-test", { user: "app", pass: "app-pass" }));
    await createR3Stream(nc, "ORDERS", "orders.>");
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add("ORDERS", { durable_name: "C1", ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc);
    for (let i = 0; i < 5; i++) await js.publish("orders.new", new TextEncoder().encode(`m${i}`));
  });

  afterAll(async () => {
    await Promise.all(opened.map((m) => m.close()));
    await nc?.close().catch(() => undefined);
    await cluster?.destroy();
  });

  it("the factory picks the transport from spec.monitoring", () => {
    const server = cluster.spec.members[0];
    expect(createMonitor(cluster.spec, server)).toBeInstanceOf(SystemAccountMonitor);
    expect(createMonitor({ ...cluster.spec, monitoring: "http" }, server)).toBeInstanceOf(MonitorClient);
    expect(createMonitor({ ...cluster.spec, monitoring: undefined }, server)).toBeInstanceOf(MonitorClient);
    expect(() => createMonitor({ ...cluster.spec, auth: { users: AUTH!.users } }, server)).toThrow(
      /auth\.systemAccount/,
    );
  });

  it("every call returns the same decoded facts through $SYS as through HTTP", async () => {
    let leaderName: string | undefined;
    for (const m of cluster.spec.members) {
      const viaSys = sys(m);
      const viaHttp = httpOf(m);
      // varz first over $SYS: its connection is then open, so the HTTP answers count it too.
      const [sv, hv] = [await viaSys.varz(), await viaHttp.varz()];
      expect(sv.server_name).toBe(m.name);
      expect(sv.version).toBe(NEW_MINOR);
      expect({ id: sv.server_id, name: sv.server_name, version: sv.version, start: sv.start }).toEqual({
        id: hv.server_id,
        name: hv.server_name,
        version: hv.version,
        start: hv.start,
      });
      expect(sv.cluster?.name).toBe(hv.cluster?.name);
      expect(sv.jetstream?.meta?.leader).toBe(hv.jetstream?.meta?.leader);
      expect(sv.max_connections).toBe(hv.max_connections);

      const [sr, hr] = [await viaSys.routez(), await viaHttp.routez()];
      const others = cluster.spec.members.filter((o) => o.name !== m.name).map((o) => o.name);
      expect(routePeers(sr)).toEqual(others.sort());
      expect(routePeers(sr)).toEqual(routePeers(hr));
      expect(sr.num_routes).toBe(hr.num_routes);

      const [sj, hj] = [await viaSys.jsz(), await viaHttp.jsz()];
      expect(sj.server_id).toBe(hj.server_id);
      expect(sj.meta_cluster?.leader).toBe(hj.meta_cluster?.leader);
      expect(sj.meta_cluster?.cluster_size).toBe(3);
      expect((sj.meta_cluster?.replicas ?? []).map((r) => r.name).sort()).toEqual(
        (hj.meta_cluster?.replicas ?? []).map((r) => r.name).sort(),
      );
      leaderName = sj.meta_cluster?.leader;

      // Placement: every account's streams and consumers (`consumer`, singular, in the $SYS request body).
      const [sp, hp] = [await viaSys.jszPlacement(), await viaHttp.jszPlacement()];
      expect(raftGroupsOf(m.name, sp)).toEqual(raftGroupsOf(m.name, hp));
      expect(raftGroupsOf(m.name, sp)).toEqual([
        { kind: "stream", name: "stream ORDERS", peers: ["sm1", "sm2", "sm3"] },
        { kind: "consumer", name: "consumer ORDERS > C1", peers: ["sm1", "sm2", "sm3"] },
      ]);
      // Accounts without streams: the account is listed, its streams are not.
      const sa = await viaSys.jsz({ accounts: true });
      const ha = await viaHttp.jsz({ accounts: true });
      expect((sa.account_details ?? []).map((a) => a.name)).toEqual((ha.account_details ?? []).map((a) => a.name));
      expect((sa.account_details ?? []).every((a) => !a.stream_detail)).toBe(true);

      const [sc, hc] = [await viaSys.connz(), await viaHttp.connz()];
      expect(sc.total).toBe(hc.total);
      expect(sc.total).toBeGreaterThanOrEqual(1); // the monitor's own connection at least
      expect(sc.num_connections).toBe(1); // the page: limit 1

      for (const options of [{ jsServerOnly: true }, { details: true }, {}, { jsEnabledOnly: true }]) {
        const [sh, hh] = [await viaSys.healthz(options), await viaHttp.healthz(options)];
        expect(sh).toEqual({ httpStatus: 200, body: { status: "ok" } });
        expect(sh).toEqual(hh);
      }
    }
    // At the meta leader: every peer current, as the JetStream gate reads it.
    const leader = cluster.spec.members.find((m) => m.name === leaderName)!;
    const meta = (await sys(leader).jsz()).meta_cluster!;
    expect(meta.leader).toBe(leader.name);
    expect((meta.replicas ?? []).map((r) => r.name).sort()).toEqual(
      cluster.spec.members
        .map((m) => m.name)
        .filter((n) => n !== leader.name)
        .sort(),
    );
    expect((meta.replicas ?? []).every((r) => r.current && !r.offline)).toBe(true);
  });

  it("finds a restarted server again under its new server id, and fails fast while it is down", async () => {
    const member = cluster.spec.members[1];
    const monitor = sys(member, 1000);
    const before = await monitor.varz();
    await cluster.driver.kill(member);
    const downStarted = Date.now();
    const down = await monitor.varz().catch((err: unknown) => err);
    expect(down).toBeInstanceOf(MonitorError);
    process.stdout.write(`killed: ${(down as Error).message} after ${Date.now() - downStarted} ms\n`);
    expect((down as MonitorError).message).toMatch(
      /\$SYS VARZ: (unreachable \(CONNECTION_REFUSED\)|the connection closed)/,
    );
    expect(Date.now() - downStarted).toBeLessThan(1500);
    await cluster.driver.start(member);
    let after: Awaited<ReturnType<SystemAccountMonitor["varz"]>> | undefined;
    for (let i = 0; i < 100 && !after; i++) {
      after = await monitor.varz().catch(() => undefined);
      if (!after) await new Promise((r) => setTimeout(r, 100));
    }
    expect(after).toBeDefined();
    expect(after!.server_name).toBe(member.name);
    expect(after!.server_id).not.toBe(before.server_id);
    expect(Date.parse(after!.start)).toBeGreaterThan(Date.parse(before.start));
    expect((await httpOf(member).varz()).server_id).toBe(after!.server_id);
    // Back in the cluster before the next test: ready, routed, JetStream current.
    for (let i = 0; i < 150; i++) {
      const health = await monitor.healthz({ details: true }).catch(() => undefined);
      if (health?.httpStatus === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await monitor.healthz({ details: true })).httpStatus).toBe(200);
  });

  it("a stopped server, a frozen one and a port that never speaks NATS are MonitorErrors within the timeout", async () => {
    const timeoutMs = 1000;
    const stoppedMember = cluster.spec.members[2];
    const stopped = sys(stoppedMember, timeoutMs);
    await stopped.varz();
    // Frozen (SIGSTOP): the open connection's request, then a new connection's handshake, time out.
    const pid = cluster.driver.pid(stoppedMember)!;
    process.kill(pid, "SIGSTOP");
    try {
      // kill() returns once the signal is queued; under load the server's threads may still run a moment. Ask only
      // once the kernel reports the whole process stopped (state T).
      await untilStopped(pid);
      let started = Date.now();
      const err1 = await stopped.routez().catch((e: unknown) => e);
      const took1 = Date.now() - started;
      started = Date.now();
      const err2 = await stopped.healthz().catch((e: unknown) => e);
      const took2 = Date.now() - started;
      expect(err1).toBeInstanceOf(MonitorError);
      expect((err1 as Error).message).toBe(
        `nats://127.0.0.1:${stoppedMember.clientPort} $SYS ROUTEZ: no answer within 1000 ms`,
      );
      expect(took1).toBeGreaterThanOrEqual(timeoutMs - 50);
      expect(took1).toBeLessThan(timeoutMs + 1000);
      expect(err2).toBeInstanceOf(MonitorError);
      expect((err2 as Error).message).toMatch(/\$SYS HEALTHZ: no answer within 1000 ms/);
      expect(took2).toBeLessThan(timeoutMs + 1000);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    // Thawed: it answers again on a fresh connection.
    let back = false;
    for (let i = 0; i < 50 && !back; i++) {
      back = (await stopped.varz().catch(() => undefined)) !== undefined;
      if (!back) await new Promise((r) => setTimeout(r, 100));
    }
    expect(back).toBe(true);

    // Nothing listens: refused at once.
    const [freePort] = await freePorts(1);
    const nowhere: ServerEndpoint = { ...stoppedMember, name: "nowhere", clientPort: freePort };
    let started = Date.now();
    const refused = await sys(nowhere, timeoutMs)
      .varz()
      .catch((e: unknown) => e);
    expect((refused as Error).message).toBe(`nats://127.0.0.1:${freePort} $SYS VARZ: unreachable (CONNECTION_REFUSED)`);
    expect(Date.now() - started).toBeLessThan(timeoutMs);

    // A port that accepts and never sends INFO (a hung server, a proxy): the handshake's timeout. nats.js (2.29)
    // leaves such a socket open after its connect timeout (its transport's close() returns early for a connection
    // that never completed): the peer's close frees it, as nats-server's auth timeout does for a thawed server.
    const accepted: net.Socket[] = [];
    const silent = net.createServer((socket) => accepted.push(socket));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      started = Date.now();
      const hung = await sys({ ...stoppedMember, name: "silent", clientPort: port }, timeoutMs)
        .varz()
        .catch((e: unknown) => e);
      const took = Date.now() - started;
      process.stdout.write(`silent port: ${(hung as Error).message} after ${took} ms\n`);
      expect(hung).toBeInstanceOf(MonitorError);
      expect((hung as Error).message).toBe(`nats://127.0.0.1:${port} $SYS VARZ: no answer within 1000 ms (connecting)`);
      expect(took).toBeLessThan(timeoutMs + 1000);
    } finally {
      accepted.forEach((s) => s.destroy());
      await new Promise((r) => silent.close(r));
    }

    // A monitor used after close() does not open a connection again.
    const closed = sys(cluster.spec.members[0]);
    await closed.varz();
    await closed.close();
    await expect(closed.varz()).rejects.toThrow(/the monitor was closed/);
  });

  it("wrong system-account credentials give a clear error that quotes no secret", async () => {
    const wrong: ClusterSpec = {
      ...cluster.spec,
      auth: { ...AUTH, systemAccount: { user: "sys", password: "nope-x" } },
    };
    const err = await sys(cluster.spec.members[0], 2000, wrong)
      .varz()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MonitorError);
    const message = (err as Error).message;
    process.stdout.write(`wrong credentials: ${message}\n`);
    expect(message).toMatch(
      /\$SYS VARZ: the system-account credentials were refused \(.*\): check auth\.systemAccount/,
    );
    expect(message).not.toContain("nope-x");
    // The app user is not in the system account: it authenticates, and nothing in its account answers $SYS.
    const app: ClusterSpec = {
      ...cluster.spec,
      auth: { ...AUTH, systemAccount: { user: "app", password: "app-pass" } },
    };
    const notSys = await sys(cluster.spec.members[0], 2000, app)
      .varz()
      .catch((e: unknown) => e);
    process.stdout.write(`not a system-account user: ${(notSys as Error).message}\n`);
    expect((notSys as Error).message).toMatch(/\$SYS VARZ: (no responder|.*[Pp]ermission)/);
  });

  it("the drain lets go of the monitor's connection before the lame duck: a server without clients exits at once", async () => {
    await Promise.all(opened.splice(0).map((m) => m.close()));
    // A member no client of this test is connected to (the app connection is on one of them).
    // Closed on our side does not mean seen closed by the server yet (under load it can take a moment): look again.
    let totals: number[] = [];
    for (let i = 0; i < 50; i++) {
      totals = await Promise.all(cluster.spec.members.map(async (m) => (await httpOf(m).connz()).total));
      if (totals.includes(0)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const member = cluster.spec.members[totals.indexOf(0)];
    expect(member).toBeDefined();
    const ctx = new RolloutContext({
      spec: cluster.spec,
      driver: cluster.driver,
      policy: resolvePolicy(FAST),
      log: new EventLog(),
      listenHost: "127.0.0.1",
    });
    const waitHealthy = async () => {
      for (let i = 0; i < 150; i++) {
        if (
          (
            await httpOf(member)
              .healthz()
              .catch(() => undefined)
          )?.httpStatus === 200
        )
          return;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`${member.name} did not become healthy`);
    };
    try {
      await ctx.monitor(member).varz();
      expect((await httpOf(member).connz()).total).toBe(1); // the engine's monitoring connection
      const drainMs = await drain(ctx, "restart-member", member);
      process.stdout.write(`drain of ${member.name} with the engine's monitor disconnected first: ${drainMs} ms\n`);
      expect(drainMs).toBeLessThan(4000); // the grace period is 5 s: nothing held it

      // The control: the same server with one system-account connection left open waits out its grace period.
      await cluster.driver.start(member);
      await waitHealthy();
      const held = await connectSystemTo(cluster.spec, member);
      try {
        const started = Date.now();
        await cluster.driver.signalLameDuck(member);
        expect(await cluster.driver.waitForExit(member, 60_000)).toBe(true);
        const heldMs = Date.now() - started;
        process.stdout.write(`drain of ${member.name} with one connection left open: ${heldMs} ms\n`);
        expect(heldMs).toBeGreaterThanOrEqual(5000);
      } finally {
        await held.close().catch(() => undefined);
      }
    } finally {
      await ctx.close();
      if (!(await cluster.driver.isRunning(member))) await cluster.driver.start(member);
      await waitHealthy();
    }
  });

  it("an unhealthy server's HEALTHZ maps to the status and errors HTTP answers with (503)", async () => {
    // Two members down: the third's replicas (and soon its meta group) lose their quorum and it says so (HTTP 503,
    // HEALTHZ status_code 503), the same errors either way.
    const [a, b, c] = cluster.spec.members;
    await cluster.driver.kill(b);
    await cluster.driver.kill(c);
    try {
      const viaSys = sys(a, 2000);
      let seen: { sys: unknown; http: unknown } | undefined;
      for (let i = 0; i < 150 && !seen; i++) {
        const sh = await viaSys.healthz({ details: true }).catch(() => undefined);
        const hh = await httpOf(a)
          .healthz({ details: true })
          .catch(() => undefined);
        if (sh && hh && sh.httpStatus !== 200 && hh.httpStatus !== 200) seen = { sys: sh, http: hh };
        else await new Promise((r) => setTimeout(r, 200));
      }
      process.stdout.write(`unhealthy: ${JSON.stringify(seen)}\n`);
      expect(seen).toBeDefined();
      expect(seen!.sys).toEqual(seen!.http);
      expect((seen!.sys as { httpStatus: number }).httpStatus).toBe(503);
    } finally {
      await cluster.driver.start(b);
      await cluster.driver.start(c);
    }
  });
});

/** An HTTP listener on a port the spec names as a server's monitoring port: counts every connection and request. */
class Tripwire {
  connections = 0;
  requests: string[] = [];
  private readonly server = http.createServer((req, res) => {
    this.requests.push(req.url ?? "");
    res.writeHead(500).end("tripwire: the engine must not read HTTP monitoring");
  });
  constructor() {
    this.server.on("connection", () => this.connections++);
  }
  listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ port, host: "127.0.0.1", exclusive: true }, () => resolve());
    });
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe('a rolling upgrade with monitoring "system-account" and no reachable HTTP monitoring', () => {
  let cluster: LocalTestCluster;
  let nc: NatsConnection;
  /** Where each server's HTTP monitoring really listens (the test's own checks only). */
  const hiddenHttp = new Map<string, number>();
  const tripwires: Tripwire[] = [];

  beforeAll(async () => {
    const hidden = await freePorts(4);
    cluster = await LocalTestCluster.create({
      members: 3,
      version: OLD_MINOR,
      jetstream: true,
      namePrefix: "smu",
      graceSeconds: 2,
      overrides: { auth: AUTH, monitoring: "system-account" },
      // nats-server takes the last `http` of a config file: this one, which the engine never renders nor reads back.
      configSuffix: (server) => {
        const i = ["smu1", "smu2", "smu3", "smu-surge"].indexOf(server.name);
        hiddenHttp.set(server.name, hidden[i]);
        return `\nhttp: "127.0.0.1:${hidden[i]}"\n`;
      },
    });
    await cluster.bootstrap(FAST);
    // From now on every port the spec names as monitoring is a tripwire (bootstrap needed them free).
    for (const s of [...cluster.spec.members, cluster.spec.surge]) {
      const t = new Tripwire();
      await t.listen(s.monitorPort);
      tripwires.push(t);
    }
    nc = await connect(appOptions(cluster.spec, "sysmon-publisher", { user: "app", pass: "app-pass" }));
    await createR3Stream(nc, "ORDERS", "orders.>");
  });

  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    await Promise.all(tripwires.map((t) => t.close()));
    await cluster?.destroy();
  });

  it("the servers' HTTP monitoring is where the engine is not told, and the bootstrap used none", async () => {
    for (const m of cluster.spec.members) {
      const hidden = new MonitorClient(`http://127.0.0.1:${hiddenHttp.get(m.name)}`);
      expect((await hidden.varz()).server_name).toBe(m.name);
      expect((await hidden.varz()).version).toBe(OLD_MINOR);
      // The config the engine reads back is exactly what it rendered (the hidden line is the test's).
      expect(await cluster.driver.readConfig(m)).not.toContain(String(hiddenHttp.get(m.name)));
      expect(await cluster.driver.readConfig(m)).toContain(`http: "127.0.0.1:${m.monitorPort}"`);
    }
  });

  it(`upgrades ${OLD_MINOR} → ${NEW_MINOR} through reconcile, reading every server only over $SYS`, async () => {
    const events: RolloutEvent[] = [];
    const publisher = new AckedPublisher(nc, "orders.new");
    publisher.start();
    cluster.spec = { ...cluster.spec, version: NEW_MINOR };
    let outcome;
    try {
      outcome = await reconcile({
        ...cluster.options(FAST),
        onEvent: (e) => {
          events.push(e);
          process.stdout.write(formatEvent(e) + "\n");
        },
      });
    } finally {
      await publisher.stop();
    }
    expect(outcome.status).toBe("done");
    if (outcome.status !== "done") return;
    process.stdout.write(formatReport(outcome.report) + "\n");
    // What request/reply clients felt: the rollout's own watch (a pair homed on each member).
    const felt = outcome.report.clientImpact!;
    process.stdout.write(
      `request/reply: ${felt.requests} requests, ${felt.failures} failed, max gap ${felt.maxGapMs} ms; ` +
        `acked ${publisher.acked.size}, publish failures ${publisher.failures}\n`,
    );
    expect(outcome.report.result).toBe("succeeded");
    expect(outcome.report.members.map((m) => m.result)).toEqual(["done", "done", "done"]);
    expect(outcome.report.surge?.removed).toBe(true);
    expect(outcome.seen.versions).toEqual({ smu1: NEW_MINOR, smu2: NEW_MINOR, smu3: NEW_MINOR });
    // The gates quoted what $SYS answered (the JetStream gate's meta line, a member's drain).
    expect(events.some((e) => e.kind === "gate-pass" && /all current/.test(e.message))).toBe(true);
    // Not one connection to any port the spec names as monitoring, during bootstrap, the rollout or after.
    expect(tripwires.map((t) => t.requests)).toEqual([[], [], [], []]);
    expect(tripwires.map((t) => t.connections)).toEqual([0, 0, 0, 0]);
    // No acked message lost.
    expect(await publisher.lostMessages(nc, "ORDERS")).toEqual([]);
    expect(publisher.acked.size).toBeGreaterThan(20);
    // Every monitoring connection of the engine was closed when reconcile returned.
    for (const m of cluster.spec.members) {
      const names = await connectionNames(`http://127.0.0.1:${hiddenHttp.get(m.name)}`);
      expect(names.filter((n) => n === MONITOR_CONNECTION_NAME)).toEqual([]);
      expect((await new MonitorClient(`http://127.0.0.1:${hiddenHttp.get(m.name)}`).varz()).version).toBe(NEW_MINOR);
    }
    // The lame ducks were not held up by the engine's own connection: a member's drain is its clients' (the
    // request/reply and publisher clients), measured below the lame duck's grace period plus a second per client.
    for (const m of outcome.report.members)
      process.stdout.write(`${m.name}: drain ${m.drainMs} ms, down ${m.downMs} ms\n`);
  });

  it("a second run with nothing to change does nothing, still without HTTP", async () => {
    const report = await runRollout(cluster.options(FAST));
    expect(report.result).toBe("no-change");
    expect(tripwires.map((t) => t.connections)).toEqual([0, 0, 0, 0]);
  });
});

/** Resolves when /proc says the process is stopped (state T), or after 5 s (the assertions then say what happened). */
async function untilStopped(pid: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("T")) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
