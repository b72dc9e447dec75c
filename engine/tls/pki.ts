/**
 * A cluster's own certificate authority and its server certificates, for the stacks that make their TLS material
 * themselves (local, lab, demo): ECDSA P-256 keys, certificates nats-server (Go's crypto/x509) and OpenSSL accept.
 *
 * The library is `@peculiar/x509` (2.x) on Node's own WebCrypto (`crypto.webcrypto`), passed to every call rather
 * than set globally. `node-forge` was the other candidate and was not used: its certificate code (`forge.pki`) signs
 * and verifies with RSA keys only, and these certificates are ECDSA P-256. @peculiar/x509 finds its algorithms
 * through `tsyringe`, which needs a Reflect metadata polyfill: `reflect-metadata` is loaded just before it.
 *
 * Both are loaded on first use, not when the engine is: every RollingUpgrade preview loads the engine, and none of
 * them needs a certificate made.
 *
 * Keys leave here as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), which nats-server reads (Go's
 * tls.X509KeyPair accepts PKCS#1, PKCS#8 and SEC 1). They are secrets: the caller keeps them secret.
 */
import type * as X509 from "@peculiar/x509";
import { createPrivateKey, KeyObject, webcrypto, X509Certificate } from "node:crypto";
import { canonicalIp, hostProblem } from "./names";

/** A certificate and its private key, both PEM. */
export interface PemPair {
  /** The certificate, `-----BEGIN CERTIFICATE-----`. */
  readonly certPem: string;
  /** Its private key, PKCS#8 `-----BEGIN PRIVATE KEY-----` (a secret). */
  readonly keyPem: string;
}

export interface CertificateAuthorityRequest {
  /** The CA's subject common name, e.g. `nats-local CA` (1 to 64 characters). */
  readonly commonName: string;
  /** How long the CA is valid, in days from `now` (a fraction of a day is allowed). */
  readonly validityDays: number;
  /** The issuing time; default the current time. */
  readonly now?: Date;
}

export interface ServerCertificateRequest {
  /** The CA that signs: its certificate and private key (PKCS#8 or SEC 1 PEM; ECDSA P-256/P-384 or RSA). */
  readonly ca: PemPair;
  /** The subject common name, e.g. the cluster's name (1 to 64 characters). Clients check the SANs, not this. */
  readonly commonName: string;
  /** DNS SANs. `localhost`, when wanted, is the caller's to list. */
  readonly dnsNames: ReadonlyArray<string>;
  /** IP SANs (IPv4 or IPv6). `127.0.0.1`, when wanted, is the caller's to list. */
  readonly ipAddresses: ReadonlyArray<string>;
  /** How long the certificate is valid, in days from `now`; never past the CA's own end of validity. */
  readonly validityDays: number;
  /** The issuing time; default the current time. */
  readonly now?: Date;
}

/** notBefore is this much before the issuing time, so a host whose clock runs a little behind accepts it. */
export const NOT_BEFORE_BACKDATE_MS = 5 * 60 * 1000;

const DAY_MS = 24 * 60 * 60 * 1000;
const P256 = { name: "ECDSA", namedCurve: "P-256" } as const;

function library(): typeof X509 {
  require("reflect-metadata");
  return require("@peculiar/x509") as typeof X509;
}

const crypto = webcrypto;
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

function checkCommonName(commonName: unknown, what: string): string {
  if (typeof commonName !== "string" || commonName.trim() === "" || commonName.length > 64)
    throw new Error(`${what}: commonName must be 1 to 64 characters, got ${JSON.stringify(commonName)}`);
  return commonName;
}

function validity(validityDays: unknown, now: Date | undefined, what: string): { notBefore: Date; notAfter: Date } {
  if (typeof validityDays !== "number" || !Number.isFinite(validityDays) || validityDays <= 0)
    throw new Error(`${what}: validityDays must be a number of days above 0, got ${JSON.stringify(validityDays)}`);
  const at = now ?? new Date();
  if (Number.isNaN(at.getTime())) throw new Error(`${what}: now is not a valid date`);
  return {
    notBefore: new Date(at.getTime() - NOT_BEFORE_BACKDATE_MS),
    notAfter: new Date(at.getTime() + Math.round(validityDays * DAY_MS)),
  };
}

/** A WebCrypto key as PKCS#8 PEM (Node's encoder: 64-column base64, `\n` line ends). */
function pkcs8Pem(key: CryptoKey): string {
  return KeyObject.from(key).export({ type: "pkcs8", format: "pem" }) as string;
}

/** A certificate as PEM with `\n` line ends and a final newline. */
function certificatePem(cert: X509.X509Certificate): string {
  return `${cert.toString("pem").replace(/\r\n/g, "\n").trimEnd()}\n`;
}

async function newKeyPair(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(P256, true, ["sign", "verify"])) as CryptoKeyPair;
}

/**
 * A self-signed certificate authority: ECDSA P-256 key, SHA-256 signature, basicConstraints CA (critical, path
 * length 0: it signs server certificates, not other CAs), keyUsage keyCertSign + cRLSign (critical), subject key
 * identifier.
 */
