/**
 * The ClusterCertificates resource's provider: a thin adapter between Pulumi's dynamic-provider protocol and the
 * engine's TLS code (engine/tls: issuing, reading certificates, deciding when to renew).
 *
 * Like the RollingUpgrade provider, it is serialized to source text and run in Pulumi's dynamic-provider process, so
 * it captures nothing of the engine: every method loads the engine's compiled JavaScript through engine-module.ts,
 * and only types are imported from it here.
 *
 * The CA is made once, at create, and kept: `update` issues a new server certificate with the SAME CA, so clients
 * and peers that trust the CA keep trusting the servers. Rotating the CA is out of scope (every client would need
 * the new CA before any server used it); a new CA comes only with a replacement (a change of `clusterName`).
 *
 * The private keys (`keyPem`, `caKeyPem`) are outputs the resource marks secret (`additionalSecretOutputs`): the
 * provider sees them in plain text, Pulumi stores them encrypted. Nothing here prints them.
 */
import type { CertificateFacts, PemPair, Problem } from "../engine";
import { CheckFailure, checkFailures } from "./check-failures";
import { EngineModule, loadEngine } from "./engine-module";

/** The resource's inputs, defaults applied by `check`. Outputs carry all of them: `diff` sees old outputs. */
export interface ClusterCertificatesInputs {
  /** The cluster's name: the server certificate's common name; the CA's is `<clusterName> CA`. */
  readonly clusterName: string;
  /** Hosts the server certificate names (IPs → IP SANs, names → DNS SANs); `localhost`, `127.0.0.1` are added. */
  readonly hosts: string[];
  /** The server certificate's validity in days. */
  readonly validityDays: number;
  /** Issue the server certificate again when it expires within this many days. */
  readonly renewBeforeDays: number;
  /** A number the operator bumps to force a new server certificate (and key). */
  readonly rotation: number;
}

/** Everything the resource stores. */
export interface ClusterCertificatesOutputs extends ClusterCertificatesInputs {
  /** The CA certificate (public): what clients and peers trust. */
  readonly caPem: string;
  /** The CA's private key (secret): kept to sign the next server certificate. */
  readonly caKeyPem: string;
  /** The server certificate (public), for every member and the surge server. */
  readonly certPem: string;
  /** The server certificate's private key (secret). */
  readonly keyPem: string;
  /** The server certificate's `sha256:<hex of DER>`. */
  readonly fingerprint: string;
  /** When the server certificate expires (ISO 8601). */
  readonly notAfter: string;
  /** The CA certificate's `sha256:<hex of DER>`. */
  readonly caFingerprint: string;
  /** When the CA expires (ISO 8601). */
  readonly caNotAfter: string;
}

/** The placeholder Pulumi sends for values not known yet (during preview). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

function containsUnknown(value: unknown): boolean {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(containsUnknown);
  return false;
}

/** The CA's common name for a cluster. */
function caCommonName(clusterName: string): string {
  return `${clusterName} CA`;
}

/** Hosts as a set: canonical addresses and lower-case names, sorted (the order of `hosts` changes nothing). */
function hostSet(engine: EngineModule, hosts: ReadonlyArray<string> | undefined): string {
  const keys = (hosts ?? []).map((h) => engine.canonicalIp(h) ?? h.toLowerCase().replace(/\.$/, ""));
  return JSON.stringify([...new Set(keys)].sort());
}

/**
 * Defaults for the optional inputs, and failures naming the property for bad ones: a cluster name that cannot be a
 * common name, a host that is neither an address nor a DNS name, lifetimes out of range (renewing at least as early
 * as the validity would renew on every `pulumi up`).
 */
