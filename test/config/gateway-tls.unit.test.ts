/**
 * Gateway TLS, without a server: what validation says of `gateways.trustedCaPem` and of plaintext gateways, what
 * `gateway { tls {} }` the engine renders for a member and the surge server, the CA bundle it delivers for the gateway
 * alone (routes keep the cluster's own CA), and that a change of the trusted CAs is a restart while a certificate
 * rotation stays a reload. Certificates are made in-process (engine/tls/pki.ts: no openssl process in the unit tier);
 * the same rendering is started by real servers in test/rollout/gateways-tls.test.ts.
 */
import { deliveredTls, GATEWAY_CA_FILE_NAME, serverConfigFor, TLS_FILE_NAMES } from "../../engine/config/for-server";
import { renderServerConfig } from "../../engine/config/render";
import { configTextFor, readGatewayTls, restartDigest } from "../../engine/config/text";
import { DEFAULT_POLICY } from "../../engine/defaults";
import { HostDriver, HostLayout } from "../../engine/hosts/driver";
import { ObservedServer } from "../../engine/rollout/observe";
import { planRollout } from "../../engine/rollout/plan";
import { ClusterSpec, TlsPem } from "../../engine/spec";
import { issueCertificateAuthority, issueServerCertificate, PemPair } from "../../engine/tls/pki";
import { clusterSpecWarnings, validateClusterSpec } from "../../engine/validate";
import { errorAt, spec, warningAt } from "../support/spec-problems";

const LAYOUT: HostLayout = { pidFile: "/run/nats/nats.pid", storeDir: "/var/lib/nats", tlsDir: "/etc/nats/tls" };
const FIELD = "gateways.trustedCaPem";

let eastCa: PemPair;
let westCa: PemPair;
let eastPem: TlsPem;
let westServer: PemPair;

beforeAll(async () => {
  eastCa = await issueCertificateAuthority({ commonName: "east CA", validityDays: 120 });
  westCa = await issueCertificateAuthority({ commonName: "west CA", validityDays: 120 });
  const server = await issueServerCertificate({
    ca: eastCa,
    commonName: "east",
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    validityDays: 60,
  });
  eastPem = { certPem: server.certPem, keyPem: server.keyPem, caPem: eastCa.certPem };
  westServer = await issueServerCertificate({
    ca: westCa,
    commonName: "west",
    dnsNames: [],
    ipAddresses: ["127.0.0.1"],
    validityDays: 60,
  });
});

/** The loopback sample as the cluster "east" of a supercluster: each server a gateway port of its own, no JetStream. */
function east(overrides: Partial<ClusterSpec> = {}, trustedCaPem?: string): ClusterSpec {
  const s = spec({ jetstream: { enabled: false }, ...overrides });
  return {
    ...s,
    name: "east",
    members: s.members.map((m, i) => ({ ...m, gatewayPort: 17_000 + i })),
    surge: { ...s.surge, gatewayPort: 17_099 },
    gateways: {
      remotes: [{ name: "west", urls: ["nats://127.0.0.1:17100"] }],
      ...(trustedCaPem !== undefined ? { trustedCaPem } : {}),
    },
  };
}

