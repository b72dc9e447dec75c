/**
 * The launch template the surge server's VM is started from during a rollout (by the SSM driver's `provision`,
 * EC2 RunInstances) and terminated again at its end. Same shape as a member (AMI, instance profile, security group,
 * IMDSv2, user data with the verified install and the lame-duck systemd unit) but no JetStream volume: the surge
 * server is client-only by default, so it never joins the JetStream meta group and cannot leave a ghost peer. With
 * `surge.jetstream` on, its store lives on the root disk, which is terminated with it (its peer is removed by the
 * engine when it leaves).
 *
 * The subnet and private IP are not in the template: the driver passes them to RunInstances, since the surge
 * server must come up at the address the ClusterSpec gives it.
 *
 * The resource graph is verified with Pulumi mocks (test/aws/components.unit.test.ts); the driver's launch of it with a
 * fake EC2 that maps it to a lab VM (test/aws/lab-ssm-rollout.test.ts). Nothing here has run against AWS.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ExporterRelease } from "../../../engine/exporter";
import { ReleasePins } from "../../../engine/release";
import { amiFor, AwsArch, DEFAULT_INSTANCE_TYPE } from "./ami";
import { hostTags } from "./tags";
import { renderUserData } from "./user-data";

export interface SurgeLaunchTemplateArgs {
  /** The surge server's `server_name` (its own, never a member's). */
  readonly serverName: string;
  /** `cluster.name`: tags (the driver finds an orphaned surge VM by them). */
  readonly clusterName: string;
  /** nats-server version the user data installs at boot; the rollout installs its target version over SSM anyway. */
  readonly version: pulumi.Input<string>;
  /** CPU architecture; picks the AMI and the release tarball. Default "amd64". */
  readonly arch?: AwsArch;
  /** Instance type. Default t3.small (amd64) or t4g.small (arm64). */
  readonly instanceType?: pulumi.Input<string>;
  /** Instance profile with SSM access and read access to the config parameters (the cluster's NatsInstanceProfile). */
  readonly instanceProfileName: pulumi.Input<string>;
  /** Security groups, usually `[ClusterSecurityGroup.securityGroupId]`. */
  readonly securityGroupIds: pulumi.Input<pulumi.Input<string>[]>;
  /** An explicit AMI; default the Amazon Linux 2023 lookup in ami.ts. */
  readonly amiId?: pulumi.Input<string>;
  /** Image name filter for the AMI lookup. */
  readonly amiNameFilter?: string;
  /** Root disk size in GiB. Default 16. */
  readonly rootVolumeSizeGiB?: number;
  /** Release download base URL, for mirrors. Default the official GitHub releases. */
  readonly releaseBaseUrl?: string;
  /** Version → arch → SHA-256 of the release tarball; needed when releaseBaseUrl is plain http (engine/release.ts). */
  readonly releaseSha256?: ReleasePins;
  /** A metrics exporter installed beside nats-server at first boot (engine/exporter.ts). */
  readonly exporter?: ExporterRelease;
  /** systemd `TimeoutStopSec`. Default 150. */
  readonly stopTimeoutSeconds?: number;
  /** EC2 key pair for emergency SSH (the rollout itself uses SSM). */
  readonly keyName?: pulumi.Input<string>;
  /** Extra tags for the template and what it launches. */
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export class SurgeLaunchTemplate extends pulumi.ComponentResource {
  /** Pass to the SSM driver as `surge.launchTemplateId`. */
  readonly launchTemplateId: pulumi.Output<string>;
  readonly latestVersion: pulumi.Output<number>;

  constructor(name: string, args: SurgeLaunchTemplateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("nats-cluster:aws:SurgeLaunchTemplate", name, args, opts);
    if (!/^[A-Za-z0-9_-]+$/.test(args.serverName ?? ""))
      throw new Error(`SurgeLaunchTemplateArgs.serverName: "${args.serverName}" must be letters, digits, "_" and "-"`);
    if (!/^[A-Za-z0-9_-]+$/.test(args.clusterName ?? ""))
      throw new Error(
        `SurgeLaunchTemplateArgs.clusterName: "${args.clusterName}" must be letters, digits, "_" and "-"`,
      );
    const arch = args.arch ?? "amd64";
    const tags = hostTags(args.clusterName, args.serverName, "surge", args.tags);

    // Launch templates take user data base64-encoded. No JetStream device: see the file header.
    const userData = pulumi.output(args.version).apply((version) =>
      Buffer.from(
        renderUserData({
          serverName: args.serverName,
          version,
          arch,
          releaseBaseUrl: args.releaseBaseUrl,
          releaseSha256: args.releaseSha256,
          exporter: args.exporter,
          stopTimeoutSeconds: args.stopTimeoutSeconds,
        }),
        "utf8",
      ).toString("base64"),
    );

    const template = new aws.ec2.LaunchTemplate(
      `${name}-lt`,
      {
        namePrefix: `${args.clusterName}-${args.serverName}-`,
        description: `surge server ${args.serverName} of NATS cluster ${args.clusterName} (launched only during rollouts)`,
        imageId: amiFor(arch, { amiId: args.amiId, amiNameFilter: args.amiNameFilter, parent: this }),
        instanceType: args.instanceType ?? DEFAULT_INSTANCE_TYPE[arch],
        iamInstanceProfile: { name: args.instanceProfileName },
        keyName: args.keyName,
        vpcSecurityGroupIds: args.securityGroupIds,
        metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
        userData,
        blockDeviceMappings: [
          {
            deviceName: "/dev/xvda",
            ebs: {
              volumeSize: args.rootVolumeSizeGiB ?? 16,
              volumeType: "gp3",
              encrypted: "true",
              deleteOnTermination: "true",
            },
          },
        ],
        tagSpecifications: [
          { resourceType: "instance", tags },
          { resourceType: "volume", tags },
        ],
        // The driver launches `$Default`: keep it the newest, so a rollout starts the surge VM as Pulumi last described
        // it.
        updateDefaultVersion: true,
        tags,
      },
      { parent: this },
    );

    this.launchTemplateId = template.id;
    this.latestVersion = template.latestVersion;
    this.registerOutputs({ launchTemplateId: this.launchTemplateId, latestVersion: this.latestVersion });
  }
}
