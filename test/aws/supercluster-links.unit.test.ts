/**
 * A supercluster on aws under Pulumi mocks: each cluster keeps its own security group, and the links between them
 * are opened group to group, never to a CIDR — every joined cluster accepts every other one's hosts on its gateway
 * port, a hub accepts its leaf cluster's hosts on its leafnode port (and nothing else crosses) — and the one rollout
 * waits for those rules (a first start's gateways gate would fail without them). Verified only with mocks: the
 * rules' inputs are checked, not how EC2 would take them. The ports themselves come from clusterLinkPorts, tested
 * first without Pulumi.
 */
import { decodePlatformSettings, NatsSupercluster, SuperclusterClusterArgs } from "../../components";
import { clusterLinkPorts } from "../../components/config/links";
import { Registration, registrations, valueOf, setAwsMocks } from "../pulumi/support/mock-program";

const INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const GROUP = "aws:ec2/securityGroup:SecurityGroup";
const ROLLOUT = "pulumi-nodejs:dynamic/nats-cluster:SuperclusterRollout";

describe("clusterLinkPorts", () => {
  it("gateways both ways between joined clusters, the surge server's own port included; a leaf to its hub only", () => {
    const links = clusterLinkPorts([
      { name: "east", members: [{}, {}], surge: { gatewayPort: 7223 } },
      { name: "west", members: [{}, { gatewayPort: 7300 }], gatewayPort: 7250 },
      { name: "edge", members: [{}], hub: "east" },
    ]);
    expect(links).toEqual([
      { from: "west", to: "east", kind: "gateway", ports: [7222, 7223] },
      { from: "east", to: "west", kind: "gateway", ports: [7250, 7300] },
      { from: "edge", to: "east", kind: "leafnode", ports: [7422] },
    ]);
  });

  it("a single cluster, or one cluster and its leaves, has no gateway link", () => {
    expect(clusterLinkPorts([{ name: "solo", members: [{}] }])).toEqual([]);
    expect(
      clusterLinkPorts([
        { name: "hub", members: [{ leafnodePort: 7500 }, {}], leafnodes: { port: 7422 } },
        { name: "edge", members: [{}], hub: "hub" },
      ]),
    ).toEqual([{ from: "edge", to: "hub", kind: "leafnode", ports: [7422, 7500] }]);
  });
});

describe("a supercluster on aws", () => {
  let mine: Registration[];

  beforeAll(async () => {
    await setAwsMocks("consumer", "prod");
    const PORTS = { clientPort: 4222, clusterPort: 6222, monitorPort: 8222 };
    const cluster = (name: string, surgeIp: string, extra: Partial<SuperclusterClusterArgs> = {}) => ({
      name,
      members: [1, 2, 3].map((n) => ({ name: `${name}-${n}`, ...PORTS })),
      surge: { name: `${name}-surge`, host: surgeIp, ...PORTS },
      ...extra,
    });
    const sc = new NatsSupercluster("sc", {
      platform: "aws",
      platformSettings: decodePlatformSettings("aws", {
        region: "eu-west-1",
        vpcId: "vpc-0abc",
        subnetIds: ["subnet-0a", "subnet-0b"],
        clientCidrs: ["10.0.0.0/16"],
        adminCidr: "203.0.113.10/32",
      }),
      stack: "prod",
      version: "2.14.9",
      auth: { systemAccount: { user: "sys", password: "mock-links-sys-password" } },
      clusters: [
        cluster("east", "10.0.1.250"),
        cluster("west", "10.0.1.251"),
        { ...cluster("edge", "10.0.1.252"), members: [{ name: "edge-1", ...PORTS }], hub: "east" },
      ],
    });
    await valueOf(sc.clientUrls);
    await new Promise((resolve) => setTimeout(resolve, 100));
    mine = registrations.filter((r) => r.name === "sc" || r.name.startsWith("sc-"));
  });

  const groupOf = (cluster: string) => `sc-${cluster}-sg-sg-id`;
  const linkRules = () =>
    mine
      .filter((r) => r.type === INGRESS && r.wireInputs.referencedSecurityGroupId !== undefined)
      .filter((r) => r.wireInputs.securityGroupId !== r.wireInputs.referencedSecurityGroupId);

  it("each cluster has a security group of its own", () => {
    const groups = mine.filter((r) => r.type === GROUP).map((r) => r.name);
    expect(groups.sort()).toEqual(["sc-east-sg-sg", "sc-edge-sg-sg", "sc-west-sg-sg"]);
  });

  it("opens gateways group to group both ways, and the hub's leafnode port to its leaves, nothing more", () => {
    const seen = linkRules().map((r) => ({
      name: r.name,
      to: r.wireInputs.securityGroupId,
      from: r.wireInputs.referencedSecurityGroupId,
      port: [r.wireInputs.fromPort, r.wireInputs.toPort],
      cidr: r.wireInputs.cidrIpv4,
    }));
    expect(seen.sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      [
        { name: "sc-east-gateway-from-west", to: groupOf("east"), from: groupOf("west"), port: [7222, 7222] },
        { name: "sc-east-leafnode-from-edge", to: groupOf("east"), from: groupOf("edge"), port: [7422, 7422] },
        { name: "sc-west-gateway-from-east", to: groupOf("west"), from: groupOf("east"), port: [7222, 7222] },
      ].map((r) => ({ ...r, cidr: undefined })),
    );
  });

  it("the rollout waits for every link rule", () => {
    const rollout = mine.find((r) => r.type === ROLLOUT);
    expect(rollout).toBeDefined();
    expect(linkRules()).toHaveLength(3);
    for (const rule of linkRules()) expect(rollout!.dependencies).toContain(rule.urn);
  });
});
