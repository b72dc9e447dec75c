/**
 * The AWS components' resource graph under Pulumi mocks (`pulumi.runtime.setMocks`): no engine, no AWS. Verified
 * only with mocks: the resources' inputs and options are what is checked, not how AWS would take them.
 */
import * as pulumi from "@pulumi/pulumi";
import { ClusterSecurityGroup } from "../../components/platforms/aws/security-group";
import { NatsInstanceProfile } from "../../components/platforms/aws/instance-profile";
import { AwsMemberHost, createAwsMemberHost } from "../../components/platforms/aws/member-host";
import { SurgeLaunchTemplate } from "../../components/platforms/aws/surge-template";
import { TAG_CLUSTER, TAG_ROLE, TAG_SERVER } from "../../engine/hosts/aws/names";
import { ServerEndpoint } from "../../engine/spec";

type Props = Record<string, unknown>;
interface Recorded {
  readonly type: string;
  readonly name: string;
  readonly inputs: Props;
}

const resources: Recorded[] = [];
const calls: Array<{ token: string; inputs: Props }> = [];
/** Resource options as the SDK saw them, captured by a transformation on each component (children inherit it). */
const options = new Map<string, pulumi.CustomResourceOptions>();

pulumi.runtime.setMocks(
  {
    newResource(args: pulumi.runtime.MockResourceArgs) {
      resources.push({ type: args.type, name: args.name, inputs: args.inputs as Props });
      const extra: Props = {};
      if (args.type === "aws:ec2/instance:Instance") {
        extra.privateIp = args.inputs.privateIp ?? `10.0.1.${resources.filter((r) => r.type === args.type).length + 9}`;
        extra.availabilityZone = "eu-west-1a";
      }
      if (args.type === "aws:ec2/launchTemplate:LaunchTemplate") extra.latestVersion = 1;
      if (args.type === "aws:iam/instanceProfile:InstanceProfile") extra.name = `${args.name}-name`;
      if (args.type === "aws:iam/role:Role") extra.arn = `arn:aws:iam::123456789012:role/${args.name}`;
      return { id: `${args.name}-id`, state: { ...args.inputs, ...extra } };
    },
    call(args: pulumi.runtime.MockCallArgs) {
      calls.push({ token: args.token, inputs: args.inputs as Props });
      if (args.token === "aws:ec2/getAmi:getAmi")
        return { id: "ami-0123456789abcdef0", name: "al2023-ami-2023.6.20250107.0-kernel-6.1-x86_64" };
      if (args.token === "aws:index/getPartition:getPartition") return { partition: "aws", dnsSuffix: "amazonaws.com" };
      return {};
    },
  },
  "nats-cluster",
  "dev",
  false,
);

const capture: pulumi.ResourceTransformation = (args) => {
  options.set(args.name, args.opts);
  return undefined;
};

function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

const ofType = (type: string): Recorded[] => resources.filter((r) => r.type === type);
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 50));

const CLIENT_CIDRS = ["10.0.0.0/16", "192.168.0.0/24"];
const ADMIN_CIDRS = ["203.0.113.10/32"];

let sg: ClusterSecurityGroup;
let profile: NatsInstanceProfile;
let members: AwsMemberHost[];
let surge: SurgeLaunchTemplate;

beforeAll(async () => {
  sg = new ClusterSecurityGroup(
    "nats-dev",
    { vpcId: "vpc-0abc", clientCidrs: CLIENT_CIDRS, adminCidrs: ADMIN_CIDRS },
    { transformations: [capture] },
  );
  profile = new NatsInstanceProfile(
    "nats-dev",
    { configParameterPrefix: "/nats-cluster/nats-dev" },
    { transformations: [capture] },
  );
  members = ["n1", "n2", "n3"].map((serverName) =>
    createAwsMemberHost(
      `nats-dev-${serverName}`,
      {
        serverName,
        clusterName: "nats-dev",
        version: "2.14.9",
        subnetId: "subnet-0abc",
        securityGroupIds: [sg.securityGroupId],
        instanceProfileName: profile.instanceProfileName,
        tags: { env: "dev" },
      },
      { transformations: [capture] },
    ),
  );
  surge = new SurgeLaunchTemplate(
    "nats-dev-surge",
    {
      serverName: "surge",
      clusterName: "nats-dev",
      version: "2.14.9",
      instanceProfileName: profile.instanceProfileName,
      securityGroupIds: [sg.securityGroupId],
    },
    { transformations: [capture] },
  );
  await Promise.all([valueOf(surge.launchTemplateId), ...members.map((m) => valueOf(m.endpoint))]);
  await settle();
});

