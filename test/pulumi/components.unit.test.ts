/**
 * The Pulumi program under mocks (`pulumi.runtime.setMocks`): the resource graph of the local stack (3 NatsServer,
 * each with its LocalNatsProcess, and 1 RollingUpgrade that depends on every member), the program's exports, the
 * client auth kept secret end to end, the aws stacks' graph, and bad stack config refused with a clear error.
 * A dynamic provider's methods never run under mocks, but its serialization does: `__provider` must be present.
 */
import * as pulumi from "@pulumi/pulumi";
import { readStackFile } from "./support/stack-files";
import {
  asPulumiConfig,
  isWireSecret,
  ofType,
  recordRegistrations,
  registrations,
  valueOf,
} from "./support/mock-program";

const TOKEN = "mock-secret-token-5f2a";
const ROLLING_UPGRADE = "pulumi-nodejs:dynamic/nats-cluster:RollingUpgrade";
const LOCAL_PROCESS = "pulumi-nodejs:dynamic/nats-cluster:LocalNatsProcess";

/** What a RollingUpgrade's create would return, so the outputs have values. */
function rollingUpgradeState(inputs: Record<string, unknown>): Record<string, unknown> {
  const spec = inputs.spec as { version: string; members: Array<{ name: string }> };
  return {
    ...inputs,
    versions: Object.fromEntries(spec.members.map((m) => [m.name, spec.version])),
    surgeRunning: false,
    lastReport: {
      kind: "bootstrap",
      result: "bootstrapped",
      targetVersion: spec.version,
      text: `Bootstrap at ${spec.version}`,
    },
  };
}

beforeAll(async () => {
  recordRegistrations();
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => ({
        id: `${args.name}-id`,
        state:
          args.type === ROLLING_UPGRADE
            ? rollingUpgradeState(args.inputs)
            : args.type === "aws:ec2/instance:Instance"
              ? { ...args.inputs, privateIp: "10.0.1.10" }
              : args.inputs,
      }),
      // AMI lookup, partition: the aws platform's data sources.
      call: (args) =>
        args.token.includes("getAmi")
          ? { id: "ami-0123456789abcdef0", imageId: "ami-0123456789abcdef0" }
          : { partition: "aws" },
    },
    "nats-cluster",
    "local",
    false,
  );
});

