/**
 * The aws platform: one EC2 instance per member (with its JetStream EBS volume and user data that installs
 * nats-server and a lame-duck systemd unit), a security group, an instance profile, and a launch template the
 * engine's SSM driver launches the surge server from during a rollout. In-place steps go through SSM
 * (engine/hosts/aws). Verified only with mocks: nothing here has run against a real AWS account.
 *
 * `nats-cluster:aws`: `{ region, vpcId, subnetIds, clientCidrs, adminCidr, instanceType?, amiId?, volumeSizeGb?,
 * keyName? }`.
 */
import * as pulumi from "@pulumi/pulumi";
import { defaultConfigParameterPrefix } from "../../../engine/hosts/aws/names";
import {
  Obj,
  Problems,
  readInt,
  readObject,
  readString,
  readStringList,
  refuseUnknownFields,
} from "../../config/values";
import { ClusterPlatform } from "../platform";
import { NatsInstanceProfile } from "./instance-profile";
import { createAwsMemberHost } from "./member-host";
import { ClusterSecurityGroup } from "./security-group";
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
}

/** What every member of the cluster shares on aws. */
interface AwsShared {
  readonly securityGroupIds: pulumi.Output<string>[];
  readonly instanceProfileName: pulumi.Output<string>;
  readonly surge: pulumi.Output<{ launchTemplateId: string; subnetId: string }>;
}

const FIELDS = [
  "region",
  "vpcId",
  "subnetIds",
  "instanceType",
  "amiId",
  "clientCidrs",
  "adminCidr",
  "volumeSizeGb",
  "keyName",
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
    clientCidrs: [],
    adminCidr: "",
    volumeSizeGb: 20,
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
  return {
    region,
    vpcId,
    subnetIds,
    instanceType:
      readString(p, "aws.instanceType", obj.instanceType, "write an instance type such as t3.small") ?? "t3.small",
    ...(amiId ? { amiId } : {}),
    clientCidrs,
    adminCidr,
    volumeSizeGb,
    ...(keyName ? { keyName } : {}),
  };
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

  decodeSettings: (raw, p) => decode(raw, p),

  createShared(name, facts, aws, _secrets, parent) {
    const group = new ClusterSecurityGroup(
      `${name}-sg`,
      { vpcId: aws.vpcId, clientCidrs: aws.clientCidrs, adminCidrs: [aws.adminCidr] },
      { parent },
    );
    const profile = new NatsInstanceProfile(
      `${name}-profile`,
      { configParameterPrefix: defaultConfigParameterPrefix(facts.clusterName) },
      { parent },
    );
    const securityGroupIds = [group.securityGroupId];
    const template = new SurgeLaunchTemplate(
      `${name}-surge`,
      {
        serverName: facts.surge.name,
        clusterName: facts.clusterName,
        version: facts.version,
        instanceType: aws.instanceType,
        instanceProfileName: profile.instanceProfileName,
        securityGroupIds,
        amiId: aws.amiId,
        stopTimeoutSeconds: facts.stopTimeoutSeconds,
      },
      { parent },
    );
    return {
      securityGroupIds,
      instanceProfileName: profile.instanceProfileName,
      // The surge server's host is a fixed private IP of the first subnet (stack config `surge.host`).
      surge: template.launchTemplateId.apply((launchTemplateId) => ({ launchTemplateId, subnetId: aws.subnetIds[0] })),
    };
  },

  createMemberHost(name, member, index, { facts, settings: aws, shared }, parent) {
    const host = createAwsMemberHost(
      `${name}-host`,
      {
        serverName: member.name,
        clusterName: facts.clusterName,
        version: facts.version,
        instanceType: aws.instanceType,
        subnetId: aws.subnetIds[index % aws.subnetIds.length],
        securityGroupIds: shared.securityGroupIds,
        instanceProfileName: shared.instanceProfileName,
        amiId: aws.amiId,
        clientPort: member.clientPort,
        clusterPort: member.clusterPort,
        monitorPort: member.monitorPort,
        jetstreamVolume: facts.jetstream ? { sizeGiB: aws.volumeSizeGb } : false,
        stopTimeoutSeconds: facts.stopTimeoutSeconds,
      },
      { parent },
    );
    return { endpoint: host.endpoint, hostId: host.instanceId };
  },

  driverInputs(facts, aws, shared, members) {
    const instanceIds = pulumi
      .all(members.map((m) => pulumi.all([m.placement.name, m.host.hostId ?? ""])))
      .apply((pairs) => Object.fromEntries(pairs));
    return {
      settings: pulumi.all([instanceIds, shared.surge]).apply(([ids, surge]) => ({
        region: aws.region,
        clusterName: facts.clusterName,
        instanceIds: ids,
        surge,
      })),
    };
  },
};
