/**
 * `NatsSupercluster`: several nats-server clusters on one platform, joined by gateways (and leaf clusters on a hub),
 * rolled as a whole by one SuperclusterRollout. Per cluster it makes the hosts a NatsCluster makes (ClusterHosts:
 * `${name}-${cluster}-${member}`); the gateway remotes and the hub URLs are derived from the other clusters' hosts
 * (config/links.ts), never written by hand. The rollout depends on every host, so on `up` the hosts exist before any
 * cluster is started or rolled, and on `destroy` it goes first.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ExpectedLeaf, JetStreamSpec, RouteMode, ServerEndpoint, TlsSpec } from "../engine";
import { DEFAULT_LAME_DUCK, DEFAULT_POLICY } from "../engine/defaults";
import { ClusterHosts, generatedCertificates } from "./cluster-hosts";
import { clusterLinkPorts, superclusterLinks } from "./config/links";
import { NatsServer } from "./nats-server";
import { ServerPlacement } from "./platforms/platform";
import { publicSpec } from "./public-spec";
import type { SharedClusterArgs } from "./shared-args";
import { SuperclusterRollout } from "./supercluster-rollout";
import { SuperclusterLastReport } from "./supercluster-rollout-provider";

/** One cluster of a {@link NatsSupercluster}. Fields that shape the resource graph are plain values. */
export interface SuperclusterClusterArgs {
  /** `cluster.name` of its servers, and its gateway name: unique in the supercluster. */
  readonly name: string;
  /** The nats-server version it runs; default the supercluster's `version` (a leaf may run its own). */
  readonly version?: pulumi.Input<string>;
  /** The members: names and ports (and `gatewayPort`, `leafnodePort` where several share a host), addresses. */
  readonly members: ReadonlyArray<ServerPlacement>;
  /** The temporary surge server (and whether it runs JetStream; default not). */
  readonly surge: ServerPlacement & { readonly jetstream?: boolean };
  /** Explicit routes or seed servers. Default explicit. */
  readonly routes?: pulumi.Input<RouteMode>;
  /** JetStream on its members; default the supercluster's, and off on a leaf cluster (not supported there yet). */
  readonly jetstream?: JetStreamSpec;
  /** The gateway port of its servers that set none. Default 7222. */
  readonly gatewayPort?: number;
  /** Leaf connections its members accept (a hub of the supercluster's leaf clusters accepts them without it). */
  readonly leafnodes?: { readonly port?: number; readonly expected?: ReadonlyArray<ExpectedLeaf> };
  /** The name of the cluster of this supercluster it is a leaf of; its servers then join no gateway. */
  readonly hub?: string;
  /**
   * The user of `auth.users` a leaf cluster's servers connect to their hub as (the hub accepts leaves as it accepts
   * clients); its password is taken from `auth` when the config is rendered, so only the name is in state. Needed when
   * `auth` has users. TLS to the hub follows `tls` (clients "required": the leaf verifies the hub with the CA).
   */
  readonly hubUser?: string;
}

/** Arguments of {@link NatsSupercluster}: the clusters, and everything they share. */
export interface NatsSuperclusterArgs extends SharedClusterArgs {
  /** The nats-server version of every cluster that sets none: change it and `pulumi up` rolls them all. */
  readonly version: pulumi.Input<string>;
  /** The clusters, in config order (the rollout decides its own order from the servers). */
  readonly clusters: ReadonlyArray<SuperclusterClusterArgs>;
}

/**
 * A supercluster on one platform, rolled cluster by cluster by `pulumi up` (leaves before their hub, the JetStream
 * meta leader's cluster last; within each cluster, the surge server, lame duck and health gates of a NatsCluster).
 */
export class NatsSupercluster extends pulumi.ComponentResource {
  /** Cluster name → its members, in config order. */
  readonly servers: Readonly<Record<string, ReadonlyArray<NatsServer>>>;
  /** The one rolling-update resource of every cluster. */
  readonly rollout: SuperclusterRollout;
  /** Cluster name → `nats://host:port` of every member. */
  readonly clientUrls: pulumi.Output<Record<string, string[]>>;
  /** Cluster name → `http://host:port` of every member's monitoring endpoint. */
  readonly monitorUrls: pulumi.Output<Record<string, string[]>>;
  /** Cluster name → member name → the version its `/varz` reported when last seen. */
  readonly versions: pulumi.Output<Record<string, Record<string, string>>>;
  /** The last run, as text: each cluster reached with its report, and what is left. */
  readonly lastRolloutReport: pulumi.Output<string>;
  /** The last run as data: status, clusters left, each cluster's last report. */
  readonly lastRolloutSummary: pulumi.Output<SuperclusterLastReport>;
  /** The CA clients verify every cluster's servers with (PEM, public), when the platform delivers TLS material. */
  readonly caPem: pulumi.Output<string | undefined>;

