/**
 * The hosts of one cluster, the part NatsCluster and NatsSupercluster (once per cluster) share: what the members
 * share on the platform (a security group, a launch template, …), one NatsServer per member, the members' endpoints
 * as the rollout's spec wants them, and the engine driver's inputs. Not a resource of its own: its children are the
 * caller's (`parent`), named `${name}-…`, so a NatsCluster's resources keep the names and parents they always had.
 */
import * as pulumi from "@pulumi/pulumi";
import { ClusterCertificates } from "./cluster-certificates";
import type { ServerEndpoint, TlsPem } from "../engine";
import { NatsServer } from "./nats-server";
import { loadClusterPlatform } from "./platforms";
import { ClusterPlatform, DriverInputs, PlatformClusterFacts, ServerPlacement } from "./platforms/platform";

/** What the hosts of a cluster are built from. */
export interface ClusterHostsArgs {
  /** The platform (a folder of components/platforms). */
  readonly platform: string;
  /** The platform's decoded settings. */
  readonly platformSettings: unknown;
  /** Providers for the platform's resources, by package; they win over the parent's options. */
  readonly providers?: Readonly<Record<string, pulumi.ProviderResource>>;
  /** The platform's secrets (kept secret). */
  readonly platformSecrets?: pulumi.Input<Readonly<Record<string, string>>>;
  /** The stack (names state directories and tags). */
  readonly stack: string;
  /** `cluster.name`. */
  readonly clusterName: string;
  /** The version a new host installs at first boot. */
  readonly version: pulumi.Input<string>;
  /** The members. */
  readonly members: ReadonlyArray<ServerPlacement>;
  /** The surge server. */
  readonly surge: ServerPlacement;
  /** Whether the members run JetStream (volumes where the platform has them). */
  readonly jetstream: boolean;
  /** The stop timeout hosts are built with. */
  readonly stopTimeoutSeconds: number;
  /** The rollout delivers TLS material to every host. */
  readonly tlsMaterial: boolean;
}

/** The hosts of one cluster, as children of `parent`. */
export class ClusterHosts {
  /** The platform. */
  readonly platform: ClusterPlatform;
  /** One per member, in config order. */
  readonly servers: ReadonlyArray<NatsServer>;
  /** The members' endpoints, with the gateway and leafnode ports the stack gives them. */
  readonly endpoints: pulumi.Output<ServerEndpoint[]>;
  /** Every host clients and peers reach a server of this cluster by (the surge server's when the stack gives it). */
  readonly hosts: pulumi.Output<string[]>;
  /** The engine driver's settings and secrets for this cluster. */
  readonly driver: DriverInputs;

  constructor(name: string, args: ClusterHostsArgs, parent: pulumi.ComponentResource) {
    const platform = loadClusterPlatform(args.platform);
    this.platform = platform;
    const providers = { ...optionProviders(parent, platform), ...args.providers };
    const facts: PlatformClusterFacts = {
      stack: args.stack,
      clusterName: args.clusterName,
      version: args.version,
      jetstream: args.jetstream,
      members: args.members,
      surge: args.surge,
      stopTimeoutSeconds: args.stopTimeoutSeconds,
      tlsMaterial: args.tlsMaterial,
      ...(Object.keys(providers).length > 0 ? { providers } : {}),
    };
    const secrets = args.platformSecrets ? pulumi.secret(args.platformSecrets) : undefined;
    const shared = platform.createShared(name, facts, args.platformSettings, secrets, parent);
    this.servers = args.members.map(
      (member, index) =>
        new NatsServer(
          `${name}-${member.name}`,
          { member, index, platform, settings: args.platformSettings, shared, facts },
          { parent },
        ),
    );
    // A platform builds the endpoint from the host it made: the gateway and leafnode ports are the stack's.
    this.endpoints = pulumi.all(
      this.servers.map((s, i) => s.endpoint.apply((endpoint) => ({ ...endpoint, ...linkPorts(args.members[i]) }))),
    );
    this.hosts = this.endpoints.apply((members) => [
      ...new Set([...members.map((m) => m.host), ...(args.surge.host ? [args.surge.host] : [])]),
    ]);
    this.driver = platform.driverInputs(
      facts,
      args.platformSettings,
      shared,
      this.servers.map((s, i) => ({ placement: args.members[i], host: { endpoint: s.endpoint, hostId: s.hostId } })),
    );
  }
}

/** A server's own gateway and leafnode ports, where the stack gives them. */
function linkPorts(s: ServerPlacement): Partial<Pick<ServerEndpoint, "gatewayPort" | "leafnodePort">> {
  return {
    ...(s.gatewayPort !== undefined ? { gatewayPort: s.gatewayPort } : {}),
    ...(s.leafnodePort !== undefined ? { leafnodePort: s.leafnodePort } : {}),
  };
}

/**
 * The providers the component options give for the platform's packages: Pulumi hands `providers` down to children
 * by package, but the platform passes its own explicit provider to every resource, so it must be told of them.
 */
function optionProviders(
  parent: pulumi.ComponentResource,
  platform: ClusterPlatform,
): Record<string, pulumi.ProviderResource> {
  const found: Record<string, pulumi.ProviderResource> = {};
  for (const pkg of platform.providerPackages ?? []) {
    const provider = parent.getProvider(`${pkg}::`);
    if (provider) found[pkg] = provider;
  }
  return found;
}

/**
 * A CA of the stack's own and one server certificate naming every host (a `${name}-certificates` child of `parent`,
 * keys secret in state), as the TLS material the rollout delivers: secret.
 */
export function generatedCertificates(
  name: string,
  commonName: string,
  hosts: pulumi.Input<string[]>,
  options: { readonly validityDays?: number; readonly rotation?: number },
  parent: pulumi.Resource,
): pulumi.Output<TlsPem> {
  const certificates = new ClusterCertificates(
    `${name}-certificates`,
    {
      clusterName: commonName,
      hosts,
      ...(options.validityDays !== undefined ? { validityDays: options.validityDays } : {}),
      ...(options.rotation !== undefined ? { rotation: options.rotation } : {}),
    },
    { parent },
  );
  return pulumi.secret(
    pulumi
      .all([certificates.certPem, certificates.keyPem, certificates.caPem])
      .apply(([certPem, keyPem, caPem]) => ({ certPem, keyPem, caPem })),
  );
}
