/**
 * servedCertificate against REAL nats-server processes (the newest pinned version) that present a certificate
 * issued by engine/tls/pki.ts on the client port (tls {…}) and on the route port (cluster { tls { verify: true } }):
 * two servers that route to each other over mutual TLS with the one certificate (so Go accepts its key and both of
 * its key usages), the fingerprint read back on both ports, a wrong CA and a wrong name refused. Then small fake
 * servers on loopback for what a real one will not do on demand: an INFO without TLS, silence, a greeting that is not
 * NATS, a TLS 1.2 server that refuses a client without a certificate before the client's handshake completes. Every
 * fake server counts the connections it saw close, so a socket left open shows.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as tls from "node:tls";
import { certificateFacts, servedCertificate } from "../../engine/tls/inspect";
import { issueCertificateAuthority, issueServerCertificate, PemPair } from "../../engine/tls/pki";
import { freePorts } from "../support/ports";
import { NEW_MINOR } from "../support/versions";
import { tempDir, writePrivate } from "./support/files";
import { monitor, TlsCluster, TlsServer } from "./support/tls-servers";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually(what: string, check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(100);
  }
}

let dir: string;
let ca: PemPair;
let server: PemPair;
let fingerprint: string;

beforeAll(async () => {
  dir = tempDir("nats-served-");
  ca = await issueCertificateAuthority({ commonName: "served CA", validityDays: 30 });
  server = await issueServerCertificate({
    ca,
    commonName: "tls-test",
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    validityDays: 2,
  });
  fingerprint = certificateFacts(server.certPem).fingerprintSha256;
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe(`a real nats-server ${NEW_MINOR} with TLS on its client and route ports`, () => {
  const cluster = () => servers;
  let servers: TlsServer[];
  let tlsCluster: TlsCluster;

  beforeAll(async () => {
    tlsCluster = new TlsCluster(dir, NEW_MINOR);
    const files = {
      certFile: writePrivate(dir, "server.pem", server.certPem),
      keyFile: writePrivate(dir, "server-key.pem", server.keyPem),
      caFile: writePrivate(dir, "ca.pem", ca.certPem),
    };
    servers = await tlsCluster.start(["tls-a", "tls-b"], files);
  });
  afterAll(async () => {
    await tlsCluster?.stop();
  });

  it("the two servers route to each other over mutual TLS with the issued certificate", async () => {
    const [a, b] = cluster();
    await eventually("tls-a routes to tls-b", async () => {
      const routez = await monitor<{ routes?: { remote_name?: string }[] }>(a, "routez");
      return (routez.routes ?? []).some((r) => r.remote_name === b.name);
    });
    const varz = await monitor<{ tls_required?: boolean; cluster?: { tls_required?: boolean; tls_verify?: boolean } }>(
      a,
      "varz",
    );
    expect(varz.tls_required).toBe(true);
    expect(varz.cluster).toMatchObject({ tls_required: true, tls_verify: true });
  });

  it("the client port serves the issued certificate, and the connection is gone afterwards", async () => {
    const [a] = cluster();
    const facts = await servedCertificate({
      host: "127.0.0.1",
      port: a.clientPort,
      caPem: ca.certPem,
      timeoutMs: 5000,
    });
    expect(facts.fingerprintSha256).toBe(fingerprint);
    expect(facts.subject).toBe("CN=tls-test");
    expect(facts.ipAddresses).toEqual(["127.0.0.1"]);
    await eventually("no client connection left on tls-a", async () => {
      return (await monitor<{ num_connections: number }>(a, "connz")).num_connections === 0;
    });
  });

  it("the route port serves it too, without a client certificate (the server does not accept it)", async () => {
    const [, b] = cluster();
    const facts = await servedCertificate({
      host: "127.0.0.1",
      port: b.clusterPort,
      caPem: ca.certPem,
      timeoutMs: 5000,
    });
    expect(facts.fingerprintSha256).toBe(fingerprint);
    // The server did refuse this client: it asks every route for a certificate.
    // Under TLS 1.3 the client's side of the handshake is complete (the server's certificate seen) before the
    // server reads the client's empty certificate; the connection is closed at once, so the server logs an EOF.
    await eventually(`tls-b logs the refused route handshake`, async () =>
      /TLS route handshake error: (EOF|.*certificate)/i.test(tlsCluster.log(b)),
    ).catch((err: Error) => {
      throw new Error(`${err.message}; tls-b's log:\n${tlsCluster.log(b)}`);
    });
  });

  it("the route port, with the certificate presented as the client's (what a peer does)", async () => {
    const [a] = cluster();
    const facts = await servedCertificate({
      host: "127.0.0.1",
      port: a.clusterPort,
      caPem: ca.certPem,
      clientCertPem: server.certPem,
      clientKeyPem: server.keyPem,
      timeoutMs: 5000,
    });
    expect(facts.fingerprintSha256).toBe(fingerprint);
  });

  it("by name: localhost is in the certificate, another name is refused naming what the certificate has", async () => {
    const [a] = cluster();
    const byName = await servedCertificate({
      host: "127.0.0.1",
      port: a.clientPort,
      serverName: "localhost",
      caPem: ca.certPem,
      timeoutMs: 5000,
    });
    expect(byName.fingerprintSha256).toBe(fingerprint);
    await expect(
      servedCertificate({
        host: "127.0.0.1",
        port: a.clientPort,
        serverName: "nats-z.example",
        caPem: ca.certPem,
        timeoutMs: 5000,
      }),
    ).rejects.toThrow(
      `127.0.0.1:${a.clientPort}: the server's certificate (CN=tls-test, ${fingerprint}) is not valid for ` +
        "nats-z.example (DNS names: localhost; IP addresses: 127.0.0.1)",
    );
  });

  it("a wrong CA is a verification error naming the port and why, on both ports", async () => {
    const [a] = cluster();
    const other = await issueCertificateAuthority({ commonName: "served CA", validityDays: 30 });
    for (const port of [a.clientPort, a.clusterPort]) {
      await expect(
        servedCertificate({ host: "127.0.0.1", port, caPem: other.certPem, timeoutMs: 5000 }),
      ).rejects.toThrow(
        new RegExp(
          `^127\\.0\\.0\\.1:${port}: the server's certificate \\(CN=tls-test, ${fingerprint}\\) does not verify against ` +
            "the CA given: it is not signed by the CA given \\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\\)$",
        ),
      );
    }
  });

  it("the route port starts with TLS, not INFO: waiting for an INFO there times out, naming why", async () => {
    const [a] = cluster();
    const first = await servedCertificate({
      host: "127.0.0.1",
      port: a.clusterPort,
      caPem: ca.certPem,
      handshake: "first",
      timeoutMs: 5000,
    });
    expect(first.fingerprintSha256).toBe(fingerprint);
    await expect(
      servedCertificate({
        host: "127.0.0.1",
        port: a.clusterPort,
        caPem: ca.certPem,
        handshake: "after-info",
        timeoutMs: 1000,
      }),
    ).rejects.toThrow(
      `127.0.0.1:${a.clusterPort}: no answer within 1000 ms while waiting for the INFO line (a route port, or a ` +
        "client port with tls.handshake_first, sends no INFO first: use handshake first)",
    );
    // And the client port sends its INFO first: a handshake started at once is a protocol error on both sides.
    await expect(
      servedCertificate({
        host: "127.0.0.1",
        port: a.clientPort,
        caPem: ca.certPem,
        handshake: "first",
        timeoutMs: 5000,
      }),
    ).rejects.toThrow(
      new RegExp(`^127\\.0\\.0\\.1:${a.clientPort}: TLS handshake failed: .*\\(the port does not speak TLS\\)$`),
    );
  });

  it("the monitoring port (HTTP) is named as a port that does not speak TLS", async () => {
    const [a] = cluster();
    // Nothing comes first (HTTP waits for the request), so the client starts TLS and gets an HTTP answer.
    await expect(
      servedCertificate({ host: "127.0.0.1", port: a.monitorPort, caPem: ca.certPem, timeoutMs: 3000 }),
    ).rejects.toThrow(
      new RegExp(`^127\\.0\\.0\\.1:${a.monitorPort}: TLS handshake failed: .*\\(the port does not speak TLS\\)$`),
    );
  });
});

/** A loopback server running `handle` on each connection; counts connections opened and closed. */
async function fakeServer(handle: (socket: net.Socket) => void) {
  const stats = { opened: 0, closed: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    stats.opened++;
    sockets.add(socket);
    socket.on("close", () => stats.closed++);
    socket.on("error", () => undefined);
    handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const allClosed = () => eventually(`every connection to :${port} closed`, async () => stats.closed === stats.opened);
  // Whatever a failed test left open is destroyed, so closing never waits on it (allClosed is what checks).
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
  return { port, stats, allClosed, close };
}

describe("fake servers: what a real one will not do on demand", () => {
  const request = (port: number, extra: Partial<Parameters<typeof servedCertificate>[0]> = {}) =>
    servedCertificate({ host: "127.0.0.1", port, caPem: ca.certPem, timeoutMs: 1000, ...extra });

  it("an INFO without TLS: the port serves plain NATS", async () => {
    const fake = await fakeServer((s) => s.write('INFO {"server_id":"X","tls_required":false}\r\n'));
    try {
      await expect(request(fake.port)).rejects.toThrow(
        `127.0.0.1:${fake.port}: the server's INFO offers no TLS (neither tls_required nor tls_available): ` +
          "it serves plain NATS",
      );
      await fake.allClosed();
    } finally {
      await fake.close();
    }
  });

  it("silence: a timeout naming the stage it was in", async () => {
    const fake = await fakeServer(() => undefined);
    try {
      await expect(request(fake.port, { timeoutMs: 400 })).rejects.toThrow(
        `127.0.0.1:${fake.port}: no answer within 400 ms while in the TLS handshake`,
      );
      await expect(request(fake.port, { timeoutMs: 300, handshake: "after-info" })).rejects.toThrow(
        `127.0.0.1:${fake.port}: no answer within 300 ms while waiting for the INFO line (a route port`,
      );
      await fake.allClosed();
    } finally {
      await fake.close();
    }
  });

  it("a greeting that is not NATS, an INFO that is not JSON, a server that hangs up", async () => {
    const cases: [(s: net.Socket) => void, string][] = [
      [(s) => s.write("SSH-2.0-OpenSSH_9.2\r\n"), 'expected the server\'s INFO line first, got "SSH-2.0-OpenSSH_9.2"'],
      [(s) => s.write("INFO {nope\r\n"), 'the server\'s INFO line is not JSON: "INFO {nope"'],
      [(s) => s.end(), "the server closed the connection while waiting for the INFO line"],
    ];
    for (const [handle, message] of cases) {
      const fake = await fakeServer(handle);
      try {
        await expect(request(fake.port)).rejects.toThrow(`127.0.0.1:${fake.port}: ${message}`);
        await fake.allClosed();
      } finally {
        await fake.close();
      }
    }
  });

  it("a closed port: the connection refused, named", async () => {
    const [port] = await freePorts(1);
    await expect(request(port)).rejects.toThrow(
      new RegExp(`^127\\.0\\.0\\.1:${port}: connecting: connect ECONNREFUSED`),
    );
  });

  it("TLS 1.2 refusing a client without a certificate before its handshake completes: the certificate still counts", async () => {
    const context = tls.createSecureContext({
      cert: server.certPem,
      key: server.keyPem,
      ca: ca.certPem,
      maxVersion: "TLSv1.2",
    });
    const refused: string[] = [];
    const fake = await fakeServer((socket) => {
      socket.write('INFO {"server_id":"X","tls_required":true}\r\n');
      const secure = new tls.TLSSocket(socket, {
        isServer: true,
        secureContext: context,
        requestCert: true,
        rejectUnauthorized: true,
      });
      secure.on("error", (e) => refused.push(e.message));
    });
    try {
      expect((await request(fake.port)).fingerprintSha256).toBe(fingerprint);
      expect(refused.join("\n")).toMatch(/peer did not return a certificate/);
      // The same path verifies by itself: a wrong CA is still an error.
      const other = await issueCertificateAuthority({ commonName: "served CA", validityDays: 30 });
      await expect(request(fake.port, { caPem: other.certPem })).rejects.toThrow(
        // This server sends the CA after its certificate (OpenSSL builds the chain from its trust store).
        "does not verify against the CA given: its chain ends in CN=served CA, a self-signed CA other than the one given",
      );
      await fake.allClosed();
    } finally {
      await fake.close();
    }
  });

  it("a caPem without a certificate is refused before connecting", async () => {
    const fake = await fakeServer(() => undefined);
    try {
      await expect(request(fake.port, { caPem: "nothing" })).rejects.toThrow(
        `127.0.0.1:${fake.port}: caPem holds no PEM certificate`,
      );
      await sleep(100);
      expect(fake.stats.opened).toBe(0);
    } finally {
      await fake.close();
    }
  });
});
