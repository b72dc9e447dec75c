/**
 * A NATS cluster on EC2 from the nats-cluster package, in the network another stack made (examples/aws-network):
 * the VPC and subnets come from a stack reference, not from ids written into this stack's file. Three members
 * spread over the network's subnets, clients allowed from its CIDR, the surge server at a fixed address in the first
 * subnet. The stack's `aws:*` settings reach the provider the platform makes and the engine's driver.
 */
import * as pulumi from "@pulumi/pulumi";
import { decodePlatformSettings, NatsCluster } from "nats-cluster";

const config = new pulumi.Config();
const network = new pulumi.StackReference(config.require("networkStack"));

/** A plain value of the network stack: the platform places members by the number of subnets, so it must be known. */
async function networkValue<T>(name: string): Promise<T> {
  const details = await network.getOutputDetails(name);
  const value = details.value ?? details.secretValue;
  if (value === undefined)
    throw new Error(`the network stack ${network.name} has no output "${name}"; deploy it first`);
  return value as T;
}

export = async () => {
  const [vpcId, subnetIds, vpcCidr] = await Promise.all([
    networkValue<string>("vpcId"),
    networkValue<string[]>("subnetIds"),
    networkValue<string>("vpcCidr"),
  ]);
  const cluster = new NatsCluster("nats", {
    platform: "aws",
    // Checked like a stack's `nats-cluster:aws` block: a bad id from the network stack fails the preview, named.
    platformSettings: decodePlatformSettings("aws", {
      region: new pulumi.Config("aws").require("region"),
      vpcId,
      subnetIds,
      clientCidrs: [vpcCidr],
      adminCidr: config.require("adminCidr"),
    }),
    stack: pulumi.getStack(),
    clusterName: `nats-${pulumi.getStack()}`,
    version: config.require("version"),
    members: ["nats-1", "nats-2", "nats-3"].map((name) => ({
      name,
      clientPort: 4222,
      clusterPort: 6222,
      monitorPort: 8222,
    })),
    surge: {
      name: "nats-surge",
      host: config.require("surgeIp"),
      clientPort: 4222,
      clusterPort: 6222,
      monitorPort: 8222,
    },
    tlsGenerate: {},
  });
  return { clientUrls: cluster.clientUrls, versions: cluster.versions, caPem: cluster.caPem };
};
