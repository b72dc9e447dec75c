/**
 * The component options a program gives NatsCluster reach its children (issue 18 item 1): `protect` on every
 * resource of the cluster, an `aws` provider in `providers` (the options', or a parent component's) on every AWS
 * resource instead of the one the platform would build, and `aliases` sent with the component. Pulumi mocks: what
 * the SDK registers is checked. That a renamed cluster's children follow its alias is the engine's work (the SDK sends
 * alias specs); test/pulumi/example-package.test.ts renames a real cluster and previews no change.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { decodePlatformSettings, NatsCluster, NatsClusterArgs, PlatformSettingsError } from "../../components";
import { Registration, registrations, valueOf, setAwsMocks } from "./support/mock-program";

beforeAll(async () => {
  await setAwsMocks("consumer", "dev");
});

const PORTS = (i: number) => ({ clientPort: 4222 + i, clusterPort: 6222 + i, monitorPort: 8222 + i });

function localArgs(clusterName: string): NatsClusterArgs {
  return {
    platform: "local",
    platformSettings: decodePlatformSettings("local", { stateDir: "/tmp/never-used" }, { stack: "dev" }),
    stack: "dev",
    clusterName,
    version: pulumi.output("2.14.9"),
    members: ["a", "b", "c"].map((n, i) => ({ name: `${clusterName}-${n}`, ...PORTS(i) })),
    surge: { name: `${clusterName}-surge`, ...PORTS(9) },
  };
}

function awsArgs(clusterName: string): NatsClusterArgs {
  return {
    platform: "aws",
    platformSettings: decodePlatformSettings("aws", {
      region: "eu-west-1",
      vpcId: "vpc-0abc",
      subnetIds: ["subnet-0a", "subnet-0b"],
      clientCidrs: ["10.0.0.0/16"],
      adminCidr: "203.0.113.10/32",
    }),
    stack: "dev",
    clusterName,
    version: "2.14.9",
    members: [1, 2].map((n) => ({ name: `${clusterName}-${n}`, ...PORTS(0) })),
    surge: { name: `${clusterName}-surge`, host: "10.0.1.250", ...PORTS(0) },
  };
}

/** The component called `name` and every registration named after it (its children are `${name}-…`). */
async function settled(cluster: NatsCluster, name: string): Promise<Registration[]> {
  await valueOf(cluster.versions);
  await new Promise((resolve) => setTimeout(resolve, 50));
  return registrations.filter((r) => r.name === name || r.name.startsWith(`${name}-`));
}

class Platform extends pulumi.ComponentResource {
  constructor(name: string, opts: pulumi.ComponentResourceOptions) {
    super("consumer:index:Platform", name, {}, opts);
  }
}

describe("protect", () => {
  it("reaches every resource of the cluster: the servers, their processes and the RollingUpgrade", async () => {
    const cluster = new NatsCluster("guarded", localArgs("guarded"), { protect: true });
    const mine = await settled(cluster, "guarded");
    expect(mine.map((r) => r.type.split(":").pop()).sort()).toEqual([
      "LocalNatsProcess",
      "LocalNatsProcess",
      "LocalNatsProcess",
      "NatsCluster",
      "NatsServer",
      "NatsServer",
      "NatsServer",
      "RollingUpgrade",
    ]);
    for (const r of mine) expect(`${r.name}: ${r.protect}`).toBe(`${r.name}: true`);
  });

  it("is off when not given", async () => {
    const cluster = new NatsCluster("loose", localArgs("loose"));
    const mine = await settled(cluster, "loose");
    expect(mine.length).toBe(8);
    for (const r of mine) expect(r.protect).toBe(false);
  });
});

describe("providers", () => {
  const awsResources = (mine: Registration[]) => mine.filter((r) => r.type.startsWith("aws:"));

  it("an aws provider in the options is used for every AWS resource; the platform makes none of its own", async () => {
    const callers = new aws.Provider("callers-opts", { region: "eu-west-1" });
    const cluster = new NatsCluster("viaopts", awsArgs("viaopts"), { providers: [callers] });
    const mine = await settled(cluster, "viaopts");
    expect(mine.some((r) => r.type === "pulumi:providers:aws")).toBe(false);
    expect(awsResources(mine).length).toBeGreaterThan(10);
    for (const r of awsResources(mine)) {
      expect(`${r.name}: ${r.provider}`).toMatch(/pulumi:providers:aws::callers-opts::callers-opts-id$/);
    }
  });

  it("one inherited from a parent component works the same", async () => {
    const callers = new aws.Provider("callers-parent", { region: "eu-west-1" });
    const parent = new Platform("team", { providers: { aws: callers } });
    const cluster = new NatsCluster("inherited", awsArgs("inherited"), { parent });
    const mine = await settled(cluster, "inherited");
    expect(mine.some((r) => r.type === "pulumi:providers:aws")).toBe(false);
    for (const r of awsResources(mine)) {
      expect(`${r.name}: ${r.provider}`).toMatch(/pulumi:providers:aws::callers-parent::callers-parent-id$/);
    }
  });

  it("without one, the platform builds its own from the stack's settings", async () => {
    const cluster = new NatsCluster("builds", awsArgs("builds"));
    const mine = await settled(cluster, "builds");
    expect(mine.filter((r) => r.type === "pulumi:providers:aws").map((r) => r.name)).toEqual(["builds-aws"]);
    for (const r of awsResources(mine)) expect(`${r.name}: ${r.provider}`).toMatch(/::builds-aws::builds-aws-id$/);
  });
});

describe("aliases", () => {
  it("are sent with the component (the engine applies them to its children, named after it)", async () => {
    const cluster = new NatsCluster("renamed", localArgs("renamed"), { aliases: [{ name: "before" }] });
    const mine = await settled(cluster, "renamed");
    expect(mine.find((r) => r.type.endsWith(":NatsCluster"))?.aliasNames).toEqual(["before"]);
    for (const r of mine.filter((r) => !r.type.endsWith(":NatsCluster"))) expect(r.name).toMatch(/^renamed-/);
  });
});

describe("decodePlatformSettings", () => {
  it("names every bad field and its fix", () => {
    expect(() => decodePlatformSettings("aws", { region: "eu-west-1", vpcId: "nope" })).toThrow(PlatformSettingsError);
    expect(() => decodePlatformSettings("aws", { region: "eu-west-1", vpcId: "nope" })).toThrow(
      /aws\.vpcId: "nope" is not a VPC id; write one such as vpc-/,
    );
  });

  it("refuses an unknown platform, naming the ones there are", () => {
    expect(() => decodePlatformSettings("gcp", {})).toThrow(/no platform "gcp"; the platforms are aws, local, ssh/);
  });
});
