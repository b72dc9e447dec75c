/**
 * The stack's `aws:*` settings reach the aws platform's explicit provider and the engine's driver, or a caller's own
 * provider replaces both (issue 18 item 2). Pulumi mocks only: the provider's inputs and every resource's provider
 * reference are checked, not how AWS would take them.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { platform as awsPlatform } from "../../components/platforms/aws";
import { readStackAws } from "../../components/platforms/aws/stack-aws";
import { Problems } from "../../components/config/values";
import { PlatformClusterFacts } from "../../components/platforms/platform";

type Props = Record<string, unknown>;
const resources: Array<{ type: string; name: string; inputs: Props; provider?: string }> = [];
const calls: Array<{ token: string; provider?: string }> = [];

pulumi.runtime.setMocks(
  {
    newResource(args: pulumi.runtime.MockResourceArgs) {
      resources.push({ type: args.type, name: args.name, inputs: args.inputs as Props, provider: args.provider });
      const extra: Props = {};
      if (args.type === "aws:ec2/instance:Instance") extra.privateIp = "10.0.1.10";
      if (args.type === "aws:ec2/launchTemplate:LaunchTemplate") extra.latestVersion = 1;
      if (args.type === "aws:iam/instanceProfile:InstanceProfile") extra.name = `${args.name}-name`;
      if (args.type === "aws:iam/role:Role") extra.arn = `arn:aws:iam::123456789012:role/${args.name}`;
      if (args.type === "aws:kms/key:Key") extra.arn = `arn:aws:kms:eu-west-1:123456789012:key/${args.name}`;
      return { id: `${args.name}-id`, state: { ...args.inputs, ...extra } };
    },
    call(args: pulumi.runtime.MockCallArgs) {
      calls.push({ token: args.token, provider: args.provider });
      if (args.token === "aws:ec2/getSubnet:getSubnet") return { id: args.inputs.id, cidrBlock: "10.0.1.0/24" };
      if (args.token === "aws:ec2/getAmi:getAmi") return { id: "ami-0123456789abcdef0" };
      if (args.token === "aws:index/getPartition:getPartition") return { partition: "aws", dnsSuffix: "amazonaws.com" };
      if (args.token === "aws:index/getCallerIdentity:getCallerIdentity")
        return { accountId: "123456789012", arn: "arn:aws:sts::123456789012:assumed-role/ops/s" };
      if (args.token === "aws:iam/getSessionContext:getSessionContext")
        return { issuerArn: "arn:aws:iam::123456789012:role/ops" };
      return {};
    },
  },
  "nats-cluster",
  "prod",
  false,
);

// A prod stack's provider settings, as `pulumi config set --path` leaves them (structured values are JSON text).
const ROLE = "arn:aws:iam::222222222222:role/nats-deployer";
const STACK: Record<string, string> = {
  "aws:region": "eu-central-1",
  "aws:assumeRoles": JSON.stringify([{ roleArn: ROLE, externalId: "ext-77", sessionName: "deploy", duration: "1h" }]),
  "aws:allowedAccountIds": JSON.stringify(["222222222222"]),
  "aws:defaultTags": JSON.stringify({ tags: { CostCenter: "cc-42", Owner: "platform" } }),
  "aws:endpoints": JSON.stringify([{ ssm: "https://ssm.vpce.example", ec2: "https://ec2.vpce.example" }]),
  "aws:skipCredentialsValidation": "true",
};
for (const [k, v] of Object.entries(STACK)) pulumi.runtime.setConfig(k, v);

class Parent extends pulumi.ComponentResource {
  constructor(name: string) {
    super("test:index:Parent", name, {}, {});
  }
}

function settingsOf(raw: Record<string, unknown> = {}) {
  const p = new Problems([]);
  const settings = awsPlatform.decodeSettings(
    {
      region: "eu-central-1",
      vpcId: "vpc-0abc",
      subnetIds: ["subnet-0a"],
      clientCidrs: ["10.0.0.0/16"],
      adminCidr: "203.0.113.10/32",
      ...raw,
    },
    p,
    { stack: "prod", projectDir: "/tmp" },
  );
  expect(p.list).toEqual([]);
  return settings;
}

function factsOf(clusterName: string, providers?: PlatformClusterFacts["providers"]): PlatformClusterFacts {
  return {
    stack: "prod",
    clusterName,
    version: "2.14.9",
    jetstream: true,
    members: [{ name: `${clusterName}-1`, clientPort: 4222, clusterPort: 6222, monitorPort: 8222 }],
    surge: { name: `${clusterName}-surge`, host: "10.0.1.250", clientPort: 4222, clusterPort: 6222, monitorPort: 8222 },
    stopTimeoutSeconds: 60,
    ...(providers ? { providers } : {}),
  };
}

/** A whole platform (shared resources, one member, the driver's settings), settled. */
async function build(
  clusterName: string,
  providers?: PlatformClusterFacts["providers"],
  raw: Record<string, unknown> = {},
) {
  const facts = factsOf(clusterName, providers);
  const settings = settingsOf(raw);
  const parent = new Parent(clusterName);
  const shared = awsPlatform.createShared(clusterName, facts, settings, undefined, parent);
  const members = facts.members.map((m, i) => ({
    placement: m,
    host: awsPlatform.createMemberHost(`${clusterName}-${m.name}`, m, i, { facts, settings, shared }, parent),
  }));
  const driver = awsPlatform.driverInputs(facts, settings, shared, members);
  const seen = await new Promise<Props>((resolve) => pulumi.output(driver.settings).apply((s) => resolve(s as Props)));
  await new Promise((resolve) => setTimeout(resolve, 50));
  return seen;
}

