/**
 * "A leaf is accepted as a client is", on real servers: a hub server whose config the engine rendered (the cluster's
 * client auth and client TLS, no leafnodes authorization of its own) accepts a leaf server presenting a user of the
 * cluster, and never a leaf without one; with client TLS required, a leaf that trusts the cluster's CA connects over
 * TLS and one that does not is never connected. Then the leaf side rendered by the engine too (`hub.user`,
 * `hub.tls`): a hub with client users and client TLS required (verifying client certificates) takes the leaf, a
 * message crosses, the engine's leafnodes and hub gates pass; a wrong password and a leaf without TLS are refused;
 * the password is in no line either server prints and not in /varz. For the oldest and the newest pinned version.
 */
import { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { connect } from "@nats-io/transport-node";
import { serverConfigFor } from "../../engine/config/for-server";
import { GateExpectation } from "../../engine/gates/gate";
import { hubGate, leafnodesGate } from "../../engine/gates/leafnodes";
import { renderServerConfig } from "../../engine/config/render";
import { MonitorClient } from "../../engine/monitor/client";
import { ClusterSpec, HubSpec, MemberSpec, TlsSpec } from "../../engine/spec";
import { validateClusterSpec } from "../../engine/validate";
import { makeTestCa, TestCa } from "../support/certificates";
import { startServer, stopServer } from "../support/nats-process";
import { freePorts } from "../support/ports";
import { sampleSpec } from "../support/sample-spec";
import { NATS_VERSIONS, NEW_MINOR, OLD_MINOR } from "../support/versions";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nats-leaf-auth-"));
const started: ChildProcess[] = [];
let ca: TestCa | undefined;
afterAll(async () => {
  for (const child of started) await stopServer(child);
  ca?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

let counter = 0;
const TRACE = { debug: true, trace: true };
function file(name: string, text: string): string {
  const f = path.join(tmp, `${++counter}-${name}`);
  fs.writeFileSync(f, text, { mode: 0o600 });
  return f;
}

/** Every line the process prints from now on, so a test can wait for the reason a connection failed. */
function logOf(child: ChildProcess): () => string {
  let log = "";
  child.stdout?.on("data", (c: Buffer) => (log += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (log += c.toString()));
  return () => log;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One hub server rendered by the engine from `overrides` (a single member with leafnodes), started. */
async function hubServer(version: string, overrides: Partial<ClusterSpec>, onOutput?: (chunk: string) => void) {
  const [client, cluster, monitor, leaf] = await freePorts(4);
  const member = { name: `hub-${++counter}`, host: "127.0.0.1", clientPort: client, clusterPort: cluster };
  const s = sampleSpec("loopback", {
    name: "hub",
    members: [{ ...member, monitorPort: monitor, leafnodePort: leaf }],
    jetstream: { enabled: false },
    leafnodes: {},
    ...overrides,
  });
  const dir = fs.mkdtempSync(path.join(tmp, "hub-"));
  const cfg = serverConfigFor(
    s,
    s.members[0],
    { pidFile: path.join(dir, "pid"), storeDir: dir },
    { listenHost: "127.0.0.1" },
  );
  started.push(await startServer(version, file("hub.conf", renderServerConfig(cfg)), onOutput));
  const mon = new MonitorClient(`http://127.0.0.1:${monitor}`);
  return {
    name: member.name,
    clientPort: client,
    monitor: mon,
    leafPort: leaf,
    leaves: async () => (await mon.leafz()).leafs?.map((l) => `${l.name} ${l.account}`) ?? [],
  };
}

/**
 * A leaf server rendered by the engine: a one-member cluster without JetStream whose `hub` is the given hub's
 * leafnode port, valid by the engine's own rules; started, with every line it prints from its first.
 */
async function engineLeaf(
  version: string,
  name: string,
  hubLeafPort: number,
  hub: Omit<HubSpec, "urls">,
  overrides: Partial<ClusterSpec>,
) {
  const [client, cluster, monitor] = await freePorts(3);
  const member: MemberSpec = {
    name,
    host: "127.0.0.1",
    clientPort: client,
    clusterPort: cluster,
    monitorPort: monitor,
  };
  const s = sampleSpec("loopback", {
    name: "edge",
    members: [member],
    jetstream: { enabled: false },
    ...overrides,
    hub: { urls: [`nats-leaf://127.0.0.1:${hubLeafPort}`], ...hub },
  });
  expect(validateClusterSpec(s)).toEqual([]);
  const dir = fs.mkdtempSync(path.join(tmp, "leaf-"));
  const cfg = serverConfigFor(
    s,
    member,
    { pidFile: path.join(dir, "pid"), storeDir: dir },
    { listenHost: "127.0.0.1" },
  );
  let log = "";
  started.push(await startServer(version, file(`${name}.conf`, renderServerConfig(cfg)), (c) => (log += c)));
  return { member, monitor: new MonitorClient(`http://127.0.0.1:${monitor}`), log: () => log };
}

/** A leaf server with one remote (`remote` is the inside of its `{ }`), started; its log from then on. */
async function leafServer(version: string, name: string, remote: string) {
  const [client, monitor] = await freePorts(2);
  const text = [
    `server_name: "${name}"`,
    `listen: "127.0.0.1:${client}"`,
    `http: "127.0.0.1:${monitor}"`,
    `leafnodes { remotes: [ { ${remote} } ] }`,
    "",
  ].join("\n");
  const child = await startServer(version, file(`${name}.conf`, text));
  started.push(child);
  return logOf(child);
}

describe.each([OLD_MINOR, NEW_MINOR].filter((v) => NATS_VERSIONS.includes(v)))("a v%s hub", (version) => {
  it("accepts a leaf with a user of the cluster (bound to $G), never one without credentials", async () => {
    const hub = await hubServer(version, { auth: { users: [{ user: "app", password: "p$w" }] } });
    const url = (auth: string) => `urls: ["nats-leaf://${auth}127.0.0.1:${hub.leafPort}"]`;
    await leafServer(version, "with-user", url("app:p%24w@"));
    const without = await leafServer(version, "without", url(""));
    const wrong = await leafServer(version, "wrong-password", url("app:nope@"));
    await until("the leaf with a user on the hub", async () =>
      (await hub.leaves()).includes("with-user $G") ? true : undefined,
    );
    for (const log of [without, wrong]) {
      const line = await until("the refusal in the leaf's log", async () =>
        log()
          .split("\n")
          .find((l) => /authorization violation/i.test(l)),
      );
      console.log(`v${version} refused: ${line.replace(/^.*\] /, "")}`);
    }
    expect(await hub.leaves()).toEqual(["with-user $G"]);
  }, 60_000);

  it("with client TLS required, takes a leaf that trusts the cluster's CA over TLS, never one that does not", async () => {
    ca ??= makeTestCa("leaf-test-ca");
    const pem = ca.issue();
    const certFile = file("cert.pem", pem.certPem);
    const keyFile = file("key.pem", pem.keyPem);
    const caFile = file("ca.pem", ca.caPem);
    const hub = await hubServer(version, { tls: { certFile, keyFile, caFile, clients: "required", routes: false } });
    await leafServer(version, "trusts-ca", `urls: ["tls://127.0.0.1:${hub.leafPort}"], tls: { ca_file: "${caFile}" }`);
    const plain = await leafServer(version, "no-ca", `urls: ["nats-leaf://127.0.0.1:${hub.leafPort}"]`);
    await until("the TLS leaf on the hub", async () =>
      (await hub.leaves()).includes("trusts-ca $G") ? true : undefined,
    );
    const line = await until("the refusal in the other leaf's log", async () =>
      plain()
        .split("\n")
        .find((l) => /\[ERR\].*(certificate|tls|x509)/i.test(l)),
    );
    console.log(`v${version} refused: ${line.replace(/^.*\] /, "")}`);
    expect(await hub.leaves()).toEqual(["trusts-ca $G"]);
  }, 60_000);

  it("takes the leaf the engine renders from hub.user and hub.tls; refuses a wrong password and plaintext", async () => {
    ca ??= makeTestCa("leaf-test-ca");
    const pem = ca.issue();
    const certFile = file("cert.pem", pem.certPem);
    const keyFile = file("key.pem", pem.keyPem);
    const caFile = file("ca.pem", ca.caPem);
    const tls: TlsSpec = { certFile, keyFile, caFile, clients: "required", verify: true, routes: false };
    // Every character that needs percent-encoding in a URL's user info, and `$` that a config file would expand.
    const password = 'leaf p@ss:w/rd$%"}#';
    const users = [
      { user: "app", password: "the app clients' password" },
      { user: "edge", password },
    ];
    let hubLog = "";
    const hub = await hubServer(
      version,
      // Debug and trace: the most either server ever prints about the leaf's connection (its CONNECT included).
      { auth: { users }, tls, leafnodes: { expected: [{ name: "edge-ok" }] }, extraSettings: TRACE },
      (c) => (hubLog += c),
    );
    const leaf = await engineLeaf(
      version,
      "edge-ok",
      hub.leafPort,
      { user: "edge" },
      { auth: { users }, tls, extraSettings: TRACE },
    );
    const wrong = await engineLeaf(
      version,
      "edge-wrong",
      hub.leafPort,
      { user: "edge" },
      { auth: { users: [{ user: "edge", password: "not the hub's" }] }, tls },
    );
    const plain = await engineLeaf(
      version,
      "edge-plain",
      hub.leafPort,
      { user: "edge", tls: false },
      { auth: { users }, tls },
    );
    await until("the engine's leaf on the hub", async () =>
      (await hub.leaves()).includes("edge-ok $G") ? true : undefined,
    );

    // The engine's own gates: the hub's leafnodes gate and the leaf's hub gate.
    const expectation = { version, routePeers: [] } as unknown as GateExpectation;
    const onHub = await leafnodesGate([{ name: "edge-ok" }], () => [{ name: hub.name, monitor: hub.monitor }]).check({
      server: { name: hub.name, host: "127.0.0.1", clientPort: hub.clientPort, clusterPort: 0, monitorPort: 0 },
      monitor: hub.monitor,
      expect: expectation,
    });
    expect(onHub.ok).toBe(true);
    const onLeaf = await hubGate.check({ server: leaf.member, monitor: leaf.monitor, expect: expectation });
    expect(onLeaf.ok).toBe(true);
    console.log(`v${version} gates: leafnodes "${onHub.observation}"; hub "${onLeaf.observation}"`);

    // A message crosses: published on the leaf, received on the hub (TLS and a user on both sides).
    const tlsOpts = { tls: { caFile, certFile, keyFile } };
    const onHubClient = await connect({
      servers: `127.0.0.1:${hub.clientPort}`,
      user: "app",
      pass: users[0].password,
      ...tlsOpts,
      reconnect: false,
    });
    const onLeafClient = await connect({
      servers: `127.0.0.1:${leaf.member.clientPort}`,
      user: "app",
      pass: users[0].password,
      ...tlsOpts,
      reconnect: false,
    });
    try {
      const sub = onHubClient.subscribe("leaf.auth.test");
      const got = (async () => {
        for await (const m of sub) return m.string();
        return undefined;
      })();
      await onHubClient.flush();
      // The hub's interest reaches the leaf asynchronously: publish until it arrives.
      let crossed: string | undefined;
      void got.then((v) => (crossed = v));
      await until("a message from the leaf on the hub", async () => {
        onLeafClient.publish("leaf.auth.test", "from the leaf");
        await onLeafClient.flush();
        await new Promise((r) => setTimeout(r, 100));
        return crossed;
      });
      expect(crossed).toBe("from the leaf");
    } finally {
      await onHubClient.close();
      await onLeafClient.close();
    }

    // The refusals, from the refused leaves' own logs.
    const violation = await until("the wrong password refused", async () =>
      wrong
        .log()
        .split("\n")
        .find((l) => /authorization violation/i.test(l)),
    );
    const noTls = await until("the plaintext leaf refused", async () =>
      plain
        .log()
        .split("\n")
        .find((l) => /\[ERR\].*tls/i.test(l)),
    );
    console.log(`v${version} wrong password: ${violation.replace(/^.*\] /, "")}`);
    console.log(`v${version} no TLS: ${noTls.replace(/^.*\] /, "")}`);
    expect(await hub.leaves()).toEqual(["edge-ok $G"]);

    // What nats-server prints about the remote URL, and that no password is in it (nor in /varz).
    const remoteLines = leaf
      .log()
      .split("\n")
      .filter((l) => /leafnode|CONNECT/i.test(l));
    const hubConnect = hubLog.split("\n").filter((l) => /CONNECT/.test(l) && /edge/.test(l));
    console.log(`v${version} the leaf's log about its remote:\n${remoteLines.join("\n")}`);
    console.log(`v${version} the hub's trace of the leaf's CONNECT:\n${hubConnect.join("\n")}`);
    const varz = JSON.stringify(await leaf.monitor.varz());
    for (const text of [leaf.log(), wrong.log(), plain.log(), hubLog, varz]) {
      expect(text).not.toContain(encodeURIComponent(password));
      expect(text).not.toContain(password);
    }
  }, 90_000);
});
