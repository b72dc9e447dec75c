/**
 * `nats-cluster:clusters`: a supercluster in one stack. Every cluster decodes with the shared settings, the gateways
 * and the leaf's hub are derived from the other clusters (never written), and bad input is refused at preview with
 * the key and the fix. Pure parsing: no Pulumi engine, no servers.
 */
import { linksOfConfig } from "../../components/config/clusters";
import {
  decodeAnyStackConfig,
  decodeStackConfig,
  StackConfigError,
  SuperclusterStackConfig,
} from "../../components/config/decode";
import { readStackFile } from "./support/stack-files";

/** The stack file, and the secret it needs set: a hub with gateways and leaves needs a system account. */
const SYSTEM_ACCOUNT = { user: "sys", password: "sc-config-test-password" };
const example = () => ({ ...readStackFile("local-supercluster"), systemAccount: SYSTEM_ACCOUNT });
type Entry = Record<string, unknown>;
const clustersOf = (raw: Record<string, unknown>) => (raw.clusters as Entry[]).map((c) => ({ ...c }));

function decode(raw: Record<string, unknown>): SuperclusterStackConfig {
  const config = decodeAnyStackConfig(raw, { stack: "sc", projectDir: "/project" });
  if (config.clusters === undefined) throw new Error("expected a supercluster");
  return config;
}

