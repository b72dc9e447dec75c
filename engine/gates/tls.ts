import { clientTlsMode, ClusterSpec, routeTlsOn } from "../spec";
import { certificateFacts, servedCertificate } from "../tls/inspect";
import { describeError, Gate, GateObservation } from "./gate";

/** Same second: `/varz` prints RFC 3339 seconds, X.509 keeps seconds too. */
function sameSecond(a: string | undefined, b: Date | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  return Math.floor(Date.parse(a) / 1000) === Math.floor(b.getTime() / 1000);
}

/** How long the gate's own TLS handshake may take. */
const HANDSHAKE_TIMEOUT_MS = 3000;

/**
 * The server runs the TLS the spec asks for, as it reports it in `/varz` (which a reload updates): route TLS loaded or
 * not (`cluster.tls_cert_not_after`), client TLS loaded when clients use it (`tls_cert_not_after`), and, when the
 * platform delivered the material, both certificates expiring when the delivered one does: a rotation that nats-server
 * did not take (a refused reload keeps the old certificate) fails here, naming both dates. Then, as a client sees
 * it: a TLS handshake on the client port verified with the CA must present the delivered certificate (fingerprint).
 * The route port is judged by `/varz` only: a handshake there without a route certificate makes every member log a
 * route handshake error at every poll.
 */
export function tlsGate(spec: ClusterSpec): Gate {
  const wantRoutes = routeTlsOn(spec);
  const wantClients = clientTlsMode(spec) !== "off";
  const pem = spec.tls?.pem;
  // Unreadable material is refused by validation before any gate runs; here it only means nothing to compare.
  const facts = pem ? factsOrUndefined(pem.certPem) : undefined;
  const notAfter = facts?.notAfter;
  const fingerprint = facts?.fingerprintSha256;
  return {
    name: "tls",
    check: async ({ monitor, server }): Promise<GateObservation> => {
      try {
        const varz = await monitor.varz();
        const routeCert = varz.cluster?.tls_cert_not_after;
        const clientCert = varz.tls_cert_not_after;
        const problems: string[] = [];
        if (wantRoutes !== (routeCert !== undefined)) {
          problems.push(
            wantRoutes ? "route TLS not loaded" : `route TLS still loaded (certificate until ${routeCert})`,
          );
        } else if (wantRoutes && notAfter && !sameSecond(routeCert, notAfter)) {
          problems.push(`route certificate expires ${routeCert}, the delivered one ${notAfter.toISOString()}`);
        }
        if (wantClients && clientCert === undefined) problems.push("client TLS not loaded");
        else if (wantClients && notAfter && !sameSecond(clientCert, notAfter)) {
          problems.push(`client certificate expires ${clientCert}, the delivered one ${notAfter.toISOString()}`);
        }
        let served = "";
        if (problems.length === 0 && wantClients && pem && fingerprint) {
          const facts = await servedCertificate({
            host: server.host,
            port: server.clientPort,
            caPem: pem.caPem,
            timeoutMs: HANDSHAKE_TIMEOUT_MS,
          });
          served = `; serves ${short(facts.fingerprintSha256)}`;
          if (facts.fingerprintSha256 !== fingerprint) {
            problems.push(`the client port serves ${facts.fingerprintSha256}, the delivered one is ${fingerprint}`);
          }
        }
        const seen =
          `/varz route TLS ${routeCert ? `until ${routeCert}` : "off"}, ` +
          `client TLS ${clientCert ? `until ${clientCert}` : "off"}${served}`;
        return { ok: problems.length === 0, observation: problems.length ? `${seen}: ${problems.join("; ")}` : seen };
      } catch (err) {
        return { ok: false, observation: describeError(err) };
      }
    },
  };
}

function factsOrUndefined(pem: string): ReturnType<typeof certificateFacts> | undefined {
  try {
    return certificateFacts(pem);
  } catch {
    return undefined;
  }
}

/** `sha256:0123abcd…` for a progress line. */
function short(fingerprint: string): string {
  return `${fingerprint.slice(0, 15)}…`;
}
