/**
 * The aws platform: one EC2 instance per member (with its JetStream EBS volume and user data that prepares the host
 * and installs nats-server), a security group, an instance profile, and a launch template the engine's SSM driver
 * launches the surge server from during a rollout, at an address checked against its subnet and reserved in it
 * (surge-address.ts). In-place steps go through SSM (engine/hosts/aws). The cluster's
 * secrets (configs, TLS material) reach hosts as SecureStrings under a KMS key of the cluster's own, which only
 * the hosts' role (through Parameter Store) and the operator can use (instance-profile.ts, cluster-key.ts).
 *
 * Every AWS resource (and lookup) goes through one explicit `aws.Provider`: the caller's (`providers.aws`), or one
 * built from `aws.region`, the profile (`aws.profile`, else the stack's `aws:profile`) and the stack's other `aws:*`
 * settings (role chain, account guard, default tags, endpoints: stack-aws.ts), which an explicit provider would
 * otherwise ignore. The engine's driver gets the same region, profile, role chain, endpoints and default tags: the
 * instances and the SSM commands can never be in two regions or accounts.
 * `nats-cluster:aws`: `{ region, vpcId, subnetIds, clientCidrs, adminCidr, instanceType?, arch?, amiId?,
 * volumeSizeGb?, retainDataVolumes?, keyName?, profile?, releaseBaseUrl?, releaseSha256?, resizeMember?, exporter?,
 * identity? }` (`exporter`: engine/exporter.ts; installed by the user data, its port opened to the admin CIDR;
 * `identity`: with a provider of your own, the `aws:*` settings it was made with, for the driver).
 * Verified with Pulumi mocks and, for the hosts, on lab VMs; nothing here has run against a real AWS account.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { defaultConfigParameterPrefix } from "../../../engine/hosts/aws/names";
import {
  Obj,
  Problems,
  readBool,
  readInt,
  readObject,
  readString,
  readStringList,
  refuseUnknownFields,
} from "../../config/values";
import { ExporterRelease } from "../../../engine/exporter";
import { ReleasePins } from "../../../engine/release";
import { readExporterSetting } from "../../config/exporter";
import { readReleaseSettings, RELEASE_SETTING_FIELDS } from "../../config/release";
import { ClusterPlatform } from "../platform";
import { AwsArch, DEFAULT_INSTANCE_TYPE } from "./ami";
import { NatsInstanceProfile } from "./instance-profile";
import { createAwsMemberHost } from "./member-host";
import { allowFromGroup, ClusterSecurityGroup } from "./security-group";
import { SurgeAddress } from "./surge-address";
import { readStackAws, StackAws } from "./stack-aws";
import { SurgeLaunchTemplate } from "./surge-template";

/** The decoded `nats-cluster:aws` block. */
export interface AwsPlatformSettings {
  /** AWS region, e.g. eu-west-1. */
  readonly region: string;
  /** VPC of the instances and security group. */
  readonly vpcId: string;
  /** Subnets the members are spread over (member i goes to subnet i mod n). */
  readonly subnetIds: ReadonlyArray<string>;
  /** EC2 instance type. Default t3.small. */
  readonly instanceType: string;
  /** A pinned AMI id; undefined means the AWS platform looks one up. */
  readonly amiId?: string;
  /** CIDRs allowed to reach the client port. */
  readonly clientCidrs: ReadonlyArray<string>;
  /** The one CIDR allowed to reach the monitoring port. */
  readonly adminCidr: string;
  /** Size of each member's JetStream EBS volume in GiB. Default 20. */
  readonly volumeSizeGb: number;
  /** EC2 key pair for emergency SSH; optional (in-place steps use SSM). */
  readonly keyName?: string;
  /** CPU architecture of the instances (`arm64`: Graviton); picks the AMI, the default type and the release. */
  readonly arch: AwsArch;
  /** Named AWS profile for every resource and the driver; default the stack's `aws:profile`, if any. */
  readonly profile?: string;
  /**
   * Where hosts download nats-server releases (`<base>/v<version>/<asset>` and `SHA256SUMS`): default GitHub,
   * which needs internet egress (a NAT); a mirror reachable from the VPC works without one.
   */
  readonly releaseBaseUrl?: string;
  /** Version → arch → SHA-256 of the release tarball; required when releaseBaseUrl is plain http. */
  readonly releaseSha256?: ReleasePins;
  /** Keep data volumes in AWS when Pulumi would delete them (destroy, replacement). Default true. */
  readonly retainDataVolumes: boolean;
  /** The one member allowed to take a changed `instanceType` in this `pulumi up` (a stop, resize, start). */
  readonly resizeMember?: string;
  /**
   * With a provider of your own (`providers.aws`), the `aws:*` settings it was made with (keys without `aws:`, e.g.
   * `{ assumeRoles: [{ roleArn }], allowedAccountIds: [...], defaultTags: { tags } }`): the rollout's driver cannot
   * read them from the provider, so it gets its role chain, endpoints, default tags and account guard from here.
   */
  readonly identity?: Readonly<Record<string, unknown>>;
  /**
   * A metrics exporter installed beside nats-server by the user data (engine/exporter.ts), its port opened to the
   * admin CIDR. At first boot only: a change reaches the surge VM at its next launch and a member at its replacement.
   */
  readonly exporter?: ExporterRelease;
}

