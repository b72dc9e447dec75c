/**
 * What a certificate says (fingerprint, validity, subject, SANs). Node built-ins only (`crypto.X509Certificate`).
 */
import { createHash, X509Certificate } from "node:crypto";
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

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

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
