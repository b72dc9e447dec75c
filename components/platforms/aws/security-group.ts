/**
 * One security group for a cluster's hosts (members and the surge VM), with one `aws.vpc.SecurityGroupIngressRule`
 * per rule (not inline `ingress` blocks, which fight standalone rules and replace the whole set on any change):
 *
 *   client port      from each client CIDR, and from each admin CIDR (the rollout's client probe publishes and
 *                    subscribes from the machine running `pulumi up`)
 *   cluster port     only from the group itself (route connections between members and the surge server)
 *   monitoring port  only from each admin CIDR (the rollout's health gates read /healthz, /varz, /routez, /jsz)
 *   egress           everything (release downloads from GitHub, the SSM and KMS endpoints)
 *
 * CIDR lists are plain arrays, not Inputs: each entry becomes a resource of its own, named after the CIDR, so
 * reordering the list changes nothing and removing one entry deletes exactly one rule.
 * AWS parts of this project are verified only with mocks.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface ClusterSecurityGroupArgs {
  /** VPC of the cluster's subnets. */
  readonly vpcId: pulumi.Input<string>;
  /** IPv4 CIDRs whose clients may connect to the client port, e.g. ["10.0.0.0/16"]. */
  readonly clientCidrs: ReadonlyArray<string>;
  /** IPv4 CIDRs of the operators / CI running `pulumi up`: the monitoring port, and the client port for the client
   * probe. At least one. */
  readonly adminCidrs: ReadonlyArray<string>;
  /** Client port of every server. Default 4222. */
  readonly clientPort?: number;
  /** Cluster (route) port of every server. Default 6222. */
  readonly clusterPort?: number;
  /** Monitoring port of every server. Default 8222. */
  readonly monitorPort?: number;
  /** Tags for the group and its rules. */
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** Throws with the field name unless every entry is an IPv4 CIDR. */
function checkCidrs(field: string, cidrs: ReadonlyArray<string>, atLeastOne: boolean): void {
  if (atLeastOne && cidrs.length === 0)
    throw new Error(`ClusterSecurityGroupArgs.${field}: give at least one CIDR, e.g. ["203.0.113.10/32"]`);
  cidrs.forEach((cidr, i) => {
    const m = CIDR.exec(cidr);
    const ok = m !== null && m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
    if (!ok)
      throw new Error(`ClusterSecurityGroupArgs.${field}[${i}]: "${cidr}" is not an IPv4 CIDR such as 10.0.0.0/16`);
  });
}

function checkPort(field: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`ClusterSecurityGroupArgs.${field}: ${port} is not a TCP port (1-65535)`);
}

/** `10.0.0.0/16` → `10-0-0-0-16`, for resource names. */
const slug = (cidr: string): string => cidr.replace(/[./]/g, "-");

export class ClusterSecurityGroup extends pulumi.ComponentResource {
  readonly securityGroupId: pulumi.Output<string>;

  constructor(name: string, args: ClusterSecurityGroupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("nats-cluster:aws:ClusterSecurityGroup", name, args, opts);
    const clientPort = args.clientPort ?? 4222;
    const clusterPort = args.clusterPort ?? 6222;
    const monitorPort = args.monitorPort ?? 8222;
    checkCidrs("clientCidrs", args.clientCidrs, false);
    checkCidrs("adminCidrs", args.adminCidrs, true);
    checkPort("clientPort", clientPort);
    checkPort("clusterPort", clusterPort);
    checkPort("monitorPort", monitorPort);
    if (new Set([clientPort, clusterPort, monitorPort]).size !== 3) {
      throw new Error(
        `ClusterSecurityGroupArgs: client, cluster and monitoring ports must differ (got ${clientPort}, ${clusterPort}, ${monitorPort})`,
      );
    }

    const group = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: `nats-server hosts of ${name}: client, cluster and monitoring ports`,
        tags: args.tags,
      },
      { parent: this },
    );
    this.securityGroupId = group.id;

    const tcp = (
      rule: string,
      port: number,
      from: { cidrIpv4: string } | { referencedSecurityGroupId: pulumi.Input<string> },
      description: string,
    ) =>
      new aws.vpc.SecurityGroupIngressRule(
        `${name}-${rule}`,
        {
          securityGroupId: group.id,
          ipProtocol: "tcp",
          fromPort: port,
          toPort: port,
          description,
          tags: args.tags,
          ...from,
        },
        { parent: this },
      );

    // Admin CIDRs reach the client port too (the rollout's client probe), once each even if also a client CIDR.
    for (const cidr of [...new Set([...args.clientCidrs, ...args.adminCidrs])]) {
      tcp(`client-${slug(cidr)}`, clientPort, { cidrIpv4: cidr }, `NATS clients from ${cidr}`);
    }
    tcp(
      "cluster-self",
      clusterPort,
      { referencedSecurityGroupId: group.id },
      "NATS routes between the cluster's servers only",
    );
    for (const cidr of [...new Set(args.adminCidrs)]) {
      tcp(`monitor-${slug(cidr)}`, monitorPort, { cidrIpv4: cidr }, `NATS monitoring from admin ${cidr}`);
    }
    new aws.vpc.SecurityGroupEgressRule(
      `${name}-egress-all`,
      {
        securityGroupId: group.id,
        ipProtocol: "-1",
        cidrIpv4: "0.0.0.0/0",
        description: "release downloads, SSM and KMS endpoints",
        tags: args.tags,
      },
      { parent: this },
    );

    this.registerOutputs({ securityGroupId: this.securityGroupId });
  }
}