describe("AwsMemberHost", () => {
  it("creates one instance per member, IMDSv2 required, SSM profile, user data that never replaces it", () => {
    const instances = ofType("aws:ec2/instance:Instance");
    expect(instances.map((i) => i.name).sort()).toEqual([
      "nats-dev-n1-instance",
      "nats-dev-n2-instance",
      "nats-dev-n3-instance",
    ]);
    for (const instance of instances) {
      expect(instance.inputs.metadataOptions).toMatchObject({ httpTokens: "required", httpEndpoint: "enabled" });
      expect(instance.inputs.userDataReplaceOnChange).toBe(false);
      expect(instance.inputs.ami).toBe("ami-0123456789abcdef0");
      expect(instance.inputs.instanceType).toBe("t3.small");
      expect(instance.inputs.iamInstanceProfile).toBe("nats-dev-profile-name");
      expect(instance.inputs.vpcSecurityGroupIds).toEqual(["nats-dev-sg-id"]);
      expect(instance.inputs.rootBlockDevice).toMatchObject({ encrypted: true });
      const userData = String(instance.inputs.userData);
      expect(userData).toContain("sha256sum -c");
      expect(userData).toContain("releases/download/v2.14.9");
      expect(userData).toContain("ExecStop=/bin/kill -s SIGUSR2 $MAINPID");
      expect(instance.inputs.tags).toMatchObject({ env: "dev", [TAG_CLUSTER]: "nats-dev", [TAG_ROLE]: "member" });
    }
    expect(instances.find((i) => i.name === "nats-dev-n2-instance")?.inputs.tags).toMatchObject({
      Name: "nats-dev-n2",
      [TAG_SERVER]: "n2",
    });
  });

  it("ignores userData and ami changes, so a version bump or a newer AMI never stops or replaces a member", () => {
    for (const name of ["nats-dev-n1-instance", "nats-dev-n2-instance", "nats-dev-n3-instance"]) {
      expect(options.get(name)?.ignoreChanges).toEqual(expect.arrayContaining(["userData", "ami"]));
    }
  });

  it("looks the AMI up with an explicit owner and name filter", () => {
    const amiCalls = calls.filter((c) => c.token === "aws:ec2/getAmi:getAmi");
    expect(amiCalls.length).toBeGreaterThan(0);
    for (const call of amiCalls) {
      expect(call.inputs.owners).toEqual(["amazon"]);
      expect(call.inputs.filters).toEqual(
        expect.arrayContaining([
          { name: "name", values: ["al2023-ami-2023.*-kernel-6.1-x86_64"] },
          { name: "architecture", values: ["x86_64"] },
        ]),
      );
    }
  });

  it("gives each member an encrypted EBS volume for JetStream, attached as /dev/sdf in the instance's AZ", () => {
    const volumes = ofType("aws:ebs/volume:Volume");
    expect(volumes.map((v) => v.name).sort()).toEqual([
      "nats-dev-n1-jetstream",
      "nats-dev-n2-jetstream",
      "nats-dev-n3-jetstream",
    ]);
    for (const volume of volumes)
      expect(volume.inputs).toMatchObject({ encrypted: true, size: 20, type: "gp3", availabilityZone: "eu-west-1a" });
    const attachments = ofType("aws:ec2/volumeAttachment:VolumeAttachment");
    expect(attachments).toHaveLength(3);
    expect(attachments.find((a) => a.name === "nats-dev-n1-jetstream-attachment")?.inputs).toMatchObject({
      deviceName: "/dev/sdf",
      instanceId: "nats-dev-n1-instance-id",
      volumeId: "nats-dev-n1-jetstream-id",
      stopInstanceBeforeDetaching: true,
    });
  });

  it("outputs the endpoint the engine's ClusterSpec needs", async () => {
    const endpoints: ServerEndpoint[] = await Promise.all(members.map((m) => valueOf(m.endpoint)));
    expect(endpoints.map((e) => e.name)).toEqual(["n1", "n2", "n3"]);
    for (const e of endpoints)
      expect(e).toMatchObject({
        clientPort: 4222,
        clusterPort: 6222,
        monitorPort: 8222,
        host: expect.stringMatching(/^10\.0\.1\.\d+$/),
      });
    expect(await valueOf(members[0].instanceId)).toBe("nats-dev-n1-instance-id");
  });

  it("without JetStream has no volume, and without a shared profile makes its own (arm64 picks the arm AMI and type)", async () => {
    const solo = createAwsMemberHost(
      "solo-n1",
      {
        serverName: "n1",
        clusterName: "solo",
        version: "2.15.2",
        arch: "arm64",
        subnetId: "subnet-0abc",
        securityGroupIds: ["sg-1"],
        jetstreamVolume: false,
      },
      { transformations: [capture] },
    );
    await valueOf(solo.endpoint);
    await settle();
    const mine = resources.filter((r) => r.name.startsWith("solo-n1-"));
    expect(mine.filter((r) => r.type === "aws:ebs/volume:Volume")).toHaveLength(0);
    expect(mine.find((r) => r.type === "aws:iam/instanceProfile:InstanceProfile")?.name).toBe("solo-n1-iam-profile");
    const instance = mine.find((r) => r.type === "aws:ec2/instance:Instance");
    expect(instance?.inputs).toMatchObject({
      instanceType: "t4g.small",
      iamInstanceProfile: "solo-n1-iam-profile-name",
    });
    expect(String(instance?.inputs.userData)).toContain("linux-arm64.tar.gz");
    expect(String(instance?.inputs.userData)).not.toContain("mkfs");
    const policy = JSON.parse(String(mine.find((r) => r.type === "aws:iam/rolePolicy:RolePolicy")?.inputs.policy)) as {
      Statement: Array<{ Resource: string }>;
    };
    expect(policy.Statement[0].Resource).toBe("arn:aws:ssm:*:*:parameter/nats-cluster/solo/*");
    expect(
      calls.some((c) => c.token === "aws:ec2/getAmi:getAmi" && JSON.stringify(c.inputs).includes("kernel-6.1-arm64")),
    ).toBe(true);
    expect(await valueOf(solo.volumeId)).toBeUndefined();
  });

  it("refuses bad arguments with the field's name", () => {
    const base = { clusterName: "nats-dev", version: "2.14.9", subnetId: "subnet-0abc", securityGroupIds: ["sg-1"] };
    expect(() => createAwsMemberHost("bad", { ...base, serverName: "n 1" }, {})).toThrow(
      /^AwsMemberHostArgs\.serverName: "n 1"/,
    );
    expect(() => createAwsMemberHost("bad", { ...base, serverName: "n1", clientPort: 70000 }, {})).toThrow(
      /^AwsMemberHostArgs\.clientPort: 70000/,
    );
    expect(() =>
      createAwsMemberHost("bad", { ...base, serverName: "n1", jetstreamVolume: { sizeGiB: 0 } }, {}),
    ).toThrow(/^AwsMemberHostArgs\.jetstreamVolume\.sizeGiB/);
  });
});