describe("the stack's aws:* settings reach the platform's provider and the driver", () => {
  let driverSettings: Props;
  beforeAll(async () => {
    driverSettings = await build("fwd");
  });

  it("the provider carries the role chain, the account guard, the default tags, the endpoints and the flags", () => {
    const provider = resources.find((r) => r.type === "pulumi:providers:aws" && r.name === "fwd-aws");
    expect(provider?.inputs).toMatchObject({
      region: "eu-central-1",
      skipCredentialsValidation: "true",
      allowedAccountIds: JSON.stringify(["222222222222"]),
      defaultTags: JSON.stringify({ tags: { CostCenter: "cc-42", Owner: "platform" } }),
      endpoints: JSON.stringify([{ ssm: "https://ssm.vpce.example", ec2: "https://ec2.vpce.example" }]),
    });
    // Provider inputs go over the wire as JSON text, nested objects included.
    expect(JSON.parse(String(provider?.inputs.assumeRoles))).toEqual([
      { roleArn: ROLE, sessionName: "deploy", externalId: "ext-77", duration: "1h" },
    ]);
  });

  it("every AWS resource and lookup of the platform goes through that provider", () => {
    const mine = resources.filter((r) => r.name.startsWith("fwd-") && r.type.startsWith("aws:"));
    expect(mine.length).toBeGreaterThan(15);
    for (const r of mine) expect(`${r.name}: ${r.provider}`).toMatch(/pulumi:providers:aws::fwd-aws::fwd-aws-id$/);
    // No lookup falls back to the default provider (which would read aws:* but also ambient credentials).
    expect(calls.filter((c) => c.token.startsWith("aws:") && !c.provider)).toEqual([]);
    expect(calls.some((c) => c.provider?.includes("::fwd-aws::"))).toBe(true);
  });

  it("the driver gets the same role chain, the ec2/ssm endpoints, the default tags and the account guard", () => {
    expect(driverSettings).toMatchObject({
      region: "eu-central-1",
      assumeRoles: [{ roleArn: ROLE, externalId: "ext-77", sessionName: "deploy", durationSeconds: 3600 }],
      endpoints: { ssm: "https://ssm.vpce.example", ec2: "https://ec2.vpce.example" },
      defaultTags: { CostCenter: "cc-42", Owner: "platform" },
      allowedAccountIds: ["222222222222"],
    });
  });
});