  constructor(name: string, args: NatsSuperclusterArgs, opts?: pulumi.ComponentResourceOptions) {
    const names = args.clusters.map((c) => c.name);
    super("nats-cluster:index:NatsSupercluster", name, { platform: args.platform, clusters: names }, opts);
    for (const c of args.clusters) {
      if (c.hub !== undefined && (c.hub === c.name || !names.includes(c.hub)))
        throw new Error(
          `NatsSupercluster ${name}: cluster ${c.name}'s hub "${c.hub}" is none of the others (${names})`,
        );
    }
    const lameDuck = args.lameDuck ?? DEFAULT_LAME_DUCK;
    const tlsMaterial = Boolean(args.tlsPem || args.tlsGenerate);
    const jetstreamOf = (c: SuperclusterClusterArgs): JetStreamSpec =>
      c.jetstream ?? (c.hub !== undefined ? { enabled: false } : (args.jetstream ?? { enabled: true }));
    const hosts = args.clusters.map(
      (c) =>
        new ClusterHosts(
          `${name}-${c.name}`,
          {
            platform: args.platform,
            platformSettings: args.platformSettings,
            ...(args.providers ? { providers: args.providers } : {}),
            ...(args.platformSecrets ? { platformSecrets: args.platformSecrets } : {}),
            stack: args.stack,
            clusterName: c.name,
            version: c.version ?? args.version,
            members: c.members,
            surge: c.surge,
            jetstream: jetstreamOf(c).enabled,
            stopTimeoutSeconds: args.rollout?.stopTimeoutSeconds ?? DEFAULT_POLICY.stopTimeoutSeconds,
            tlsMaterial,
          },
          this,
        ),
    );
    this.servers = Object.fromEntries(args.clusters.map((c, i) => [c.name, hosts[i].servers]));
    const links = this.openLinks(name, args.clusters, hosts);

    const clusters = pulumi
      .all([
        pulumi.all(hosts.map((h) => h.endpoints)),
        pulumi.all(args.clusters.map((c) => c.version ?? args.version)),
        pulumi.all(args.clusters.map((c) => c.routes)),
        pulumi.all(hosts.map((h) => h.driver.settings)),
        pulumi.all([args.tls, args.noAdvertise, args.extraSettings]),
      ])
      .apply(([endpoints, versions, routes, settings, [tls, noAdvertise, extraSettings]]) => {
        const links = superclusterLinks(args.clusters.map((c, i) => ({ ...c, members: endpoints[i] })));
        return args.clusters.map((c, i) => ({
          spec: publicSpec({
            name: c.name,
            version: versions[i],
            members: endpoints[i] as ServerEndpoint[],
            surge: c.surge,
            routes: routes[i] as RouteMode | undefined,
            jetstream: jetstreamOf(c),
            lameDuck,
            tls: tls as Omit<TlsSpec, "pem"> | undefined,
            tlsMaterial,
            monitoring: args.monitoring,
            noAdvertise: noAdvertise as boolean | undefined,
            extraSettings: extraSettings as Record<string, string | number | boolean> | undefined,
            links: links[i],
          }),
          settings: settings[i] as Record<string, unknown>,
        }));
      });

    // One CA for the supercluster: gateways are mutual TLS, each cluster must trust the others' certificates.
    const allHosts = pulumi.all(hosts.map((h) => h.hosts)).apply((lists) => [...new Set(lists.flat())]);
    const tlsPem = args.tlsGenerate ? generatedCertificates(name, name, allHosts, args.tlsGenerate, this) : args.tlsPem;

    this.rollout = new SuperclusterRollout(
      `${name}-rollout`,
      {
        clusters,
        auth: args.auth,
        policy: args.rollout ?? {},
        platform: args.platform,
        // The platform's secrets are the stack's, the same for every cluster's driver.
        platformSecrets: hosts[0]?.driver.secrets,
        tlsPem,
        ...(args.eventsFile !== undefined ? { eventsFile: args.eventsFile } : {}),
        ...(args.metricsFile !== undefined ? { metricsFile: args.metricsFile } : {}),
        ...(args.timelineFile !== undefined ? { timelineFile: args.timelineFile } : {}),
      },
      { parent: this, dependsOn: [...hosts.flatMap((h) => [...h.servers]), ...links] },
    );

    const byCluster = (urls: (s: NatsServer) => pulumi.Output<string>) =>
      pulumi
        .all(hosts.map((h) => pulumi.all(h.servers.map(urls))))
        .apply((lists) => Object.fromEntries(lists.map((list, i) => [names[i], list])));
    this.clientUrls = byCluster((s) => s.clientUrl);
    this.monitorUrls = byCluster((s) => s.monitorUrl);
    this.caPem = tlsPem ? pulumi.output(tlsPem).apply((p) => p.caPem) : pulumi.output(undefined);
    this.versions = this.rollout.versions;
    this.lastRolloutSummary = this.rollout.lastReport;
    this.lastRolloutReport = this.rollout.lastReport.apply((r) => r?.text ?? "");
    this.registerOutputs({
      clientUrls: this.clientUrls,
      monitorUrls: this.monitorUrls,
      versions: this.versions,
      caPem: this.caPem,
      lastRolloutReport: this.lastRolloutReport,
      lastRolloutSummary: this.lastRolloutSummary,
    });
  }

  /**
   * The platform's firewall opened for the links between clusters (gateways both ways, leaves to their hub), where
   * it keeps one (aws); the resources made, which the rollout waits for.
   */
  private openLinks(
    name: string,
    clusters: ReadonlyArray<SuperclusterClusterArgs>,
    hosts: ReadonlyArray<ClusterHosts>,
  ): pulumi.Resource[] {
    const platform = hosts[0]?.platform;
    if (!platform?.allowClusterLink) return [];
    const byName = new Map(clusters.map((c, i) => [c.name, hosts[i]]));
    return clusterLinkPorts(clusters).flatMap((link) =>
      platform.allowClusterLink!(
        {
          name: `${name}-${link.to}-${link.kind}-from-${link.from}`,
          kind: link.kind,
          from: { cluster: link.from, shared: byName.get(link.from)!.shared },
          to: { cluster: link.to, shared: byName.get(link.to)!.shared },
          ports: link.ports,
        },
        this,
      ),
    );
  }
}
