import { allServers, ClusterSpec, TlsPem } from "../spec";
import { clusterCertificateHosts, subjectAltNamesFor } from "./names";
import { issueCertificateAuthority, issueServerCertificate } from "./pki";

/**
 * Throwaway TLS material for every host of the spec, to plan with while the real material does not exist yet (a
 * `pulumi preview` before the stack has issued its certificate, or one that issues the next): the plan depends on
 * there being material (route TLS on, client TLS, a new certificate to load) and never on its bytes, so a stand-in
 * gives the plan the update will perform. Never delivered to a host: only the planner sees it.
 */
export async function standInTlsPem(spec: ClusterSpec): Promise<TlsPem> {
  const hosts = clusterCertificateHosts(allServers(spec).map((s) => s.host));
  const ca = await issueCertificateAuthority({ commonName: `${spec.name} stand-in CA`, validityDays: 2 });
  const server = await issueServerCertificate({
    ca,
    commonName: `${spec.name} stand-in`,
    ...subjectAltNamesFor(hosts),
    validityDays: 1,
  });
  return { certPem: server.certPem, keyPem: server.keyPem, caPem: ca.certPem };
}