describe("gateways.trustedCaPem and plaintext gateways, validated before anything is touched", () => {
  it("accepts the other clusters' CAs with delivered material; no warning", () => {
    const s = east({ tls: { pem: eastPem } }, westCa.certPem);
    expect(validateClusterSpec(s)).toEqual([]);
    expect(clusterSpecWarnings(s)).toEqual([]);
    const bundle = `${westCa.certPem}${eastCa.certPem}`;
    expect(validateClusterSpec(east({ tls: { pem: eastPem } }, bundle))).toEqual([]);
  });

  it("refuses what is not a CA certificate in force, naming which one and the fix", () => {
    const pem = { tls: { pem: eastPem } };
    expect(errorAt(east(pem, "west's CA"), FIELD)).toMatch(/holds no PEM certificate .*other clusters' CA/);
    expect(errorAt(east(pem, westServer.certPem), FIELD)).toMatch(
      /^the certificate \(CN=west\) is not a CA certificate \(basicConstraints CA:TRUE\).*give that CA's certificate/,
    );
    expect(errorAt(east(pem, `${westCa.certPem}${westServer.certPem}`), FIELD)).toMatch(
      /^certificate 2 of 2 \(CN=west\) is not a CA certificate/,
    );
    const broken = westCa.certPem.replace(/(-----BEGIN CERTIFICATE-----\n)(.{8})/, "$1AAAAAAAA");
    expect(errorAt(east(pem, broken), FIELD)).toMatch(/is not a certificate nats-server can read/);
  });

  it("refuses an expired CA", async () => {
    const old = await issueCertificateAuthority({
      commonName: "old CA",
      validityDays: 1,
      now: new Date(Date.now() - 10 * 24 * 60 * 60 * 1000),
    });
    expect(errorAt(east({ tls: { pem: eastPem } }, old.certPem), FIELD)).toMatch(
      /^the certificate \(CN=old CA\) expired on .*current CA/,
    );
  });

  it("refuses a private key in it without quoting the key", () => {
    const message = errorAt(east({ tls: { pem: eastPem } }, `${westCa.certPem}${westCa.keyPem}`), FIELD);
    expect(message).toMatch(/holds a private key; give only the other clusters' CA certificates/);
    expect(message).not.toContain(westCa.keyPem.split("\n")[1]);
  });

  it("refuses trusted CAs where the gateways run no TLS, or where the engine cannot deliver the bundle", () => {
    expect(errorAt(east({}, westCa.certPem), FIELD)).toMatch(/no tls block.*set tls .*or drop trustedCaPem/);
    expect(errorAt(east({ tls: { pem: eastPem, routes: false, clients: "required" } }, westCa.certPem), FIELD)).toMatch(
      /follows route TLS, which is off \(tls\.routes: false\)/,
    );
    const files = { certFile: "/etc/nats/cert.pem", keyFile: "/etc/nats/key.pem", caFile: "/etc/nats/ca.pem" };
    expect(errorAt(east({ tls: { ...files, routes: true } }, westCa.certPem), FIELD)).toMatch(
      /delivered .* with tls\.pem.*files on the hosts/,
    );
  });

  it("warns that plaintext gateways let any server join, and not once they run TLS", () => {
    expect(warningAt(east(), "gateways")).toMatch(/plaintext and unauthenticated: any server that reaches a gateway/);
    expect(warningAt(east({ tls: { pem: eastPem, routes: false } }), "gateways")).toMatch(/turn on route TLS/);
    expect(clusterSpecWarnings(east({ tls: { pem: eastPem } })).filter((w) => w.field === "gateways")).toEqual([]);
  });
});

describe("gateway { tls {} }: rendered, delivered, and what a change of it costs", () => {
  const tlsBlockOf = (text: string) => text.match(/^gateway \{[\s\S]*?\n {2}tls \{\n([\s\S]*?)\n {2}\}/m)?.[1];

  it("members and the surge server get mutual gateway TLS; with trusted CAs, a bundle of the gateway's own", () => {
    const s = east({ tls: { pem: eastPem } }, westCa.certPem);
    for (const server of [...s.members, s.surge]) {
      const text = renderServerConfig(serverConfigFor(s, server, LAYOUT));
      expect(
        tlsBlockOf(text)
          ?.split("\n")
          .map((l) => l.trim()),
      ).toEqual([
        `cert_file: "/etc/nats/tls/${TLS_FILE_NAMES.cert}"`,
        `key_file: "/etc/nats/tls/${TLS_FILE_NAMES.key}"`,
        `ca_file: "/etc/nats/tls/${GATEWAY_CA_FILE_NAME}"`,
        "verify: true",
      ]);
      expect(text).toMatch(/^ {2}# gateway trusted CAs: sha256:[0-9a-f]{64}$/m);
      // Routes keep trusting this cluster's CA alone.
      expect(text).toMatch(/^cluster \{[\s\S]*?ca_file: "\/etc\/nats\/tls\/ca\.pem"[\s\S]*?\n\}/m);
      expect(text).not.toContain(eastPem.keyPem.split("\n")[1]);
    }
    const delivered = deliveredTls(s);
    expect(delivered?.caPem).toBe(eastCa.certPem);
    expect(delivered?.gatewayCaPem).toBe(`${eastCa.certPem.trimEnd()}\n${westCa.certPem.trimEnd()}\n`);
  });

  it("without trusted CAs the gateway trusts the cluster's CA, and nothing more is delivered", () => {
    const s = east({ tls: { pem: eastPem } });
    const text = renderServerConfig(serverConfigFor(s, s.members[0], LAYOUT));
    expect(tlsBlockOf(text)).toContain(`ca_file: "/etc/nats/tls/${TLS_FILE_NAMES.ca}"`);
    expect(text).not.toContain("gateway trusted CAs");
    expect(deliveredTls(s)).toBe(eastPem);
  });

  it("without route TLS the gateway block has no tls (plaintext, warned above)", () => {
    for (const s of [east(), east({ tls: { pem: eastPem, routes: false } })])
      expect(tlsBlockOf(renderServerConfig(serverConfigFor(s, s.members[0], LAYOUT)))).toBeUndefined();
  });

  it("a change of the trusted CAs is a restart; a new certificate of the same CA stays a reload", async () => {
    const digest = (s: ClusterSpec) => restartDigest(serverConfigFor(s, s.members[0], LAYOUT));
    const other = await issueCertificateAuthority({ commonName: "north CA", validityDays: 30 });
    const before = digest(east({ tls: { pem: eastPem } }, westCa.certPem));
    expect(digest(east({ tls: { pem: eastPem } }, `${westCa.certPem}${other.certPem}`))).not.toBe(before);
    expect(digest(east({ tls: { pem: eastPem } }))).not.toBe(before);
    const next = await issueServerCertificate({
      ca: eastCa,
      commonName: "east",
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
      validityDays: 70,
    });
    const rotated = { ...eastPem, certPem: next.certPem, keyPem: next.keyPem };
    expect(digest(east({ tls: { pem: rotated } }, westCa.certPem))).toBe(before);
  });
});

describe("the planner and gateway TLS: a trust change is a rolling restart; a posture change is refused", () => {
  const driver = { layout: () => LAYOUT } as unknown as HostDriver;
  const textsOf = (s: ClusterSpec) => new Map(s.members.map((m) => [m.name, configTextFor(s, m, driver)]));
  const plan = (now: Map<string, string>, s: ClusterSpec) =>
    planRollout(
      {
        members: s.members.map((m): ObservedServer => ({
          name: m.name,
          running: true,
          reachable: true,
          version: s.version,
          installedVersion: s.version,
          configText: now.get(m.name),
        })),
        surge: { name: s.surge.name, running: false, reachable: false, error: "not running" },
      },
      s,
      textsOf(s),
      DEFAULT_POLICY,
    );

  it("new trusted CAs: every member restarts, nothing refused", async () => {
    const north = await issueCertificateAuthority({ commonName: "north CA", validityDays: 30 });
    const s = east({ tls: { pem: eastPem } }, `${westCa.certPem}${north.certPem}`);
    const p = plan(textsOf(east({ tls: { pem: eastPem } }, westCa.certPem)), s);
    expect(p.refusals).toEqual([]);
    expect(
      p.steps
        .filter((x) => x.kind === "restart-member")
        .map((x) => x.server)
        .sort(),
    ).toEqual(["n1", "n2", "n3"]);
  });

  it("plaintext gateways written before gateway TLS existed, routes already TLS: refused with the way through", () => {
    const s = east({ tls: { pem: eastPem } }, westCa.certPem);
    const before = new Map(
      [...textsOf(s)].map(([name, text]) => [
        name,
        text.replace(/\n {2}tls \{\n[^}]*\n {2}\}\n {2}# gateway[^\n]*/, ""),
      ]),
    );
    expect(readGatewayTls(before.get("n1"))).toBe(false);
    expect(readGatewayTls(textsOf(s).get("n1"))).toBe(true);
    expect(plan(before, s).refusals).toEqual([
      "gateways: n1 runs plaintext gateways, and this config makes them TLS (they follow route TLS); a TLS gateway " +
        "and a plaintext one cannot connect, and the other clusters change by their own rollouts: drop gateways on " +
        "every cluster of the supercluster, then add them back once each runs this version",
    ]);
  });

  it("route TLS turned on for a cluster with gateways: refused, naming the gateways", () => {
    const p = plan(textsOf(east()), east({ tls: { pem: eastPem, clients: "off" } }, westCa.certPem));
    expect(p.refusals.length).toBeGreaterThan(0);
    for (const r of p.refusals) expect(r).toMatch(/^tls\.routes: n\d has gateways, and route TLS brings gateway TLS/);
  });
});
