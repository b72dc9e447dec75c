/**
 * The Pulumi program of a supercluster stack (stacks/Pulumi.local-supercluster.yaml) under mocks: one
 * NatsSupercluster with every cluster's hosts, ONE SuperclusterRollout after all of them, one CA for the whole
 * supercluster, the links derived from the clusters' hosts, the secrets kept secret, the exports by cluster.
 * A dynamic provider's methods never run under mocks (the real-engine test runs them), but its serialization does.
 */
import * as pulumi from "@pulumi/pulumi";
import type { SuperclusterRolloutCluster } from "../../components/supercluster-rollout-provider";
import { readStackFile } from "./support/stack-files";
import { asPulumiConfig, isWireSecret, ofType, registrations, setProgramMocks, valueOf } from "./support/mock-program";

const TOKEN = "mock-secret-sc-token-91c3";
const SC_ROLLOUT = "pulumi-nodejs:dynamic/nats-cluster:SuperclusterRollout";
const LOCAL_PROCESS = "pulumi-nodejs:dynamic/nats-cluster:LocalNatsProcess";
const STACK = "local-supercluster";
const SYSTEM_ACCOUNT = { user: "sys", password: "mock-sc-system-password-77ad" };
const LEAF_PASSWORD = "mock-sc-leaf-password-3b1e";
const AUTH = {
  users: [
    { user: "app", password: "mock-sc-app-password-52c0" },
    { user: "leaf", password: LEAF_PASSWORD },
  ],
};

/** What a SuperclusterRollout's create would return, so the outputs have values. */
function rolloutState(inputs: Record<string, unknown>): Record<string, unknown> {
  const clusters = inputs.clusters as SuperclusterRolloutCluster[];
  return {
    ...inputs,
    versions: Object.fromEntries(
      clusters.map((c) => [c.spec.name, Object.fromEntries(c.spec.members.map((m) => [m.name, c.spec.version]))]),
    ),
    lastReport: { status: "done", left: [], clusters: {}, text: "Supercluster rollout: DONE (3 clusters reached)" },
  };
}

beforeAll(() => setProgramMocks(STACK, { [SC_ROLLOUT]: rolloutState }));

describe("the local-supercluster stack's program", () => {
  let program: Record<string, pulumi.Output<unknown>>;
  // The stack as committed, with the secrets it needs (a hub with gateways and leaves needs a system account; the
  // leaf connects to its hub as a client user).
  beforeAll(async () => {
    pulumi.runtime.setAllConfig(
      asPulumiConfig({ ...readStackFile(STACK), systemAccount: SYSTEM_ACCOUNT, auth: AUTH }),
      ["nats-cluster:systemAccount", "nats-cluster:auth"],
    );
    program = require("../../index") as Record<string, pulumi.Output<unknown>>;
    await valueOf(program.versions);
  });

  it("registers 1 NatsSupercluster, every cluster's NatsServers with a LocalNatsProcess each, ONE rollout", () => {
    expect(ofType(":NatsSupercluster").map((r) => r.name)).toEqual([`nats-${STACK}`]);
    const servers = ofType(":NatsServer").map((r) => r.name);
    expect(servers.sort()).toEqual(
      ["east-a", "east-b", "east-c", "west-a", "west-b", "west-c"]
        .map((m) => `nats-${STACK}-${m.slice(0, 4)}-${m}`)
        .concat([`nats-${STACK}-edge-edge-a`])
        .sort(),
    );
    expect(ofType(LOCAL_PROCESS)).toHaveLength(7);
    expect(ofType(SC_ROLLOUT).map((r) => r.name)).toEqual([`nats-${STACK}-rollout`]);
    expect(ofType("RollingUpgrade")).toHaveLength(0);
  });

  it("wires the rollout after every host and the one CA of the supercluster, all under the component", () => {
    const sc = ofType(":NatsSupercluster")[0];
    const rollout = ofType(SC_ROLLOUT)[0];
    const certificates = ofType(":ClusterCertificates");
    expect(certificates.map((c) => [c.name, c.parent])).toEqual([[`nats-${STACK}-certificates`, sc.urn]]);
    expect(certificates[0].wireInputs.hosts).toEqual(["127.0.0.1"]);
    expect(rollout.parent).toBe(sc.urn);
    for (const s of ofType(":NatsServer")) expect(s.parent).toBe(sc.urn);
    const processes = ofType(LOCAL_PROCESS);
    expect([...rollout.dependencies].sort()).toEqual([...processes, ...certificates].map((r) => r.urn).sort());
  });

  it("gives the rollout every cluster's spec with the gateways, leafnodes and hub derived from the hosts", () => {
    const rollout = ofType(SC_ROLLOUT)[0];
    const clusters = rollout.wireInputs.clusters as SuperclusterRolloutCluster[];
    expect(clusters.map((c) => c.spec.name)).toEqual(["east", "west", "edge"]);
    const [east, west, edge] = clusters.map((c) => c.spec);
    expect(east.gateways).toEqual({
      remotes: [{ name: "west", urls: [27222, 27223, 27224].map((p) => `nats://127.0.0.1:${p}`) }],
    });
    expect(west.gateways!.remotes.map((r) => r.name)).toEqual(["east"]);
    expect(east.leafnodes).toEqual({ expected: [{ name: "edge-a" }] });
    // The leaf's user by name only: its password stays in the secret auth input.
    expect(edge.hub).toEqual({ urls: [17422, 17423, 17424].map((p) => `nats-leaf://127.0.0.1:${p}`), user: "leaf" });
    expect(edge.gateways).toBeUndefined();
    expect([east.jetstream.enabled, west.jetstream.enabled, edge.jetstream.enabled]).toEqual([true, true, false]);
    expect(east.members[0]).toMatchObject({ name: "east-a", gatewayPort: 17222, leafnodePort: 17422 });
    expect(west.surge).toMatchObject({ name: "west-surge", gatewayPort: 27229 });
    // Each cluster's driver settings, nothing machine-specific.
    expect(clusters.map((c) => c.settings)).toEqual(
      Array(3).fill({ stateDir: `~/.local/state/nats-cluster/${STACK}` }),
    );
    expect(JSON.stringify({ ...rollout.wireInputs, __provider: undefined })).not.toContain(process.cwd());
    expect(String(rollout.wireInputs.__provider)).toContain("engineEntryPoint");
    expect(String(rollout.wireInputs.__provider)).not.toContain("function reconcileSupercluster");
  });

  it("keeps the generated TLS material and the system account secret on their way to the rollout", () => {
    const rollout = ofType(SC_ROLLOUT)[0];
    expect(isWireSecret(rollout.wireInputs.tlsPem)).toBe(true);
    expect(isWireSecret(rollout.wireInputs.auth)).toBe(true);
    for (const r of registrations) {
      expect(JSON.stringify({ ...r.wireInputs, auth: undefined })).not.toContain(SYSTEM_ACCOUNT.password);
      expect(JSON.stringify({ ...r.wireInputs, auth: undefined })).not.toContain(LEAF_PASSWORD);
    }
    expect(rollout.additionalSecretOutputs).toEqual(expect.arrayContaining(["auth", "platformSecrets", "tlsPem"]));
  });

  it("exports client URLs, versions and the last report by cluster", async () => {
    const urls = (await valueOf(program.clientUrls)) as Record<string, string[]>;
    expect(Object.keys(urls)).toEqual(["east", "west", "edge"]);
    expect(urls.east).toEqual(["nats://127.0.0.1:14222", "nats://127.0.0.1:14223", "nats://127.0.0.1:14224"]);
    expect(((await valueOf(program.clientUrl)) as Record<string, string>).edge).toBe("nats://127.0.0.1:34222");
    const version = readStackFile(STACK).version as string;
    expect(await valueOf(program.versions)).toMatchObject({
      east: { "east-a": version, "east-b": version, "east-c": version },
      edge: { "edge-a": version },
    });
    expect(await valueOf(program.lastRolloutReport)).toContain("Supercluster rollout");
  });
});

