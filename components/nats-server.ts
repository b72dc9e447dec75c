/**
 * `NatsServer`: one VM-hosted nats-server member. The component owns the member's host, per platform:
 *   local → a LocalNatsProcess (a process on this machine, stopped when the member is deleted);
 *   aws   → an EC2 instance with its EBS volume and user data, built by the aws platform's `createAwsMemberHost`
 *           (components/aws/member-host.ts), loaded only on this branch so the local platform never loads it.
 * The member's version is not the host's business: the cluster's RollingUpgrade installs, starts and rolls it, so
 * a version bump is an in-place rollout, never a host replacement.
 */
import * as pulumi from "@pulumi/pulumi";
import { clientUrl, monitorUrl, ServerEndpoint } from "../engine/spec";
import type * as AwsMemberHostModule from "./aws/member-host";
import { LocalNatsProcess } from "./local-host";
import { MemberConfig, Platform, StackConfig } from "./stack-config";

/** Cluster-wide AWS resources a member's instance joins (NatsCluster creates them once). */
export interface AwsMemberPlacement {
  /** Subnet of this member (members are spread over the stack's subnets). */
  readonly subnetId: pulumi.Input<string>;
  /** The cluster's security group(s). */
  readonly securityGroupIds: pulumi.Input<pulumi.Input<string>[]>;
  /** The cluster's instance profile (SSM access, read access to the config parameters). */
  readonly instanceProfileName: pulumi.Input<string>;
}

/** Arguments of {@link NatsServer}. */
export interface NatsServerArgs {
  /** Where the member runs. */
  readonly platform: Platform;
  /** The member's name and ports (and host, on the local platform). */
  readonly member: MemberConfig;
  /** The stack config the member belongs to (cluster name, version, JetStream, aws settings). */
  readonly config: StackConfig;
  /** Absolute path of the engine's compiled entry point (the local host's delete stops the process with it). */
  readonly enginePath?: pulumi.Input<string>;
  /** Lame-duck deadline before the server is killed when the member is deleted, in seconds. */
  readonly stopTimeoutSeconds?: number;
  /** aws only: the subnet, security groups and instance profile of this member's instance. */
  readonly aws?: AwsMemberPlacement;
}

export class NatsServer extends pulumi.ComponentResource {
  /** Where the server listens: name, host, client/cluster/monitoring ports. */
  readonly endpoint: pulumi.Output<ServerEndpoint>;
  /** `nats://host:clientPort`. */
  readonly clientUrl: pulumi.Output<string>;
  /** `http://host:monitorPort`. */
  readonly monitorUrl: pulumi.Output<string>;
  /** The EC2 instance id (aws only), for the SSM host driver. */
  readonly instanceId?: pulumi.Output<string>;

  constructor(name: string, args: NatsServerArgs, opts?: pulumi.ComponentResourceOptions) {
    // Only the member is recorded as the component's inputs: the stack config holds secrets and the version, which
    // are the RollingUpgrade's business (a version bump must not show up as a change of every host).
    super("nats-cluster:index:NatsServer", name, { platform: args.platform, member: args.member }, opts);
    if (args.platform === "local") {
      this.endpoint = this.localHost(name, args);
    } else {
      const host = this.awsHost(name, args);
      this.endpoint = host.endpoint;
      this.instanceId = host.instanceId;
    }
    this.clientUrl = this.endpoint.apply(clientUrl);
    this.monitorUrl = this.endpoint.apply(monitorUrl);
    this.registerOutputs({
      endpoint: this.endpoint,
      clientUrl: this.clientUrl,
      monitorUrl: this.monitorUrl,
      instanceId: this.instanceId,
    });
  }

  private localHost(name: string, args: NatsServerArgs): pulumi.Output<ServerEndpoint> {
    const { member, config } = args;
    if (!config.local) throw new Error(`NatsServer ${name}: the local platform needs config.local (stateDir)`);
    if (!member.host) throw new Error(`NatsServer ${name}: member ${member.name} has no host`);
    const endpoint: ServerEndpoint = {
      name: member.name,
      host: member.host,
      clientPort: member.clientPort,
      clusterPort: member.clusterPort,
      monitorPort: member.monitorPort,
    };
    const process = new LocalNatsProcess(
      `${name}-process`,
      {
        endpoint,
        stateDir: config.local.stateDir,
        enginePath: args.enginePath,
        stopTimeoutSeconds: args.stopTimeoutSeconds,
      },
      { parent: this },
    );
    return process.endpoint;
  }

  private awsHost(
    name: string,
    args: NatsServerArgs,
  ): { endpoint: pulumi.Output<ServerEndpoint>; instanceId: pulumi.Output<string> } {
    const { member, config } = args;
    if (!config.aws || !args.aws)
      throw new Error(`NatsServer ${name}: the aws platform needs config.aws and the member's placement`);
    const { createAwsMemberHost } = require("./aws/member-host") as typeof AwsMemberHostModule;
    return createAwsMemberHost(
      `${name}-host`,
      {
        serverName: member.name,
        clusterName: config.clusterName,
        version: config.version,
        instanceType: config.aws.instanceType,
        subnetId: args.aws.subnetId,
        securityGroupIds: args.aws.securityGroupIds,
        instanceProfileName: args.aws.instanceProfileName,
        amiId: config.aws.amiId,
        clientPort: member.clientPort,
        clusterPort: member.clusterPort,
        monitorPort: member.monitorPort,
        jetstreamVolume: config.jetstream.enabled ? { sizeGiB: config.aws.volumeSizeGb } : false,
        stopTimeoutSeconds: args.stopTimeoutSeconds,
      },
      { parent: this },
    );
  }
}
