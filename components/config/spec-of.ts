/**
 * The engine's spec of one decoded cluster: what the decoder validates with the engine's own rules, before anything
 * is registered. Hosts the platform assigns later (aws) get a placeholder, `<name>.host.invalid`.
 */
import type { ClusterSpec, JetStreamSpec, RouteMode, ServerEndpoint } from "../../engine";
import type { ServerPlacement } from "../platforms/platform";
import type { ClusterLinks } from "./links";
import type { SharedStackConfig, SurgePlacement } from "./types";

/** One cluster's own part of the config: the single cluster of a stack, or one of `nats-cluster:clusters`. */
export interface OwnClusterConfig {
  readonly name: string;
  readonly version: string;
  readonly members: ReadonlyArray<ServerPlacement>;
  readonly surge: SurgePlacement;
  readonly routes: RouteMode;
  readonly jetstream: JetStreamSpec;
}

/** A server's endpoint: its host (given, or the placeholder) and its ports, gateway and leafnode ones when set. */
export function endpointOf(s: ServerPlacement, host?: string): ServerEndpoint {
  return {
    name: s.name,
    host: host ?? s.host ?? `${s.name}.host.invalid`,
    clientPort: s.clientPort,
    clusterPort: s.clusterPort,
    monitorPort: s.monitorPort,
    ...(s.gatewayPort !== undefined ? { gatewayPort: s.gatewayPort } : {}),
    ...(s.leafnodePort !== undefined ? { leafnodePort: s.leafnodePort } : {}),
  };
}

/** The spec of `cluster` with the shared settings and its links (`hosts`: the members' hosts, when known). */
export function specOf(
  shared: SharedStackConfig,
  cluster: OwnClusterConfig,
  links: ClusterLinks = {},
  hosts?: ReadonlyArray<string>,
): ClusterSpec {
  return {
    name: cluster.name,
    version: cluster.version,
    members: cluster.members.map((m, i) => endpointOf(m, hosts?.[i])),
    surge: {
      ...endpointOf(cluster.surge),
      ...(cluster.surge.jetstream !== undefined ? { jetstream: cluster.surge.jetstream } : {}),
    },
    routes: cluster.routes,
    jetstream: cluster.jetstream,
    lameDuck: shared.lameDuck,
    ...(shared.auth ? { auth: shared.auth } : {}),
    ...(shared.tls || shared.tlsPem
      ? { tls: { ...shared.tls, ...(shared.tlsPem ? { pem: shared.tlsPem } : {}) } }
      : {}),
    ...(shared.monitoring ? { monitoring: shared.monitoring } : {}),
    ...(shared.noAdvertise !== undefined ? { noAdvertise: shared.noAdvertise } : {}),
    ...(shared.extraSettings ? { extraSettings: shared.extraSettings } : {}),
    ...(links.gateways ? { gateways: links.gateways } : {}),
    ...(links.leafnodes ? { leafnodes: links.leafnodes } : {}),
    ...(links.hub ? { hub: links.hub } : {}),
  };
}
