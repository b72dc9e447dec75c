/**
 * Secure by default, on real servers: TLS material delivered by the engine (`tls.pem`), mutual route TLS with the
 * cluster's CA as the only trust, TLS-only clients with passwords. A server without the cluster's certificate cannot
 * join and hears nothing; plaintext and credential-less clients are refused; a new certificate is a rolling reload
 * (same pids); and a running plaintext cluster gets route TLS, then client TLS, without a split mesh or a lost
 * acknowledged message. Certificates come from openssl (test/support/certificates.ts), not from the engine.
 */
import { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { NatsConnection } from "@nats-io/nats-core";
import { NodeConnectionOptions } from "@nats-io/transport-node";
import { MonitorClient } from "../../engine/monitor/client";
import { routePeers } from "../../engine/monitor/types";
import { formatEvent } from "../../engine/rollout/events";
import { previewRollout, runRollout } from "../../engine/rollout/execute";
import { formatPlan } from "../../engine/rollout/plan";
import { formatReport, RolloutReport } from "../../engine/rollout/report";
import { clientUrl, ClusterSpec, monitorUrl, RolloutPolicy, TlsPem } from "../../engine/spec";
import { certificateFacts, servedCertificate } from "../../engine/tls/inspect";
import { makeTestCa, TestCa } from "../support/certificates";
import { LocalTestCluster } from "../support/local-cluster";
import { startServer, stopServer } from "../support/nats-process";
import { freePorts } from "../support/ports";
import { AckedPublisher, appOptions, connect, createR3Stream } from "../support/traffic";
import { NEW_MINOR } from "../support/versions";
import { routeTlsChangeSteps } from "../support/plans";

const FAST: Partial<RolloutPolicy> = { minHealthySeconds: 2, pollIntervalMs: 250, healthyDeadlineSeconds: 60 };
const APP = { user: "app", password: "app-pw-$ecret" };
const AUTH = { users: [APP], systemAccount: { user: "sys", password: "sys-pw-$ecret" } };

/** A client of the cluster the way an application connects: every member, TLS with the CA, the app's password. */
function secureOptions(spec: ClusterSpec, name: string, caPem: string): NodeConnectionOptions {
  return appOptions(spec, name, { tls: { ca: caPem }, user: APP.user, pass: APP.password });
}

/** What connecting once gives: "connected" or the error's text. */
async function tryConnect(opts: NodeConnectionOptions): Promise<string> {
  try {
    const nc = await connect({ ...opts, reconnect: false, timeout: 3000, maxReconnectAttempts: 0 });
    await nc.close();
    return "connected";
  } catch (err) {
    return String(err);
  }
}

/**
 * A client that speaks plaintext whatever the server's INFO says (nats.js would upgrade on its own): sends CONNECT
 * with the right password and a PING, and returns what the server answered.
 */
function plaintextConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let seen = "";
    const done = () => {
      socket.destroy();
      resolve(seen);
    };
    const timer = setTimeout(done, 3000);
    socket.on("data", (chunk) => {
      seen += chunk.toString();
      if (seen.startsWith("INFO") && !seen.includes("CONNECT-SENT")) {
        socket.write(`CONNECT {"user":"${APP.user}","pass":"${APP.password}","verbose":false}\r\nPING\r\n`);
        seen += "CONNECT-SENT\n";
      }
      if (/-ERR|PONG/.test(seen)) {
        clearTimeout(timer);
        done();
      }
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(seen);
    });
    socket.on("error", () => undefined);
  });
}

async function pidsOf(cluster: LocalTestCluster): Promise<Array<number | undefined>> {
  return cluster.spec.members.map((m) => cluster.driver.pid(m));
}

async function roll(cluster: LocalTestCluster, spec: ClusterSpec): Promise<RolloutReport> {
  cluster.spec = spec;
  const report = await runRollout({
    ...cluster.options(FAST),
    onEvent: (e) => process.stdout.write(`${formatEvent(e)}\n`),
  });
  process.stdout.write(`${formatReport(report)}\n`);
  return report;
}

