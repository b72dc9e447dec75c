/**
 * The ClusterCertificates provider: its methods called directly (as test/pulumi/provider.test.ts does for
 * RollingUpgrade), on the compiled engine they load at run time, with real crypto: check's defaults and failures,
 * create (a CA and a server certificate that openssl verifies and a real nats-server serves), diff (no change, a
 * host added, rotation, renewal due or expired, a CA near its end, a new clusterName), update (a new certificate from
 * the same CA). Then, when the real Pulumi CLI is provisioned, the resource in a throwaway project: `up`, the state
 * exported holding no private key in plain text, `preview` with no changes, `rotation` bumped, `destroy`.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  ClusterCertificatesInputs,
  ClusterCertificatesOutputs,
  clusterCertificatesProvider as provider,
} from "../../components/cluster-certificates-provider";
import { certificateFacts, servedCertificate } from "../../engine/tls/inspect";
import { issueCertificateAuthority, issueServerCertificate } from "../../engine/tls/pki";
import { engineUnavailable, pulumiOk } from "../pulumi/support/pulumi-project";
import { NEW_MINOR } from "../support/versions";
import { ensureEngineBuilt, REPO } from "./support/build";
import { openssl, tempDir, writePrivate } from "./support/files";
import { TlsCluster } from "./support/tls-servers";

const DAY = 24 * 60 * 60 * 1000;

beforeAll(() => ensureEngineBuilt(), 180_000);

/** console.log lines printed while `fn` runs (diff prints why it sees a change). */
async function printed<T>(fn: () => Promise<T>): Promise<{ result: T; lines: string }> {
  const spy = jest.spyOn(console, "log").mockImplementation(() => undefined);
  try {
    const result = await fn();
    return { result, lines: spy.mock.calls.map((c) => c.join(" ")).join("\n") };
  } finally {
    spy.mockRestore();
  }
}

const inputs = (overrides: Partial<ClusterCertificatesInputs> = {}): ClusterCertificatesInputs => ({
  clusterName: "nats-unit",
  hosts: ["10.20.0.11", "nats-a.example.internal"],
  validityDays: 365,
  renewBeforeDays: 30,
  rotation: 0,
  ...overrides,
});

describe("check", () => {
  it("applies the defaults: 365 days, renewed 30 days before, rotation 0", async () => {
    const { inputs: checked, failures } = await provider.check(undefined, { clusterName: "c", hosts: ["10.0.0.1"] });
    expect(failures).toEqual([]);
    expect(checked).toEqual({
      clusterName: "c",
      hosts: ["10.0.0.1"],
      validityDays: 365,
      renewBeforeDays: 30,
      rotation: 0,
    });
  });

  it("names each bad property and why", async () => {
    const bad = await provider.check(undefined, {
      clusterName: "",
      hosts: ["10.0.0.1", "bad_host", ""],
      validityDays: 0,
      rotation: "one" as unknown as number,
    });
    expect(bad.failures.map((f) => f.property)).toEqual([
      "clusterName",
      "hosts[1]",
      "hosts[2]",
      "validityDays",
      "rotation",
    ]);
    expect(bad.failures[1].reason).toMatch(/"bad_host" is neither an IP address nor a DNS name/);
    const early = await provider.check(undefined, {
      clusterName: "c",
      hosts: [],
      validityDays: 30,
      renewBeforeDays: 30,
    });
    expect(early.failures).toEqual([
      { property: "renewBeforeDays", reason: expect.stringMatching(/below validityDays \(30\).*every `pulumi up`/) },
    ]);
    const long = await provider.check(undefined, { clusterName: "x".repeat(62), hosts: [] });
    expect(long.failures).toEqual([{ property: "clusterName", reason: expect.stringContaining("1 to 61 characters") }]);
  });

  it("leaves values not known yet (preview) for later", async () => {
    const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
    const { failures } = await provider.check(undefined, { clusterName: "c", hosts: [unknown, "10.0.0.1"] });
    expect(failures).toEqual([]);
  });
});