describe("the local stack's program", () => {
  let program: Record<string, pulumi.Output<unknown>>;

  beforeAll(async () => {
    pulumi.runtime.setAllConfig(asPulumiConfig({ ...readStackFile("local"), auth: { token: TOKEN } }), [
      "nats-cluster:auth",
    ]);
    program = require("../../index") as Record<string, pulumi.Output<unknown>>;
    await valueOf(program.versions); // every resource is registered once the RollingUpgrade's outputs resolve
  });

  it("registers 1 NatsCluster, 3 NatsServer with a LocalNatsProcess each, 1 RollingUpgrade", () => {
    expect(ofType(":NatsCluster").map((r) => r.name)).toEqual(["nats-local"]);
    expect(
      ofType(":NatsServer")
        .map((r) => r.name)
        .sort(),
    ).toEqual(["nats-local-nats-a", "nats-local-nats-b", "nats-local-nats-c"]);
    expect(
      ofType(LOCAL_PROCESS)
        .map((r) => r.name)
        .sort(),
    ).toEqual(["nats-local-nats-a-process", "nats-local-nats-b-process", "nats-local-nats-c-process"]);
    expect(ofType(ROLLING_UPGRADE).map((r) => r.name)).toEqual(["nats-local-rollout"]);
  });

  it("wires parents and dependsOn: servers and the rollout under the cluster, the rollout after every server", () => {
    const cluster = ofType(":NatsCluster")[0];
    const servers = ofType(":NatsServer");
    const rollout = ofType(ROLLING_UPGRADE)[0];
    for (const s of servers) expect(s.parent).toBe(cluster.urn);
    expect(rollout.parent).toBe(cluster.urn);
    // dependsOn a component means: after every resource inside it (here each member's LocalNatsProcess).
    // And after the stack's certificates (its tlsPem input comes from them: the local stack has tls.generate).
    const processes = ofType(LOCAL_PROCESS);
    const certificates = ofType(":ClusterCertificates");
    expect(certificates.map((c) => [c.name, c.parent])).toEqual([["nats-local-certificates", cluster.urn]]);
    expect([...rollout.dependencies].sort()).toEqual([...processes, ...certificates].map((p) => p.urn).sort());
    for (const p of processes) expect(servers.map((s) => s.urn)).toContain(p.parent);
  });

  it("names every host in the certificates and keeps the TLS material secret on its way to the RollingUpgrade", () => {
    const certificates = ofType(":ClusterCertificates")[0];
    expect(certificates.wireInputs.hosts).toEqual(["127.0.0.1"]);
    expect(certificates.additionalSecretOutputs).toEqual(expect.arrayContaining(["keyPem", "caKeyPem"]));
    const rollout = ofType(ROLLING_UPGRADE)[0];
    expect(isWireSecret(rollout.wireInputs.tlsPem)).toBe(true);
    expect(rollout.additionalSecretOutputs).toContain("tlsPem");
  });

  it("gives the RollingUpgrade the spec of the stack file, the platform's settings and a serialized provider", () => {
    const inputs = ofType(ROLLING_UPGRADE)[0].wireInputs;
    const spec = inputs.spec as {
      version: string;
      members: Array<{ name: string; clientPort: number }>;
      surge: { name: string };
    };
    expect(spec.version).toBe(readStackFile("local").version);
    expect(spec.members.map((m) => [m.name, m.clientPort])).toEqual([
      ["nats-a", 4222],
      ["nats-b", 4333],
      ["nats-c", 4555],
    ]);
    expect(spec.surge.name).toBe("nats-surge");
    expect(inputs.platform).toBe("local");
    // Nothing machine-specific: the state directory keeps its ~/, and no path to this checkout is recorded.
    expect(inputs.settings).toEqual({ stateDir: "~/.local/state/nats-cluster/local" });
    expect(JSON.stringify({ ...inputs, __provider: undefined })).not.toContain(process.cwd());
    expect(inputs.enginePath).toBeUndefined();
    expect(typeof inputs.__provider).toBe("string");
    // The engine is required at run time, never captured: the provider text holds no engine code.
    expect(String(inputs.__provider)).not.toContain("function planRollout");
    expect(String(inputs.__provider)).toContain("engineEntryPoint");
  });

  it("keeps the auth secret: secret on the wire, additionalSecretOutputs, absent from every other input", () => {
    const rollout = ofType(ROLLING_UPGRADE)[0];
    expect(isWireSecret(rollout.wireInputs.auth)).toBe(true);
    expect(rollout.additionalSecretOutputs).toContain("auth");
    for (const r of registrations) {
      const plain = JSON.stringify({ ...r.wireInputs, auth: undefined });
      expect(plain).not.toContain(TOKEN);
    }
  });

  it("a RollingUpgrade's auth output is secret, its spec output is readable", async () => {
    const { RollingUpgrade } =
      require("../../components/rolling-upgrade") as typeof import("../../components/rolling-upgrade");
    const spec = ofType(ROLLING_UPGRADE)[0].wireInputs
      .spec as import("../../components/rolling-upgrade-provider").PublicClusterSpec;
    const upgrade = new RollingUpgrade("secret-check", {
      spec,
      auth: pulumi.secret({ token: TOKEN }),
      platform: "local",
      settings: { stateDir: "/tmp/x" },
    });
    expect(await pulumi.isSecret(upgrade.auth)).toBe(true);
    expect(await pulumi.isSecret(upgrade.spec)).toBe(false);
    expect((await valueOf(upgrade.spec)).version).toBe(spec.version);
  });

  it("exports client URLs, monitoring URLs, versions and the last report", async () => {
    expect(await valueOf(program.clientUrls)).toEqual([
      "nats://127.0.0.1:4222",
      "nats://127.0.0.1:4333",
      "nats://127.0.0.1:4555",
    ]);
    expect(await valueOf(program.monitorUrls)).toEqual([
      "http://127.0.0.1:8222",
      "http://127.0.0.1:8333",
      "http://127.0.0.1:8555",
    ]);
    const version = readStackFile("local").version as string;
    expect(await valueOf(program.versions)).toEqual({ "nats-a": version, "nats-b": version, "nats-c": version });
    expect(await valueOf(program.lastRolloutReport)).toBe(`Bootstrap at ${version}`);
    expect(await valueOf(program.clientUrl)).toBe("nats://127.0.0.1:4222,nats://127.0.0.1:4333,nats://127.0.0.1:4555");
    expect(await valueOf(program.lastRolloutSummary)).toMatchObject({ kind: "bootstrap", targetVersion: version });
  });
});

