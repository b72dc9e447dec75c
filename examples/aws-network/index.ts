/**
 * An example network stack: a VPC and one private subnet per availability zone (a /24 each, from the VPC's
 * `cidr`), for the aws-cluster example, which reads these outputs through a stack reference instead of writing ids
 * into its stack file. Subnets get no public IPs; the hosts reach SSM and the nats-server releases through whatever
 * egress the VPC has (a NAT gateway, or VPC endpoints and a release mirror: README, Platforms).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

const config = new pulumi.Config();
const cidr = config.get("cidr") ?? "10.20.0.0/16";
const zones = config.getNumber("zones") ?? 2;
const [a, b] = cidr.split(".");

const vpc = new aws.ec2.Vpc("nats", {
  cidrBlock: cidr,
  enableDnsHostnames: true,
  enableDnsSupport: true,
  tags: { Name: `nats-${pulumi.getStack()}` },
});

const available = aws.getAvailabilityZonesOutput({ state: "available" });
const subnets = Array.from(
  { length: zones },
  (_, i) =>
    new aws.ec2.Subnet(`nats-${i}`, {
      vpcId: vpc.id,
      cidrBlock: `${a}.${b}.${i + 1}.0/24`,
      availabilityZone: available.names[i],
      mapPublicIpOnLaunch: false,
      tags: { Name: `nats-${pulumi.getStack()}-${i}` },
    }),
);

/** The VPC the cluster's instances and security group go in. */
export const vpcId = vpc.id;
/** Its CIDR (the aws-cluster example lets clients in from it). */
export const vpcCidr = vpc.cidrBlock;
/** One subnet per availability zone, in zone order: members are spread over them, the surge server in the first. */
export const subnetIds = pulumi.all(subnets.map((s) => s.id));
