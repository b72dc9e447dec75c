/**
 * The surge server's fixed private IP (`nats-cluster:surge.host`) in the subnet the driver launches it in (the first
 * of `aws.subnetIds`): checked at preview against the subnet's CIDR, and reserved between rollouts.
 *
 * The check: EC2 gives an instance a private IP only inside its subnet, and keeps the first four addresses and the
 * last of every subnet for itself. Unchecked, a wrong address fails only at RunInstances, mid-rollout, after the
 * pre-flight passed. The reservation: an explicit /32 subnet CIDR reservation, from whose range EC2 assigns no
 * address by itself, only to whoever names it (as the driver's RunInstances does). Without it, any instance created
 * in the subnet between two rollouts (a new member, another workload) could be given the address, and the next
 * rollout would fail at the surge launch.
 *
 * Verified with Pulumi mocks (test/aws/components.test.ts): a lookup that reports the subnet's CIDR as
 * DescribeSubnets does. Not run against AWS: how CreateSubnetCidrReservation treats an address already in use.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface SurgeAddressArgs {
  /** The surge server's `server_name`: the reservation's description. */
  readonly serverName: pulumi.Input<string>;
  /** `cluster.name`: the reservation's description. */
  readonly clusterName: pulumi.Input<string>;
  /** `nats-cluster:surge.host`: an IPv4 address of the subnet (undefined: missing, refused at preview). */
  readonly address: pulumi.Input<string | undefined>;
  /** The subnet the surge server is launched in (the first of `aws.subnetIds`). */
  readonly subnetId: pulumi.Input<string>;
}

export class SurgeAddress extends pulumi.ComponentResource {
  /** The reservation's id: a dependency of the members' instances and of the rollout. */
  readonly reservationId: pulumi.Output<string>;

  constructor(name: string, args: SurgeAddressArgs, opts?: pulumi.ComponentResourceOptions) {
    super("nats-cluster:aws:SurgeAddress", name, args, opts);
    const subnet = aws.ec2.getSubnetOutput({ id: args.subnetId }, { parent: this });
    // Throws at preview (the lookup runs then) with the key and the fix: the reservation cannot be registered.
    const cidrBlock = pulumi
      .all([args.address, args.subnetId, subnet.cidrBlock])
      .apply(([address, subnetId, subnetCidr]) => {
        const problem = surgeAddressProblem(address, subnetId, subnetCidr);
        if (problem) throw new Error(problem);
        return `${address}/32`;
      });
    const reservation = new aws.ec2.SubnetCidrReservation(
      `${name}-reservation`,
      {
        subnetId: args.subnetId,
        cidrBlock,
        reservationType: "explicit",
        description: pulumi.interpolate`surge server ${args.serverName} of NATS cluster ${args.clusterName}`,
      },
      { parent: this },
    );
    this.reservationId = reservation.id;
    this.registerOutputs({ reservationId: this.reservationId });
  }
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipv4ToNumber(address: string): number | undefined {
  const m = IPV4.exec(address);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) return undefined;
  return m.slice(1).reduce((n, o) => n * 256 + Number(o), 0);
}

function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

/**
 * Why `nats-cluster:surge.host` cannot be the surge server's address in the subnet it is launched in (undefined:
 * fine, or the subnet's CIDR is not known yet). EC2 gives an instance a private IP only inside its subnet, and
 * keeps the first four addresses and the last of every subnet for itself.
 */
export function surgeAddressProblem(
  host: string | undefined,
  subnetId: string,
  subnetCidr: string | undefined,
): string | undefined {
  const where = `the first of aws.subnetIds (${subnetId}), where the surge server is launched`;
  if (!host) return `nats-cluster:surge.host: missing; write a free private IP of ${where}, e.g. 10.0.1.250`;
  const address = ipv4ToNumber(host);
  if (address === undefined)
    return `nats-cluster:surge.host: "${host}" is not an IPv4 address; write a free private IP of ${where}`;
  const m = subnetCidr ? /^(.+)\/(\d{1,2})$/.exec(subnetCidr) : null;
  const network = m ? ipv4ToNumber(m[1]) : undefined;
  if (!m || network === undefined) return undefined;
  const size = 2 ** (32 - Number(m[2]));
  const first = network - (network % size);
  const example = numberToIpv4(first + size - 6);
  if (address < first || address >= first + size) {
    return (
      `nats-cluster:surge.host: ${host} is not in ${subnetCidr}, ${where}; write a free address inside it, ` +
      `e.g. ${example}, or list the subnet that holds ${host} first in aws.subnetIds`
    );
  }
  if (address - first < 4 || address === first + size - 1) {
    return (
      `nats-cluster:surge.host: ${host} is reserved by AWS in ${subnetCidr} (the first four addresses and the last ` +
      `of every subnet), ${where}; write another free address inside it, e.g. ${example}`
    );
  }
  return undefined;
}
