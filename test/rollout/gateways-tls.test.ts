/**
 * Gateway TLS on real nats-server processes: two clusters, each with a CA of its own (as two stacks with
 * `tls.generate` have), each trusting the other's through `gateways.trustedCaPem`. The rendered blocks join them over
 * mutual TLS (every member's gateways gate passes; `/gatewayz` reports a TLS version on each gateway connection), a
 * request from one cluster is answered in the other, and a third server with a certificate of a CA neither trusts,
 * which trusts east's CA itself and is configured to join east as a gateway, never becomes one: east's members log the
 * handshake error, the rogue's outbound connection is closed, and neither east's `/gatewayz` nor its own lists the
 * other; nor does a server with a plaintext gateway. Last, a new trusted CA is rolled out to east by the engine (a
 * restart of each member, gated on its gateways), and turning route TLS off for it is refused at preview.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { NatsConnection } from "@nats-io/nats-core";
import { previewRollout, runRollout } from "../../engine/rollout/execute";
import { formatPlan } from "../../engine/rollout/plan";
import { formatReport } from "../../engine/rollout/report";
import { ClusterSpec, RolloutPolicy, TlsPem } from "../../engine/spec";
import { makeTestCa, TestCa } from "../support/certificates";
import { gatewaysGateOf } from "../support/gateways";
import { LocalTestCluster } from "../support/local-cluster";
import { stopServer } from "../support/nats-process";
import { freePorts } from "../support/ports";
import { appOptions, connect } from "../support/traffic";
import { natsServerBinary, NEW_MINOR, OLD_MINOR } from "../support/versions";

const POLICY: Partial<RolloutPolicy> = { minHealthySeconds: 1, pollIntervalMs: 250, healthyDeadlineSeconds: 30 };

/** Gateway ports for each server of `spec`, and its gateway URLs (members only) for the other cluster. */
async function withGatewayPorts(spec: ClusterSpec): Promise<{ spec: ClusterSpec; urls: string[] }> {
  const ports = await freePorts(spec.members.length + 1);
  const members = spec.members.map((m, i) => ({ ...m, gatewayPort: ports[i] }));
  const surge = { ...spec.surge, gatewayPort: ports[spec.members.length] };
  return { spec: { ...spec, members, surge }, urls: members.map((m) => `nats://127.0.0.1:${m.gatewayPort}`) };
}

/** `/gatewayz` as nats-server sends it, for what the typed view leaves out (each connection's TLS version). */
interface RawGatewayz {
  readonly outbound_gateways?: Record<string, { connection?: { tls_version?: string } }>;
  readonly inbound_gateways?: Record<string, Array<{ connection?: { tls_version?: string } }>>;
}
async function rawGatewayz(monitorPort: number): Promise<RawGatewayz> {
  const res = await fetch(`http://127.0.0.1:${monitorPort}/gatewayz`);
  return (await res.json()) as RawGatewayz;
}

const until = async (what: string, ok: () => Promise<boolean>, tries = 60, ms = 250): Promise<void> => {
  for (let i = 0; i < tries; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, ms));
  }
  throw new Error(`${what}: not seen in ${(tries * ms) / 1000} s`);
};

