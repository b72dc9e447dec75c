/**
 * "A leaf is accepted as a client is", on real servers: a hub server whose config the engine rendered (the cluster's
 * client auth and client TLS, no leafnodes authorization of its own) accepts a leaf server presenting a user of the
 * cluster, and never a leaf without one; with client TLS required, a leaf that trusts the cluster's CA connects over
 * TLS and one that does not is never connected. For the oldest and the newest pinned version.
 */
import { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { serverConfigFor } from "../../engine/config/for-server";
import { renderServerConfig } from "../../engine/config/render";
import { MonitorClient } from "../../engine/monitor/client";
import { ClusterSpec } from "../../engine/spec";
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
async function hubServer(version: string, overrides: Partial<ClusterSpec>) {
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
  started.push(await startServer(version, file("hub.conf", renderServerConfig(cfg))));
  const mon = new MonitorClient(`http://127.0.0.1:${monitor}`);
  return { leafPort: leaf, leaves: async () => (await mon.leafz()).leafs?.map((l) => `${l.name} ${l.account}`) ?? [] };
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
});