async function check(
  _olds: Partial<ClusterCertificatesInputs> | undefined,
  news: Partial<ClusterCertificatesInputs>,
): Promise<{ inputs: ClusterCertificatesInputs; failures: CheckFailure[] }> {
  const engine = loadEngine();
  const defaults = engine.TLS_DEFAULTS;
  const inputs: ClusterCertificatesInputs = {
    ...news,
    clusterName: news.clusterName as string,
    hosts: news.hosts as string[],
    validityDays: news.validityDays ?? defaults.serverValidityDays,
    renewBeforeDays: news.renewBeforeDays ?? defaults.renewBeforeDays,
    rotation: news.rotation ?? 0,
  };
  const problems: Problem[] = [];
  const { clusterName, hosts, validityDays, renewBeforeDays, rotation } = inputs;
  if (!containsUnknown(clusterName)) {
    if (typeof clusterName !== "string" || clusterName.trim() === "" || caCommonName(clusterName).length > 64)
      problems.push({
        field: "clusterName",
        message: `must be 1 to ${64 - caCommonName("").length} characters (it names the CA), got ${JSON.stringify(clusterName)}`,
      });
  }
  if (!containsUnknown(hosts)) {
    if (!Array.isArray(hosts)) {
      problems.push({ field: "hosts", message: `must be a list of host names or IP addresses` });
    } else {
      hosts.forEach((host, i) => {
        const problem = containsUnknown(host) ? undefined : engine.hostProblem(host);
        if (problem) problems.push({ field: `hosts[${i}]`, message: problem });
      });
    }
  }
  const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
  if (
    !containsUnknown(validityDays) &&
    !(isNumber(validityDays) && validityDays > 0 && validityDays <= defaults.caValidityDays)
  )
    problems.push({
      field: "validityDays",
      message: `must be a number of days above 0 and at most the CA's ${defaults.caValidityDays}, got ${JSON.stringify(validityDays)}`,
    });
  else if (
    !containsUnknown(renewBeforeDays) &&
    !(isNumber(renewBeforeDays) && renewBeforeDays >= 0 && renewBeforeDays < validityDays)
  )
    problems.push({
      field: "renewBeforeDays",
      message:
        `must be at least 0 and below validityDays (${validityDays}), got ${JSON.stringify(renewBeforeDays)}: ` +
        "a certificate renewed that early would be renewed on every `pulumi up`",
    });
  if (!containsUnknown(rotation) && !isNumber(rotation))
    problems.push({ field: "rotation", message: `must be a number, got ${JSON.stringify(rotation)}` });
  return { inputs, failures: checkFailures(problems) };
}

/** Issue the server certificate for `inputs` with `ca`, and record everything. */
async function issue(
  engine: EngineModule,
  inputs: ClusterCertificatesInputs,
  ca: PemPair,
): Promise<ClusterCertificatesOutputs> {
  const { dnsNames, ipAddresses } = engine.subjectAltNamesFor(engine.clusterCertificateHosts(inputs.hosts));
  const server = await engine.issueServerCertificate({
    ca,
    commonName: inputs.clusterName,
    dnsNames,
    ipAddresses,
    validityDays: inputs.validityDays,
  });
  const facts = engine.certificateFacts(server.certPem);
  const caFacts = engine.certificateFacts(ca.certPem);
  return {
    clusterName: inputs.clusterName,
    hosts: inputs.hosts,
    validityDays: inputs.validityDays,
    renewBeforeDays: inputs.renewBeforeDays,
    rotation: inputs.rotation,
    caPem: ca.certPem,
    caKeyPem: ca.keyPem,
    certPem: server.certPem,
    keyPem: server.keyPem,
    fingerprint: facts.fingerprintSha256,
    notAfter: facts.notAfter.toISOString(),
    caFingerprint: caFacts.fingerprintSha256,
    caNotAfter: caFacts.notAfter.toISOString(),
  };
}

/**
 * Why the stored server certificate must be issued again for `news` at `now`, or undefined: a change of `hosts`,
 * `rotation` or `validityDays`, or what engine.renewalReason finds (a host it does not name, an end of validity
 * within `renewBeforeDays`). A CA that itself expires within `renewBeforeDays` is printed as a warning and not a
 * reason: the new certificate could not outlive it, so every `pulumi up` would issue one again.
 */