describe("gateways between clusters of different CAs: mutual TLS, each trusting the other's CA", () => {
  let east: LocalTestCluster;
  let west: LocalTestCluster;
  let eastCa: TestCa;
  let westCa: TestCa;
  let rogueCa: TestCa;
  let eastPem: TlsPem;
  let westPem: TlsPem;
  let north: TestCa | undefined;
  const rogues: ChildProcess[] = [];
  const rogueDirs: string[] = [];
  const ncs: NatsConnection[] = [];

  beforeAll(async () => {
    eastCa = makeTestCa("east-ca");
    westCa = makeTestCa("west-ca");
    rogueCa = makeTestCa("rogue-ca");
    eastPem = eastCa.issue({ cn: "east" });
    westPem = westCa.issue({ cn: "west" });
    east = await LocalTestCluster.create({
      members: 2,
      version: OLD_MINOR,
      namePrefix: "ta",
      overrides: { tls: { pem: eastPem } },
    });
    west = await LocalTestCluster.create({
      members: 2,
      version: NEW_MINOR,
      namePrefix: "tw",
      overrides: { tls: { pem: westPem } },
    });
    const e = await withGatewayPorts({ ...east.spec, name: "east" });
    const w = await withGatewayPorts({ ...west.spec, name: "west" });
    east.spec = { ...e.spec, gateways: { remotes: [{ name: "west", urls: w.urls }], trustedCaPem: westCa.caPem } };
    west.spec = { ...w.spec, gateways: { remotes: [{ name: "east", urls: e.urls }], trustedCaPem: eastCa.caPem } };
    await east.bootstrap(POLICY);
    await west.bootstrap(POLICY);
  }, 120_000);

  afterAll(async () => {
    for (const nc of ncs) await nc.close().catch(() => undefined);
    for (const child of rogues) await stopServer(child);
    for (const dir of rogueDirs) fs.rmSync(dir, { recursive: true, force: true });
    await east?.destroy();
    await west?.destroy();
    for (const ca of [eastCa, westCa, rogueCa, north]) ca?.dispose();
  });

  const gateOf = gatewaysGateOf;

  it("the delivered bundle is the gateway's alone: routes keep trusting their own CA", async () => {
    const member = east.spec.members[0];
    const dir = path.join(east.stateDir, member.name, "tls");
    const config = (await east.driver.readConfig(member)) ?? "";
    expect(fs.readFileSync(path.join(dir, "gateway-ca.pem"), "utf8")).toBe(
      `${eastCa.caPem.trimEnd()}\n${westCa.caPem.trimEnd()}\n`,
    );
    expect(fs.readFileSync(path.join(dir, "ca.pem"), "utf8")).toBe(eastCa.caPem);
    expect(config).toMatch(/^gateway \{[\s\S]*?ca_file: ".*\/gateway-ca\.pem"\n {4}verify: true[\s\S]*?\n\}/m);
    expect(config).toMatch(/^cluster \{[\s\S]*?ca_file: ".*\/tls\/ca\.pem"[\s\S]*?\n\}/m);
  });

  it("every member has its gateway out to the other cluster, over TLS, and a request crosses", async () => {
    await until("gateways up both ways", async () =>
      [...(await gateOf(east, "west")), ...(await gateOf(west, "east"))].every((s) => s.ok),
    );
    const seen = [...(await gateOf(east, "west")), ...(await gateOf(west, "east"))];
    console.log(seen.map((s) => s.observation).join("\n"));
    expect(seen.every((s) => s.ok)).toBe(true);
    const versions: string[] = [];
    for (const m of [...east.spec.members, ...west.spec.members]) {
      const g = await rawGatewayz(m.monitorPort);
      for (const out of Object.values(g.outbound_gateways ?? {})) versions.push(out.connection?.tls_version ?? "none");
      for (const list of Object.values(g.inbound_gateways ?? {}))
        for (const inbound of list) versions.push(inbound.connection?.tls_version ?? "none");
    }
    console.log(`gateway connections' TLS versions: ${versions.join(", ")}`);
    expect(versions.length).toBeGreaterThanOrEqual(2 * (east.spec.members.length + west.spec.members.length));
    expect(versions.filter((v) => !/^1\.[23]$/.test(v))).toEqual([]);

    const responder = await connect(appOptions(west.spec, "west-responder", { tls: { ca: westCa.caPem } }));
    const requester = await connect(appOptions(east.spec, "east-requester", { tls: { ca: eastCa.caPem } }));
    ncs.push(responder, requester);
    const sub = responder.subscribe("across.>");
    void (async () => {
      for await (const m of sub) m.respond(new TextEncoder().encode(`west:${m.string()}`));
    })();
    await responder.flush();
    // West's interest crosses asynchronously after the subscription (README, "Superclusters"): ask until answered.
    let answer = "";
    await until("a request from east answered in west", async () => {
      answer = await requester.request("across.ping", "hello", { timeout: 500 }).then(
        (m) => m.string(),
        () => "",
      );
      return answer !== "";
    });
    expect(answer).toBe("west:hello");
  }, 60_000);

  /**
   * A server of another cluster (`name`) configured to join east as a gateway, started here; `tls`: its gateway TLS
   * block's lines, or none (plaintext). Resolves with its monitoring port and a reader of its log.
   */
  async function startRogue(name: string, tls: (file: (n: string, text: string) => string) => string[]) {
    const [client, http, gw] = await freePorts(3);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `nats-${name}-`));
    rogueDirs.push(dir);
    const file = (n: string, text: string) => {
      fs.writeFileSync(path.join(dir, n), text, { mode: 0o600 });
      return JSON.stringify(path.join(dir, n));
    };
    const eastUrls = east.spec.members.map((m) => `"nats://127.0.0.1:${m.gatewayPort}"`).join(", ");
    const tlsLines = tls(file);
    const config = [
      `server_name: "${name}"`,
      `listen: "127.0.0.1:${client}"`,
      `http: "127.0.0.1:${http}"`,
      "gateway {",
      `  name: "${name}"`,
      `  listen: "127.0.0.1:${gw}"`,
      `  gateways: [ { name: "east", urls: [${eastUrls}] } ]`,
      ...(tlsLines.length ? ["  tls {", ...tlsLines.map((l) => `    ${l}`), "  }"] : []),
      "}",
      "",
    ].join("\n");
    const confFile = path.join(dir, `${name}.conf`);
    fs.writeFileSync(confFile, config, { mode: 0o600 });
    let log = "";
    const child = spawn(natsServerBinary(NEW_MINOR), ["-c", confFile], { stdio: ["ignore", "pipe", "pipe"] });
    rogues.push(child);
    child.stdout?.on("data", (c: Buffer) => (log += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (log += c.toString()));
    return { http, log: () => log, child };
  }

  const eastLogs = async () =>
    (await Promise.all(east.spec.members.map((m) => east.driver.readLog(m, 400)))).join("\n");

  /** East's handshake errors, the rogue's closed outbound gateway, and neither /gatewayz listing the other. */
  async function expectKeptOut(name: string, rogue: { http: number; log: () => string }, before: number) {
    const errors = async () =>
      (await eastLogs())
        .split("\n")
        .filter((l) => /TLS gateway handshake error/.test(l))
        .slice(before);
    await until(`east's handshake error for ${name}`, async () => (await errors()).length > 0);
    await until(`${name}'s outbound gateway to east closed`, () =>
      Promise.resolve(
        /Creating outbound gateway connection to "east"[\s\S]*Gateway connection closed/.test(rogue.log()),
      ),
    );
    const closed = rogue
      .log()
      .split("\n")
      .find((l) => /Gateway connection closed/.test(l));
    const seen = (await errors())[0];
    console.log(`east: ${seen}\n${name}: ${closed}`);
    for (const m of east.spec.members) {
      const g = await rawGatewayz(m.monitorPort);
      expect(Object.keys(g.inbound_gateways ?? {})).not.toContain(name);
      expect(Object.keys(g.outbound_gateways ?? {})).not.toContain(name);
    }
    const own = await rawGatewayz(rogue.http);
    expect(own.outbound_gateways?.east?.connection).toBeUndefined();
    expect(Object.keys(own.inbound_gateways ?? {})).toEqual([]);
    // And east's gateways to west are untouched.
    expect((await gateOf(east, "west")).every((s) => s.ok)).toBe(true);
    return seen;
  }

  const handshakeErrorsNow = async () =>
    (await eastLogs()).split("\n").filter((l) => /TLS gateway handshake error/.test(l)).length;

  it("a server whose certificate is of a CA east does not trust never becomes east's gateway", async () => {
    const pem = rogueCa.issue({ cn: "rogue" });
    const before = await handshakeErrorsNow();
    // It trusts east's CA itself, so only east's refusal of its certificate keeps it out.
    const rogue = await startRogue("rogue", (file) => [
      `cert_file: ${file("cert.pem", pem.certPem)}`,
      `key_file: ${file("key.pem", pem.keyPem)}`,
      `ca_file: ${file("ca.pem", `${rogueCa.caPem}${eastCa.caPem}`)}`,
      "verify: true",
    ]);
    // Seen with 2.14.9: "client didn't provide a certificate": east's certificate request names the CAs it accepts
    // (its bundle), and Go's TLS client sends only a certificate of one of them, so the rogue's is not even sent; one
    // sent anyway would meet "certificate signed by unknown authority".
    expect(await expectKeptOut("rogue", rogue, before)).toMatch(
      /client didn't provide a certificate|certificate signed by unknown authority/,
    );
    // It retries every second: stopped, so that east's next handshake errors are not its.
    await stopServer(rogue.child);
  }, 60_000);

  it("a server with a plaintext gateway, which joined east before gateway TLS, never becomes one now", async () => {
    const before = await handshakeErrorsNow();
    const plain = await startRogue("plain", () => []);
    expect(await expectKeptOut("plain", plain, before)).toMatch(/TLS gateway handshake error/);
    await stopServer(plain.child);
  }, 60_000);

  it("a new trusted CA is a rolling restart of east, gated on its gateways; turning route TLS off is refused", async () => {
    north = makeTestCa("north-ca");
    const trusted = `${westCa.caPem}${north.caPem}`;
    const pids = east.spec.members.map((m) => east.driver.pid(m));
    east.spec = { ...east.spec, gateways: { ...east.spec.gateways!, trustedCaPem: trusted } };
    const { plan } = await previewRollout(east.options(POLICY));
    console.log(formatPlan(plan));
    expect(plan.refusals).toEqual([]);
    expect(
      plan.steps
        .filter((x) => x.kind === "restart-member")
        .map((x) => x.server)
        .sort(),
    ).toEqual(east.spec.members.map((m) => m.name).sort());
    const report = await runRollout(east.options(POLICY));
    console.log(formatReport(report));
    const after = east.spec.members.map((m) => east.driver.pid(m));
    after.forEach((pid, i) => expect(pid).not.toBe(pids[i]));
    const bundle = fs.readFileSync(
      path.join(east.stateDir, east.spec.members[0].name, "tls", "gateway-ca.pem"),
      "utf8",
    );
    expect(bundle).toBe(`${eastCa.caPem.trimEnd()}\n${trusted.trimEnd()}\n`);
    expect((await gateOf(east, "west")).every((g) => g.ok)).toBe(true);

    const off = { ...east.spec, tls: { ...east.spec.tls!, routes: false } };
    const refused = await previewRollout({
      ...east.options(POLICY),
      spec: { ...off, gateways: { remotes: off.gateways!.remotes } },
    });
    expect(refused.plan.refusals.join("\n")).toMatch(/has gateways, and route TLS brings gateway TLS/);
  }, 120_000);
});
