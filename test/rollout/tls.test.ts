/**
 * TLS end to end: servers that require client certificates (tls.verify), and the engine's own clients (client probe,
 * traffic watch) presenting theirs, through a whole rolling upgrade. Certificates are made with openssl at test time.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { connect } from "@nats-io/transport-node";
import { runRollout } from "../../engine/rollout/execute";
import { clientUrl, RolloutPolicy, TlsSpec } from "../../engine/spec";
import { LocalTestCluster } from "../support/local-cluster";
import { NEW_MINOR, NEW_MINOR_PREV_PATCH } from "../support/versions";

const FAST: Partial<RolloutPolicy> = { minHealthySeconds: 1, pollIntervalMs: 250, healthyDeadlineSeconds: 30 };

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
function makeCertificates(dir: string): {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
} {
  const f = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  ssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=test-ca",
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.pem"),
  );
  for (const [who, ext] of [
    // nats.js presents loopback addresses as "localhost" for TLS verification, so the server cert names both.
    ["server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"],
    ["client", "extendedKeyUsage=clientAuth"],
  ]) {
    fs.writeFileSync(f(`${who}.ext`), `${ext}\n`);
    ssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      `/CN=${who}`,
      "-keyout",
      f(`${who}.key`),
      "-out",
      f(`${who}.csr`),
    );
    ssl(
      "x509",
      "-req",
      "-in",
      f(`${who}.csr`),
      "-CA",
      f("ca.pem"),
      "-CAkey",
      f("ca.key"),
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      f(`${who}.ext`),
      "-out",
      f(`${who}.pem`),
    );
  }
  return {
    ca: f("ca.pem"),
    serverCert: f("server.pem"),
    serverKey: f("server.key"),
    clientCert: f("client.pem"),
    clientKey: f("client.key"),
  };
}

describe("TLS with client verification", () => {
  let cluster: LocalTestCluster;
  let certDir: string;
  let tls: TlsSpec;

  beforeAll(async () => {
    certDir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-tls-"));
    const c = makeCertificates(certDir);
    tls = {
      certFile: c.serverCert,
      keyFile: c.serverKey,
      caFile: c.ca,
      verify: true,
      probeCertFile: c.clientCert,
      probeKeyFile: c.clientKey,
    };
    cluster = await LocalTestCluster.create({
      members: 3,
      version: NEW_MINOR_PREV_PATCH,
      namePrefix: "tls",
      overrides: { tls },
    });
    await cluster.bootstrap(FAST);
  });
  afterAll(async () => {
    await cluster?.destroy();
    fs.rmSync(certDir, { recursive: true, force: true });
  });

  it("refuses a client without a certificate, so the probe's success below means something", async () => {
    const member = cluster.spec.members[0];
    const attempt = (withCertificate: boolean) =>
      connect({
        servers: [clientUrl(member)],
        tls: withCertificate
          ? { caFile: tls.caFile, certFile: tls.probeCertFile, keyFile: tls.probeKeyFile }
          : { caFile: tls.caFile },
        reconnect: false,
        timeout: 2000,
      }).then(
        (nc) => nc.close().then(() => "connected"),
        (e: unknown) => String(e),
      );
    // Without a certificate the connection is refused. Under TLS 1.3 the client may see either the server's
    // "certificate required" alert or only the reset that follows it (a race inside the handshake), so the
    // reason is read from the server's own log rather than from the client's error.
    expect(await attempt(false)).not.toBe("connected");
    let log = "";
    for (let tries = 0; tries < 20; tries++) {
      log = await cluster.driver.readLog(member, 50);
      if (/certificate/i.test(log)) break;
      await new Promise((r) => setTimeout(r, 100)); // the server writes the line just after the handshake fails
    }
    expect(log).toMatch(/TLS handshake error.*(didn't provide a certificate|certificate required)/i);
    // The same server and CA with the client certificate connect, so the refusal was for the missing certificate.
    expect(await attempt(true)).toBe("connected");
  });

  it("rolls the cluster with every gate, the client probe included, over TLS", async () => {
    const report = await runRollout(cluster.options(FAST, { spec: { ...cluster.spec, version: NEW_MINOR } }));
    expect(report.result).toBe("succeeded");
    expect(report.members.map((m) => m.gateTimings?.map((g) => g.gate))).toEqual(
      Array(3).fill(["ready", "version", "tls", "routes", "client-probe"]),
    );
    // The traffic watch (request/reply over TLS with the client certificate) kept getting replies.
    expect(report.clientImpact!.requests).toBeGreaterThan(10);
    expect(report.clientImpact!.failures).toBeLessThan(report.clientImpact!.requests / 4);
  });
});
