/**
 * One security group for a cluster's hosts (members and the surge VM), with one `aws.vpc.SecurityGroupIngressRule`
 * per rule (not inline `ingress` blocks, which fight standalone rules and replace the whole set on any change):
 *
 *   client port      from each client CIDR, and from each admin CIDR (the rollout's client probe publishes and
 *                    subscribes from the machine running `pulumi up`)
 *   cluster port     only from the group itself (route connections between members and the surge server)
 *   monitoring port  only from each admin CIDR (the rollout's health gates read /healthz, /varz, /routez, /jsz)
 *   exporter port    only from each admin CIDR, when the stack installs a metrics exporter (engine/exporter.ts):
 *                    the Prometheus that scrapes it sits where the operators are
 *   egress           everything (the release download, from GitHub through a NAT or from a mirror in the VPC;
 *                    the SSM endpoints: ssm, ssmmessages, ec2messages, through a NAT or VPC endpoints)
 *
 * CIDR lists are plain arrays, not Inputs: each entry becomes a resource of its own, named after the CIDR, so
 * reordering the list changes nothing and removing one entry deletes exactly one rule. Servers with ports of
 * their own get rules for them through {@link ClusterSecurityGroup.allowPorts}.
 *
 * Rule descriptions may hold only `a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*` (EC2 rejects anything else, an apostrophe
 * included): every description is checked against {@link RULE_DESCRIPTION} before it is sent.
 * The resource graph is verified with Pulumi mocks; nothing here has run against a real AWS account.
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
  /** The metrics exporter's port on every host (engine/exporter.ts), when there is one. */
  readonly exporterPort?: number;
  /** Tags for the group and its rules. */
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** What EC2 accepts in a security group rule's description (and the group's): at most 255 of these characters. */
export const RULE_DESCRIPTION = /^[a-zA-Z0-9. _\-:/()#,@[\]+=&;{}!$*]{0,255}$/;

/** Throws (naming the rule) unless EC2 would take the description. */
export function checkRuleDescription(rule: string, description: string): string {
  if (!RULE_DESCRIPTION.test(description)) {
    const bad = [...new Set([...description].filter((c) => !RULE_DESCRIPTION.test(c)))].join("");
    throw new Error(
      `security group rule ${rule}: description ${JSON.stringify(description)} has characters EC2 refuses ` +
        `(${JSON.stringify(bad)}); allowed are a-z A-Z 0-9 space and ._-:/()#,@[]+=&;{}!$*, at most 255`,
    );
  }
  return description;
}

/** The three ports of a server. */
export interface ServerPorts {
  readonly clientPort: number;
  readonly clusterPort: number;
  readonly monitorPort: number;
}

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
  /**
   * The group's id, carrying its rules (egress and the default ports' ingress) as dependencies: an instance that
   * boots before its egress rule exists cannot download its release or reach SSM.
   */
  readonly securityGroupId: pulumi.Output<string>;
  private readonly groupId: pulumi.Output<string>;
  private readonly name: string;
  private readonly args: ClusterSecurityGroupArgs;
  /** Ports with rules already, per kind, and the rule resources, so each port is opened once. */
  private readonly opened = { client: new Set<number>(), cluster: new Set<number>(), monitor: new Set<number>() };

  constructor(name: string, args: ClusterSecurityGroupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("nats-cluster:aws:ClusterSecurityGroup", name, args, opts);
    this.name = name;
    this.args = args;
    const ports: ServerPorts = {
      clientPort: args.clientPort ?? 4222,
      clusterPort: args.clusterPort ?? 6222,
      monitorPort: args.monitorPort ?? 8222,
    };
    checkCidrs("clientCidrs", args.clientCidrs, false);
    checkCidrs("adminCidrs", args.adminCidrs, true);
    checkPorts(ports);

    const group = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: checkRuleDescription(
          `${name}-sg`,
          `nats-server hosts of ${name}: client, cluster and monitoring ports`,
        ),
        tags: args.tags,
      },
      { parent: this },
    );
    this.groupId = group.id;

    const egress = new aws.vpc.SecurityGroupEgressRule(
      `${name}-egress-all`,
      {
        securityGroupId: group.id,
        ipProtocol: "-1",
        cidrIpv4: "0.0.0.0/0",
        description: checkRuleDescription(
          `${name}-egress-all`,
          "release downloads (NAT or a mirror), SSM endpoints (NAT or VPC endpoints)",
        ),
        tags: args.tags,
      },
      { parent: this },
    );
    const ingress = [this.allowPorts(ports)];
    if (args.exporterPort !== undefined) {
      checkPort("exporterPort", args.exporterPort);
      if ([ports.clientPort, ports.clusterPort, ports.monitorPort].includes(args.exporterPort)) {
        throw new Error(`ClusterSecurityGroupArgs.exporterPort: ${args.exporterPort} is one of the server's ports`);
      }
      for (const cidr of [...new Set(args.adminCidrs)]) {
        const rule = `${name}-exporter-${slug(cidr)}`;
        const exporterRule = new aws.vpc.SecurityGroupIngressRule(
          rule,
          {
            securityGroupId: group.id,
            ipProtocol: "tcp",
            fromPort: args.exporterPort,
            toPort: args.exporterPort,
            description: checkRuleDescription(rule, `metrics exporter from admin ${cidr}`),
            tags: args.tags,
            cidrIpv4: cidr,
          },
          { parent: this },
        );
        ingress.push(exporterRule.id.apply((id) => [id]));
      }
    }
    this.securityGroupId = pulumi.all([group.id, egress.id, pulumi.all(ingress)]).apply(([id]) => id);
    this.registerOutputs({ securityGroupId: this.securityGroupId });
  }

  /**
   * Ingress rules for a server's ports that no rule covers yet (the group's default ports have theirs from the
   * constructor); resolves with their ids, for the instances that need them. Rules for the default ports keep the
   * names they always had; other ports get the port in the name.
   */
  allowPorts(ports: ServerPorts): pulumi.Output<string[]> {
    checkPorts(ports);
    const { name, args } = this;
    const rules: pulumi.Output<string>[] = [];
    const tcp = (
      port: number,
      rule: string,
      from: { cidrIpv4: string } | { referencedSecurityGroupId: pulumi.Input<string> },
      description: string,
    ) => {
      const resourceName = `${name}-${rule}`;
      rules.push(
        new aws.vpc.SecurityGroupIngressRule(
          resourceName,
          {
            securityGroupId: this.groupId,
            ipProtocol: "tcp",
            fromPort: port,
            toPort: port,
            description: checkRuleDescription(resourceName, description),
            tags: args.tags,
            ...from,
          },
          { parent: this },
        ).id,
      );
    };
    const suffix = (kind: keyof ClusterSecurityGroup["opened"], port: number) =>
      this.opened[kind].size === 0 ? "" : `-p${port}`;

    if (!this.opened.client.has(ports.clientPort)) {
      const p = suffix("client", ports.clientPort);
      // Admin CIDRs reach the client port too (the rollout's client probe), once each even if also a client CIDR.
      for (const cidr of [...new Set([...args.clientCidrs, ...args.adminCidrs])]) {
        tcp(ports.clientPort, `client${p}-${slug(cidr)}`, { cidrIpv4: cidr }, `NATS clients from ${cidr}`);
      }
      this.opened.client.add(ports.clientPort);
    }
    if (!this.opened.cluster.has(ports.clusterPort)) {
      const p = suffix("cluster", ports.clusterPort);
      tcp(
        ports.clusterPort,
        `cluster${p}-self`,
        { referencedSecurityGroupId: this.groupId },
        "NATS routes between the servers of this cluster only",
      );
      this.opened.cluster.add(ports.clusterPort);
    }
    if (!this.opened.monitor.has(ports.monitorPort)) {
      const p = suffix("monitor", ports.monitorPort);
      for (const cidr of [...new Set(args.adminCidrs)]) {
        tcp(ports.monitorPort, `monitor${p}-${slug(cidr)}`, { cidrIpv4: cidr }, `NATS monitoring from admin ${cidr}`);
      }
      this.opened.monitor.add(ports.monitorPort);
    }
    return rules.length ? pulumi.all(rules) : pulumi.output([]);
  }
}

