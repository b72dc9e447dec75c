import { readTlsPosture } from "../config/text";
import { ClusterSpec } from "../spec";
import { ObservedCluster } from "./observe";

/**
 * The spec the engine's own clients (client probe, traffic watch, meta-leader step-down) connect with during a
 * rollout. While members still accept plaintext clients only (the move to `tls.clients: "optional"` is under way),
 * they talk plaintext: a TLS client is refused by a member without client TLS, and every member accepts plaintext
 * until the move to `"required"`, which starts from a cluster that offers TLS everywhere. Otherwise the spec itself.
 */
export function engineClientSpec(spec: ClusterSpec, observed: ObservedCluster | undefined): ClusterSpec {
  if (!spec.tls || spec.tls.clients !== "optional" || !observed) return spec;
  const plaintextOnly = observed.members.some(
    (m) => m.configText !== undefined && readTlsPosture(m.configText).clients === "off",
  );
  return plaintextOnly ? { ...spec, tls: { ...spec.tls, clients: "off" } } : spec;
}
