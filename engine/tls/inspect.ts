/**
 * What a certificate says (fingerprint, validity, subject, SANs), and what a running nats-server serves on its
 * client or route port. Node built-ins only (`crypto.X509Certificate`, `net`, `tls`).
 *
 * A NATS client port does not start with a TLS handshake: the server first sends a plaintext `INFO {...}\r\n` line,
 * whose `tls_required` (or `tls_available`) says TLS is next, and the client upgrades the same socket. A ROUTE port
 * with TLS is the other way round: the accepting server starts the TLS handshake at once and sends its INFO only
 * over TLS afterwards (nats-server 2.14 and 2.15, server/route.go createRoute), and so does a client port with
 * `tls { handshake_first: true }`. servedCertificate handles both (see `handshake`). A route port always asks for a
 * client certificate (cluster TLS is mutual); the server's certificate reaches the client before the server judges
 * the client's, so it is read even when the server then refuses the handshake for a missing client certificate.
 */
import { createHash, X509Certificate } from "node:crypto";
import * as net from "node:net";
import * as tls from "node:tls";
import { canonicalIp } from "./names";

/** What a certificate says, as the rest of the project uses it. */
export interface CertificateFacts {
  /** `sha256:` and the lower-case hex SHA-256 of the certificate's DER: what identifies it in state and reports. */
  readonly fingerprintSha256: string;
  readonly notAfter: Date;
  readonly notBefore: Date;
  /** The subject as Node prints it, e.g. `CN=nats-local`. */
  readonly subject: string;
  /** DNS SANs, as in the certificate. */
  readonly dnsNames: string[];
  /** IP SANs, canonical (`127.0.0.1`, `::1`). */
  readonly ipAddresses: string[];
}