describe("create, diff, update", () => {
  let dir: string;
  let created: { id: string; outs: ClusterCertificatesOutputs };

  beforeAll(async () => {
    dir = tempDir("nats-certs-provider-");
    created = await provider.create(inputs());
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("create: a CA and a server certificate for every host, localhost and 127.0.0.1, and their facts", async () => {
    const { id, outs } = created;
    expect(id).toMatch(/^nats-unit-[0-9a-f]{16}$/);
    const facts = certificateFacts(outs.certPem);
    expect(facts.subject).toBe("CN=nats-unit");
    expect(facts.dnsNames).toEqual(["nats-a.example.internal", "localhost"]);
    expect(facts.ipAddresses).toEqual(["10.20.0.11", "127.0.0.1"]);
    expect(outs.fingerprint).toBe(facts.fingerprintSha256);
    expect(outs.notAfter).toBe(facts.notAfter.toISOString());
    expect(Date.parse(outs.notAfter) - Date.now()).toBeGreaterThan(364.9 * DAY);
    expect(certificateFacts(outs.caPem).subject).toBe("CN=nats-unit CA");
    expect(outs.caFingerprint).toBe(certificateFacts(outs.caPem).fingerprintSha256);
    expect(Date.parse(outs.caNotAfter) - Date.now()).toBeGreaterThan(3649 * DAY);
    expect(outs.keyPem.startsWith("-----BEGIN PRIVATE KEY-----\n")).toBe(true);
    expect(new X509Certificate(outs.certPem).checkPrivateKey(createPrivateKey(outs.keyPem))).toBe(true);
    expect(new X509Certificate(outs.caPem).checkPrivateKey(createPrivateKey(outs.caKeyPem))).toBe(true);
    expect(outs).toMatchObject(inputs());
    const caFile = writePrivate(dir, "ca.pem", outs.caPem);
    const certFile = writePrivate(dir, "cert.pem", outs.certPem);
    expect((await openssl("verify", "-purpose", "sslserver", "-CAfile", caFile, certFile)).code).toBe(0);
  });

  it("a real nats-server serves the created material on its client and route ports", async () => {
    const { outs } = created;
    const cluster = new TlsCluster(dir, NEW_MINOR);
    try {
      const [server] = await cluster.start(["certs-a"], {
        certFile: writePrivate(dir, "served.pem", outs.certPem),
        keyFile: writePrivate(dir, "served-key.pem", outs.keyPem),
        caFile: writePrivate(dir, "served-ca.pem", outs.caPem),
      });
      for (const port of [server.clientPort, server.clusterPort]) {
        const facts = await servedCertificate({ host: "127.0.0.1", port, caPem: outs.caPem, timeoutMs: 5000 });
        expect(facts.fingerprintSha256).toBe(outs.fingerprint);
      }
    } finally {
      await cluster.stop();
    }
  });

  it("diff: the same inputs, or the hosts in another order or spelling, change nothing", async () => {
    const { outs } = created;
    expect((await printed(() => provider.diff(created.id, outs, inputs()))).result).toEqual({
      changes: false,
      replaces: [],
      deleteBeforeReplace: false,
    });
    const respelled = inputs({ hosts: ["NATS-A.example.internal.", "10.20.0.11"] });
    expect((await provider.diff(created.id, outs, respelled)).changes).toBe(false);
    // renewBeforeDays is read at each diff, not a reason by itself.
    expect((await provider.diff(created.id, outs, inputs({ renewBeforeDays: 10 }))).changes).toBe(false);
  });

  it("diff: a host added, rotation bumped or validityDays changed is an update (not a replace), saying why", async () => {
    const { outs } = created;
    const cases: [Partial<ClusterCertificatesInputs>, RegExp][] = [
      [
        { hosts: [...outs.hosts, "10.20.0.12"] },
        /hosts changed; the server certificate must be renewed: it does not name 10\.20\.0\.12/,
      ],
      [{ rotation: 1 }, /rotation 0 → 1/],
      [{ validityDays: 90 }, /validityDays 365 → 90/],
    ];
    for (const [change, why] of cases) {
      const { result, lines } = await printed(() => provider.diff(created.id, outs, inputs(change)));
      expect(result).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
      expect(lines).toMatch(/^ClusterCertificates nats-unit: a new server certificate \(same CA\): /);
      expect(lines).toMatch(why);
    }
  });

  it("diff: a certificate within renewBeforeDays of its end, or past it, is renewed (an update)", async () => {
    const { outs } = created;
    // 365 days left: renewing 366 days before the end is due now.
    const { result, lines } = await printed(() => provider.diff(created.id, outs, inputs({ renewBeforeDays: 366 })));
    expect(result.changes).toBe(true);
    expect(result.replaces).toEqual([]);
    expect(lines).toMatch(/must be renewed: it expires on .*, in 36[45]\.\d days, within the 366 days before expiry/);
    const ca = { certPem: outs.caPem, keyPem: outs.caKeyPem };
    const old = await issueServerCertificate({
      ca,
      commonName: "nats-unit",
      dnsNames: ["nats-a.example.internal", "localhost"],
      ipAddresses: ["10.20.0.11", "127.0.0.1"],
      validityDays: 1,
      now: new Date(Date.now() - 2 * DAY),
    });
    const expired = await printed(() => provider.diff(created.id, { ...outs, certPem: old.certPem }, inputs()));
    expect(expired.result.changes).toBe(true);
    expect(expired.lines).toMatch(/must be renewed: it expired on /);
  });

  it("diff: a CA near its own end is a warning, not a renewal on every up (CA rotation is out of scope)", async () => {
    const shortCa = await issueCertificateAuthority({ commonName: "nats-unit CA", validityDays: 10 });
    const cert = await issueServerCertificate({
      ca: shortCa,
      commonName: "nats-unit",
      dnsNames: ["nats-a.example.internal", "localhost"],
      ipAddresses: ["10.20.0.11", "127.0.0.1"],
      validityDays: 365,
    });
    const olds = { ...created.outs, caPem: shortCa.certPem, caKeyPem: shortCa.keyPem, certPem: cert.certPem };
    const { result, lines } = await printed(() => provider.diff(created.id, olds, inputs()));
    expect(result.changes).toBe(false);
    expect(lines).toMatch(/warning: ClusterCertificates nats-unit: the cluster CA expires on .*does not rotate its CA/);
    // A host not named is still a reason.
    const more = await printed(() => provider.diff(created.id, olds, inputs({ hosts: ["10.20.0.99"] })));
    expect(more.result.changes).toBe(true);
  });

  it("diff: a new clusterName replaces the resource (a new CA)", async () => {
    const { result, lines } = await printed(() =>
      provider.diff(created.id, created.outs, inputs({ clusterName: "other" })),
    );
    expect(result).toEqual({ changes: true, replaces: ["clusterName"], deleteBeforeReplace: false });
    expect(lines).toContain("ClusterCertificates other: clusterName changed: a new CA and server certificate");
  });

  it("diff: hosts not known yet (preview) are a change", async () => {
    const unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
    expect((await provider.diff(created.id, created.outs, inputs({ hosts: [unknown] }))).changes).toBe(true);
  });

  it("update: a new server certificate and key from the SAME CA, naming the new host", async () => {
    const olds = created.outs;
    const news = inputs({ hosts: [...olds.hosts, "10.20.0.12"], rotation: 1 });
    const { outs } = await provider.update(created.id, olds, news);
    expect(outs.caPem).toBe(olds.caPem);
    expect(outs.caKeyPem).toBe(olds.caKeyPem);
    expect(outs.caFingerprint).toBe(olds.caFingerprint);
    expect(outs.fingerprint).not.toBe(olds.fingerprint);
    expect(outs.keyPem).not.toBe(olds.keyPem);
    expect(outs).toMatchObject(news);
    expect(certificateFacts(outs.certPem).ipAddresses).toEqual(["10.20.0.11", "10.20.0.12", "127.0.0.1"]);
    // Clients that trust the CA they had trust the new certificate.
    const caFile = writePrivate(dir, "old-ca.pem", olds.caPem);
    const certFile = writePrivate(dir, "new-cert.pem", outs.certPem);
    expect(await openssl("verify", "-purpose", "sslserver", "-CAfile", caFile, certFile)).toEqual({
      code: 0,
      output: `${certFile}: OK\n`,
    });
    // And the state after it diffs clean against the same inputs.
    expect((await provider.diff(created.id, outs, news)).changes).toBe(false);
  });
});

const unavailable = engineUnavailable();
if (unavailable) console.warn(`test/tls/provider.test.ts: the real-CLI part SKIPPED: ${unavailable}`);
const describeEngine = unavailable ? describe.skip : describe;

describeEngine("ClusterCertificates through the real Pulumi CLI (file backend)", () => {
  let dir: string;
  let project: string;
  const pulumi = (...args: string[]) => pulumiOk(dir, project, args);
  type Outputs = { caPem: string; certPem: string; keyPem: string; caKeyPem: string; fingerprint: string };

  beforeAll(() => {
    dir = tempDir("nats-certs-cli-");
    project = path.join(dir, "project");
    for (const d of ["state", "home", "project"]) fs.mkdirSync(path.join(dir, d));
    fs.writeFileSync(
      path.join(project, "Pulumi.yaml"),
      // main: the copied package.json's `main` is the library entry (dist/components), not this program.
      "name: certs-test\nmain: index.ts\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n",
    );
    fs.copyFileSync(path.join(REPO, "tsconfig.json"), path.join(project, "tsconfig.json"));
    fs.copyFileSync(path.join(REPO, "package.json"), path.join(project, "package.json"));
    for (const d of ["components", "engine"]) fs.cpSync(path.join(REPO, d), path.join(project, d), { recursive: true });
    fs.symlinkSync(path.join(REPO, "node_modules"), path.join(project, "node_modules"));
    fs.symlinkSync(path.join(REPO, "dist"), path.join(project, "dist"));
    fs.writeFileSync(
      path.join(project, "index.ts"),
      [
        'import * as pulumi from "@pulumi/pulumi";',
        'import { ClusterCertificates } from "./components/cluster-certificates";',
        "const config = new pulumi.Config();",
        'const certs = new ClusterCertificates("certs", {',
        '  clusterName: "certs-test",',
        '  hosts: ["10.30.0.1", "nats-a.example.internal"],',
        '  rotation: config.getNumber("rotation") ?? 0,',
        "});",
        "export const caPem = certs.caPem;",
        "export const certPem = certs.certPem;",
        "export const keyPem = certs.keyPem;",
        "export const caKeyPem = certs.caKeyPem;",
        "export const fingerprint = certs.fingerprint;",
        "",
      ].join("\n"),
    );
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The exported state holds no private key in plain text, and does hold secrets (encrypted). */
  async function expectNoPlaintextKey(): Promise<void> {
    const state = await pulumi("stack", "export");
    expect(state).not.toContain("PRIVATE KEY");
    const resources = (JSON.parse(state) as { deployment: { resources: { urn: string; outputs?: object }[] } })
      .deployment.resources;
    const certs = resources.find((r) => r.urn.endsWith("::certs"))?.outputs as Record<string, unknown>;
    expect(certs.certPem).toEqual(expect.stringContaining("BEGIN CERTIFICATE"));
    for (const key of ["keyPem", "caKeyPem"])
      expect(certs[key]).toEqual(expect.objectContaining({ ciphertext: expect.any(String) }));
  }

  it("up creates the CA and certificate; the state and the outputs keep both keys secret", async () => {
    await pulumi("stack", "init", "dev");
    await pulumi("up", "--yes");
    await expectNoPlaintextKey();
    const shown = JSON.parse(await pulumi("stack", "output", "--json")) as Outputs;
    expect(shown.keyPem).toBe("[secret]");
    expect(shown.caKeyPem).toBe("[secret]");
    expect(shown.certPem).toContain("BEGIN CERTIFICATE");
    const outputs = JSON.parse(await pulumi("stack", "output", "--json", "--show-secrets")) as Outputs;
    expect(new X509Certificate(outputs.certPem).checkPrivateKey(createPrivateKey(outputs.keyPem))).toBe(true);
    expect(outputs.fingerprint).toBe(certificateFacts(outputs.certPem).fingerprintSha256);
  });

  it("preview finds nothing to do; a rotation bump issues a new certificate from the same CA", async () => {
    await pulumi("preview", "--expect-no-changes");
    const before = JSON.parse(await pulumi("stack", "output", "--json", "--show-secrets")) as Outputs;
    await pulumi("config", "set", "rotation", "1");
    const out = await pulumi("up", "--yes");
    expect(out).toMatch(/ClusterCertificates certs-test: a new server certificate \(same CA\): rotation 0 → 1/);
    expect(out).toMatch(/~\s+1 updated|1 updated/);
    const after = JSON.parse(await pulumi("stack", "output", "--json", "--show-secrets")) as Outputs;
    expect(after.caPem).toBe(before.caPem);
    expect(after.caKeyPem).toBe(before.caKeyPem);
    expect(after.fingerprint).not.toBe(before.fingerprint);
    expect(after.keyPem).not.toBe(before.keyPem);
    await expectNoPlaintextKey();
    await pulumi("destroy", "--yes");
  });
});