/** What every member of the cluster shares on aws. */
interface AwsShared {
  readonly provider: pulumi.ProviderResource;
  /** The driver's side of the provider's identity: profile, role chain, endpoints, default tags. */
  readonly identity: Omit<StackAws, "providerArgs">;
  readonly securityGroup: ClusterSecurityGroup;
  readonly securityGroupIds: pulumi.Output<string>[];
  readonly instanceProfileName: pulumi.Output<string>;
  /** The cluster's KMS key: every SecureString (configs, TLS material) is encrypted with it. */
  readonly kmsKeyArn: pulumi.Output<string>;
  readonly surge: pulumi.Output<{ launchTemplateId: string; subnetId: string }>;
  /** The surge address's /32 reservation: members are created after it, so EC2 never gives one of them that IP. */
  readonly surgeReservationId: pulumi.Output<string>;
  /** Member name → its data volume id, filled as members are created. */
  readonly volumeIds: Map<string, pulumi.Output<string | undefined>>;
  /** Member name → its data volume's size in GiB (depending on the volume), filled as members are created. */
  readonly volumeSizes: Map<string, pulumi.Output<number | undefined>>;
}

const FIELDS = [
  "region",
  "vpcId",
  "subnetIds",
  "instanceType",
  "arch",
  "amiId",
  "clientCidrs",
  "adminCidr",
  "volumeSizeGb",
  "retainDataVolumes",
  "keyName",
  "profile",
  ...RELEASE_SETTING_FIELDS,
  "resizeMember",
  "exporter",
  "identity",
];
const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

function checkCidr(p: Problems, key: string, value: string): void {
  const m = CIDR.exec(value);
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) {
    p.add(key, `${p.show(key, value)} is not an IPv4 CIDR; write one such as 10.0.0.0/16`);
  }
}

