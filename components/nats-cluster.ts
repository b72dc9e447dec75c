/**
 * `NatsCluster`: N `NatsServer` members and one `RollingUpgrade` that owns their version and config.
 * The RollingUpgrade depends on every member, so on `up` the hosts exist before the cluster is bootstrapped or
 * rolled, and on `destroy` the RollingUpgrade (which removes a left-over surge server) goes before the hosts (which
 * stop their servers). On aws the cluster also owns what its instances share: the security group, the instance
 * profile and the surge server's launch template (components/aws, loaded only for that platform).
 */
import * as pulumi from "@pulumi/pulumi";
import { defaultConfigParameterPrefix } from "../engine/hosts/aws-paths";
import { ServerEndpoint } from "../engine/spec";
import type * as AwsInstanceProfile from "./aws/instance-profile";
import type * as AwsSecurityGroup from "./aws/security-group";
import type * as AwsSurgeTemplate from "./aws/surge-template";
import { AwsMemberPlacement, NatsServer } from "./nats-server";
import { DriverSettings, LastReport, PublicClusterSpec } from "./rolling-upgrade-provider";
import { defaultEnginePath, RollingUpgrade } from "./rolling-upgrade";
import { StackConfig } from "./stack-config";

/** Arguments of {@link NatsCluster}. */
export interface NatsClusterArgs {
  /** The validated stack config (readStackConfig): members, version, settings, platform, secret auth. */
  readonly config: StackConfig;
  /** Absolute path of the engine's compiled entry point. Default: the project's dist/engine/index.js. */
  readonly enginePath?: string;
}

/** What the aws members share, and what the SSM driver needs to launch the surge VM. */
interface AwsShared {
  readonly placement: (index: number) => AwsMemberPlacement;
  readonly surge: pulumi.Output<{ launchTemplateId: string; subnetId: string }>;
}

export class NatsCluster extends pulumi.ComponentResource {
  /** The members, in config order. */
  readonly servers: ReadonlyArray<NatsServer>;
  /** The rolling-update resource that owns the members' version and config. */
  readonly upgrade: RollingUpgrade;
  /** `nats://host:port` of every member. */
  readonly clientUrls: pulumi.Output<string[]>;
  /** `http://host:port` of every member's monitoring endpoint. */
  readonly monitorUrls: pulumi.Output<string[]>;
  /** Member name → the version its `/varz` reported when last seen. */
  readonly versions: pulumi.Output<Record<string, string>>;
  /** The last bootstrap or rollout report, as text. */
  readonly lastRolloutReport: pulumi.Output<string>;
  /** The last bootstrap or rollout report, as data. */
  readonly lastRolloutSummary: pulumi.Output<LastReport>;

  constructor(name: string, args: NatsClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super(
      "nats-cluster:index:NatsCluster",
      name,
      { platform: args.config.platform, clusterName: args.config.clusterName },
      opts,
    );
    const { config } = args;
    const enginePath = args.enginePath ?? defaultEnginePath();
    const shared = config.platform === "aws" ? this.awsShared(name, config) : undefined;
    // Local: leave lame duck time to finish before a member's host kills it on delete. aws: systemd's stop timeout.
    const stopTimeoutSeconds =
      config.platform === "local" ? config.lameDuck.durationSeconds + 30 : config.rollout.stopTimeoutSeconds;

    this.servers = config.members.map(
      (member, index) =>
        new NatsServer(
          `${name}-${member.name}`,
          { platform: config.platform, member, config, enginePath, stopTimeoutSeconds, aws: shared?.placement(index) },
          { parent: this },
        ),
    );
    const spec: pulumi.Output<PublicClusterSpec> = pulumi
      .all(this.servers.map((s) => s.endpoint))
      .apply((members: ServerEndpoint[]) => ({
        name: config.clusterName,
        version: config.version,
        members,
        surge: config.surge,
        routes: config.routes,
        jetstream: config.jetstream,
        lameDuck: config.lameDuck,
        ...(config.tls ? { tls: config.tls } : {}),
        ...(config.noAdvertise !== undefined ? { noAdvertise: config.noAdvertise } : {}),
        ...(config.extraSettings ? { extraSettings: config.extraSettings } : {}),
      }));

    this.upgrade = new RollingUpgrade(
      `${name}-rollout`,
      {
        spec,
        auth: config.auth,
        policy: config.rollout,
        platform: config.platform,
        driver: this.driverSettings(config, shared),
        enginePath,
        listenHost: config.platform === "local" ? "127.0.0.1" : "0.0.0.0",
      },
      { parent: this, dependsOn: [...this.servers] },
    );

    this.clientUrls = pulumi.all(this.servers.map((s) => s.clientUrl));
    this.monitorUrls = pulumi.all(this.servers.map((s) => s.monitorUrl));
    this.versions = this.upgrade.versions;
    this.lastRolloutSummary = this.upgrade.lastReport;
    this.lastRolloutReport = this.upgrade.lastReport.apply((r) => r?.text ?? "");
    this.registerOutputs({
      clientUrls: this.clientUrls,
      monitorUrls: this.monitorUrls,
      versions: this.versions,
      lastRolloutReport: this.lastRolloutReport,
    });
  }

