/**
 * The AWS examples under Pulumi mocks (no AWS account is reachable here): examples/aws-network makes a VPC and a
 * subnet per zone and exports their ids; examples/aws-cluster reads those outputs through a stack reference and puts
 * the cluster in that network: the security group in the VPC, members spread over the subnets, clients allowed from
 * the VPC's CIDR. The mocks answer the stack reference with the outputs the network program exported.
 */
import * as pulumi from "@pulumi/pulumi";
import { recordRegistrations, Registration, registrations, valueOf } from "./support/mock-program";

const stateOf = new Map<string, Record<string, unknown>>();
let networkOutputs: Record<string, unknown> = {};

beforeAll(async () => {
  recordRegistrations();
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const extra: Record<string, unknown> = {};
        if (args.type === "pulumi:pulumi:StackReference") Object.assign(extra, { outputs: networkOutputs });
        if (args.type === "aws:ec2/vpc:Vpc") extra.cidrBlock = args.inputs.cidrBlock;
        if (args.type === "aws:ec2/instance:Instance") extra.privateIp = `10.20.1.${10 + stateOf.size}`;
        if (args.type === "aws:ec2/launchTemplate:LaunchTemplate") extra.latestVersion = 1;
        if (args.type === "aws:iam/instanceProfile:InstanceProfile") extra.name = `${args.name}-name`;
        if (args.type === "aws:kms/key:Key") extra.arn = `arn:aws:kms:eu-west-1:123456789012:key/${args.name}`;
        const id = args.type === "pulumi:pulumi:StackReference" ? String(args.inputs.name) : `${args.name}-id`;
        const state = { ...args.inputs, ...extra };
        stateOf.set(args.name, state);
        return { id, state };
      },
      call: (args) => {
        if (args.token === "aws:index/getAvailabilityZones:getAvailabilityZones")
          return { names: ["eu-west-1a", "eu-west-1b", "eu-west-1c"] };
        if (args.token === "aws:ec2/getSubnet:getSubnet") return { id: args.inputs.id, cidrBlock: "10.20.1.0/24" };
        if (args.token === "aws:ec2/getAmi:getAmi") return { id: "ami-0123456789abcdef0" };
        if (args.token === "aws:index/getPartition:getPartition") return { partition: "aws" };
        return {};
      },
    },
    "aws-examples",
    "dev",
    false,
  );
  pulumi.runtime.setAllConfig({
    "aws:region": "eu-west-1",
    "aws-examples:networkStack": "organization/aws-network/dev",
    "aws-examples:version": "2.14.9",
    "aws-examples:adminCidr": "203.0.113.10/32",
    "aws-examples:surgeIp": "10.20.1.250",
  });
});

const named = (prefix: string, type: string): Registration[] =>
  registrations.filter((r) => r.type === type && r.name.startsWith(prefix));

describe("examples/aws-network", () => {
  it("makes a VPC and a subnet per zone in it, and exports their ids", async () => {
    const program = require("../../examples/aws-network/index") as Record<string, pulumi.Output<unknown>>;
    const subnetIds = (await valueOf(program.subnetIds)) as string[];
    expect(subnetIds).toEqual(["nats-0-id", "nats-1-id"]);
    expect(await valueOf(program.vpcId)).toBe("nats-id");
    expect(await valueOf(program.vpcCidr)).toBe("10.20.0.0/16");
    const subnets = named("nats-", "aws:ec2/subnet:Subnet").map((r) => stateOf.get(r.name));
    expect(subnets.map((s) => [s?.vpcId, s?.cidrBlock, s?.availabilityZone])).toEqual([
      ["nats-id", "10.20.1.0/24", "eu-west-1a"],
      ["nats-id", "10.20.2.0/24", "eu-west-1b"],
    ]);
    networkOutputs = { vpcId: "vpc-0feed1234", subnetIds: ["subnet-0aaa", "subnet-0bbb"], vpcCidr: "10.20.0.0/16" };
  });
});

describe("examples/aws-cluster", () => {
  let outputs: Record<string, pulumi.Output<unknown>>;

  beforeAll(async () => {
    const main = require("../../examples/aws-cluster/index") as () => Promise<Record<string, pulumi.Output<unknown>>>;
    outputs = await main();
    await valueOf(outputs.versions);
    await new Promise((resolve) => setTimeout(resolve, 50));
  });

  it("reads the network stack by a stack reference", () => {
    // A stack reference is read, not registered: the mocks see it as a resource of that name.
    expect(stateOf.get("organization/aws-network/dev")?.name).toBe("organization/aws-network/dev");
  });

  it("puts the security group in the referenced VPC and lets clients in from its CIDR", () => {
    const groups = named("nats-", "aws:ec2/securityGroup:SecurityGroup").map((r) => stateOf.get(r.name));
    expect(groups.map((g) => g?.vpcId)).toEqual(["vpc-0feed1234"]);
    const rules = registrations.filter((r) => r.type.startsWith("aws:vpc/securityGroupIngressRule"));
    expect(rules.some((r) => stateOf.get(r.name)?.cidrIpv4 === "10.20.0.0/16")).toBe(true);
  });

  it("spreads the members over the referenced subnets", () => {
    const instances = named("nats-", "aws:ec2/instance:Instance").map((r) => stateOf.get(r.name)?.subnetId);
    expect(instances).toEqual(["subnet-0aaa", "subnet-0bbb", "subnet-0aaa"]);
    expect(Object.keys(outputs).sort()).toEqual(["caPem", "clientUrls", "versions"]);
  });
});
