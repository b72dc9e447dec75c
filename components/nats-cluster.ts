/**
 * `NatsCluster`: N `NatsServer` members on one platform and one `RollingUpgrade` that owns their version and config.
 * The RollingUpgrade depends on every member, so on `up` the hosts exist before the cluster is started or rolled,
 * and on `destroy` the RollingUpgrade (which removes a left-over surge server) goes before the hosts (which stop
 * their servers). What the members share on their platform (a security group, a launch template, …) is created
 * once here by the platform (components/platforms/<name>).
 */
import * as pulumi from "@pulumi/pulumi";
import type { RouteMode, TlsSpec } from "../engine";
import { DEFAULT_LAME_DUCK, DEFAULT_POLICY } from "../engine/defaults";
import { ServerEndpoint } from "../engine/spec";
import { ClusterHosts, generatedCertificates } from "./cluster-hosts";
import { LastReport } from "./last-report";
import { NatsServer } from "./nats-server";
import { ServerPlacement } from "./platforms/platform";
import { publicSpec } from "./public-spec";
import { PublicClusterSpec } from "./rolling-upgrade-provider";
import { RollingUpgrade } from "./rolling-upgrade";
import type { SharedClusterArgs } from "./shared-args";

/**
 * Arguments of {@link NatsCluster}. Fields that shape the resource graph (the platform, the members, JetStream's
 * volumes, the stop timeout hosts are built with) are plain values; the rest may be Outputs.
 */
export interface NatsClusterArgs extends SharedClusterArgs {
  /** `cluster.name` of every server. */
  readonly clusterName: string;
  /** The nats-server version every member runs: change it and `pulumi up` rolls the cluster. */
  readonly version: pulumi.Input<string>;
  /** The members: names and ports, and addresses where the stack gives them. */
  readonly members: ReadonlyArray<ServerPlacement>;
  /** The temporary surge server (and whether it runs JetStream; default not). */
  readonly surge: ServerPlacement & { readonly jetstream?: boolean };
  /** Explicit routes (every member lists every member) or seed servers. Default explicit. */
  readonly routes?: pulumi.Input<RouteMode>;
}

/**
 * A nats-server cluster on one platform, rolled to a new version or config by `pulumi up` (surge server, lame duck,
 * health gates). Component options reach every child: `protect` (Pulumi refuses to delete any of them), `providers`
 * (an `aws` provider is used for every AWS resource, as `args.providers.aws` is), `aliases` (a renamed or re-parented
 * cluster keeps its resources: the children, named `${name}-…`, follow the component's alias).
 */
export class NatsCluster extends pulumi.ComponentResource {
  /** The members, in config order. */
  readonly servers: ReadonlyArray<NatsServer>;
  /** The rolling-update resource that owns the members' version and config. */
  readonly upgrade: RollingUpgrade;
  /** `nats://host:port` of every member. */
  readonly clientUrls: pulumi.Output<string[]>;
  /** The same, comma-joined, for `nats --server`. */
  readonly clientUrl: pulumi.Output<string>;
  /** `http://host:port` of every member's monitoring endpoint. */
  readonly monitorUrls: pulumi.Output<string[]>;
  /** Member name → the version its `/varz` reported when last seen. */
  readonly versions: pulumi.Output<Record<string, string>>;
  /** The last bootstrap or rollout report, as text. */
  readonly lastRolloutReport: pulumi.Output<string>;
  /** The last bootstrap or rollout report, as data. */
  readonly lastRolloutSummary: pulumi.Output<LastReport>;
  /** The CA clients verify the servers with (PEM, public), when the platform delivers TLS material. */
  readonly caPem: pulumi.Output<string | undefined>;

  constructor(name: string, args: NatsClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("nats-cluster:index:NatsCluster", name, { platform: args.platform, clusterName: args.clusterName }, opts);
    const lameDuck = args.lameDuck ?? DEFAULT_LAME_DUCK;
    const jetstream = args.jetstream ?? { enabled: true };
    const tlsMaterial = Boolean(args.tlsPem || args.tlsGenerate);
    const hosts = new ClusterHosts(
      name,
      {
        platform: args.platform,
        platformSettings: args.platformSettings,
        ...(args.providers ? { providers: args.providers } : {}),
        ...(args.platformSecrets ? { platformSecrets: args.platformSecrets } : {}),
        stack: args.stack,
        clusterName: args.clusterName,
        version: args.version,
        members: args.members,
        surge: args.surge,
        jetstream: jetstream.enabled,
        stopTimeoutSeconds: args.rollout?.stopTimeoutSeconds ?? DEFAULT_POLICY.stopTimeoutSeconds,
        tlsMaterial,
      },
      this,
    );
    this.servers = hosts.servers;
    const spec: pulumi.Output<PublicClusterSpec> = pulumi
      .all([hosts.endpoints, args.version, args.routes, args.tls, args.noAdvertise, args.extraSettings])
      .apply(
        ([members, version, routes, tls, noAdvertise, extraSettings]: [
          ServerEndpoint[],
          string,
          RouteMode?,
          TlsSpec?,
          boolean?,
          Record<string, string | number | boolean>?,
        ]) =>
          publicSpec({
            name: args.clusterName,
            version,
            members,
            surge: args.surge,
            routes,
            jetstream,
            lameDuck,
            tls,
            tlsMaterial,
            monitoring: args.monitoring,
            noAdvertise,
            extraSettings,
          }),
      );
    const driver = hosts.driver;
    const tlsPem = args.tlsGenerate
      ? generatedCertificates(name, args.clusterName, hosts.hosts, args.tlsGenerate, this)
      : args.tlsPem;

    this.upgrade = new RollingUpgrade(
      `${name}-rollout`,
      {
        spec,
        auth: args.auth,
        policy: args.rollout ?? {},
        platform: args.platform,
        settings: driver.settings,
        platformSecrets: driver.secrets,
        tlsPem,
        ...(args.eventsFile !== undefined ? { eventsFile: args.eventsFile } : {}),
        ...(args.metricsFile !== undefined ? { metricsFile: args.metricsFile } : {}),
        ...(args.timelineFile !== undefined ? { timelineFile: args.timelineFile } : {}),
      },
      { parent: this, dependsOn: [...this.servers] },
    );

    this.caPem = tlsPem ? pulumi.output(tlsPem).apply((p) => p.caPem) : pulumi.output(undefined);
    this.clientUrls = pulumi.all(this.servers.map((s) => s.clientUrl));
    this.clientUrl = this.clientUrls.apply((urls) => urls.join(","));
    this.monitorUrls = pulumi.all(this.servers.map((s) => s.monitorUrl));
    this.versions = this.upgrade.versions;
    this.lastRolloutSummary = this.upgrade.lastReport;
    this.lastRolloutReport = this.upgrade.lastReport.apply((r) => r?.text ?? "");
    this.registerOutputs({
      clientUrls: this.clientUrls,
      clientUrl: this.clientUrl,
      monitorUrls: this.monitorUrls,
      versions: this.versions,
      caPem: this.caPem,
      lastRolloutReport: this.lastRolloutReport,
      lastRolloutSummary: this.lastRolloutSummary,
    });
  }
}