  private driverSettings(config: StackConfig, shared: AwsShared | undefined): pulumi.Input<DriverSettings> {
    if (config.platform === "local") {
      if (!config.local) throw new Error("NatsCluster: the local platform needs config.local");
      return { kind: "local", stateDir: config.local.stateDir, binaryCacheDir: config.local.binaryCacheDir };
    }
    const instanceIds = pulumi
      .all(this.servers.map((s) => pulumi.all([s.endpoint, s.instanceId ?? ""])))
      .apply((pairs) => Object.fromEntries(pairs.map(([endpoint, id]) => [endpoint.name, id])));
    return pulumi.all([instanceIds, shared!.surge]).apply(([ids, surge]) => ({
      kind: "aws-ssm" as const,
      region: config.aws!.region,
      clusterName: config.clusterName,
      instanceIds: ids,
      surge,
    }));
  }

  /** The security group, instance profile and surge launch template every aws server of the cluster shares. */
  private awsShared(name: string, config: StackConfig): AwsShared {
    const aws = config.aws;
    if (!aws) throw new Error("NatsCluster: the aws platform needs config.aws");
    const { ClusterSecurityGroup } = require("./aws/security-group") as typeof AwsSecurityGroup;
    const { NatsInstanceProfile } = require("./aws/instance-profile") as typeof AwsInstanceProfile;
    const { SurgeLaunchTemplate } = require("./aws/surge-template") as typeof AwsSurgeTemplate;

    const group = new ClusterSecurityGroup(
      `${name}-sg`,
      { vpcId: aws.vpcId, clientCidrs: aws.clientCidrs, adminCidrs: [aws.adminCidr] },
      { parent: this },
    );
    const profile = new NatsInstanceProfile(
      `${name}-profile`,
      { configParameterPrefix: defaultConfigParameterPrefix(config.clusterName) },
      { parent: this },
    );
    const securityGroupIds = [group.securityGroupId];
    const template = new SurgeLaunchTemplate(
      `${name}-surge`,
      {
        serverName: config.surge.name,
        clusterName: config.clusterName,
        version: config.version,
        instanceType: aws.instanceType,
        instanceProfileName: profile.instanceProfileName,
        securityGroupIds,
        amiId: aws.amiId,
      },
      { parent: this },
    );
    return {
      placement: (index) => ({
        subnetId: aws.subnetIds[index % aws.subnetIds.length],
        securityGroupIds,
        instanceProfileName: profile.instanceProfileName,
      }),
      // The surge server's host is a fixed private IP of the first subnet (stack config `surge.host`).
      surge: template.launchTemplateId.apply((launchTemplateId) => ({ launchTemplateId, subnetId: aws.subnetIds[0] })),
    };
  }
}
