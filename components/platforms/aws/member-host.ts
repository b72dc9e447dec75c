/**
 * One cluster member's VM on AWS: an EC2 instance (IMDSv2 required, encrypted root disk, SSM instance profile), an
 * encrypted EBS volume for JetStream attached as /dev/sdf, and user data that installs the stack's nats-server
 * version and its systemd unit (user-data.ts; no config, no secret).
 *
 * Upgrades are in place: the instance ignores changes to `userData` (and `userDataReplaceOnChange` is false), so a
 * version bump in the stack never stops, starts or replaces the VM; the RollingUpgrade installs the new binary and
 * restarts nats-server through SSM, one member at a time, behind its health gates. It ignores `ami` changes too, so a
 * newer image from the lookup never replaces a member. (An ignored property keeps its recorded value even through
 * `pulumi up --replace`: a member moves to a new image only as a new member.)
 *
 * A member is never moved, replaced in parallel or resized together with the others by a config edit: its subnet
 * and zone are those it was created with, a replacement deletes the old instance first (the volume's device name
 * and a pinned IP are its), the data volume is kept (or snapshotted) when Pulumi would delete it, and an
 * instance-type change waits for this member's turn (`resize`), and a new key pair applies to new instances only.
 *
 * The resource graph is verified with Pulumi mocks (test/aws/components.unit.test.ts); the user data runs through
 * cloud-init on lab VMs (test/aws/lab-user-data.test.ts). Nothing here has run against a real AWS account.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { TLS_FILE_NAMES } from "../../../engine/config/for-server";
import { configParameterName, defaultConfigParameterPrefix, tlsParameterName } from "../../../engine/hosts/aws/names";
import { ExporterRelease } from "../../../engine/exporter";
import { ReleasePins } from "../../../engine/release";
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
  /**
   * Keep the volume in AWS when Pulumi would delete it (destroy, or a replacement): it leaves the stack's state
   * but keeps its data. Default true. When false, Pulumi deletes it, after a final snapshot.
   */
  readonly retainOnDelete?: boolean;
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
  /**
   * Instance type. Default t3.small (amd64) or t4g.small (arm64). A member that exists keeps its type until `resize`
   * is set for it (the AWS provider would stop and start every member at once, outside the rollout); until then the
   * preview warns that it lags.
   */
  readonly instanceType?: string;
  /** Let this member take a changed `instanceType` now (one member per `pulumi up`: a stop, a resize, a start). */
  readonly resize?: boolean;
  /**
   * Subnet to place the member in, at creation. A member is never moved by a later change of this value (a new
   * subnet can mean a new availability zone, whose volume would be a blank one): the instance and its volume keep
   * what they were created with; a warning says so.
   */
  readonly subnetId: pulumi.Input<string>;
  /** Security groups, usually `[ClusterSecurityGroup.securityGroupId]` (which carries its rules as dependencies). */
  readonly securityGroupIds: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Instance profile with SSM access and read access to the config parameters (a cluster-wide NatsInstanceProfile,
   * whose name carries its policies as dependencies). When omitted, this member creates its own.
   */
  readonly instanceProfileName?: pulumi.Input<string>;
  /** Parameter Store prefix of the cluster's configs. Default "/nats-cluster/<clusterName>". */
  readonly configParameterPrefix?: string;
  /**
   * Create the member's config parameter (a SecureString holding a placeholder; the rollout writes the config as
   * new versions), so that it goes with the member on destroy. Default true.
   */
  readonly manageConfigParameter?: boolean;
  /**
   * The cluster's KMS key (NatsInstanceProfile's `kmsKeyArn`) for the member's SecureStrings. Default: the key of
   * the profile this member creates when `instanceProfileName` is omitted, else the account's `alias/aws/ssm`.
   */
  readonly kmsKeyArn?: pulumi.Input<string>;
  /**
   * The rollout delivers TLS material to this member: create its three TLS parameters too (placeholders, like the
   * config's), so they go with the member on destroy. Default false.
   */
  readonly tlsParameters?: boolean;
  /** An explicit AMI; default the Amazon Linux 2023 lookup in ami.ts. */
  readonly amiId?: pulumi.Input<string>;
  /** Image name filter for the AMI lookup, e.g. a full AL2023 image name to pin one release. */
  readonly amiNameFilter?: string;
  /** A fixed private IP in the subnet, so a replaced member keeps the address the other servers route to. */
  readonly privateIp?: pulumi.Input<string>;
  /**
   * EC2 key pair for emergency SSH (the rollout itself uses SSM). Applies at launch only: a running member keeps
   * the key it was launched with (EC2 sets a key pair only at launch, and the provider would replace the instance
   * to change it); a warning names the members whose key differs.
   */
  readonly keyName?: pulumi.Input<string>;
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
  /** Version → arch → SHA-256 of the release tarball; needed when releaseBaseUrl is plain http (engine/release.ts). */
  readonly releaseSha256?: ReleasePins;
  /** A metrics exporter installed beside nats-server at first boot (engine/exporter.ts). */
  readonly exporter?: ExporterRelease;
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
  /** Its size in GiB, when there is one; depends on the volume, so a consumer runs after the volume grew. */
  readonly volumeSizeGiB: pulumi.Output<number | undefined>;

  constructor(name: string, args: AwsMemberHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("nats-cluster:aws:MemberHost", name, args, opts);
    const arch = args.arch ?? "amd64";
    const tags = hostTags(args.clusterName, args.serverName, "member", args.tags);
    const volume = args.jetstreamVolume === false ? undefined : (args.jetstreamVolume ?? {});
    const prefix = args.configParameterPrefix ?? defaultConfigParameterPrefix(args.clusterName);
    const instanceType = args.instanceType ?? DEFAULT_INSTANCE_TYPE[arch];

    const ownProfile = args.instanceProfileName
      ? undefined
      : new NatsInstanceProfile(
          `${name}-iam`,
          { configParameterPrefix: prefix, clusterName: args.clusterName, tags: args.tags },
          { parent: this },
        );
    const instanceProfileName = args.instanceProfileName ?? ownProfile?.instanceProfileName;
    const kmsKeyArn = args.kmsKeyArn ?? ownProfile?.kmsKeyArn;

    // The volume comes first (in the subnet's zone), so the user data can find it by its id. Both it and the
    // instance keep the zone and subnet they were created in: editing the subnet list never moves a member.
    let data: aws.ebs.Volume | undefined;
    if (volume) {
      const zone = aws.ec2.getSubnetOutput({ id: args.subnetId }, { parent: this }).availabilityZone;
      data = new aws.ebs.Volume(
        `${name}-jetstream`,
        {
          availabilityZone: zone,
          size: volume.sizeGiB ?? 20,
          type: volume.type ?? "gp3",
          iops: volume.iops,
          throughput: volume.throughput,
          encrypted: true,
          kmsKeyId: volume.kmsKeyId,
          // Whenever Pulumi deletes it (retainOnDelete off), the data survives in a snapshot.
          finalSnapshot: true,
          tags,
        },
        {
          parent: this,
          ignoreChanges: ["availabilityZone"],
          retainOnDelete: volume.retainOnDelete ?? true,
        },
      );
    }

    // Rendered from the version only: the spec's auth and TLS never reach user data.
    const userData = pulumi.all([args.version, data?.id]).apply(([version, volumeId]) =>
      renderUserData({
        serverName: args.serverName,
        version,
        arch,
        jetstreamDevice: volume ? JETSTREAM_DEVICE : undefined,
        jetstreamVolumeId: volumeId,
        releaseBaseUrl: args.releaseBaseUrl,
        releaseSha256: args.releaseSha256,
        exporter: args.exporter,
        stopTimeoutSeconds: args.stopTimeoutSeconds,
      }),
    );

    const instance = new aws.ec2.Instance(
      `${name}-instance`,
      {
        ami: amiFor(arch, { amiId: args.amiId, amiNameFilter: args.amiNameFilter, parent: this }),
        instanceType,
        subnetId: args.subnetId,
        vpcSecurityGroupIds: args.securityGroupIds,
        iamInstanceProfile: instanceProfileName,
        privateIp: args.privateIp,
        keyName: args.keyName,
        // IMDSv2 only; hop limit 1 keeps instance credentials away from containers on the host.
        metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
        userData,
        userDataReplaceOnChange: false,
        rootBlockDevice: { encrypted: true, volumeType: "gp3", volumeSize: args.rootVolumeSizeGiB ?? 16, tags },
        tags,
      },
      {
        parent: this,
        // A version bump changes userData: ignored, the RollingUpgrade upgrades in place. A newer AMI: ignored too.
        // The subnet is the one the member was created in. The instance type changes only for the member being
        // resized (an in-place stop, resize and start of that one instance). The key pair is set at launch only:
        // changing it would replace every member at once (new addresses, every route list with them), so a new
        // `aws.keyName` applies to new instances only (new members, the surge server's launch template).
        ignoreChanges: ["userData", "ami", "subnetId", "keyName", ...(args.resize ? [] : ["instanceType"])],
        // A replacement must not run beside the old instance: /dev/sdf, a pinned private IP and the volume are
        // the old instance's until it is gone.
        deleteBeforeReplace: true,
      },
    );

    const checks: pulumi.Output<unknown>[] = [
      pulumi
        .all([instance.instanceType, instance.subnetId, args.subnetId, instance.keyName, args.keyName])
        .apply(([actualType, actualSubnet, subnet, actualKey, key]) => {
          // Never an error: resizing is one member per `pulumi up`, so every other member lags meanwhile, and
          // preview and up must go on (the lagging ones ignore the type change until their turn).
          const lag = instanceTypeNote(args.serverName, actualType, instanceType, args.resize === true);
          if (lag) pulumi.log.warn(lag, this);
          if (actualSubnet && subnet && actualSubnet !== subnet) {
            pulumi.log.warn(
              `${args.serverName} stays in ${actualSubnet}, where it was created: members are never moved by a change ` +
                `of aws.subnetIds (it would now be placed in ${subnet}); to move one, remove it and add a new member`,
              this,
            );
          }
          const keyNote = keyNameNote(args.serverName, actualKey, key);
          if (keyNote) pulumi.log.warn(keyNote, this);
          return undefined;
        }),
    ];

    if (data) {
      new aws.ec2.VolumeAttachment(
        `${name}-jetstream-attachment`,
        // Stop the VM before detaching: JetStream must never lose its disk under a running server.
        { deviceName: JETSTREAM_DEVICE, instanceId: instance.id, volumeId: data.id, stopInstanceBeforeDetaching: true },
        { parent: this, deleteBeforeReplace: true },
      );
      this.volumeId = data.id;
      // The size the stack gives it, carried by the volume's id: known at preview whenever the id is (the
      // RollingUpgrade's plan needs it then), and a consumer still waits for the volume's update (its growth).
      const sizeGiB = volume ? (volume.sizeGiB ?? 20) : undefined;
      this.volumeSizeGiB = data.id.apply(() => sizeGiB);
    } else {
      this.volumeId = pulumi.output<string | undefined>(undefined);
      this.volumeSizeGiB = pulumi.output<number | undefined>(undefined);
    }

    if (args.manageConfigParameter !== false) {
      // Go with the member on destroy. The rollout writes each config (and TLS file) as a new version of its
      // parameter (Overwrite, with the cluster's key); Pulumi only ever set this placeholder, write-only, so no
      // config text or key reaches the state. `keyId` is ignored once created: the provider would re-put the
      // placeholder over the rollout's latest version to change it.
      const placeholder = (parameterName: string, what: string, resourceName: string) =>
        new aws.ssm.Parameter(
          resourceName,
          {
            name: parameterName,
            type: "SecureString",
            ...(kmsKeyArn ? { keyId: kmsKeyArn } : {}),
            valueWo: Buffer.from(`# no ${what} yet: written by the nats-cluster rollout\n`).toString("base64"),
            valueWoVersion: 1,
            tier: "Intelligent-Tiering",
            description: `${what} of ${args.serverName} (written by the nats-cluster rollout; base64)`,
            tags,
          },
          { parent: this, ignoreChanges: ["valueWo", "valueWoVersion", "tier", "description", "keyId"] },
        );
      placeholder(configParameterName(prefix, args.serverName), "nats-server config", `${name}-config`);
      if (args.tlsParameters) {
        for (const [field, fileName] of Object.entries(TLS_FILE_NAMES)) {
          placeholder(tlsParameterName(prefix, args.serverName, fileName), fileName, `${name}-tls-${field}`);
        }
      }
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
      volumeSizeGiB: this.volumeSizeGiB,
      // Registered so its warnings are given, at `pulumi preview` too (where the instance's state is known).
      checks: pulumi.all(checks),
    });
  }
}