describe("ClusterSecurityGroup", () => {
  const rules = (): Recorded[] => ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule");

  it("has one ingress rule per rule: client port per client and admin CIDR, cluster port from itself, monitoring from admins", () => {
    const byName = new Map(rules().map((r) => [r.name, r.inputs]));
    expect([...byName.keys()].sort()).toEqual([
      "nats-dev-client-10-0-0-0-16",
      "nats-dev-client-192-168-0-0-24",
      "nats-dev-client-203-0-113-10-32",
      "nats-dev-cluster-self",
      "nats-dev-monitor-203-0-113-10-32",
    ]);
    for (const rule of byName.values())
      expect(rule).toMatchObject({ securityGroupId: "nats-dev-sg-id", ipProtocol: "tcp" });
    expect(byName.get("nats-dev-client-10-0-0-0-16")).toMatchObject({
      fromPort: 4222,
      toPort: 4222,
      cidrIpv4: "10.0.0.0/16",
    });
    expect(byName.get("nats-dev-client-192-168-0-0-24")).toMatchObject({
      fromPort: 4222,
      toPort: 4222,
      cidrIpv4: "192.168.0.0/24",
    });
    expect(byName.get("nats-dev-client-203-0-113-10-32")).toMatchObject({
      fromPort: 4222,
      cidrIpv4: "203.0.113.10/32",
    });
    expect(byName.get("nats-dev-cluster-self")).toMatchObject({
      fromPort: 6222,
      toPort: 6222,
      referencedSecurityGroupId: "nats-dev-sg-id",
    });
    expect(byName.get("nats-dev-cluster-self")?.cidrIpv4).toBeUndefined();
    expect(byName.get("nats-dev-monitor-203-0-113-10-32")).toMatchObject({
      fromPort: 8222,
      toPort: 8222,
      cidrIpv4: "203.0.113.10/32",
    });
    // No rule opens the cluster or monitoring port to a client CIDR.
    for (const rule of byName.values()) {
      if (rule.fromPort !== 4222) expect(CLIENT_CIDRS).not.toContain(rule.cidrIpv4);
    }
    expect(ofType("aws:ec2/securityGroup:SecurityGroup")).toHaveLength(1);
    expect(ofType("aws:ec2/securityGroup:SecurityGroup")[0].inputs.ingress).toBeUndefined();
    const egress = ofType("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule");
    expect(egress).toHaveLength(1);
    expect(egress[0].inputs).toMatchObject({ ipProtocol: "-1", cidrIpv4: "0.0.0.0/0" });
  });

  it("refuses a bad CIDR or no admin CIDR, naming the field", () => {
    expect(
      () => new ClusterSecurityGroup("bad1", { vpcId: "v", clientCidrs: ["10.0.0.0/33"], adminCidrs: ADMIN_CIDRS }),
    ).toThrow(/^ClusterSecurityGroupArgs\.clientCidrs\[0\]: "10\.0\.0\.0\/33"/);
    expect(() => new ClusterSecurityGroup("bad2", { vpcId: "v", clientCidrs: [], adminCidrs: [] })).toThrow(
      /^ClusterSecurityGroupArgs\.adminCidrs: give at least one CIDR/,
    );
  });
});

