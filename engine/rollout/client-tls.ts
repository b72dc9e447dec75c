import { readTlsPosture } from "../config/text";
import { ClusterSpec } from "../spec";

/**
 * The spec the engine's own clients (client probe, traffic watch, meta-leader step-down, system-account monitoring)
 * connect with. While members still accept plaintext clients only (the move to `tls.clients: "optional"` is under
 * way), they talk plaintext: a TLS client is refused by a member without client TLS, and every member accepts
 * plaintext until the move to `"required"`, which starts from a cluster that offers TLS everywhere. Otherwise the
 * spec itself.
 */
export function engineClientSpec(
  spec: ClusterSpec,
  /** The observation (engine/rollout/observe.ts), of which only the members' config files are read. */
  observed: { readonly members: ReadonlyArray<{ readonly configText?: string }> } | undefined,
): ClusterSpec {
  if (!observed) return spec;
  return observed.members.some((m) => offersNoClientTls(spec, m.configText)) ? plaintextClients(spec) : spec;
}

/** The same for one server, from its config file: what a look at that server alone must connect with. */
export function serverClientSpec(spec: ClusterSpec, configText: string | undefined): ClusterSpec {
  return offersNoClientTls(spec, configText) ? plaintextClients(spec) : spec;
}

function offersNoClientTls(spec: ClusterSpec, configText: string | undefined): boolean {
  return spec.tls !== undefined && configText !== undefined && readTlsPosture(configText).clients === "off";
}

function plaintextClients(spec: ClusterSpec): ClusterSpec {
  return { ...spec, tls: { ...spec.tls, clients: "off" } };
}