describe("a caller's own provider", () => {
  it("is used for every AWS resource; the stack's aws:* are not read and no provider is made", async () => {
    const mine = new aws.Provider("callers", { region: "eu-central-1" });
    const driverSettings = await build("own", { aws: mine });
    expect(resources.some((r) => r.type === "pulumi:providers:aws" && r.name === "own-aws")).toBe(false);
    const made = resources.filter((r) => r.name.startsWith("own-") && r.type.startsWith("aws:"));
    expect(made.length).toBeGreaterThan(15);
    for (const r of made) expect(`${r.name}: ${r.provider}`).toMatch(/pulumi:providers:aws::callers::callers-id$/);
    expect(calls.some((c) => c.provider?.includes("::callers::"))).toBe(true);
    expect(driverSettings.assumeRoles).toBeUndefined();
    expect(driverSettings.defaultTags).toBeUndefined();
  });

  it("with aws.identity, the driver gets that provider's role chain, endpoints, default tags and account guard", async () => {
    const identity = {
      assumeRoles: [{ roleArn: ROLE, sessionName: "own" }],
      allowedAccountIds: ["222222222222"],
      defaultTags: { tags: { Team: "messaging" } },
      endpoints: [{ sts: "https://sts.vpce.example" }],
    };
    const mine = new aws.Provider("callers-described", { region: "eu-central-1", ...identity });
    const driverSettings = await build("described", { aws: mine }, { identity });
    expect(resources.some((r) => r.type === "pulumi:providers:aws" && r.name === "described-aws")).toBe(false);
    expect(driverSettings).toMatchObject({
      assumeRoles: [{ roleArn: ROLE, sessionName: "own" }],
      allowedAccountIds: ["222222222222"],
      defaultTags: { Team: "messaging" },
      endpoints: { sts: "https://sts.vpce.example" },
    });
  });

  it("aws.identity without a provider of one's own is refused, naming the setting", () => {
    const facts = factsOf("stray");
    const settings = settingsOf({ identity: { assumeRoles: [{ roleArn: ROLE }] } });
    expect(() => awsPlatform.createShared("stray", facts, settings, undefined, new Parent("stray"))).toThrow(
      "nats-cluster:aws.identity: describes a provider of your own (providers.aws), and none was given",
    );
  });

  it("a bad aws.identity is a decoding problem at aws.identity, naming the key inside it", () => {
    const p = new Problems([]);
    awsPlatform.decodeSettings(
      {
        region: "eu-central-1",
        vpcId: "vpc-0abc",
        subnetIds: ["subnet-0a"],
        clientCidrs: ["10.0.0.0/16"],
        adminCidr: "203.0.113.10/32",
        identity: { assumeRoles: [{ sessionName: "x" }] },
      },
      p,
      { stack: "prod", projectDir: "/tmp" },
    );
    expect(p.list).toEqual([
      { field: "aws.identity", message: expect.stringMatching(/^aws:assumeRoles\[0\]\.roleArn: missing/) },
    ]);
  });

  it("refuses something that is not an aws.Provider, naming the argument", () => {
    const facts = factsOf("bad", { aws: new Parent("not-a-provider") as unknown as pulumi.ProviderResource });
    expect(() => awsPlatform.createShared("bad", facts, settingsOf(), undefined, new Parent("bad"))).toThrow(
      "NatsClusterArgs.providers.aws: not an aws.Provider",
    );
  });
});

describe("bad aws:* shapes are refused before anything is created, naming the key and the fix", () => {
  // As Pulumi keeps stack config: text as it is, structured values as JSON text.
  const read = (config: Record<string, unknown>) => () =>
    readStackAws((k) => {
      const v = config[k];
      return v === undefined || typeof v === "string" ? v : JSON.stringify(v);
    }, "eu-central-1");

  it("names each problem of a role", () => {
    expect(
      read({ assumeRoles: [{ externalId: "x" }, { roleArn: "role/x", duration: "90s", sesionName: "s" }] }),
    ).toThrow(
      [
        "  aws:assumeRoles[0].roleArn: missing; write { roleArn: arn:aws:iam::<account>:role/<name>, sessionName?, externalId?, duration? }",
        "  aws:assumeRoles[1].sesionName: unknown field (did you mean sessionName?); the known fields are roleArn, sessionName, externalId, duration, policy, policyArns, sourceIdentity, tags, transitiveTagKeys",
        '  aws:assumeRoles[1].roleArn: "role/x" is not a role ARN; write arn:aws:iam::123456789012:role/<name>',
        '  aws:assumeRoles[1].duration: "90s" is not a duration of 15m to 12h; write one such as 1h or 30m',
      ].join("\n"),
    );
  });

  it("takes the older aws:assumeRole as a chain of one, but not together with aws:assumeRoles", () => {
    expect(read({ assumeRole: { roleArn: ROLE } })().assumeRoles).toEqual([{ roleArn: ROLE }]);
    expect(read({ assumeRole: { roleArn: ROLE }, assumeRoles: [{ roleArn: ROLE }] })).toThrow(
      "aws:assumeRole: is set with aws:assumeRoles; keep one",
    );
  });

  it("refuses another region than nats-cluster:aws.region, naming both keys", () => {
    expect(read({ region: "us-east-1" })).toThrow(
      'aws:region: "us-east-1" differs from nats-cluster:aws.region "eu-central-1"',
    );
  });

  it("refuses bad account ids, tags, endpoints and flags, and credentials the driver could not share", () => {
    const error = (() => {
      try {
        read({
          allowedAccountIds: ["1234"],
          defaultTags: { tags: { a: { b: 1 } } },
          endpoints: { ssm: "x" },
          skipCredentialsValidation: "yes",
          accessKey: "AKIA",
        })();
      } catch (e) {
        return String(e);
      }
      return "";
    })();
    for (const key of [
      "aws:accessKey: is set, but static keys in stack config are not forwarded",
      'aws:allowedAccountIds[0]: "1234" is not an account id; write 12 digits',
      "aws:defaultTags.tags.a: ",
      "aws:endpoints: ",
      'aws:skipCredentialsValidation: "yes" is not true or false',
    ])
      expect(error).toContain(key);
  });
});