/** One PEM certificate block (global: every block of a bundle). */
export const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM bundle, in order; an error when there is none. */
export function parseCertificates(pem: string, what = "the PEM text"): X509Certificate[] {
  const blocks = typeof pem === "string" ? (pem.match(PEM_CERTIFICATE) ?? []) : [];
  if (blocks.length === 0) throw new Error(`${what} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return blocks.map((block) => new X509Certificate(block));
}

/** Node's `subjectAltName` text (`DNS:a, IP Address:1.2.3.4`; a value with a comma or quote comes JSON-quoted). */
function subjectAltNames(text: string | undefined): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const m of (text ?? "").matchAll(/([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g)) {
    const value = m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2];
    if (m[1] === "DNS") dnsNames.push(value);
    else if (m[1] === "IP Address") ipAddresses.push(canonicalIp(value) ?? value);
  }
  return { dnsNames, ipAddresses };
}

function factsOf(cert: X509Certificate): CertificateFacts {
  return {
    fingerprintSha256: `sha256:${createHash("sha256").update(cert.raw).digest("hex")}`,
    notAfter: cert.validToDate,
    notBefore: cert.validFromDate,
    subject: cert.subject,
    ...subjectAltNames(cert.subjectAltName),
  };
}

/** The facts of a certificate: PEM (the first certificate of a chain) or DER bytes. */
export function certificateFacts(pem: string | Buffer): CertificateFacts {
  return factsOf(Buffer.isBuffer(pem) ? new X509Certificate(pem) : parseCertificates(pem)[0]);
}

/** Whether the certificate is expired, or expires within `days` days of `now`. */
export function expiresWithin(facts: Pick<CertificateFacts, "notAfter">, days: number, now: Date): boolean {
  return facts.notAfter.getTime() - now.getTime() <= days * 24 * 60 * 60 * 1000;
}

export interface ServedCertificateRequest {
  /** The server's host (name or address), as in its client or route URL. */
  readonly host: string;
  /** Its client port or its route (cluster) port. */
  readonly port: number;
  /** The CA bundle the served certificate must verify against (PEM). */
  readonly caPem: string;
  /** The name the certificate must be valid for (SNI too, when a DNS name); default `host`. */
  readonly serverName?: string;
  /** Deadline for the whole exchange: connect, INFO, TLS handshake. */
  readonly timeoutMs: number;
  /** A client certificate and key to present (PEM): the route port refuses the handshake without one. */
  readonly clientCertPem?: string;
  readonly clientKeyPem?: string;
  /**
   * When the TLS handshake starts. `after-info`: a client port, the server sends its plaintext INFO first. `first`:
   * a route port (or a client port with `handshake_first`), the client starts TLS at once. `auto` (default): an INFO
   * that arrives within {@link AUTO_INFO_WAIT_MS} (at most a quarter of `timeoutMs`) is read first; when nothing
   * arrives by then, the client starts TLS.
   */
  readonly handshake?: "after-info" | "first" | "auto";
}

/**
 * How long `handshake: "auto"` waits for an INFO before it starts TLS. nats-server writes its INFO as it accepts the
 * connection; a route port waits for the client's TLS for its `tls.timeout` (default 2 s), so this must stay below.
 */
export const AUTO_INFO_WAIT_MS = 500;

/** The longest INFO line read before giving up (nats-server's is a few hundred bytes; max_control_line is 4 KB). */
const MAX_INFO_BYTES = 64 * 1024;

/**
 * Why `leaf` (with the intermediates the server sent) does not chain to a CA of `cas` and is not valid at `now`, or
 * undefined when it does and is. Used only when the handshake failed before Node's own verification was reported.
 */
function chainProblem(leaf: X509Certificate, intermediates: X509Certificate[], cas: X509Certificate[], now: Date) {
  const valid = (c: X509Certificate) => c.validFromDate <= now && now <= c.validToDate;
  let current = leaf;
  for (let depth = 0; depth < 10; depth++) {
    if (!valid(current))
      return `${current.subject} is not valid now (valid ${current.validFrom} to ${current.validTo})`;
    const signedBy = (c: X509Certificate) => current.checkIssued(c) && current.verify(c.publicKey);
    const ca = cas.find(signedBy);
    if (ca) return valid(ca) ? undefined : `the CA ${ca.subject} is not valid now`;
    const next = intermediates.find((c) => c.fingerprint256 !== current.fingerprint256 && c.ca && signedBy(c));
    if (!next)
      return current.checkIssued(current) && current.verify(current.publicKey)
        ? `its chain ends in ${current.subject}, a self-signed CA other than the one given`
        : `${current.subject} (issuer ${current.issuer}) is not signed by the CA given`;
    current = next;
  }
  return "the certificate chain is longer than 10";
}

/** What OpenSSL's most common verification codes mean (Node reports the code), with the code itself. */
function verifyErrorText(code: unknown): string {
  const text = String(code);
  const meaning: Record<string, string> = {
    UNABLE_TO_VERIFY_LEAF_SIGNATURE: "it is not signed by the CA given",
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "its issuer is not the CA given",
    SELF_SIGNED_CERT_IN_CHAIN: "its chain ends in a self-signed CA other than the one given",
    DEPTH_ZERO_SELF_SIGNED_CERT: "it is self-signed",
    CERT_HAS_EXPIRED: "it has expired",
    CERT_NOT_YET_VALID: "it is not valid yet",
    CERT_SIGNATURE_FAILURE: "its signature does not verify",
  };
  return meaning[text] ? `${meaning[text]} (${text})` : text;
}

/** The DER certificates a TLS socket received from its peer, leaf first ([] when none yet). */
function peerChain(socket: tls.TLSSocket): Buffer[] {
  const chain: Buffer[] = [];
  let cert: tls.DetailedPeerCertificate | undefined;
  try {
    cert = socket.getPeerCertificate(true);
  } catch {
    return chain;
  }
  while (cert?.raw && !chain.some((c) => c.equals(cert!.raw))) {
    chain.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return chain;
}

/**
 * The facts of the certificate a nats-server serves on `host:port` (its client port or its route port), verified
 * against `caPem` and checked for `serverName` (default `host`). Reads the server's plaintext INFO line and
 * upgrades the socket with TLS, or starts with TLS on a port that sends nothing first (`handshake`). Resolves as
 * soon as the server's certificate is seen and verified, whether or not the server goes on to accept this client (a
 * route port refuses one without a client certificate). Rejects, naming `host:port` and the cause: a timeout (and
 * the stage it was in), an INFO line that offers no TLS, a certificate that does not verify (and why), a port that
 * does not speak TLS, a connection refused or closed. Every socket it opened is destroyed on every path.
 */
export function servedCertificate(request: ServedCertificateRequest): Promise<CertificateFacts> {
  const where = `${request.host}:${request.port}`;
  const expectedName = request.serverName ?? request.host;
  let cas: X509Certificate[];
  try {
    cas = parseCertificates(request.caPem, "caPem");
  } catch (err) {
    return Promise.reject(new Error(`${where}: ${(err as Error).message}`, { cause: err }));
  }
  return new Promise<CertificateFacts>((resolve, reject) => {
    let stage = "connecting";
    let settled = false;
    let secure: tls.TLSSocket | undefined;
    let infoWait: NodeJS.Timeout | undefined;
    let handshakeDone = false;
    const handshake = request.handshake ?? "auto";
    const plain = net.connect({ host: request.host, port: request.port });
    const finish = (error: Error | undefined, facts?: CertificateFacts) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(infoWait);
      // A TLS socket destroyed while its handshake is still in progress leaves the TCP connection it wraps open
      // (Node 24: both report destroyed, the server never sees the close): reset that one.
      if (secure && !handshakeDone) plain.resetAndDestroy();
      secure?.destroy();
      plain.destroy();
      if (error) reject(error);
      else resolve(facts!);
    };
    const fail = (cause: string) => finish(new Error(`${where}: ${cause}`));
    const timer = setTimeout(() => {
      const hint =
        stage === "waiting for the INFO line"
          ? " (a route port, or a client port with tls.handshake_first, sends no INFO first: use handshake first)"
          : "";
      fail(`no answer within ${request.timeoutMs} ms while ${stage}${hint}`);
    }, request.timeoutMs);

    /** The server's certificate was seen: verify it and resolve, or reject naming why it does not verify. */
    const judge = (chain: Buffer[], nodeVerdict?: { authorized: boolean; error?: string }) => {
      const certs = chain.map((der) => new X509Certificate(der));
      const facts = factsOf(certs[0]);
      const named = `the server's certificate (${facts.subject}, ${facts.fingerprintSha256})`;
      const problem = nodeVerdict
        ? nodeVerdict.authorized
          ? undefined
          : nodeVerdict.error
        : chainProblem(certs[0], certs.slice(1), cas, new Date());
      if (problem) return fail(`${named} does not verify against the CA given: ${problem}`);
      // As Go and Node clients check it: an address against the IP SANs, a name against the DNS SANs (never the CN).
      const ip = canonicalIp(expectedName);
      const identity = ip ? certs[0].checkIP(ip) : certs[0].checkHost(expectedName, { subject: "never" });
      if (!identity)
        return fail(
          `${named} is not valid for ${expectedName} (DNS names: ${facts.dnsNames.join(", ") || "none"}; ` +
            `IP addresses: ${facts.ipAddresses.join(", ") || "none"})`,
        );
      finish(undefined, facts);
    };

    const upgrade = () => {
      stage = "in the TLS handshake";
      const sni = canonicalIp(expectedName) === undefined ? expectedName : undefined;
      const socket = tls.connect({
        socket: plain,
        ca: request.caPem,
        servername: sni,
        cert: request.clientCertPem,
        key: request.clientKeyPem,
        // Verified in `judge` from Node's verdict: rejecting here would hide the certificate from the error. The
        // name is checked there too (Node's own check would report a wrong name as a chain error).
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
      });
      secure = socket;
      socket.once("secureConnect", () => {
        handshakeDone = true;
        const chain = peerChain(socket);
        if (chain.length === 0) return fail("the server presented no certificate");
        judge(chain, { authorized: socket.authorized, error: verifyErrorText(socket.authorizationError) });
      });
      socket.on("error", (err) => {
        // The server refused the handshake after sending its certificate (TLS 1.2 refuses a missing client
        // certificate before the client's handshake completes): judge the certificate it sent.
        const chain = peerChain(socket);
        if (chain.length > 0) return judge(chain);
        const plainText = /wrong version number|packet length too long|unexpected eof/i.test(err.message);
        fail(`TLS handshake failed: ${err.message.trim()}${plainText ? " (the port does not speak TLS)" : ""}`);
      });
      socket.on("close", () => fail(`the connection closed ${stage}`));
    };

    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      clearTimeout(infoWait);
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf("\r\n");
      if (end < 0) {
        if (buffered.length > MAX_INFO_BYTES) fail(`no INFO line within the first ${MAX_INFO_BYTES} bytes`);
        return;
      }
      plain.off("data", onData);
      plain.pause();
      const line = buffered.subarray(0, end).toString("utf8");
      if (!line.startsWith("INFO ")) {
        return fail(`expected the server's INFO line first, got ${JSON.stringify(line.slice(0, 80))}: not a NATS port`);
      }
      let info: { tls_required?: unknown; tls_available?: unknown };
      try {
        info = JSON.parse(line.slice(5)) as typeof info;
      } catch {
        return fail(`the server's INFO line is not JSON: ${JSON.stringify(line.slice(0, 80))}`);
      }
      if (info.tls_required !== true && info.tls_available !== true)
        return fail("the server's INFO offers no TLS (neither tls_required nor tls_available): it serves plain NATS");
      upgrade();
    };

    plain.once("connect", () => {
      if (handshake === "first") return upgrade();
      stage = "waiting for the INFO line";
      plain.on("data", onData);
      if (handshake === "auto")
        infoWait = setTimeout(
          () => {
            // Nothing came: a port that expects the client's TLS first (a route port, handshake_first).
            if (settled || buffered.length > 0) return;
            plain.off("data", onData);
            upgrade();
          },
          Math.min(AUTO_INFO_WAIT_MS, request.timeoutMs / 4),
        );
    });
    plain.on("error", (err) => fail(`${stage}: ${err.message}`));
    plain.on("close", () => fail(`the server closed the connection while ${stage}`));
  });
}
