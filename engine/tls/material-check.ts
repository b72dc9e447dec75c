import { createPrivateKey, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { TLS_EXPIRY_WARNING_DAYS } from "../defaults";
import { AddProblem } from "../problem";
import { PEM_CERTIFICATE } from "./inspect";
import { ClusterSpec, gatewayTlsOn, routeTlsOn, ServerEndpoint, TlsPem } from "../spec";

/**
 * Checks of TLS material before anything reaches a host (`pulumi preview`): a certificate that nats-server would
 * refuse, that clients or peers would refuse, or that has expired, stops the rollout here instead of at a member's
 * start. Node's own X509Certificate does the reading; nothing here logs the key.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

function parseCertificate(add: AddProblem, field: string, pem: unknown): X509Certificate | undefined {
  if (typeof pem !== "string" || !pem.includes("-----BEGIN CERTIFICATE-----")) {
    add(field, "must be a PEM certificate (-----BEGIN CERTIFICATE-----)");
    return undefined;
  }
  try {
    return new X509Certificate(pem);
  } catch (err) {
    add(field, `is not a certificate nats-server can read (${(err as Error).message})`);
    return undefined;
  }
}

/** Does the certificate name this host (an IP SAN for an address, a DNS SAN or the CN for a name)? */
function covers(cert: X509Certificate, host: string): boolean {
  return isIP(host) ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined;
}

function checkPem(
  add: AddProblem,
  pem: TlsPem,
  servers: ReadonlyArray<{ label: string; server: ServerEndpoint }>,
  now: Date,
) {
  const cert = parseCertificate(add, "tls.pem.certPem", pem.certPem);
  const ca = parseCertificate(add, "tls.pem.caPem", pem.caPem);
  let key;
  if (typeof pem.keyPem !== "string" || !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem.keyPem)) {
    add("tls.pem.keyPem", "must be a PEM private key (-----BEGIN PRIVATE KEY-----)");
  } else {
    try {
      key = createPrivateKey(pem.keyPem);
    } catch {
      // The reader's message can quote the input: say only that it could not be read.
      add("tls.pem.keyPem", "is not a private key nats-server can read (an encrypted key is not supported)");
    }
  }
  if (cert && key && !cert.checkPrivateKey(key)) {
    add("tls.pem.keyPem", "is not the key of tls.pem.certPem; give the key the certificate was issued for");
  }
  if (ca && !ca.ca) add("tls.pem.caPem", "is not a CA certificate (basicConstraints CA:TRUE)");
  if (cert && ca && !(cert.checkIssued(ca) && cert.verify(ca.publicKey))) {
    add(
      "tls.pem.caPem",
      `did not sign tls.pem.certPem (issuer "${cert.issuer.replace(/\n/g, ", ")}"): clients and peers would refuse ` +
        "the servers; give the CA that issued the certificate",
    );
  }
  if (cert) {
    const notAfter = new Date(cert.validTo);
    if (notAfter.getTime() <= now.getTime()) {
      add("tls.pem.certPem", `expired on ${notAfter.toISOString()}; issue a new certificate`);
    }
    for (const { label, server } of servers) {
      if (typeof server?.host !== "string") continue;
      if (!covers(cert, server.host)) {
        add(
          "tls.pem.certPem",
          `does not name ${label} (${server.name}, host ${server.host}) in its subject alternative names ` +
            `(${cert.subjectAltName ?? "none"}): clients and routes that check the name would refuse it; ` +
            "issue it for every member's and the surge server's address",
        );
      }
    }
  }
}

/** Problems of the spec's `tls` block (exclusive sources, modes, material). */
export function checkTls(
  add: AddProblem,
  spec: ClusterSpec,
  servers: ReadonlyArray<{ label: string; server: ServerEndpoint }>,
  now = new Date(),
): void {
  const tls = spec.tls;
  if (tls === undefined) return;
  const files = tls.certFile !== undefined || tls.keyFile !== undefined;
  if (tls.pem !== undefined && (files || tls.caFile !== undefined)) {
    add(
      "tls.pem",
      "set either tls.pem (delivered by the platform) or tls.certFile/keyFile/caFile (already on the hosts), not both",
    );
  } else if (tls.pem === undefined) {
    for (const [field, value] of [
      ["tls.certFile", tls.certFile],
      ["tls.keyFile", tls.keyFile],
    ] as const) {
      if (typeof value !== "string" || value.length === 0) {
        add(field, "needs a path on every host, or give tls.pem for the platform to deliver the material");
      }
    }
  } else {
    checkPem(add, tls.pem, servers, now);
  }
  if (tls.clients !== undefined && !["required", "optional", "off"].includes(tls.clients)) {
    add("tls.clients", `"${String(tls.clients)}" is not "required", "optional" or "off"`);
  }
  if (tls.routes === true && tls.pem === undefined && tls.caFile === undefined) {
    add("tls.routes", "route TLS checks every peer's certificate against a CA: give tls.pem.caPem or tls.caFile");
  }
  if (tls.routes === false && tls.clients === "off") {
    add("tls", 'with clients "off" and routes false nothing uses TLS; remove the tls block instead');
  }
}

