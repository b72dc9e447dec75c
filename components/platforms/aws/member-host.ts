/**
 * One cluster member's VM on AWS: an EC2 instance (IMDSv2 required, encrypted root disk, SSM instance profile), an
 * encrypted EBS volume for JetStream attached as /dev/sdf, and user data that installs the stack's nats-server
 * version and its systemd unit (user-data.ts; no config, no secret).
 *
 * Upgrades are in place: the instance ignores changes to `userData` (and `userDataReplaceOnChange` is false), so a
 * version bump in the stack never stops, starts or replaces the VM; the RollingUpgrade installs the new binary and
 * restarts nats-server through SSM, one member at a time, behind its health gates. It ignores `ami` changes too, so a
 * newer image from the lookup never replaces a member; to move a member to a new AMI, replace it deliberately
 * (`pulumi up --replace <urn>`, one member at a time, with `privateIp` pinned so the routes stay valid).
 *
 * AWS parts of this project are verified only with mocks (test/aws/components.test.ts).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { defaultConfigParameterPrefix } from "../../../engine/hosts/aws/names";
import { ServerEndpoint } from "../../../engine/spec";
import { amiFor, AwsArch, DEFAULT_INSTANCE_TYPE } from "./ami";
import { NatsInstanceProfile } from "./instance-profile";
import { hostTags } from "./tags";
import { JETSTREAM_DEVICE, renderUserData } from "./user-data";

/** The JetStream data volume of a member. */
export interface JetStreamVolumeArgs {
  /** Size in GiB. Default 20. */
  readonly sizeGiB?: number;
  /** EBS volume type. Default "gp3". */
  readonly type?: pulumi.Input<string>;
  /** Provisioned IOPS (gp3/io1/io2). */
  readonly iops?: pulumi.Input<number>;
  /** Throughput in MiB/s (gp3). */
  readonly throughput?: pulumi.Input<number>;
  /** KMS key ARN for the volume's encryption; default the account's EBS default key. */
  readonly kmsKeyId?: pulumi.Input<string>;
}

export interface AwsMemberHostArgs {
  /** The member's `server_name` (letters, digits, "_", "-"): names the VM and its tags. */
  readonly serverName: string;
  /** `cluster.name`: tags, and the default config parameter prefix. */
  readonly clusterName: string;
  /** nats-server version the user data installs at first boot; later versions arrive through the RollingUpgrade. */
  readonly version: pulumi.Input<string>;
  /** CPU architecture; picks the AMI and the release tarball. Default "amd64". */
  readonly arch?: AwsArch;
  /** Instance type. Default t3.small (amd64) or t4g.small (arm64). */
  readonly instanceType?: pulumi.Input<string>;
  /** Subnet to place the member in (private subnets are fine: SSM needs only outbound HTTPS or VPC endpoints). */
  readonly subnetId: pulumi.Input<string>;
  /** Security groups, usually `[ClusterSecurityGroup.securityGroupId]`. */
  readonly securityGroupIds: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Instance profile with SSM access and read access to the config parameters (a cluster-wide NatsInstanceProfile).
   * When omitted, this member creates its own.
   */
  readonly instanceProfileName?: pulumi.Input<string>;
  /** Parameter Store prefix of the cluster's configs (for an instance profile created here). Default
   * "/nats-cluster/<clusterName>". */
  readonly configParameterPrefix?: string;
  /** An explicit AMI; default the Amazon Linux 2023 lookup in ami.ts. */
  readonly amiId?: pulumi.Input<string>;
  /** Image name filter for the AMI lookup, e.g. a full AL2023 image name to pin one release. */
  readonly amiNameFilter?: string;
  /** A fixed private IP in the subnet, so a replaced member keeps the address the other servers route to. */
  readonly privateIp?: pulumi.Input<string>;
  /** Client port (part of the endpoint). Default 4222. */
  readonly clientPort?: number;
  /** Cluster port. Default 6222. */
  readonly clusterPort?: number;
  /** Monitoring port. Default 8222. */
  readonly monitorPort?: number;
  /** The JetStream volume; `false` for a member without JetStream. Default 20 GiB gp3. */
  readonly jetstreamVolume?: JetStreamVolumeArgs | false;
  /** Root disk size in GiB (binaries of several versions, logs). Default 16. */
  readonly rootVolumeSizeGiB?: number;
  /** Release download base URL, for mirrors. Default the official GitHub releases. */
  readonly releaseBaseUrl?: string;
  /** systemd `TimeoutStopSec` (lame duck must end within it). Default 150. */
  readonly stopTimeoutSeconds?: number;
  /** Extra tags for every resource of this member. */
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** Throws with the field's name on arguments no AWS call should ever see. */
export function validateAwsMemberHostArgs(args: AwsMemberHostArgs): void {
  const fail = (field: string, problem: string): never => {
    throw new Error(`AwsMemberHostArgs.${field}: ${problem}`);
  };
  if (!/^[A-Za-z0-9_-]+$/.test(args.serverName ?? ""))
    fail("serverName", `"${args.serverName}" must be letters, digits, "_" and "-"`);
  if (!/^[A-Za-z0-9_-]+$/.test(args.clusterName ?? ""))
    fail("clusterName", `"${args.clusterName}" must be letters, digits, "_" and "-"`);
  if (args.arch !== undefined && args.arch !== "amd64" && args.arch !== "arm64")
    fail("arch", `"${String(args.arch)}" must be "amd64" or "arm64"`);
  for (const field of ["clientPort", "clusterPort", "monitorPort"] as const) {
    const port = args[field];
    if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535))
      fail(field, `${port} is not a TCP port (1-65535)`);
  }
  const size = args.jetstreamVolume ? args.jetstreamVolume.sizeGiB : undefined;
  if (size !== undefined && (!Number.isInteger(size) || size < 1))
    fail("jetstreamVolume.sizeGiB", `${size} must be a whole number of GiB, at least 1`);
  if (
    args.rootVolumeSizeGiB !== undefined &&
    (!Number.isInteger(args.rootVolumeSizeGiB) || args.rootVolumeSizeGiB < 8)
  ) {
    fail(
      "rootVolumeSizeGiB",
      `${args.rootVolumeSizeGiB} must be a whole number of GiB, at least 8 (the AMI's own size)`,
    );
  }
}

