/**
 * `NatsServer`: one VM-hosted nats-server member. The component owns the member's host, built by its platform
 * (components/platforms/<name>: a local process record, an EC2 instance with its volume, an existing VM, …).
 * The member's version is not the host's business: the cluster's RollingUpgrade installs, starts and rolls it, so a
 * version bump is an in-place rollout, never a host replacement.
 */
import * as pulumi from "@pulumi/pulumi";
import { clientUrl, monitorUrl, ServerEndpoint } from "../engine/spec";
import { ClusterPlatform, PlatformClusterFacts, ServerPlacement } from "./platforms/platform";

/** Arguments of {@link NatsServer}. */
export interface NatsServerArgs {
  /** The member's name and ports, and its address when the stack gives one. */
  readonly member: ServerPlacement;
  /** Its position in the cluster (platforms place members by it, e.g. a subnet). */
  readonly index: number;
  /** The platform that hosts it. */
  readonly platform: ClusterPlatform;
  /** The platform's decoded settings (`nats-cluster:<platform>`). */
  readonly settings: unknown;
  /** What the cluster's members share on that platform (NatsCluster creates it once). */
  readonly shared: unknown;
  /** The cluster-wide facts hosts are built from (name, version at first boot, JetStream, stop timeout). */
  readonly facts: PlatformClusterFacts;
}

export class NatsServer extends pulumi.ComponentResource {
  /** Where the server listens: name, host, client/cluster/monitoring ports. */
  readonly endpoint: pulumi.Output<ServerEndpoint>;
  /** `nats://host:clientPort`. */
  readonly clientUrl: pulumi.Output<string>;
  /** `http://host:monitorPort`. */
  readonly monitorUrl: pulumi.Output<string>;
  /** What the driver needs about this host (aws: the instance id), when anything. */
  readonly hostId?: pulumi.Output<string>;

  constructor(name: string, args: NatsServerArgs, opts?: pulumi.ComponentResourceOptions) {
    // Only the member is recorded as the component's inputs: the version and the secrets are the RollingUpgrade's
    // business (a version bump must not show up as a change of every host).
    super("nats-cluster:index:NatsServer", name, { platform: args.platform.name, member: args.member }, opts);
    const { settings, shared, facts } = args;
    const host = args.platform.createMemberHost(name, args.member, args.index, { facts, settings, shared }, this);
    this.endpoint = host.endpoint;
    this.hostId = host.hostId;
    this.clientUrl = this.endpoint.apply(clientUrl);
    this.monitorUrl = this.endpoint.apply(monitorUrl);
    this.registerOutputs({
      endpoint: this.endpoint,
      clientUrl: this.clientUrl,
      monitorUrl: this.monitorUrl,
      hostId: this.hostId,
    });
  }
}