/** Warnings: a delivered certificate that expires within TLS_EXPIRY_WARNING_DAYS (shown by `pulumi preview`). */
export function tlsWarnings(add: AddProblem, spec: ClusterSpec, now = new Date()): void {
  const pem = spec.tls?.pem;
  if (typeof pem?.certPem !== "string") return;
  let notAfter: Date;
  try {
    notAfter = new Date(new X509Certificate(pem.certPem).validTo);
  } catch {
    return; // an error of checkTls
  }
  const days = (notAfter.getTime() - now.getTime()) / DAY_MS;
  if (days > 0 && days <= TLS_EXPIRY_WARNING_DAYS) {
    add(
      "tls.pem.certPem",
      `the servers' certificate expires on ${notAfter.toISOString()} (in ${Math.floor(days)} days); issue a new one ` +
        "and `pulumi up`: a new certificate is a rolling reload, no restart",
    );
  }
}

/**
 * `gateways.trustedCaPem`: the other clusters' CAs, which the gateway trusts besides this cluster's. Each block must
 * be a CA certificate in force (a server certificate here would trust nothing, an expired CA nothing either), the
 * text holds no key (it is public material, kept in plain stack config), and the gateways must run TLS at all.
 */
export function checkGatewayTrust(add: AddProblem, spec: ClusterSpec, now = new Date()): void {
  const field = "gateways.trustedCaPem";
  const pem: unknown = spec.gateways?.trustedCaPem;
  if (pem === undefined) return;
  if (typeof pem !== "string") {
    add(field, "must be PEM text of the other clusters' CA certificates (-----BEGIN CERTIFICATE-----)");
    return;
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    // Never quoted: the message must not carry the key.
    add(field, "holds a private key; give only the other clusters' CA certificates (public), never a key");
    return;
  }
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    add(field, "holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the other clusters' CA certificates");
    return;
  }
  blocks.forEach((block, i) => {
    const which = blocks.length === 1 ? "the certificate" : `certificate ${i + 1} of ${blocks.length}`;
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch (err) {
      add(field, `${which} is not a certificate nats-server can read (${(err as Error).message})`);
      return;
    }
    const subject = cert.subject.replace(/\n/g, ", ");
    if (!cert.ca)
      add(
        field,
        `${which} (${subject}) is not a CA certificate (basicConstraints CA:TRUE): a gateway trusts the CA that ` +
          "issued the other cluster's servers, give that CA's certificate (its stack's caPem)",
      );
    else if (cert.validToDate.getTime() <= now.getTime())
      add(field, `${which} (${subject}) expired on ${cert.validToDate.toISOString()}; give that cluster's current CA`);
  });
  if (gatewayTlsOn(spec)) {
    if (spec.tls?.pem === undefined)
      add(
        field,
        "is delivered as the gateway's CA bundle with tls.pem, and this cluster's material is files on the hosts " +
          "(tls.caFile); use tls.pem, or drop it and put the other clusters' CAs into the file tls.caFile names " +
          "(routes then trust them too)",
      );
    return;
  }
  add(
    field,
    !spec.tls
      ? "the gateways have no TLS (this cluster has no tls block), so there is nothing to trust with; set tls " +
          "(tls.pem with routes on: the gateways then run mutual TLS), or drop trustedCaPem"
      : !routeTlsOn(spec)
        ? "gateway TLS follows route TLS, which is off (tls.routes: false); turn tls.routes on, or drop trustedCaPem"
        : "gateway TLS needs a CA to verify with; give tls.pem or tls.caFile, or drop trustedCaPem",
  );
}

/** Warning: gateways without TLS, which any server that reaches a gateway port can join (shown by preview). */
export function gatewayTlsWarnings(add: AddProblem, spec: ClusterSpec): void {
  if (!spec.gateways || gatewayTlsOn(spec)) return;
  add(
    "gateways",
    "the gateways are plaintext and unauthenticated: any server that reaches a gateway port joins the supercluster " +
      "as a gateway and receives its traffic; turn on route TLS (tls.pem, routes on), which makes the gateways " +
      "mutual TLS too, on every cluster of the supercluster",
  );
}