function reissueReason(
  engine: EngineModule,
  olds: Partial<ClusterCertificatesOutputs>,
  news: ClusterCertificatesInputs,
  now: Date,
): string | undefined {
  const reasons: string[] = [];
  if (hostSet(engine, olds.hosts) !== hostSet(engine, news.hosts)) reasons.push("hosts changed");
  if ((olds.rotation ?? 0) !== news.rotation) reasons.push(`rotation ${olds.rotation ?? 0} → ${news.rotation}`);
  if (olds.validityDays !== news.validityDays) reasons.push(`validityDays ${olds.validityDays} → ${news.validityDays}`);
  let facts: CertificateFacts | undefined;
  let caFacts: CertificateFacts | undefined;
  try {
    facts = engine.certificateFacts(olds.certPem ?? "");
    caFacts = engine.certificateFacts(olds.caPem ?? "");
  } catch (err) {
    return [...reasons, `the stored certificate cannot be read (${(err as Error).message})`].join("; ");
  }
  const caExpiring = engine.expiresWithin(caFacts, news.renewBeforeDays, now);
  if (caExpiring)
    console.log(
      `warning: ClusterCertificates ${news.clusterName}: the cluster CA expires on ${caFacts.notAfter.toISOString()}; ` +
        "this resource does not rotate its CA: replace it (a new clusterName makes a new CA) and give clients the new one",
    );
  const renewal = engine.renewalReason(facts, {
    hosts: engine.clusterCertificateHosts(news.hosts),
    // An expiring CA caps every new certificate: only a host not named is then a reason.
    renewBeforeDays: caExpiring ? -Infinity : news.renewBeforeDays,
    now,
  });
  if (renewal) reasons.push(`the server certificate must be renewed: ${renewal}`);
  return reasons.length > 0 ? reasons.join("; ") : undefined;
}

/**
 * A new `clusterName` replaces the resource (a new CA); otherwise a server certificate to issue again is an update
 * (same CA). Expiry is judged now, from the stored certificate, so `pulumi preview` shows a renewal that is due.
 */
async function diff(
  _id: string,
  olds: Partial<ClusterCertificatesOutputs>,
  news: ClusterCertificatesInputs,
): Promise<{ changes: boolean; replaces: string[]; deleteBeforeReplace: boolean }> {
  const replaces = olds.clusterName !== news.clusterName ? ["clusterName"] : [];
  if (replaces.length > 0) {
    console.log(`ClusterCertificates ${news.clusterName}: clusterName changed: a new CA and server certificate`);
    return { changes: true, replaces, deleteBeforeReplace: false };
  }
  if (containsUnknown(news.hosts) || containsUnknown(news.rotation) || containsUnknown(news.validityDays))
    return { changes: true, replaces, deleteBeforeReplace: false };
  const why = reissueReason(loadEngine(), olds, news, new Date());
  if (why) console.log(`ClusterCertificates ${news.clusterName}: a new server certificate (same CA): ${why}`);
  return { changes: why !== undefined, replaces, deleteBeforeReplace: false };
}

/** A new CA and a server certificate signed by it. */
async function create(inputs: ClusterCertificatesInputs): Promise<{ id: string; outs: ClusterCertificatesOutputs }> {
  const engine = loadEngine();
  const ca = await engine.issueCertificateAuthority({
    commonName: caCommonName(inputs.clusterName),
    validityDays: engine.TLS_DEFAULTS.caValidityDays,
  });
  const outs = await issue(engine, inputs, ca);
  return { id: `${inputs.clusterName}-${outs.caFingerprint.slice("sha256:".length, "sha256:".length + 16)}`, outs };
}

/** A new server certificate (and key) signed by the CA the resource already has. */
async function update(
  _id: string,
  olds: ClusterCertificatesOutputs,
  news: ClusterCertificatesInputs,
): Promise<{ outs: ClusterCertificatesOutputs }> {
  const engine = loadEngine();
  return { outs: await issue(engine, news, { certPem: olds.caPem, keyPem: olds.caKeyPem }) };
}

/**
 * The provider object handed to `pulumi.dynamic.Resource`. No `read` (nothing outside the state to look at: the
 * shim keeps the state as it is) and no `delete` (nothing outside the state to remove).
 */
export const clusterCertificatesProvider = { check, diff, create, update };