describe("a secure cluster: TLS material delivered by the engine, routes authenticated by certificate", () => {
  let cluster: LocalTestCluster;
  let ca: TestCa;
  let pem: TlsPem;
  let nc: NatsConnection;
  const rogues: ChildProcess[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nats-secure-"));

  beforeAll(async () => {
    ca = makeTestCa("secure-ca");
    pem = ca.issue();
    cluster = await LocalTestCluster.create({
      members: 3,
      version: NEW_MINOR,
      jetstream: true,
      namePrefix: "sec",
      overrides: { auth: AUTH, tls: { pem } },
    });
    await cluster.bootstrap(FAST);
    nc = await connect(secureOptions(cluster.spec, "secure-app", pem.caPem));
    await createR3Stream(nc, "CARDS", "cards.>");
  });
  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    for (const r of rogues) await stopServer(r);
    await cluster?.destroy();
    ca?.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("delivers the material as files of mode 0600 beside the config, and the config refers to them", async () => {
    const member = cluster.spec.members[0];
    const dir = path.join(cluster.stateDir, member.name, "tls");
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    for (const name of fs.readdirSync(dir)) expect(fs.statSync(path.join(dir, name)).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(path.join(dir, "server-key.pem"), "utf8")).toBe(pem.keyPem);
    const config = (await cluster.driver.readConfig(member))!;
    expect(config).toContain(`cert_file: "${dir}/server-cert.pem"`);
    expect(config).not.toContain("PRIVATE KEY");
    expect(config).toMatch(/cluster \{[\s\S]*tls \{[\s\S]*verify: true/);
  });

  for (const variant of ["no TLS", "a certificate of another CA"] as const) {
    it(`a server with the cluster's name and ${variant} cannot join, and hears nothing`, async () => {
      const [client, cport, mport] = await freePorts(3);
      const member = cluster.spec.members[0];
      let tlsBlock = "";
      let other: TestCa | undefined;
      if (variant !== "no TLS") {
        other = makeTestCa("rogue-ca");
        const rogue = other.issue();
        for (const [n, text] of Object.entries({ cert: rogue.certPem, key: rogue.keyPem, ca: rogue.caPem })) {
          fs.writeFileSync(path.join(tmp, `rogue-${n}.pem`), text, { mode: 0o600 });
        }
        const at = (n: string) => JSON.stringify(path.join(tmp, `rogue-${n}.pem`));
        tlsBlock = `tls { cert_file: ${at("cert")}, key_file: ${at("key")}, ca_file: ${at("ca")}, verify: true }`;
        other.dispose();
      }
      const file = path.join(tmp, `rogue-${client}.conf`);
      fs.writeFileSync(
        file,
        [
          'server_name: "rogue"',
          `listen: "127.0.0.1:${client}"`,
          `http: "127.0.0.1:${mport}"`,
          `cluster { name: "${cluster.spec.name}", listen: "127.0.0.1:${cport}", routes: ["nats://127.0.0.1:${member.clusterPort}"]${tlsBlock ? `, ${tlsBlock}` : ""} }`,
        ].join("\n"),
      );
      const rogue = await startServer(NEW_MINOR, file);
      rogues.push(rogue);
      let rogueLog = "";
      rogue.stdout?.on("data", (c: Buffer) => (rogueLog += c.toString()));
      rogue.stderr?.on("data", (c: Buffer) => (rogueLog += c.toString()));

      const eavesdropper = await connect({ servers: `nats://127.0.0.1:${client}`, reconnect: false });
      let heard = 0;
      eavesdropper.subscribe("cards.>", { callback: () => void heard++ });
      await eavesdropper.flush();
      const monitors = cluster.spec.members.map((m) => new MonitorClient(monitorUrl(m)));
      const seenPeers = new Set<string>();
      for (let i = 0; i < 15; i++) {
        nc.publish("cards.visa", new TextEncoder().encode('{"card":"4111-1111"}'));
        for (const m of monitors) routePeers(await m.routez()).forEach((p) => seenPeers.add(p));
        await new Promise((r) => setTimeout(r, 200));
      }
      await eavesdropper.close();
      await stopServer(rogue);
      expect(heard).toBe(0);
      expect([...seenPeers]).not.toContain("rogue");
      // The positive side: the members do route to each other, so "no rogue" is not "no routes at all".
      expect([...seenPeers].sort()).toEqual(cluster.spec.members.map((m) => m.name).sort());
      // And the member it knocked on says why, in its own log (the rogue itself only sees the connection closed).
      expect(await cluster.driver.readLog(member, 200)).toMatch(/TLS handshake error|tls: /);
      expect(rogueLog).toMatch(/Router connection closed|Error|error/);
    });
  }

  it("refuses a plaintext client and a TLS client without credentials; accepts TLS with them", async () => {
    const member = cluster.spec.members[1];
    const url = clientUrl(member);
    // The server announces TLS as required and never answers a plaintext CONNECT (no PONG: it waits for a handshake).
    const plain = await plaintextConnect(member.clientPort);
    expect(plain).toContain('"tls_required":true');
    expect(plain).not.toMatch(/PONG/);
    expect(await tryConnect({ servers: url, tls: { ca: pem.caPem } })).toMatch(/Authorization|AUTHORIZATION/);
    expect(await tryConnect({ servers: url, tls: { ca: pem.caPem }, user: APP.user, pass: APP.password })).toBe(
      "connected",
    );
  });

  it("rotates the certificate by a rolling reload: same pids, the new certificate loaded, nothing lost", async () => {
    const next = ca.issue({ days: 45 });
    const spec = { ...cluster.spec, tls: { pem: next } };
    const { plan } = await previewRollout({ ...cluster.options(FAST), spec });
    process.stdout.write(`${formatPlan(plan)}\n`);
    expect(plan.steps.filter((s) => s.server !== undefined).map((s) => s.kind)).toEqual(Array(3).fill("reload-member"));
    const before = await pidsOf(cluster);
    const publisher = new AckedPublisher(nc, "cards.rotation");
    publisher.start();
    const report = await roll(cluster, spec);
    await publisher.stop();
    expect(report.result).toBe("succeeded");
    expect(await pidsOf(cluster)).toEqual(before);
    expect(report.members.every((m) => m.gateTimings?.some((g) => g.gate === "tls"))).toBe(true);
    const notAfter = new Date(new (await import("node:crypto")).X509Certificate(next.certPem).validTo).getTime();
    const fingerprint = certificateFacts(next.certPem).fingerprintSha256;
    for (const m of cluster.spec.members) {
      const varz = await new MonitorClient(monitorUrl(m)).varz();
      expect(Date.parse(varz.tls_cert_not_after!)).toBe(notAfter);
      expect(Date.parse(varz.cluster!.tls_cert_not_after!)).toBe(notAfter);
      // What a client sees in the handshake: the new certificate.
      const served = await servedCertificate({ host: m.host, port: m.clientPort, caPem: next.caPem, timeoutMs: 3000 });
      expect(served.fingerprintSha256).toBe(fingerprint);
    }
    expect(publisher.acked.size).toBeGreaterThan(10);
    expect(await publisher.lostMessages(nc, "CARDS")).toEqual([]);
    // Nothing left to do: the next preview is empty.
    const again = await previewRollout(cluster.options(FAST));
    expect(again.plan.steps).toEqual([]);
  });
});

describe("turning TLS on for a running plaintext cluster", () => {
  let cluster: LocalTestCluster;
  let ca: TestCa;
  let pem: TlsPem;
  let nc: NatsConnection;
  let plaintextSpec: ClusterSpec;

  beforeAll(async () => {
    ca = makeTestCa("turn-on-ca");
    pem = ca.issue();
    cluster = await LocalTestCluster.create({
      members: 3,
      version: NEW_MINOR,
      jetstream: true,
      namePrefix: "on",
      overrides: { auth: AUTH },
    });
    plaintextSpec = cluster.spec;
    await cluster.bootstrap(FAST);
    // An application that only knows plaintext (until the operator moves it), reconnecting forever.
    nc = await connect(appOptions(cluster.spec, "plain-app", { user: APP.user, pass: APP.password }));
    await createR3Stream(nc, "ORDERS", "orders.>");
  });
  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    await cluster?.destroy();
    ca?.dispose();
  });

  it("refuses to go straight from plaintext clients to TLS only, naming the phase to use", async () => {
    const { plan } = await previewRollout({ ...cluster.options(FAST), spec: { ...plaintextSpec, tls: { pem } } });
    expect(plan.refusals.join("\n")).toMatch(/tls\.clients: .*"optional"/);
  });

  it("route TLS first: every member loads it by reload, then each restarts; clients feel a restart, not a split", async () => {
    const spec: ClusterSpec = { ...plaintextSpec, tls: { pem, clients: "off" } };
    const { plan } = await previewRollout({ ...cluster.options(FAST), spec });
    process.stdout.write(`${formatPlan(plan)}\n`);
    expect(plan.refusals).toEqual([]);
    expect(plan.steps.map((s) => s.kind)).toEqual(routeTlsChangeSteps(3));
    const publisher = new AckedPublisher(nc, "orders.routes");
    publisher.start();
    const report = await roll(cluster, spec);
    await publisher.stop();
    expect(report.result).toBe("succeeded");
    expect(publisher.acked.size).toBeGreaterThan(10);
    expect(await publisher.lostMessages(nc, "ORDERS")).toEqual([]);
    for (const m of cluster.spec.members) {
      const varz = await new MonitorClient(monitorUrl(m)).varz();
      expect(varz.cluster?.tls_cert_not_after).toBeDefined();
      expect(varz.tls_cert_not_after).toBeUndefined();
    }
    expect((await previewRollout(cluster.options(FAST))).plan.steps).toEqual([]);
  });

  it("then clients: optional (both accepted), then required (TLS only)", async () => {
    const optional: ClusterSpec = { ...plaintextSpec, tls: { pem, clients: "optional" } };
    expect((await roll(cluster, optional)).result).toBe("succeeded");
    const url = clientUrl(cluster.spec.members[0]);
    expect(await plaintextConnect(cluster.spec.members[0].clientPort)).toMatch(/PONG/);
    expect(await tryConnect({ servers: url, tls: { ca: pem.caPem }, user: APP.user, pass: APP.password })).toBe(
      "connected",
    );
    const required: ClusterSpec = { ...plaintextSpec, tls: { pem, clients: "required" } };
    await nc.close();
    nc = await connect(secureOptions(cluster.spec, "tls-app", pem.caPem));
    expect((await roll(cluster, required)).result).toBe("succeeded");
    const plain = await plaintextConnect(cluster.spec.members[0].clientPort);
    expect(plain).toContain('"tls_required":true');
    expect(plain).not.toMatch(/PONG/);
    expect(await tryConnect({ servers: url, tls: { ca: pem.caPem }, user: APP.user, pass: APP.password })).toBe(
      "connected",
    );
  });
});