function decode(raw: unknown, p: Problems): AwsPlatformSettings {
  const empty: AwsPlatformSettings = {
    region: "",
    vpcId: "",
    subnetIds: [],
    instanceType: "t3.small",
    arch: "amd64",
    clientCidrs: [],
    adminCidr: "",
    volumeSizeGb: 20,
    retainDataVolumes: true,
  };
  if (raw === undefined) {
    p.add(
      "aws",
      "missing; the aws platform needs { region, vpcId, subnetIds, clientCidrs, adminCidr } (see stacks/Pulumi.dev.yaml)",
    );
    return empty;
  }
  const obj: Obj | undefined = readObject(p, "aws", raw, `write { ${FIELDS.join(", ")} }`);
  if (!obj) return empty;
  refuseUnknownFields(p, "aws", obj, FIELDS);
  const need = (field: string, hint: string): string => {
    if (obj[field] === undefined) p.add(`aws.${field}`, `missing; ${hint}`);
    return readString(p, `aws.${field}`, obj[field], hint) ?? "";
  };
  const region = need("region", "write a region such as eu-west-1");
  const vpcId = need("vpcId", "write the VPC id (vpc-…)");
  if (vpcId && !/^vpc-[0-9a-f]+$/.test(vpcId))
    p.add("aws.vpcId", `${p.show("aws.vpcId", vpcId)} is not a VPC id; write one such as vpc-0abc1234def567890`);
  const subnetIds = readStringList(p, "aws.subnetIds", obj.subnetIds, "list subnet ids (subnet-…)") ?? [];
  if (obj.subnetIds === undefined || subnetIds.length === 0) {
    p.add("aws.subnetIds", "missing; list one or more subnet ids (subnet-…), ideally one per availability zone");
  }
  subnetIds.forEach((s, i) => {
    if (!/^subnet-[0-9a-f]+$/.test(s))
      p.add(
        `aws.subnetIds[${i}]`,
        `${p.show("aws", s)} is not a subnet id; write one such as subnet-0abc1234def567890`,
      );
  });
  const clientCidrs = readStringList(p, "aws.clientCidrs", obj.clientCidrs, "list CIDRs such as 10.0.0.0/16") ?? [];
  if (obj.clientCidrs === undefined || clientCidrs.length === 0)
    p.add("aws.clientCidrs", "missing; list the CIDRs clients connect from, e.g. [10.0.0.0/16]");
  clientCidrs.forEach((c, i) => checkCidr(p, `aws.clientCidrs[${i}]`, c));
  const adminCidr = need("adminCidr", "write the one CIDR allowed to reach the monitoring port, e.g. 10.0.99.0/24");
  if (adminCidr) checkCidr(p, "aws.adminCidr", adminCidr);
  const amiId = readString(p, "aws.amiId", obj.amiId, "write an AMI id (ami-…)");
  if (amiId && !/^ami-[0-9a-f]+$/.test(amiId))
    p.add("aws.amiId", `${p.show("aws.amiId", amiId)} is not an AMI id; write one such as ami-0abc1234def567890`);
  const volumeSizeGb = readInt(p, "aws.volumeSizeGb", obj.volumeSizeGb, "write a size in GiB such as 20") ?? 20;
  if (volumeSizeGb < 1)
    p.add("aws.volumeSizeGb", `${volumeSizeGb} GiB is too small; write 1 or more (20 is the default)`);
  const keyName = readString(p, "aws.keyName", obj.keyName, "write an EC2 key pair name");
  const archText = readString(p, "aws.arch", obj.arch, "write amd64 or arm64") ?? "amd64";
  if (archText !== "amd64" && archText !== "arm64")
    p.add("aws.arch", `${p.show("aws.arch", archText)} is not an architecture; write amd64 or arm64 (Graviton)`);
  const arch: AwsArch = archText === "arm64" ? "arm64" : "amd64";
  const profile = readString(p, "aws.profile", obj.profile, "write a named profile of ~/.aws/config");
  const release = readReleaseSettings(p, "aws", obj);
  const exporter = readExporterSetting(p, "aws", obj, arch);
  const retainDataVolumes = readBool(p, "aws.retainDataVolumes", obj.retainDataVolumes) ?? true;
  const resizeMember = readString(p, "aws.resizeMember", obj.resizeMember, "write one member's name");
  const identity = readObject(p, "aws.identity", obj.identity, "write your provider's aws:* settings: { assumeRoles }");
  if (identity && region) {
    try {
      identityOf(identity, region);
    } catch (err) {
      // readStackAws lists its problems under a heading: keep the problems, on one line.
      p.add(
        "aws.identity",
        (err as Error).message
          .replace(/^[^\n]*\n/, "")
          .trim()
          .replace(/\s*\n\s*/g, "; "),
      );
    }
  }
  const instanceType =
    readString(p, "aws.instanceType", obj.instanceType, "write an instance type such as t3.small") ??
    DEFAULT_INSTANCE_TYPE[arch];
  return {
    region,
    vpcId,
    subnetIds,
    instanceType,
    arch,
    ...(amiId ? { amiId } : {}),
    clientCidrs,
    adminCidr,
    volumeSizeGb,
    retainDataVolumes,
    ...(keyName ? { keyName } : {}),
    ...(profile ? { profile } : {}),
    ...release,
    ...(resizeMember ? { resizeMember } : {}),
    ...(exporter ? { exporter } : {}),
    ...(identity ? { identity } : {}),
  };
}