describe("NatsInstanceProfile", () => {
  it("grants SSM core and read access to the cluster's config parameters only", async () => {
    const attachment = ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment")[0];
    expect(attachment.inputs.policyArn).toBe("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore");
    const policy = JSON.parse(String(ofType("aws:iam/rolePolicy:RolePolicy")[0].inputs.policy)) as {
      Statement: Array<{ Action: string[]; Resource: string }>;
    };
    expect(policy.Statement[0]).toMatchObject({
      Action: ["ssm:GetParameter"],
      Resource: "arn:aws:ssm:*:*:parameter/nats-cluster/nats-dev/*",
    });
    expect(policy.Statement[1].Action).toEqual(["kms:Decrypt"]);
    expect(await valueOf(profile.instanceProfileName)).toBe("nats-dev-profile-name");
  });
});

describe("SurgeLaunchTemplate", () => {
  it("is a launch template of the member's shape, without a JetStream volume", async () => {
    const [template] = ofType("aws:ec2/launchTemplate:LaunchTemplate");
    expect(template.name).toBe("nats-dev-surge-lt");
    expect(template.inputs).toMatchObject({
      imageId: "ami-0123456789abcdef0",
      instanceType: "t3.small",
      iamInstanceProfile: { name: "nats-dev-profile-name" },
      vpcSecurityGroupIds: ["nats-dev-sg-id"],
      metadataOptions: { httpTokens: "required" },
      updateDefaultVersion: true,
    });
    const mappings = template.inputs.blockDeviceMappings as Array<{ deviceName: string }>;
    expect(mappings.map((m) => m.deviceName)).toEqual(["/dev/xvda"]);
    const userData = Buffer.from(String(template.inputs.userData), "base64").toString("utf8");
    expect(userData.startsWith("#!/bin/sh\n")).toBe(true);
    expect(userData).toContain("sha256sum -c");
    expect(userData).toContain("ExecStop=/bin/kill -s SIGUSR2 $MAINPID");
    expect(userData).not.toContain("mkfs");
    const tagSpecs = template.inputs.tagSpecifications as Array<{ resourceType: string; tags: Props }>;
    expect(tagSpecs.find((t) => t.resourceType === "instance")?.tags).toMatchObject({
      [TAG_CLUSTER]: "nats-dev",
      [TAG_SERVER]: "surge",
      [TAG_ROLE]: "surge",
    });
    expect(await valueOf(surge.launchTemplateId)).toBe("nats-dev-surge-lt-id");
  });

  it("creates no instance and no volume for the surge server: the driver launches it during a rollout", () => {
    expect(ofType("aws:ec2/instance:Instance").some((i) => i.name.includes("surge"))).toBe(false);
    expect(ofType("aws:ebs/volume:Volume").some((v) => v.name.includes("surge"))).toBe(false);
  });
});
