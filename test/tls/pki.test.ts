/**
 * engine/tls/pki.ts with real crypto: a CA and a server certificate issued by @peculiar/x509 on Node's WebCrypto,
 * read back by Node's X509Certificate and by `openssl` (which verifies the chain for both TLS purposes, as
 * nats-server's routes use it both ways). That nats-server itself accepts them is test/tls/served.test.ts.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import { certificateFacts } from "../../engine/tls/inspect";
import {
  issueCertificateAuthority,
  issueServerCertificate,
  NOT_BEFORE_BACKDATE_MS,
  PemPair,
} from "../../engine/tls/pki";
import { openssl, tempDir, writePrivate } from "./support/files";

const DAY = 24 * 60 * 60 * 1000;
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

describe("issueCertificateAuthority and issueServerCertificate", () => {
  const now = new Date("2026-03-01T12:00:00.000Z");
  let dir: string;
  let ca: PemPair;
  let server: PemPair;
  let files: { ca: string; caKey: string; cert: string; key: string };

  beforeAll(async () => {
    dir = tempDir("nats-pki-");
    ca = await issueCertificateAuthority({ commonName: "unit CA", validityDays: 3650, now });
    server = await issueServerCertificate({
      ca,
      commonName: "unit",
      dnsNames: ["nats-a.example.internal", "localhost"],
      ipAddresses: ["10.1.2.3", "127.0.0.1", "fd00::1"],
      validityDays: 365,
      now,
    });
    files = {
      ca: writePrivate(dir, "ca.pem", ca.certPem),
      caKey: writePrivate(dir, "ca-key.pem", ca.keyPem),
      cert: writePrivate(dir, "server.pem", server.certPem),
      key: writePrivate(dir, "server-key.pem", server.keyPem),
    };
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("the CA: self-signed ECDSA P-256, CA:TRUE, keyCertSign, its key PKCS#8", () => {
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe("CN=unit CA");
    expect(cert.issuer).toBe("CN=unit CA");
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyType).toBe("ec");
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(cert.validFromDate).toEqual(new Date(now.getTime() - NOT_BEFORE_BACKDATE_MS));
    expect(cert.validToDate).toEqual(new Date(now.getTime() + 3650 * DAY));
    expect(ca.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
    expect(cert.checkPrivateKey(createPrivateKey(ca.keyPem))).toBe(true);
  });

  it("openssl reads the CA as a critical CA with keyCertSign", async () => {
    const { code, output } = await openssl("x509", "-in", files.ca, "-noout", "-text");
    expect(code).toBe(0);
    expect(output).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(output).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(output).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
  });

  it("the server certificate: signed by the CA, ECDSA P-256, EKU serverAuth AND clientAuth, the SANs given", () => {
    const cert = new X509Certificate(server.certPem);
    const caCert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(false);
    expect(cert.subject).toBe("CN=unit");
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(cert.keyUsage).toEqual(expect.arrayContaining([SERVER_AUTH, CLIENT_AUTH]));
    expect(cert.checkPrivateKey(createPrivateKey(server.keyPem))).toBe(true);
    expect(server.keyPem.startsWith("-----BEGIN PRIVATE KEY-----\n")).toBe(true);
    const facts = certificateFacts(server.certPem);
    expect(facts.dnsNames).toEqual(["nats-a.example.internal", "localhost"]);
    expect(facts.ipAddresses).toEqual(["10.1.2.3", "127.0.0.1", "fd00::1"]);
    expect(facts.notBefore).toEqual(new Date(now.getTime() - NOT_BEFORE_BACKDATE_MS));
    expect(facts.notAfter).toEqual(new Date(now.getTime() + 365 * DAY));
  });

  it("openssl verifies the chain for a TLS server AND a TLS client, and reads the extensions", async () => {
    // -attime: the certificates were issued "at" `now`, which the test fixes.
    const at = String(Math.floor(now.getTime() / 1000) + 60);
    for (const purpose of ["sslserver", "sslclient"]) {
      const result = await openssl("verify", "-attime", at, "-purpose", purpose, "-CAfile", files.ca, files.cert);
      expect(result).toEqual({ code: 0, output: `${files.cert}: OK\n` });
    }
    const { output } = await openssl("x509", "-in", files.cert, "-noout", "-text");
    expect(output).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(output).toMatch(/X509v3 Key Usage: critical\s+Digital Signature/);
    expect(output).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(output).toMatch(/X509v3 Authority Key Identifier:/);
    expect(output).toMatch(/DNS:nats-a.example.internal, DNS:localhost, IP Address:10.1.2.3, IP Address:127.0.0.1/);
    const key = await openssl("pkey", "-in", files.key, "-noout", "-text");
    expect(key.output).toMatch(/ASN1 OID: prime256v1/);
  });

  it("openssl refuses the chain against another CA, and after the certificate's end", async () => {
    const other = await issueCertificateAuthority({ commonName: "unit CA", validityDays: 3650, now });
    const otherFile = writePrivate(dir, "other-ca.pem", other.certPem);
    const at = String(Math.floor(now.getTime() / 1000) + 60);
    const wrong = await openssl("verify", "-attime", at, "-CAfile", otherFile, files.cert);
    expect(wrong.code).not.toBe(0);
    expect(wrong.output).toMatch(/certificate signature failure|unable to get local issuer/);
    const late = String(Math.floor(now.getTime() / 1000) + 366 * 86400);
    const expired = await openssl("verify", "-attime", late, "-CAfile", files.ca, files.cert);
    expect(expired.output).toMatch(/certificate has expired/);
  });

  it("each issue makes a new key and a new serial", async () => {
    const again = await issueServerCertificate({
      ca,
      commonName: "unit",
      dnsNames: ["localhost"],
      ipAddresses: [],
      validityDays: 1,
      now,
    });
    expect(again.keyPem).not.toBe(server.keyPem);
    const [a, b] = [server, again].map((p) => new X509Certificate(p.certPem));
    expect(a.serialNumber).not.toBe(b.serialNumber);
    expect(a.publicKey.export({ type: "spki", format: "pem" })).not.toBe(
      b.publicKey.export({ type: "spki", format: "pem" }),
    );
  });

  it("a server certificate never outlives its CA", async () => {
    const shortCa = await issueCertificateAuthority({ commonName: "short CA", validityDays: 2, now });
    const cert = await issueServerCertificate({
      ca: shortCa,
      commonName: "unit",
      dnsNames: ["localhost"],
      ipAddresses: [],
      validityDays: 365,
      now,
    });
    expect(certificateFacts(cert.certPem).notAfter).toEqual(certificateFacts(shortCa.certPem).notAfter);
  });

  it("a CA made by openssl (SEC 1 EC key, and RSA) signs as well", async () => {
    for (const [kind, keyArgs] of [
      ["ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]],
      ["rsa", ["-newkey", "rsa:2048"]],
    ] as const) {
      const keyFile = writePrivate(dir, `${kind}-ca-key.pem`, "");
      const certFile = `${dir}/${kind}-ca.pem`;
      const made = await openssl(
        "req",
        "-x509",
        ...keyArgs,
        "-nodes",
        "-days",
        "2",
        "-subj",
        `/O=Acme/CN=${kind} CA`,
        "-keyout",
        keyFile,
        "-out",
        certFile,
      );
      expect(made.code).toBe(0);
      let keyPem = fs.readFileSync(keyFile, "utf8");
      if (kind === "ec") {
        // The traditional "EC PRIVATE KEY" (SEC 1) form, as older tools write it.
        const sec1File = writePrivate(dir, "ec-ca-key-sec1.pem", "");
        expect((await openssl("ec", "-in", keyFile, "-out", sec1File)).code).toBe(0);
        keyPem = fs.readFileSync(sec1File, "utf8");
        expect(keyPem).toContain("-----BEGIN EC PRIVATE KEY-----");
      }
      const leaf = await issueServerCertificate({
        ca: { certPem: fs.readFileSync(certFile, "utf8"), keyPem },
        commonName: "unit",
        dnsNames: ["localhost"],
        ipAddresses: ["127.0.0.1"],
        validityDays: 1,
      });
      const leafFile = writePrivate(dir, `${kind}-leaf.pem`, leaf.certPem);
      expect(await openssl("verify", "-purpose", "sslserver", "-CAfile", certFile, leafFile)).toEqual({
        code: 0,
        output: `${leafFile}: OK\n`,
      });
    }
  });

  it("refuses what would make a useless or wrong certificate, naming the problem", async () => {
    const base = { ca, commonName: "unit", dnsNames: ["localhost"], ipAddresses: [] as string[], validityDays: 1 };
    await expect(issueServerCertificate({ ...base, dnsNames: [] })).rejects.toThrow(/no DNS name and no IP address/);
    await expect(issueServerCertificate({ ...base, dnsNames: ["bad_name!"] })).rejects.toThrow(
      /dnsNames: "bad_name!" is neither an IP address nor a DNS name/,
    );
    await expect(issueServerCertificate({ ...base, dnsNames: ["10.0.0.1"] })).rejects.toThrow(/list it in ipAddresses/);
    await expect(issueServerCertificate({ ...base, ipAddresses: ["host.example"] })).rejects.toThrow(
      /ipAddresses: "host.example" is not an IP address/,
    );
    await expect(issueServerCertificate({ ...base, validityDays: 0 })).rejects.toThrow(/validityDays must be/);
    await expect(issueServerCertificate({ ...base, commonName: "" })).rejects.toThrow(/commonName must be/);
    await expect(issueServerCertificate({ ...base, ca: { ...ca, keyPem: server.keyPem } })).rejects.toThrow(
      /the CA private key is not the key of the CA certificate/,
    );
    await expect(issueServerCertificate({ ...base, ca: server })).rejects.toThrow(/is not a CA/);
    await expect(issueServerCertificate({ ...base, ca: { ...ca, keyPem: "not a key" } })).rejects.toThrow(
      /the CA private key cannot be read/,
    );
    await expect(issueServerCertificate({ ...base, now: new Date(now.getTime() + 3651 * DAY) })).rejects.toThrow(
      /the CA certificate \(CN=unit CA\) expired on/,
    );
    await expect(issueCertificateAuthority({ commonName: "x".repeat(65), validityDays: 1 })).rejects.toThrow(
      /commonName must be 1 to 64 characters/,
    );
  });
});