/** The driver's side of `aws.identity`, read like the stack's `aws:*` (structured values as JSON text). */
function identityOf(identity: Readonly<Record<string, unknown>>, region: string): Omit<StackAws, "providerArgs"> {
  const { providerArgs: _unused, ...driverSide } = readStackAws((key) => {
    const value = identity[key];
    return value === undefined || typeof value === "string" ? value : JSON.stringify(value);
  }, region);
  return driverSide;
}

/**
 * The provider of every resource: the caller's own (`NatsClusterArgs.providers.aws`: the stack's `aws:*` are then
 * not read, and the driver gets `aws.profile` and what `aws.identity` says of that provider), or one built from
 * `aws.region`, the profile (`aws.profile`, else `aws:profile`) and the stack's other `aws:*` settings, whose role
 * chain, endpoints, default tags and account guard the driver gets.
 */
function awsProvider(
  name: string,
  settings: AwsPlatformSettings,
  own: pulumi.ProviderResource | undefined,
  parent: pulumi.Resource,
): { provider: pulumi.ProviderResource; identity: Omit<StackAws, "providerArgs"> } {
  if (own !== undefined) {
    if (!aws.Provider.isInstance(own))
      throw new Error("NatsClusterArgs.providers.aws: not an aws.Provider; pass one made with new aws.Provider(…)");
    const described = settings.identity ? identityOf(settings.identity, settings.region) : {};
    const profile = settings.profile ?? described.profile;
    return { provider: own, identity: { ...described, ...(profile ? { profile } : {}) } };
  }
  if (settings.identity)
    throw new Error(
      "nats-cluster:aws.identity: describes a provider of your own (providers.aws), and none was given: the platform " +
        "makes its provider from the stack's aws:* settings and gives the driver the same; remove aws.identity",
    );
  const stackConfig = new pulumi.Config("aws");
  const { providerArgs, ...stack } = readStackAws((key) => stackConfig.get(key), settings.region);
  const profile = settings.profile ?? stack.profile;
  const identity = { ...stack, ...(profile ? { profile } : {}) };
  const provider = new aws.Provider(
    `${name}-aws`,
    { ...providerArgs, region: settings.region as aws.Region, ...(profile ? { profile } : {}) },
    { parent },
  );
  return { provider, identity };
}