export class AwsMemberHost extends pulumi.ComponentResource {
  readonly instanceId: pulumi.Output<string>;
  readonly privateIp: pulumi.Output<string>;
  /** Where the member listens, as the engine's ClusterSpec wants it (host = private IP). */
  readonly endpoint: pulumi.Output<ServerEndpoint>;
  /** The JetStream volume, when there is one. */
  readonly volumeId: pulumi.Output<string | undefined>;

  constructor(name: string, args: AwsMemberHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("nats-cluster:aws:MemberHost", name, args, opts);
    const arch = args.arch ?? "amd64";
    const tags = hostTags(args.clusterName, args.serverName, "member", args.tags);
    const volume = args.jetstreamVolume === false ? undefined : (args.jetstreamVolume ?? {});

    const instanceProfileName =
      args.instanceProfileName ??
      new NatsInstanceProfile(
        `${name}-iam`,
        {
          configParameterPrefix: args.configParameterPrefix ?? defaultConfigParameterPrefix(args.clusterName),
          tags: args.tags,
        },
        { parent: this },
      ).instanceProfileName;

    // Rendered from the version only: the spec's auth and TLS never reach user data.
    const userData = pulumi.output(args.version).apply((version) =>
      renderUserData({
        serverName: args.serverName,
        version,
        arch,
        jetstreamDevice: volume ? JETSTREAM_DEVICE : undefined,
        releaseBaseUrl: args.releaseBaseUrl,
        stopTimeoutSeconds: args.stopTimeoutSeconds,
      }),
    );

    const instance = new aws.ec2.Instance(
      `${name}-instance`,
      {
        ami: amiFor(arch, { amiId: args.amiId, amiNameFilter: args.amiNameFilter, parent: this }),
        instanceType: args.instanceType ?? DEFAULT_INSTANCE_TYPE[arch],
        subnetId: args.subnetId,
        vpcSecurityGroupIds: args.securityGroupIds,
        iamInstanceProfile: instanceProfileName,
        privateIp: args.privateIp,
        // IMDSv2 only; hop limit 1 keeps instance credentials away from containers on the host.
        metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
        userData,
        userDataReplaceOnChange: false,
        rootBlockDevice: { encrypted: true, volumeType: "gp3", volumeSize: args.rootVolumeSizeGiB ?? 16, tags },
        tags,
      },
      // A version bump changes userData: ignored, the RollingUpgrade upgrades in place. A newer AMI: ignored too.
      { parent: this, ignoreChanges: ["userData", "ami"] },
    );

    if (volume) {
      const data = new aws.ebs.Volume(
        `${name}-jetstream`,
        {
          availabilityZone: instance.availabilityZone,
          size: volume.sizeGiB ?? 20,
          type: volume.type ?? "gp3",
          iops: volume.iops,
          throughput: volume.throughput,
          encrypted: true,
          kmsKeyId: volume.kmsKeyId,
          tags,
        },
        { parent: this },
      );
      new aws.ec2.VolumeAttachment(
        `${name}-jetstream-attachment`,
        // Stop the VM before detaching: JetStream must never lose its disk under a running server.
        { deviceName: JETSTREAM_DEVICE, instanceId: instance.id, volumeId: data.id, stopInstanceBeforeDetaching: true },
        { parent: this },
      );
      this.volumeId = data.id;
    } else {
      this.volumeId = pulumi.output<string | undefined>(undefined);
    }

    this.instanceId = instance.id;
    this.privateIp = instance.privateIp;
    this.endpoint = instance.privateIp.apply((host): ServerEndpoint => ({
      name: args.serverName,
      host,
      clientPort: args.clientPort ?? 4222,
      clusterPort: args.clusterPort ?? 6222,
      monitorPort: args.monitorPort ?? 8222,
    }));
    this.registerOutputs({
      instanceId: this.instanceId,
      privateIp: this.privateIp,
      endpoint: this.endpoint,
      volumeId: this.volumeId,
    });
  }
}

/** Validates the arguments (errors name the field), then creates the member's host. */
export function createAwsMemberHost(
  name: string,
  args: AwsMemberHostArgs,
  opts: pulumi.ComponentResourceOptions,
): AwsMemberHost {
  validateAwsMemberHostArgs(args);
  return new AwsMemberHost(name, args, opts);
}