function errorOf(raw: Record<string, unknown>): string {
  try {
    decodeAnyStackConfig(raw, { stack: "sc", projectDir: "/project" });
  } catch (err) {
    expect(err).toBeInstanceOf(StackConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a StackConfigError");
}

describe("Pulumi.local-supercluster.yaml", () => {
  it("decodes into east, west and the leaf edge, with the shared settings and per-cluster defaults", () => {
    const config = decode(example());
    expect(config.name).toBe("nats-sc");
    expect(config.clusters.map((c) => [c.name, c.version, c.members.length, c.hub])).toEqual([
      ["east", "2.14.9", 3, undefined],
      ["west", "2.14.9", 3, undefined],
      ["edge", "2.14.9", 1, "east"],
    ]);
    // The leaf cluster runs no JetStream (it would need a domain of its own); the others take the shared setting.
    expect(config.clusters.map((c) => c.jetstream.enabled)).toEqual([true, true, false]);
    expect(config.clusters[0].members[0]).toEqual({
      name: "east-a",
      host: "127.0.0.1",
      clientPort: 14222,
      clusterPort: 16222,
      monitorPort: 18222,
      gatewayPort: 17222,
      leafnodePort: 17422,
    });
    expect(config.clusters[1].surge.gatewayPort).toBe(27229);
    expect(config.tlsGenerate).toEqual({});
  });

  it("derives the gateways, the hub's leafnodes and the leaf's hub URLs from the clusters", () => {
    const [east, west, edge] = linksOfConfig(decode(example()).clusters);
    expect(east.gateways).toEqual({
      remotes: [
        {
          name: "west",
          urls: ["nats://127.0.0.1:27222", "nats://127.0.0.1:27223", "nats://127.0.0.1:27224"],
        },
      ],
    });
    expect(west.gateways!.remotes.map((r) => [r.name, r.urls.length])).toEqual([["east", 3]]);
    // The hub waits for every member of its leaf clusters; the leaf joins no gateway.
    expect(east.leafnodes).toEqual({ expected: [{ name: "edge-a" }] });
    expect(west.leafnodes).toBeUndefined();
    expect(edge.gateways).toBeUndefined();
    expect(edge.hub).toEqual({
      urls: ["nats-leaf://127.0.0.1:17422", "nats-leaf://127.0.0.1:17423", "nats-leaf://127.0.0.1:17424"],
    });
  });

  it("a cluster's own version wins over the shared one (region by region); gatewayPort is every server's default", () => {
    const clusters = clustersOf(example());
    clusters[2].version = "2.15.2";
    // West's members on addresses of their own (loopback has many), all on the cluster's gateway port.
    const west = (clusters[1].members as Entry[]).map(({ gatewayPort: _g, ...m }, i) => ({
      ...m,
      host: `127.0.0.${21 + i}`,
    }));
    clusters[1] = { ...clusters[1], gatewayPort: 27000, members: west };
    const config = decode({ ...example(), clusters });
    expect(config.clusters.map((c) => c.version)).toEqual(["2.14.9", "2.14.9", "2.15.2"]);
    expect(linksOfConfig(config.clusters)[0].gateways!.remotes[0].urls).toEqual([
      "nats://127.0.0.21:27000",
      "nats://127.0.0.22:27000",
      "nats://127.0.0.23:27000",
    ]);
    expect(linksOfConfig(config.clusters)[1].gateways!.port).toBe(27000);
  });

  it("without the system account it needs, the stack is refused naming the secret to set", () => {
    const { systemAccount: _s, ...raw } = example();
    expect(errorOf(raw)).toMatch(
      /nats-cluster:systemAccount: nats-server refuses to start a server with both gateways and leaf nodes without a system account/,
    );
  });

  it("the command line's decoder (one cluster) refuses a supercluster stack, naming clusters", () => {
    expect(() => decodeStackConfig(example(), { stack: "sc", projectDir: "/project" })).toThrow(
      /nats-cluster:clusters: this stack is a supercluster, and this reads a stack of one cluster/,
    );
  });

  it("a stack of one cluster still decodes as before, with no clusters", () => {
    const config = decodeAnyStackConfig(readStackFile("local"), { stack: "local", projectDir: "/project" });
    expect(config.clusters).toBeUndefined();
  });
});

describe("bad supercluster config names the key and the fix", () => {
  it("a hub that is no cluster of the stack", () => {
    const clusters = clustersOf(example());
    clusters[2].hub = "eest";
    expect(errorOf({ ...example(), clusters })).toContain(
      'nats-cluster:clusters[2].hub: no cluster "eest"; clusters are east, west, edge',
    );
  });

  it("a hub that is the cluster itself, or itself a leaf", () => {
    const self = clustersOf(example());
    self[2].hub = "edge";
    expect(errorOf({ ...example(), clusters: self })).toMatch(
      /nats-cluster:clusters\[2\]\.hub: "edge" is this cluster; name another cluster of the stack \(east, west\)/,
    );
    const chained = clustersOf(example());
    chained[1].hub = "edge";
    expect(errorOf({ ...example(), clusters: chained })).toMatch(
      /nats-cluster:clusters\[1\]\.hub: "edge" is itself a leaf of "east"; name a cluster without hub/,
    );
  });

  it("one-cluster keys beside clusters, an empty list, an unknown field, a repeated name", () => {
    expect(errorOf({ ...example(), surge: { name: "x" }, clusterName: "n" })).toMatch(
      /nats-cluster:clusterName: describes one cluster, and nats-cluster:clusters is set: each cluster's name is clusters\[i\]\.name/,
    );
    expect(errorOf({ ...example(), clusters: [] })).toContain("nats-cluster:clusters: no cluster;");
    const typo = clustersOf(example());
    typo[0].hubb = "west";
    expect(errorOf({ ...example(), clusters: typo })).toContain(
      "nats-cluster:clusters[0].hubb: unknown field (did you mean hub?)",
    );
    const twice = clustersOf(example());
    twice[1].name = "east";
    expect(errorOf({ ...example(), clusters: twice })).toContain(
      'nats-cluster:clusters[1].name: cluster "east" is already clusters[0]; name each once',
    );
  });

  it("a server name used in two clusters, and a port two clusters' servers share on one host", () => {
    const clusters = clustersOf(example());
    const west = (clusters[1].members as Entry[]).map((m) => ({ ...m }));
    west[0].name = "east-a";
    west[1].gatewayPort = 17222;
    clusters[1].members = west;
    const message = errorOf({ ...example(), clusters });
    expect(message).toContain(
      'nats-cluster:clusters[1].members[0].name: server name "east-a" is already clusters[0].members[0].name',
    );
    expect(message).toContain(
      "nats-cluster:clusters[1].members[1].gatewayPort: port 17222 on 127.0.0.1 is already " +
        "clusters[0].members[0].gatewayPort; give this server a gatewayPort of its own",
    );
  });

  it("a bad version of one cluster, and the engine's rules reported under the cluster's key", () => {
    const clusters = clustersOf(example());
    clusters[1].version = "v2.15.2";
    const members = (clusters[0].members as Entry[]).map((m) => ({ ...m }));
    members[1].clientPort = 14222;
    clusters[0].members = members;
    const message = errorOf({ ...example(), clusters });
    expect(message).toContain('nats-cluster:clusters[1].version: "v2.15.2" is not a version; write 2.15.2');
    expect(message).toMatch(
      /nats-cluster:clusters\[0\]\.members\[1\]\.clientPort: port 14222 on 127\.0\.0\.1 is already members\[0\]\.clientPort/,
    );
  });

  it("a leaf cluster whose hub requires TLS of clients, or client auth: refused with the fix", () => {
    const tls = { generate: true, clients: "required" };
    expect(errorOf({ ...example(), tls })).toMatch(
      /nats-cluster:clusters\[2\]\.hub: "east" requires TLS of its leaves .* set nats-cluster:tls\.clients to "off"/,
    );
    expect(errorOf({ ...example(), auth: { token: "s3cret-token-value" } })).toMatch(
      /nats-cluster:clusters\[2\]\.hub: "east" accepts leaves as it accepts clients/,
    );
  });

  it("JetStream on in one gateway cluster and off in another: the engine's rule, under the cluster's own key", () => {
    const clusters = clustersOf(example());
    clusters[1].jetstream = false;
    expect(errorOf({ ...example(), clusters })).toContain(
      'nats-cluster:clusters[1].jetstream.enabled: JetStream is off in "west" and on in east',
    );
  });
});
