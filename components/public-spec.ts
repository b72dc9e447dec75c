/**
 * The spec a rollout resource is given for one cluster, from the component's arguments once their Outputs resolve:
 * the same shape for a NatsCluster and for each cluster of a NatsSupercluster (which adds the links to the other
 * clusters). Client auth and the TLS material are not in it: they are secret inputs of their own.
 */
import type { JetStreamSpec, LameDuckSpec, RouteMode, ServerEndpoint, TlsSpec } from "../engine";
import type { ClusterLinks } from "./config/links";
import type { PublicClusterSpec } from "./cluster-rollout-inputs";
import type { ServerPlacement } from "./platforms/platform";

/** What one cluster's spec is made of. */
export interface SpecParts {
  readonly name: string;
  readonly version: string;
  /** The members' endpoints, hosts resolved. */
  readonly members: ServerEndpoint[];
  /** The surge server as the stack places it (no host: the platform's driver places it). */
  readonly surge: ServerPlacement & { readonly jetstream?: boolean };
  readonly routes?: RouteMode;
  readonly jetstream: JetStreamSpec;
  readonly lameDuck: LameDuckSpec;
  readonly tls?: Omit<TlsSpec, "pem">;
  /** The platform delivers TLS material (`tlsPem` or generated): the spec has `tls` even when `tls` is not given. */
  readonly tlsMaterial: boolean;
  readonly monitoring?: "http" | "system-account";
  readonly noAdvertise?: boolean;
  readonly extraSettings?: Record<string, string | number | boolean>;
  /** Gateways, leafnodes and the hub, in a supercluster. */
  readonly links?: ClusterLinks;
}

export function publicSpec(parts: SpecParts): PublicClusterSpec {
  const { links, tls } = parts;
  return {
    name: parts.name,
    version: parts.version,
    members: parts.members,
    surge: { ...parts.surge, host: parts.surge.host ?? "" },
    routes: parts.routes ?? { kind: "explicit" },
    jetstream: parts.jetstream,
    lameDuck: parts.lameDuck,
    ...(tls || parts.tlsMaterial ? { tls: tls ?? {} } : {}),
    ...(parts.monitoring ? { monitoring: parts.monitoring } : {}),
    ...(parts.noAdvertise !== undefined ? { noAdvertise: parts.noAdvertise } : {}),
    ...(parts.extraSettings ? { extraSettings: parts.extraSettings } : {}),
    ...(links?.gateways ? { gateways: links.gateways } : {}),
    ...(links?.leafnodes ? { leafnodes: links.leafnodes } : {}),
    ...(links?.hub ? { hub: links.hub } : {}),
  };
}