export async function issueCertificateAuthority(request: CertificateAuthorityRequest): Promise<PemPair> {
  const x509 = library();
  const commonName = checkCommonName(request.commonName, "issueCertificateAuthority");
  const { notBefore, notAfter } = validity(request.validityDays, request.now, "issueCertificateAuthority");
  const keys = await newKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: [{ CN: [commonName] }],
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: certificatePem(cert), keyPem: pkcs8Pem(keys.privateKey) };
}

/** How WebCrypto imports and signs with the CA's key, from the key's type and curve. */
function signingParameters(key: KeyObject): {
  importAlgorithm: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
  signingAlgorithm: webcrypto.EcdsaParams | webcrypto.Algorithm;
} {
  if (key.asymmetricKeyType === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1") return { importAlgorithm: P256, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } };
    if (curve === "secp384r1")
      return {
        importAlgorithm: { name: "ECDSA", namedCurve: "P-384" },
        signingAlgorithm: { name: "ECDSA", hash: "SHA-384" },
      };
    throw new Error(`the CA's EC key is on curve ${curve}; P-256 or P-384 is supported`);
  }
  if (key.asymmetricKeyType === "rsa")
    return {
      importAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      signingAlgorithm: { name: "RSASSA-PKCS1-v1_5" },
    };
  throw new Error(`the CA's key is of type ${key.asymmetricKeyType}; ECDSA (P-256, P-384) or RSA is supported`);
}

/** The CA as parsed and checked: a CA certificate valid at `at` whose private key is the one given. */
function loadCertificateAuthority(ca: PemPair, at: Date): { cert: X509Certificate; key: KeyObject } {
  let cert: X509Certificate;
  let key: KeyObject;
  try {
    cert = new X509Certificate(ca.certPem);
  } catch (err) {
    throw new Error(`the CA certificate cannot be read: ${(err as Error).message}`, { cause: err });
  }
  try {
    key = createPrivateKey(ca.keyPem);
  } catch (err) {
    // Node's message names the format problem only; the key itself is never quoted.
    throw new Error(`the CA private key cannot be read: ${(err as Error).message}`, { cause: err });
  }
  if (!cert.ca) throw new Error(`the CA certificate (${cert.subject}) is not a CA (basicConstraints CA:FALSE)`);
  if (!cert.checkPrivateKey(key)) throw new Error(`the CA private key is not the key of the CA certificate`);
  if (new Date(cert.validTo).getTime() <= at.getTime())
    throw new Error(`the CA certificate (${cert.subject}) expired on ${new Date(cert.validTo).toISOString()}`);
  return { cert, key };
}

/**
 * A server certificate signed by `ca`: a new ECDSA P-256 key, SHA-256 (or the CA's hash), basicConstraints CA:FALSE
 * and keyUsage digitalSignature (both critical), extended key usage serverAuth AND clientAuth (nats-server uses one
 * certificate both ways on routes, and cluster TLS is always mutual), the SANs given (at least one), subject and
 * authority key identifiers. Its notAfter is never later than the CA's.
 */
export async function issueServerCertificate(request: ServerCertificateRequest): Promise<PemPair> {
  const x509 = library();
  const what = "issueServerCertificate";
  const commonName = checkCommonName(request.commonName, what);
  const { notBefore, notAfter: wanted } = validity(request.validityDays, request.now, what);
  const dnsNames = (request.dnsNames ?? []).map((name) => {
    const problem = hostProblem(name);
    if (problem) throw new Error(`${what}: dnsNames: ${problem}`);
    if (canonicalIp(name) !== undefined)
      throw new Error(`${what}: dnsNames: ${JSON.stringify(name)} is an IP address: list it in ipAddresses`);
    return name.toLowerCase();
  });
  const ipAddresses = (request.ipAddresses ?? []).map((address) => {
    const ip = typeof address === "string" ? canonicalIp(address) : undefined;
    if (ip === undefined) throw new Error(`${what}: ipAddresses: ${JSON.stringify(address)} is not an IP address`);
    return ip;
  });
  if (dnsNames.length + ipAddresses.length === 0)
    throw new Error(`${what}: no DNS name and no IP address given; a TLS client checks the SANs, so one is needed`);
  const { cert: caCert, key: caKey } = loadCertificateAuthority(request.ca, request.now ?? new Date());
  const caNotAfter = new Date(caCert.validTo);
  const notAfter = wanted.getTime() > caNotAfter.getTime() ? caNotAfter : wanted;

  const { importAlgorithm, signingAlgorithm } = signingParameters(caKey);
  const signingKey = await crypto.subtle.importKey(
    "pkcs8",
    caKey.export({ type: "pkcs8", format: "der" }),
    importAlgorithm,
    false,
    ["sign"],
  );
  const issuer = new x509.X509Certificate(caCert.raw);
  const caKeyId = issuer.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const keys = await newKeyPair();
  const cert = await x509.X509CertificateGenerator.create(
    {
      subject: [{ CN: [commonName] }],
      // The CA's subject exactly as encoded: Go matches an issuer to its CA by the raw bytes of the name.
      issuer: issuer.subjectName,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey,
      signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([
          ...dnsNames.map((value) => ({ type: "dns" as const, value })),
          ...ipAddresses.map((value) => ({ type: "ip" as const, value })),
        ]),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        caKeyId
          ? new x509.AuthorityKeyIdentifierExtension(caKeyId)
          : await x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: certificatePem(cert), keyPem: pkcs8Pem(keys.privateKey) };
}