/**
 * An ingress rule on `port` from another cluster's group (a supercluster's gateway or leafnode link): only the hosts
 * of that cluster, never a CIDR. Both groups are in the stack's one VPC (`aws.vpcId`), where a group may be
 * referenced by id.
 */
export function allowFromGroup(
  to: ClusterSecurityGroup,
  from: ClusterSecurityGroup,
  rule: { readonly name: string; readonly port: number; readonly description: string },
  opts: pulumi.CustomResourceOptions,
): aws.vpc.SecurityGroupIngressRule {
  checkPort("port", rule.port);
  return new aws.vpc.SecurityGroupIngressRule(
    rule.name,
    {
      securityGroupId: to.securityGroupId,
      ipProtocol: "tcp",
      fromPort: rule.port,
      toPort: rule.port,
      referencedSecurityGroupId: from.securityGroupId,
      description: checkRuleDescription(rule.name, rule.description),
    },
    opts,
  );
}

function checkPorts(ports: ServerPorts): void {
  checkPort("clientPort", ports.clientPort);
  checkPort("clusterPort", ports.clusterPort);
  checkPort("monitorPort", ports.monitorPort);
  if (new Set([ports.clientPort, ports.clusterPort, ports.monitorPort]).size !== 3) {
    throw new Error(
      `ClusterSecurityGroupArgs: client, cluster and monitoring ports must differ (got ${ports.clientPort}, ${ports.clusterPort}, ${ports.monitorPort})`,
    );
  }
}