describe("stack config errors", () => {
  const { readStackConfig } = require("../../components/config/read") as typeof import("../../components/config/read");

  it("a bad version is refused before any resource, as a RunError: the message alone, no object dump", () => {
    pulumi.runtime.setAllConfig(asPulumiConfig({ ...readStackFile("local"), version: "v2.15.2" }));
    let caught: unknown;
    try {
      readStackConfig();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(pulumi.RunError);
    expect((caught as Error).message).toContain('nats-cluster:version: "v2.15.2" is not a version; write 2.15.2');
    // Nothing but the message: no `problems` or other fields Node would print with an uncaught error.
    expect(Object.keys(caught as object).filter((k) => k !== "__pulumiRunError")).toEqual([]);
  });

  it("auth stored in plain text in the stack file is refused with the --secret command", () => {
    pulumi.runtime.setAllConfig(asPulumiConfig({ ...readStackFile("local"), auth: { token: TOKEN } }), []);
    let message = "";
    try {
      readStackConfig();
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("nats-cluster:auth: is stored in plain text");
    expect(message).toContain("pulumi config set --secret nats-cluster:auth");
    expect(message).not.toContain(TOKEN);
  });

  it("readStackConfig returns the auth as a secret Output", async () => {
    pulumi.runtime.setAllConfig(asPulumiConfig({ ...readStackFile("local"), auth: { token: TOKEN } }), [
      "nats-cluster:auth",
    ]);
    const config = readStackConfig();
    expect(config.auth).toBeDefined();
    expect(await pulumi.isSecret(config.auth!)).toBe(true);
    expect(await valueOf(config.auth!)).toEqual({ token: TOKEN });
  });
});

describe("the aws stacks' graph", () => {
  const { readStackConfig } = require("../../components/config/read") as typeof import("../../components/config/read");
  const { NatsCluster } = require("../../components/nats-cluster") as typeof import("../../components/nats-cluster");

  it.each([
    ["dev", 3],
    ["prod", 5],
  ] as const)("%s: %i NatsServer on EC2, one RollingUpgrade through SSM after all of them", async (stack, count) => {
    pulumi.runtime.setAllConfig(asPulumiConfig(readStackFile(stack)));
    const before = registrations.length;
    const config = readStackConfig({ stack });
    const cluster = new NatsCluster(config.clusterName, { ...config, stack });
    await valueOf(cluster.versions);
    const mine = registrations.slice(before);
    const servers = mine.filter((r) => r.type.endsWith(":NatsServer"));
    const rollout = mine.filter((r) => r.type === ROLLING_UPGRADE);
    expect(servers).toHaveLength(count);
    expect(rollout).toHaveLength(1);
    expect(mine.filter((r) => r.type === "aws:ec2/instance:Instance")).toHaveLength(count);
    expect(mine.filter((r) => r.type === LOCAL_PROCESS)).toHaveLength(0);
    // After every member's instance and JetStream volume attachment (dependsOn on the NatsServer components).
    const hostResources = mine.filter(
      (r) => r.type === "aws:ec2/instance:Instance" || r.type === "aws:ec2/volumeAttachment:VolumeAttachment",
    );
    expect(hostResources).toHaveLength(2 * count);
    for (const r of hostResources) expect(rollout[0].dependencies).toContain(r.urn);
    const driver = rollout[0].wireInputs.settings as {
      instanceIds: Record<string, string>;
      surge: { subnetId: string };
    };
    expect(rollout[0].wireInputs.platform).toBe("aws");
    expect(Object.keys(driver.instanceIds)).toHaveLength(count);
    expect(driver.surge.subnetId).toBe((readStackFile(stack).aws as { subnetIds: string[] }).subnetIds[0]);
    expect(await valueOf(cluster.clientUrls)).toEqual(Array(count).fill("nats://10.0.1.10:4222"));
  });
});

describe("the lab stack's graph (platform ssh)", () => {
  const { readStackConfig } = require("../../components/config/read") as typeof import("../../components/config/read");
  const { NatsCluster } = require("../../components/nats-cluster") as typeof import("../../components/nats-cluster");
  const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEUHRXK6IxsHQAVvSUmnwcHSLHz3kX0jq5tE7Ah2d0W0";
  const PRIVATE =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-mock-private-key\n-----END OPENSSH PRIVATE KEY-----";

  it("one SshNatsHost per member, the RollingUpgrade on platform ssh, the private key secret everywhere", async () => {
    const lab = readStackFile("lab");
    const hostKeys = { "nats-a": KEY, "nats-b": KEY, "nats-c": KEY, "nats-surge": KEY };
    pulumi.runtime.setAllConfig(
      asPulumiConfig({ ...lab, ssh: { ...(lab.ssh as object), hostKeys }, sshPrivateKey: PRIVATE }),
      ["nats-cluster:sshPrivateKey"],
    );
    const before = registrations.length;
    const config = readStackConfig({ stack: "lab" });
    const cluster = new NatsCluster(config.clusterName, { ...config, stack: "lab" });
    await valueOf(cluster.versions);
    const mine = registrations.slice(before);
    const hosts = mine.filter((r) => r.type.endsWith(":SshNatsHost"));
    expect(hosts.map((h) => (h.wireInputs.endpoint as { host: string }).host)).toEqual([
      "10.213.0.11",
      "10.213.0.12",
      "10.213.0.13",
    ]);
    const rollout = mine.filter((r) => r.type === ROLLING_UPGRADE)[0];
    expect(rollout.wireInputs.platform).toBe("ssh");
    expect(rollout.wireInputs.settings).toMatchObject({
      hosts: {
        "nats-a": { address: "10.213.0.11", port: 22, user: "ops" },
        "nats-surge": { address: "10.213.0.14", port: 22, user: "ops" },
      },
      hostKeys,
      surge: "nats-surge",
      releaseBaseUrl: "http://10.213.0.1:8081",
    });
    // After every member's VM was prepared.
    for (const h of hosts) expect(rollout.dependencies).toContain(h.urn);
    // The key: a secret on the wire of every resource that carries it, and in no plain input anywhere.
    expect(isWireSecret(rollout.wireInputs.platformSecrets)).toBe(true);
    expect(rollout.additionalSecretOutputs).toContain("platformSecrets");
    for (const h of hosts) expect(isWireSecret(h.wireInputs.secrets)).toBe(true);
    for (const r of mine) {
      const plain = JSON.stringify({ ...r.wireInputs, platformSecrets: undefined, secrets: undefined });
      expect(plain).not.toContain("mock-private-key");
    }
  });
});