describe("NatsSupercluster used directly", () => {
  const { NatsSupercluster } =
    require("../../components/nats-supercluster") as typeof import("../../components/nats-supercluster");
  const server = (name: string, port: number) => ({
    name,
    host: "127.0.0.1",
    clientPort: port,
    clusterPort: port + 1,
    monitorPort: port + 2,
    gatewayPort: port + 3,
  });

  it("keeps the client auth secret in every input that carries it", async () => {
    const before = registrations.length;
    const sc = new NatsSupercluster("direct", {
      platform: "local",
      platformSettings: { stateDir: "/tmp/direct" },
      stack: "direct",
      version: "2.15.2",
      jetstream: { enabled: false },
      auth: pulumi.secret({ token: TOKEN }),
      clusters: [
        { name: "a", members: [server("a1", 40000)], surge: server("as", 40010) },
        { name: "b", members: [server("b1", 40020)], surge: server("bs", 40030) },
      ],
    });
    await valueOf(sc.versions);
    const mine = registrations.slice(before);
    const rollout = mine.find((r) => r.type === SC_ROLLOUT)!;
    expect(isWireSecret(rollout.wireInputs.auth)).toBe(true);
    for (const r of mine) expect(JSON.stringify({ ...r.wireInputs, auth: undefined })).not.toContain(TOKEN);
    const specs = (rollout.wireInputs.clusters as SuperclusterRolloutCluster[]).map((c) => c.spec);
    expect(specs.map((s) => s.gateways!.remotes)).toEqual([
      [{ name: "b", urls: ["nats://127.0.0.1:40023"] }],
      [{ name: "a", urls: ["nats://127.0.0.1:40003"] }],
    ]);
    // No TLS material: no certificates, no tls block.
    expect(mine.filter((r) => r.type.endsWith(":ClusterCertificates"))).toHaveLength(0);
    expect(specs[0].tls).toBeUndefined();
  });

  it("refuses a hub that names no other cluster, before any resource", () => {
    expect(
      () =>
        new NatsSupercluster("bad", {
          platform: "local",
          platformSettings: { stateDir: "/tmp/bad" },
          stack: "bad",
          version: "2.15.2",
          clusters: [{ name: "a", members: [server("x1", 41000)], surge: server("xs", 41010), hub: "nope" }],
        }),
    ).toThrow(/cluster a's hub "nope" is none of the others/);
  });
});