/**
 * What the preview says about a member's instance type (undefined: nothing to say). The AWS provider changes an
 * instance type by stopping and starting the instance, and would do it for every member at once, outside the
 * rollout and its gates; so a member takes a new `aws.instanceType` only in its turn (`aws.resizeMember`), and
 * until then keeps its type and is named as lagging. A warning, never an error: while one member is resized the
 * others lag by design, and preview and up must work through them one at a time.
 */
export function instanceTypeNote(
  serverName: string,
  actual: string | undefined,
  desired: string,
  resizing: boolean,
): string | undefined {
  // A new member is created with the type. The member in its turn: the preview shows the update of its type (a stop,
  // a resize, a start), and its output is already the planned type then, so nothing can be said of it here.
  if (!actual || resizing || actual === desired) return undefined;
  return (
    `${serverName} still runs ${actual}, not aws.instanceType ${desired}: it keeps its type until its turn, since ` +
    "the provider would stop and start every member at once, outside the rollout. Resize members one at a time: " +
    `set nats-cluster:aws.resizeMember to ${serverName}, run \`pulumi up\` (that one instance is stopped, resized ` +
    "and started; its server rejoins with its config), check the cluster, then the next member; unset it when done"
  );
}

/**
 * What to tell the operator when a member runs with another key pair than `aws.keyName` now names (undefined: the
 * same). The instance ignores `keyName` (a key pair is set at launch; the provider would replace the instance, and
 * every member at once), so the member keeps its key and only new instances get the new one.
 */
export function keyNameNote(
  serverName: string,
  actual: string | undefined,
  desired: string | undefined,
): string | undefined {
  // The provider reports no key pair as "" (or nothing): both mean none.
  const was = actual || undefined;
  const want = desired || undefined;
  if (was === undefined && want === undefined) return undefined;
  if (was === want) return undefined;
  return (
    `${serverName} keeps key pair ${was ?? "(none)"}: aws.keyName ${want ?? "(unset)"} applies to new instances ` +
    "only (new members and the surge server). A key pair is set at launch, and changing it would replace every " +
    "member at once; to reach this member, use SSM Session Manager, or add the public key to its " +
    "~/.ssh/authorized_keys through SSM"
  );
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