export const platform: ClusterPlatform<AwsPlatformSettings, AwsShared> = {
  name: "aws",
  members: {
    host: "assigned",
    portsRequired: false,
    countAllowed: true,
    memberExample: "a name, or { name, clientPort?, clusterPort?, monitorPort? }",
    surgeExample: "{ host: <a fixed private IP in the first subnet, e.g. 10.0.1.250>, name?, jetstream? }",
  },
  providerPackages: ["aws"],

  decodeSettings: (raw, p) => decode(raw, p),

  createShared(name, facts, settings, _secrets, parent) {
    // A misspelt name would resize nobody and leave every member lagging without a word of why.
    const resizing = settings.resizeMember;
    if (resizing !== undefined && !facts.members.some((m) => m.name === resizing)) {
      throw new Error(
        `nats-cluster:aws.resizeMember: "${resizing}" is not a member of this stack; write one of ` +
          `${facts.members.map((m) => m.name).join(", ")} (the next one still on the old aws.instanceType), or unset it`,
      );
    }
    // One explicit provider for every resource and lookup: the caller's, or one from the same region, profile,
    // role chain and endpoints the driver gets (stack-aws.ts).
    const { provider, identity } = awsProvider(name, settings, facts.providers?.aws, parent);
    const opts = { parent, providers: [provider] };
    const group = new ClusterSecurityGroup(
      `${name}-sg`,
      {
        vpcId: settings.vpcId,
        clientCidrs: settings.clientCidrs,
        adminCidrs: [settings.adminCidr],
        clientPort: facts.surge.clientPort,
        clusterPort: facts.surge.clusterPort,
        monitorPort: facts.surge.monitorPort,
        ...(settings.exporter ? { exporterPort: settings.exporter.port } : {}),
      },
      opts,
    );
    const instanceProfile = new NatsInstanceProfile(
      `${name}-profile`,
      {
        configParameterPrefix: defaultConfigParameterPrefix(facts.clusterName),
        clusterName: facts.clusterName,
        region: settings.region,
      },
      opts,
    );
    const securityGroupIds = [group.securityGroupId];

    // Checked against its subnet at preview, and reserved before members and the rollout (surge-address.ts).
    const surgeSubnetId = settings.subnetIds[0];
    const reservation = new SurgeAddress(
      `${name}-surge-ip`,
      {
        serverName: facts.surge.name,
        clusterName: facts.clusterName,
        address: facts.surge.host,
        subnetId: surgeSubnetId,
      },
      opts,
    );
    const template = new SurgeLaunchTemplate(
      `${name}-surge`,
      {
        serverName: facts.surge.name,
        clusterName: facts.clusterName,
        version: facts.version,
        arch: settings.arch,
        instanceType: settings.instanceType,
        instanceProfileName: instanceProfile.instanceProfileName,
        securityGroupIds,
        amiId: settings.amiId,
        keyName: settings.keyName,
        releaseBaseUrl: settings.releaseBaseUrl,
        releaseSha256: settings.releaseSha256,
        exporter: settings.exporter,
        stopTimeoutSeconds: facts.stopTimeoutSeconds,
      },
      opts,
    );
    return {
      provider,
      identity,
      securityGroup: group,
      securityGroupIds,
      instanceProfileName: instanceProfile.instanceProfileName,
      kmsKeyArn: instanceProfile.kmsKeyArn,
      // The surge server's host is a fixed private IP of the first subnet (stack config `surge.host`).
      // With the reservation as a dependency: the rollout runs after it exists (and not at all when the check failed).
      surge: pulumi.all([template.launchTemplateId, reservation.reservationId]).apply(([launchTemplateId]) => ({
        launchTemplateId,
        subnetId: surgeSubnetId,
      })),
      surgeReservationId: reservation.reservationId,
      volumeIds: new Map(),
      volumeSizes: new Map(),
    };
  },

  createMemberHost(name, member, index, { facts, settings, shared }, parent) {
    // A member with ports of its own gets rules for them (the group opened the surge server's ports).
    const extraRules = shared.securityGroup.allowPorts(member);
    const host = createAwsMemberHost(
      `${name}-host`,
      {
        serverName: member.name,
        clusterName: facts.clusterName,
        version: facts.version,
        arch: settings.arch,
        instanceType: settings.instanceType,
        resize: settings.resizeMember === member.name,
        // Only where a new member is created: an existing one keeps its subnet (member-host.ts).
        subnetId: settings.subnetIds[index % settings.subnetIds.length],
        // Carrying the rules and the surge address's reservation as dependencies: the instance comes after both.
        securityGroupIds: shared.securityGroupIds.map((id) =>
          pulumi.all([id, extraRules, shared.surgeReservationId]).apply(([sg]) => sg),
        ),
        instanceProfileName: shared.instanceProfileName,
        kmsKeyArn: shared.kmsKeyArn,
        tlsParameters: facts.tlsMaterial ?? false,
        amiId: settings.amiId,
        keyName: settings.keyName,
        clientPort: member.clientPort,
        clusterPort: member.clusterPort,
        monitorPort: member.monitorPort,
        jetstreamVolume: facts.jetstream
          ? { sizeGiB: settings.volumeSizeGb, retainOnDelete: settings.retainDataVolumes }
          : false,
        releaseBaseUrl: settings.releaseBaseUrl,
        releaseSha256: settings.releaseSha256,
        exporter: settings.exporter,
        stopTimeoutSeconds: facts.stopTimeoutSeconds,
      },
      { parent, providers: [shared.provider] },
    );
    shared.volumeIds.set(member.name, host.volumeId);
    shared.volumeSizes.set(member.name, host.volumeSizeGiB);
    return { endpoint: host.endpoint, hostId: host.instanceId };
  },

  allowClusterLink(link, parent) {
    // Each cluster has a group of its own; the link opens the listening cluster's group to the connecting one's hosts.
    const what = link.kind === "gateway" ? "NATS gateways" : "NATS leaf connections";
    return link.ports.map((port) =>
      allowFromGroup(
        link.to.shared.securityGroup,
        link.from.shared.securityGroup,
        {
          name: link.ports.length === 1 ? link.name : `${link.name}-p${port}`,
          port,
          description: `${what} from the hosts of cluster ${link.from.cluster}`,
        },
        { parent, provider: link.to.shared.provider },
      ),
    );
  },
  driverInputs(facts, settings, shared, members) {
    const instanceIds = pulumi
      .all(members.map((m) => pulumi.all([m.placement.name, m.host.hostId ?? ""])))
      .apply((pairs) => Object.fromEntries(pairs));
    const volumeIds = pulumi
      .all(
        members.map((m) =>
          pulumi.all([m.placement.name, shared.volumeIds.get(m.placement.name) ?? pulumi.output(undefined)]),
        ),
      )
      .apply((pairs) => Object.fromEntries(pairs.filter(([, id]) => typeof id === "string" && id.length > 0)));
    // The sizes depend on the volumes, so the RollingUpgrade runs after a grown volume's update: each
    // member is then restarted through the gates, and its file system grows before its server starts.
    const volumeSizes = pulumi
      .all(
        members.map((m) =>
          pulumi.all([m.placement.name, shared.volumeSizes.get(m.placement.name) ?? pulumi.output(undefined)]),
        ),
      )
      .apply((pairs) => Object.fromEntries(pairs.filter(([, size]) => typeof size === "number")));
    return {
      settings: pulumi
        .all([instanceIds, volumeIds, volumeSizes, shared.surge, shared.kmsKeyArn])
        .apply(([ids, volumes, sizes, surge, key]) => ({
          region: settings.region,
          ...shared.identity,
          clusterName: facts.clusterName,
          instanceIds: ids,
          surge,
          arch: settings.arch,
          ...(settings.releaseBaseUrl ? { releaseBaseUrl: settings.releaseBaseUrl } : {}),
          ...(settings.releaseSha256 ? { releaseSha256: settings.releaseSha256 } : {}),
          ...(settings.exporter ? { exporter: settings.exporter } : {}),
          stopTimeoutSeconds: facts.stopTimeoutSeconds,
          ...(Object.keys(volumes).length ? { volumeIds: volumes } : {}),
          ...(Object.keys(sizes).length ? { volumeSizesGiB: sizes } : {}),
          kmsKeyId: key,
        })),
    };
  },
};
