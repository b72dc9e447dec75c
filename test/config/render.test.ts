/**
 * Every config variant the engine renders is checked by the real `nats-server -t` of every pinned version, and the
 * auth layout (app users in $G, system user in SYS) is checked by a real server and a real client.
 */
import { ChildProcess, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { NatsConnection } from "@nats-io/nats-core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import * as nkeys from "@nats-io/nkeys";
import { connect } from "@nats-io/transport-node";
import { deliveredTls, GATEWAY_CA_FILE_NAME, serverConfigFor, TLS_FILE_NAMES } from "../../engine/config/for-server";
import { renderServerConfig } from "../../engine/config/render";
import { ServerConfig } from "../../engine/config/server-config";
import { HostLayout } from "../../engine/hosts/driver";
import { ClusterSpec } from "../../engine/spec";
import { makeTestCa } from "../support/certificates";
import { freePorts } from "../support/ports";
import { sampleSpec } from "../support/sample-spec";
import { startServer, stopServer } from "../support/nats-process";
import { NATS_VERSIONS, natsServerBinary } from "../support/versions";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nats-render-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const spec = (overrides: Partial<ClusterSpec> = {}): ClusterSpec => sampleSpec("vm", overrides);

function layout(name: string): HostLayout {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  return { pidFile: path.join(dir, "nats.pid"), storeDir: path.join(dir, "jetstream") };
}

function memberConfig(s: ClusterSpec, index = 0): ServerConfig {
  return serverConfigFor(s, s.members[index], layout(s.members[index].name));
}
function surgeConfig(s: ClusterSpec): ServerConfig {
  return serverConfigFor(s, s.surge, layout(s.surge.name));
}

let fileCounter = 0;
function writeConfig(text: string): string {
  const file = path.join(tmp, `config-${++fileCounter}.conf`);
  fs.writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** `nats-server -t -c file` of one version: undefined when valid, else what it printed. */
function configTest(version: string, file: string): string | undefined {
  try {
    execFileSync(natsServerBinary(version), ["-t", "-c", file], { stdio: "pipe", timeout: 20000 });
    return undefined;
  } catch (err) {
    const e = err as { stderr?: Buffer; stdout?: Buffer; message: string };
    return `${e.stderr?.toString() ?? ""}${e.stdout?.toString() ?? ""}`.trim() || e.message;
  }
}

/** Fails with every version's complaint unless every pinned nats-server accepts the config. */
function expectAcceptedByEveryVersion(text: string): void {
  const file = writeConfig(text);
  const failures = NATS_VERSIONS.map((v) => [v, configTest(v, file)] as const).filter(([, out]) => out !== undefined);
  expect(failures.map(([v, out]) => `v${v}: ${out}`)).toEqual([]);
}

/** A self-signed certificate for 127.0.0.1, made with openssl at test time. */
function selfSignedCert(): { certFile: string; keyFile: string } {
  const dir = path.join(tmp, "tls");
  fs.mkdirSync(dir, { recursive: true });
  const certFile = path.join(dir, "cert.pem");
  const keyFile = path.join(dir, "key.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ],
    { stdio: "pipe" },
  );
  return { certFile, keyFile };
}

function routesOf(text: string): string[] {
  const m = /routes: \[\n([\s\S]*?)\n\s*\]/.exec(text);
  return m ? m[1].split("\n").map((l) => l.trim()) : [];
}

const userNkey = nkeys.createUser();
const userPublicKey = userNkey.getPublicKey();
const userSeed = new TextDecoder().decode(userNkey.getSeed());

describe("renderServerConfig variants pass `nats-server -t` of every pinned version", () => {
  test("pinned binaries are present", () => {
    expect(NATS_VERSIONS.length).toBeGreaterThan(0);
    for (const v of NATS_VERSIONS) expect(fs.existsSync(natsServerBinary(v))).toBe(true);
  });

  test("explicit routes: every member lists every member's cluster URL, itself included, in spec order", () => {
    const s = spec();
    const text = renderServerConfig(memberConfig(s, 1));
    expect(routesOf(text)).toEqual(['"nats://10.0.0.1:6222"', '"nats://10.0.0.2:6222"', '"nats://10.0.0.3:6222"']);
    expect(text).toContain('server_name: "n2"');
    expect(text).toContain('listen: "0.0.0.0:4222"');
    expect(text).toContain('http: "0.0.0.0:8222"');
    expect(text).toContain('lame_duck_duration: "30s"');
    expect(text).toContain('lame_duck_grace_period: "10s"');
    expect(text).toContain("no_advertise: false");
    expect(text).toMatch(/jetstream \{\n  store_dir: ".*n2\/jetstream"\n\}/);
    expectAcceptedByEveryVersion(text);
  });

  test("seed routes: members list only the seeds; the surge server still lists every member", () => {
    const s = spec({ routes: { kind: "seed", seeds: ["n3", "n1"] }, noAdvertise: true });
    const text = renderServerConfig(memberConfig(s, 1));
    expect(routesOf(text)).toEqual(['"nats://10.0.0.3:6222"', '"nats://10.0.0.1:6222"']);
    expect(text).toContain("no_advertise: true");
    expectAcceptedByEveryVersion(text);
    expect(routesOf(renderServerConfig(surgeConfig(s)))).toHaveLength(3);
  });

  test("surge server without JetStream: no jetstream block, routes to every member", () => {
    const text = renderServerConfig(surgeConfig(spec()));
    expect(text).not.toContain("jetstream");
    expect(text).toContain('server_name: "n-surge"');
    expect(routesOf(text)).toEqual(['"nats://10.0.0.1:6222"', '"nats://10.0.0.2:6222"', '"nats://10.0.0.3:6222"']);
    expectAcceptedByEveryVersion(text);
  });

  test("surge server with JetStream when surge.jetstream is true", () => {
    const s = spec({
      surge: { ...spec().surge, jetstream: true },
      auth: { users: [{ user: "app", password: "pw" }], systemAccount: { user: "sys", password: "spw" } },
    });
    const text = renderServerConfig(surgeConfig(s));
    expect(text).toMatch(/jetstream \{\n  store_dir: ".*n-surge\/jetstream"\n\}/);
    expectAcceptedByEveryVersion(text);
  });

  test("JetStream disabled: no jetstream block on members either", () => {
    expect(renderServerConfig(memberConfig(spec({ jetstream: { enabled: false } })))).not.toContain("jetstream");
  });

  test("JetStream with memory and file limits", () => {
    const text = renderServerConfig(
      memberConfig(spec({ jetstream: { enabled: true, maxMemoryBytes: 268435456, maxFileBytes: 10737418240 } })),
    );
    expect(text).toContain("max_memory_store: 268435456");
    expect(text).toContain("max_file_store: 10737418240");
    expectAcceptedByEveryVersion(text);
  });

  test("token auth", () => {
    const text = renderServerConfig(memberConfig(spec({ auth: { token: 's3cr"et\\$HOME' } })));
    expect(text).toContain('authorization {\n  token: "s3cr\\"et\\\\$HOME"\n}');
    expectAcceptedByEveryVersion(text);
  });

  test("users auth", () => {
    const text = renderServerConfig(
      memberConfig(
        spec({
          auth: {
            users: [
              { user: "app", password: "pw" },
              { user: "ops", password: "p#w // {}" },
            ],
          },
        }),
      ),
    );
    expect(text).toContain('{ user: "ops", password: "p#w // {}" }');
    expectAcceptedByEveryVersion(text);
  });

  test("nkey users (a real generated key pair)", () => {
    const text = renderServerConfig(memberConfig(spec({ auth: { nkeys: [userPublicKey], probeNkeySeed: userSeed } })));
    expect(text).toContain(`{ nkey: "${userPublicKey}" }`);
    expect(text).not.toContain(userSeed);
    expectAcceptedByEveryVersion(text);
  });

  test("users plus a system account", () => {
    const text = renderServerConfig(
      memberConfig(
        spec({ auth: { users: [{ user: "app", password: "pw" }], systemAccount: { user: "sys", password: "spw" } } }),
      ),
    );
    expect(text).toContain(
      'accounts {\n  SYS {\n    users: [\n      { user: "sys", password: "spw" }\n    ]\n  }\n}\nsystem_account: "SYS"',
    );
    expectAcceptedByEveryVersion(text);
  });

  test("nkeys plus a system account, and a system account alone", () => {
    const sys = { user: "sys", password: "spw" };
    expectAcceptedByEveryVersion(
      renderServerConfig(memberConfig(spec({ auth: { nkeys: [userPublicKey], systemAccount: sys } }))),
    );
    const alone = renderServerConfig(memberConfig(spec({ auth: { systemAccount: sys } })));
    expect(alone).not.toContain("authorization");
    expectAcceptedByEveryVersion(alone);
  });

  test("TLS with a self-signed certificate, CA and verify", () => {
    const { certFile, keyFile } = selfSignedCert();
    const text = renderServerConfig(memberConfig(spec({ tls: { certFile, keyFile, caFile: certFile, verify: true } })));
    expect(text).toContain(
      `tls {\n  cert_file: "${certFile}"\n  key_file: "${keyFile}"\n  ca_file: "${certFile}"\n  verify: true\n}`,
    );
    expectAcceptedByEveryVersion(text);
  });

  test("leafnodes: members listen on the default 7422 (or their own port); the surge server accepts no leaf", () => {
    const s = spec({ leafnodes: { expected: [{ name: "leaf-1" }] } });
    const text = renderServerConfig(memberConfig(s, 0));
    expect(text).toContain('leafnodes {\n  listen: "0.0.0.0:7422"\n}');
    expectAcceptedByEveryVersion(text);
    const own = { ...s, members: s.members.map((m, i) => (i === 1 ? { ...m, leafnodePort: 7433 } : m)) };
    expect(renderServerConfig(memberConfig(own, 1))).toContain('listen: "0.0.0.0:7433"');
    expect(renderServerConfig(surgeConfig(s))).not.toContain("leafnodes");
  });

  test("leafnodes with client TLS required: the leafnode port takes the clients' certificate, CA and verify", () => {
    const { certFile, keyFile } = selfSignedCert();
    const s = spec({
      tls: { certFile, keyFile, caFile: certFile, verify: true, clients: "required" },
      auth: { users: [{ user: "leaf", password: "pw" }] },
      leafnodes: { port: 7500 },
    });
    const text = renderServerConfig(memberConfig(s));
    expect(text).toContain(
      `leafnodes {\n  listen: "0.0.0.0:7500"\n  tls {\n    cert_file: "${certFile}"\n    key_file: "${keyFile}"\n` +
        `    ca_file: "${certFile}"\n    verify: true\n  }\n}`,
    );
    expectAcceptedByEveryVersion(text);
    // Plaintext clients (routes may still run TLS): a plaintext leafnode port, as the client port is.
    const plain = renderServerConfig(memberConfig({ ...s, tls: { ...s.tls!, clients: "off" } }));
    expect(plain).toContain('leafnodes {\n  listen: "0.0.0.0:7500"\n}');
    expectAcceptedByEveryVersion(plain);
  });

  test("gateways with route TLS: mutual gateway TLS on members and the surge server, files or delivered", () => {
    const remotes = [{ name: "west", urls: ["nats://10.1.0.11:7222"] }];
    // Files on the hosts: the gateway takes the routes' certificate and CA.
    const { certFile, keyFile } = selfSignedCert();
    const files = spec({
      jetstream: { enabled: false },
      tls: { certFile, keyFile, caFile: certFile, routes: true, clients: "off" },
      gateways: { remotes },
    });
    for (const text of [renderServerConfig(memberConfig(files)), renderServerConfig(surgeConfig(files))]) {
      expect(text).toContain(
        `  gateways: [\n    { name: "west", urls: ["nats://10.1.0.11:7222"] }\n  ]\n  tls {\n` +
          `    cert_file: "${certFile}"\n    key_file: "${keyFile}"\n    ca_file: "${certFile}"\n    verify: true\n  }\n}`,
      );
      expectAcceptedByEveryVersion(text);
    }
    // Delivered material with the other clusters' CAs: the gateway names its own bundle, the routes ca.pem.
    const east = makeTestCa("render-east");
    const west = makeTestCa("render-west");
    try {
      const pem = east.issue({ hosts: ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9"] });
      const delivered = spec({
        jetstream: { enabled: false },
        tls: { pem },
        gateways: { remotes, trustedCaPem: west.caPem },
      });
      const tlsDir = path.join(tmp, "delivered-tls");
      const material = deliveredTls(delivered)!;
      fs.mkdirSync(tlsDir, { recursive: true });
      fs.writeFileSync(path.join(tlsDir, TLS_FILE_NAMES.cert), material.certPem);
      fs.writeFileSync(path.join(tlsDir, TLS_FILE_NAMES.key), material.keyPem, { mode: 0o600 });
      fs.writeFileSync(path.join(tlsDir, TLS_FILE_NAMES.ca), material.caPem);
      fs.writeFileSync(path.join(tlsDir, GATEWAY_CA_FILE_NAME), material.gatewayCaPem!);
      const text = renderServerConfig(
        serverConfigFor(delivered, delivered.members[0], { ...layout("delivered"), tlsDir }),
      );
      expect(text).toContain(
        `    ca_file: "${tlsDir}/${GATEWAY_CA_FILE_NAME}"\n    verify: true\n  }\n  # gateway trusted CAs: sha256:`,
      );
      expect(text).toMatch(/^cluster \{[\s\S]*ca_file: ".*\/ca\.pem"[\s\S]*?\n\}/m);
      expectAcceptedByEveryVersion(text);
    } finally {
      east.dispose();
      west.dispose();
    }
  });

  test("a leaf of a hub: every server, the surge too, connects out to the hub's URLs", () => {
    const s = spec({
      jetstream: { enabled: false },
      hub: { urls: ["nats-leaf://10.2.0.11:7422", "nats-leaf://10.2.0.12:7422"] },
    });
    const text = renderServerConfig(memberConfig(s));
    expect(text).toContain(
      'leafnodes {\n  remotes: [\n    { urls: ["nats-leaf://10.2.0.11:7422", "nats-leaf://10.2.0.12:7422"] }\n  ]\n}',
    );
    expectAcceptedByEveryVersion(text);
    expect(renderServerConfig(surgeConfig(s))).toContain("remotes: [");
    // A hub that is itself a leaf of another (tiers): listen and remotes in one block.
    const both = renderServerConfig(memberConfig({ ...s, leafnodes: {} }));
    expect(both).toMatch(/leafnodes \{\n  listen: "0\.0\.0\.0:7422"\n  remotes: \[/);
    expectAcceptedByEveryVersion(both);
  });

  test("a leaf with hub.user and hub.tls: the user's password in each URL (percent-encoded), the CA verifies the hub", () => {
    const { certFile, keyFile } = selfSignedCert();
    const s = spec({
      jetstream: { enabled: false },
      auth: { users: [{ user: "edge leaf", password: 'p@ss w$rd:"}#' }] },
      tls: { certFile, keyFile, caFile: certFile, routes: false, clients: "required" },
      hub: { urls: ["nats-leaf://10.2.0.11:7422", "nats-leaf://[::1]:7422"], user: "edge leaf" },
    });
    const text = renderServerConfig(memberConfig(s));
    const info = "edge%20leaf:p%40ss%20w%24rd%3A%22%7D%23@";
    expect(text).toContain(
      `  remotes: [\n    { urls: ["nats-leaf://${info}10.2.0.11:7422", "nats-leaf://${info}[::1]:7422"], ` +
        `tls: { cert_file: "${certFile}", key_file: "${keyFile}", ca_file: "${certFile}" } }\n  ]`,
    );
    expectAcceptedByEveryVersion(text);
    expect(renderServerConfig(surgeConfig(s))).toContain(`nats-leaf://${info}10.2.0.11:7422`);
    // TLS off explicitly (a hub without client TLS): no tls in the remote, the credentials stay.
    const plain = renderServerConfig(memberConfig({ ...s, hub: { ...s.hub!, tls: false } }));
    expect(plain).toContain(`{ urls: ["nats-leaf://${info}10.2.0.11:7422", "nats-leaf://${info}[::1]:7422"] }`);
    expectAcceptedByEveryVersion(plain);
  });

  test("extra settings are rendered verbatim, sorted by key", () => {
    const text = renderServerConfig(
      memberConfig(spec({ extraSettings: { write_deadline: "10s", max_payload: 2097152, debug: false } })),
    );
    expect(text.trimEnd().split("\n").slice(-3)).toEqual([
      "debug: false",
      "max_payload: 2097152",
      'write_deadline: "10s"',
    ]);
    expectAcceptedByEveryVersion(text);
  });

  test("IPv6 and loopback listen hosts", () => {
    const s = spec();
    expectAcceptedByEveryVersion(
      renderServerConfig(serverConfigFor(s, s.members[0], layout("n1"), { listenHost: "::" })),
    );
    const text = renderServerConfig(serverConfigFor(s, s.members[0], layout("n1"), { listenHost: "127.0.0.1" }));
    expect(text).toContain('listen: "127.0.0.1:4222"');
    expect(text).toContain('listen: "127.0.0.1:6222"');
  });

  test("the server itself rejects what the renderer refuses: a token next to accounts", () => {
    // The wording depends on which block the parser meets first; either way the server will not start.
    const text =
      'server_name: "n1"\nauthorization {\n  token: "t"\n}\naccounts {\n  SYS {\n    users: [\n      { user: "sys", password: "s" }\n    ]\n  }\n}\nsystem_account: "SYS"\n';
    const file = writeConfig(text);
    for (const v of NATS_VERSIONS)
      expect(configTest(v, file)).toMatch(/Can not have a token and (accounts|a users array)/);
  });
});

describe("renderServerConfig determinism and refusals", () => {
  test("same input, same text; extra settings key order does not matter", () => {
    const a = spec({ extraSettings: { max_payload: 2097152, debug: true } });
    const b = spec({ extraSettings: { debug: true, max_payload: 2097152 } });
    expect(renderServerConfig(memberConfig(a))).toBe(renderServerConfig(memberConfig(a)));
    expect(renderServerConfig(memberConfig(a))).toBe(renderServerConfig(memberConfig(b)));
  });

  test("control characters are refused, not rendered", () => {
    expect(() => renderServerConfig(memberConfig(spec({ auth: { token: "a\nserver_name: evil" } })))).toThrow(
      /control character/,
    );
  });

  test("a token with a system account is refused", () => {
    expect(() =>
      renderServerConfig(memberConfig(spec({ auth: { token: "t", systemAccount: { user: "s", password: "p" } } }))),
    ).toThrow(/token/);
  });

  test("extra settings cannot override engine-written keys or smuggle syntax", () => {
    expect(() => renderServerConfig(memberConfig(spec({ extraSettings: { server_name: "x" } })))).toThrow(
      /written by the engine/,
    );
    expect(() => renderServerConfig(memberConfig(spec({ extraSettings: { "a: 1\nb": 1 } })))).toThrow(
      /not a plain setting name/,
    );
    expect(() => renderServerConfig(memberConfig(spec({ extraSettings: { max_payload: Number.NaN } })))).toThrow(
      /finite/,
    );
  });

  test("serverConfigFor refuses a server that is not in the spec", () => {
    const s = spec();
    expect(() => serverConfigFor(s, { ...s.surge, name: "stranger" }, layout("stranger"))).toThrow(/neither a member/);
  });
});

async function connectError(opts: Parameters<typeof connect>[0]): Promise<string | undefined> {
  try {
    const nc = await connect({ ...opts, reconnect: false, timeout: 5000 });
    await nc.close();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Poll `/healthz` until it answers 200: JetStream needs its meta leader before the API answers. */
async function waitHealthy(monitorPort: number, deadlineMs = 30000): Promise<void> {
  const until = Date.now() + deadlineMs;
  let last = "";
  while (Date.now() < until) {
    try {
      const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`);
      last = await res.text();
      if (res.status === 200) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`monitor port ${monitorPort} not healthy in ${deadlineMs} ms: ${last}`);
}

describe.each(NATS_VERSIONS)("a real nats-server v%s cluster with the rendered auth layout", (version) => {
  const started: ChildProcess[] = [];
  afterAll(async () => {
    // Always stop every process this suite started, by PID, whatever the tests did.
    for (const child of started) await stopServer(child);
  });

  /** Start every member of a fresh cluster (explicit routes, loopback) with `auth`; resolves once all are healthy. */
  async function serveCluster(
    members: number,
    jetstream: boolean,
    auth: ClusterSpec["auth"],
  ): Promise<{ servers: string; names: string[] }> {
    const ports = await freePorts(3 * (members + 1));
    const endpoint = (name: string, i: number) => ({
      name,
      host: "127.0.0.1",
      clientPort: ports[3 * i],
      clusterPort: ports[3 * i + 1],
      monitorPort: ports[3 * i + 2],
    });
    const tag = `${version.replace(/\./g, "_")}-${++fileCounter}`;
    const s = spec({
      name: `live-${tag}`,
      members: Array.from({ length: members }, (_, i) => endpoint(`live-${tag}-${i + 1}`, i)),
      // The surge server is never started here, but it gets ports of its own so the spec stays realistic.
      surge: endpoint(`live-${tag}-surge`, members),
      jetstream: { enabled: jetstream },
      auth,
    });
    for (const m of s.members) {
      const dir = fs.mkdtempSync(path.join(tmp, `${m.name}-`));
      const cfg = serverConfigFor(
        s,
        m,
        { pidFile: path.join(dir, "nats.pid"), storeDir: path.join(dir, "js") },
        { listenHost: "127.0.0.1" },
      );
      started.push(await startServer(version, writeConfig(renderServerConfig(cfg))));
    }
    for (const m of s.members) await waitHealthy(m.monitorPort);
    return { servers: `127.0.0.1:${s.members[0].clientPort}`, names: s.members.map((m) => m.name) };
  }

  test("users + system account: the app user has JetStream in $G, wrong or missing passwords fail, SYS answers pings", async () => {
    const password = 'p$HOME #"x\\y';
    const { servers, names } = await serveCluster(3, true, {
      users: [{ user: "app", password }],
      systemAccount: { user: "sys", password: "sys-pw" },
    });

    const nc: NatsConnection = await connect({ servers, user: "app", pass: password, reconnect: false, timeout: 5000 });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "RENDER", subjects: ["render.>"], num_replicas: 3 });
      const ack = await jetstream(nc).publish("render.test", "hello");
      expect(ack.stream).toBe("RENDER");
      expect((await jsm.getAccountInfo()).streams).toBe(1);
    } finally {
      await nc.close();
    }

    expect(await connectError({ servers, user: "app", pass: "wrong" })).toMatch(/Authorization Violation/i);
    expect(await connectError({ servers })).toMatch(/Authorization Violation/i);

    const sys = await connect({ servers, user: "sys", pass: "sys-pw", reconnect: false, timeout: 5000 });
    try {
      const reply = await sys.request("$SYS.REQ.SERVER.PING", "", { timeout: 5000 });
      expect(names).toContain(JSON.parse(reply.string()).server.name);
    } finally {
      await sys.close();
    }
  });

  test("a single JetStream member in cluster mode does not become healthy (why validate refuses it)", async () => {
    const [clientPort, clusterPort, monitorPort, ...surgePorts] = await freePorts(6);
    const s = spec({
      members: [{ name: "lonely", host: "127.0.0.1", clientPort, clusterPort, monitorPort }],
      surge: {
        name: "lonely-surge",
        host: "127.0.0.1",
        clientPort: surgePorts[0],
        clusterPort: surgePorts[1],
        monitorPort: surgePorts[2],
      },
    });
    const dir = fs.mkdtempSync(path.join(tmp, "lonely-"));
    const cfg = serverConfigFor(
      s,
      s.members[0],
      { pidFile: path.join(dir, "nats.pid"), storeDir: path.join(dir, "js") },
      { listenHost: "127.0.0.1" },
    );
    started.push(await startServer(version, writeConfig(renderServerConfig(cfg))));
    // A 3-member cluster is healthy in about a second; give this one several.
    await expect(waitHealthy(monitorPort, 6000)).rejects.toThrow(/meta layer|meta leader/);
  });

  test("system account alone: clients without credentials still reach $G", async () => {
    const { servers } = await serveCluster(1, false, { systemAccount: { user: "sys", password: "sys-pw" } });
    const nc = await connect({ servers, reconnect: false, timeout: 5000 });
    try {
      const sub = nc.subscribe("render.anon", { max: 1 });
      nc.publish("render.anon", "hi");
      for await (const m of sub) expect(m.string()).toBe("hi");
    } finally {
      await nc.close();
    }
  });
});
