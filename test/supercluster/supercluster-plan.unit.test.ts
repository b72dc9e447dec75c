/**
 * A supercluster's rules without servers: quorum-aware batches that count the other clusters' meta peers, the
 * rollout order across clusters, the cross-cluster validation, and which peers of the other clusters a cluster's
 * JetStream gate expects. Pure, milliseconds.
 */
import { DEFAULT_LAME_DUCK, DEFAULT_POLICY } from "../../engine/defaults";
import { jetstreamGate } from "../../engine/gates/checks";
import { ServerMonitor } from "../../engine/monitor/monitor";
import { removalRefusals } from "../../engine/rollout/membership-plan";
import { otherMetaPeers } from "../../engine/rollout/other-clusters";
import { ObservedCluster, ObservedOtherCluster, ObservedServer, RaftGroup } from "../../engine/rollout/observe";
import { planRollout } from "../../engine/rollout/plan";
import { ClusterSpec, ServerEndpoint } from "../../engine/spec";
import { rolloutOrder, startTogether, togetherWhy } from "../../engine/supercluster/order";
import { validateSupercluster } from "../../engine/supercluster/validate";
import { validateClusterSpec } from "../../engine/validate";

const ep = (name: string, host: string, base: number): ServerEndpoint => ({
  name,
  host,
  clientPort: 4222 + base,
  clusterPort: 6222 + base,
  monitorPort: 8222 + base,
});

/** Cluster `name` of `n` members on hosts 10.<net>.0.1…n (surge .9), gateways to `remotes`, each on port 7222. */
function cluster(
  name: string,
  net: number,
  n: number,
  remotes: string[],
  extra: Partial<ClusterSpec> = {},
): ClusterSpec {
  const names = Array.from({ length: n }, (_, i) => `${name}${i + 1}`);
  return {
    name,
    version: "2.15.2",
    members: names.map((m, i) => ep(m, `10.${net}.0.${i + 1}`, 0)),
    surge: ep(`${name}-surge`, `10.${net}.0.9`, 0),
    routes: { kind: "explicit" },
    jetstream: { enabled: true },
    lameDuck: DEFAULT_LAME_DUCK,
    gateways: {
      remotes: remotes.map((r) => ({ name: r, urls: [`nats://10.${NETS[r]}.0.1:7222`] })),
    },
    ...extra,
  };
}
const NETS: Record<string, number> = { east: 1, west: 2, north: 3, edge: 4 };

const up = (name: string): ObservedServer => ({
  name,
  running: true,
  reachable: true,
  version: "2.14.9",
  installedVersion: "2.14.9",
  configText: `cfg-${name}`,
  connections: 1,
  maxConnections: 65536,
});
const down = (name: string): ObservedServer => ({ name, running: false, reachable: false, error: "not running" });
const meta = (peers: string[]): RaftGroup => ({ kind: "meta", name: "meta", peers: [...peers].sort() });

/** `spec`'s members observed at 2.14.9, the meta group `peers`, the leader `leader`, the other clusters `others`. */
function observedOf(
  spec: ClusterSpec,
  peers: string[],
  leader: string,
  others?: ObservedOtherCluster[],
  streams: RaftGroup[] = [],
): ObservedCluster {
  return {
    members: spec.members.map((m) => up(m.name)),
    surge: down(spec.surge.name),
    metaLeader: leader,
    placement: { groups: [meta(peers), ...streams], unread: [] },
    ...(others ? { others } : {}),
  };
}
const batchesOf = (spec: ClusterSpec, observed: ObservedCluster, maxUnavailable: number): string[][] => {
  const desired = new Map(spec.members.map((m) => [m.name, `cfg-${m.name}`]));
  const plan = planRollout(observed, spec, desired, { ...DEFAULT_POLICY, maxUnavailable });
  expect(plan.refusals).toEqual([]);
  const out: string[][] = [];
  for (const s of plan.steps) if (s.batch !== undefined) (out[s.batch - 1] ??= []).push(s.server!);
  return out;
};
const otherOf = (spec: ClusterSpec, isUp: (name: string) => boolean = () => true): ObservedOtherCluster => ({
  cluster: spec.name,
  members: spec.members.map((m) => (isUp(m.name) ? up(m.name) : down(m.name))),
});

describe("quorum-aware batches across a supercluster", () => {
  const east = cluster("east", 1, 3, ["west"]);
  const west = cluster("west", 2, 3, ["east"]);
  const six = [...east.members, ...west.members].map((m) => m.name);

  it("2 clusters × 3: the meta group has 6 peers (quorum 4, 2 may be down): never 3 of east at once", () => {
    // The meta leader is in west, so all of east are followers; maxUnavailable 3 would allow all three.
    const batches = batchesOf(east, observedOf(east, six, "west1", [otherOf(west)]), 3);
    expect(batches).toEqual([["east1", "east2"], ["east3"]]);
    expect(Math.max(...batches.map((b) => b.length))).toBe(2);
  });

  it("the meta leader in this cluster still goes last, alone; the followers go two at a time", () => {
    expect(batchesOf(east, observedOf(east, six, "east1", [otherOf(west)]), 3)).toEqual([
      ["east2", "east3"],
      ["east1"],
    ]);
  });

  it("a removal counts the other cluster's members found down against the meta group's quorum", () => {
    // 6 peers (quorum 4): removing east3 while west2 and west3 are down would leave 3 up.
    const leaving = { ...up("east3") };
    const observed: ObservedCluster = {
      ...observedOf(east, six, "west1", [otherOf(west, (n) => n === "west1")]),
      members: east.members.slice(0, 2).map((m) => up(m.name)),
      leaving: [leaving],
    };
    const two = { ...east, members: east.members.slice(0, 2), auth: { systemAccount: { user: "s", password: "p" } } };
    expect(removalRefusals(observed, two).join("\n")).toMatch(
      /remove east3: meta \(R6, .*\) would lose its quorum while east3 is stopped \(3 of 6 left, 4 needed\)/,
    );
    // With west whole, 5 of 6 stay up: no refusal.
    expect(removalRefusals({ ...observed, others: [otherOf(west)] }, two)).toEqual([]);
  });

  it("a member of the other cluster found down uses up the margin: one at a time", () => {
    const westDown = [otherOf(west, (n) => n !== "west2")];
    expect(batchesOf(east, observedOf(east, six, "west1", westDown), 3)).toEqual([["east1"], ["east2"], ["east3"]]);
  });

  it("3 clusters × 3: 9 peers (quorum 5, 4 may be down): all three followers of a cluster may go together", () => {
    const north = cluster("north", 3, 3, ["east", "west"]);
    const e = cluster("east", 1, 3, ["west", "north"]);
    const nine = [...six, ...north.members.map((m) => m.name)];
    const observed = observedOf(e, nine, "north1", [otherOf(west), otherOf(north)]);
    expect(batchesOf(e, observed, 3)).toEqual([["east1", "east2", "east3"]]);
  });

  it("an R3 stream placed in east still keeps its own quorum: one of its peers at a time", () => {
    const stream: RaftGroup = { kind: "stream", name: "stream ORDERS", peers: ["east1", "east2", "east3"] };
    const observed = observedOf(east, six, "west1", [otherOf(west)], [stream]);
    expect(batchesOf(east, observed, 3)).toEqual([["east1"], ["east2"], ["east3"]]);
  });

  it("without knowing the other cluster, its peers are ghosts that count as down: one at a time (safe, slow)", () => {
    expect(batchesOf(east, observedOf(east, six, "west1"), 3)).toEqual([["east1"], ["east2"], ["east3"]]);
  });
});

describe("the other clusters' peers a cluster's JetStream gate expects", () => {
  it("expects the ones that answer or that the meta group lists; the rest may join, a JetStream surge may be in", () => {
    const others = [
      { members: [up("w1"), down("w2"), down("w3")], surge: { name: "w-surge" } },
      { members: [up("n1")] },
    ];
    expect(otherMetaPeers(others, new Set(["w1", "w2", "e1"]))).toEqual({
      expected: ["w1", "w2", "n1"],
      optional: ["w3", "w-surge"],
    });
  });
});

describe("the jetstream gate in a supercluster", () => {
  /** The meta group as its leader `leader` reports it: `peers`, those in `behind` not current. */
  const monitor = (leader: string, peers: string[], behind: string[] = []): ServerMonitor =>
    ({
      healthz: async () => ({ httpStatus: 200, body: { status: "ok" } }),
      jsz: async () => ({
        meta_cluster: {
          leader,
          replicas: peers.filter((p) => p !== leader).map((name) => ({ name, current: !behind.includes(name) })),
        },
      }),
    }) as unknown as ServerMonitor;
  const east = ["e1", "e2", "e3"];
  /** e1's gate, the leader `leader` (anywhere), this cluster's members plus `expected`, `optional` allowed. */
  const check = (leader: string, peers: string[], expected: string[], optional: string[], behind: string[] = []) =>
    jetstreamGate((name) => (name === leader ? monitor(leader, peers, behind) : undefined)).check({
      server: ep("e1", "127.0.0.1", 0),
      monitor: monitor(leader, peers, behind),
      expect: { version: "2.15.2", routePeers: [], metaPeers: [...east, ...expected], metaPeersOptional: optional },
    });

  it("reads the meta leader in another cluster, and expects the other cluster's peers current", async () => {
    const all = [...east, "w1", "w2", "w3"];
    expect(await check("w1", all, ["w1", "w2", "w3"], [])).toMatchObject({ ok: true });
    expect(await check("w1", all, ["w1", "w2", "w3"], [], ["w3"])).toMatchObject({
      ok: false,
      observation: expect.stringMatching(/not current: w3/),
    });
  });

  it("allows an optional peer (not started yet, a JetStream surge) present or not; any other peer is a ghost", async () => {
    expect(await check("e1", [...east, "w1"], ["w1"], ["w2", "w-surge"])).toMatchObject({ ok: true });
    expect(await check("e1", [...east, "w1", "w-surge"], ["w1"], ["w2", "w-surge"])).toMatchObject({ ok: true });
    expect(await check("e1", [...east, "w1", "old-w9"], ["w1"], ["w2"])).toMatchObject({
      ok: false,
      observation: expect.stringMatching(/unexpected peers: old-w9$/),
    });
  });
});

describe("the rollout order across clusters", () => {
  const hub = cluster("east", 1, 3, ["west"], { leafnodes: { expected: [{ name: "edge1" }] } });
  const west = cluster("west", 2, 3, ["east"]);
  const edge = cluster("edge", 4, 1, [], {
    gateways: undefined,
    jetstream: { enabled: false },
    hub: { urls: ["nats-leaf://10.1.0.1:7422"] },
  });
  const all = [hub, west, edge];

  it("leaves first, then the clusters without the meta leader in config order, the meta leader's cluster last", () => {
    const order = rolloutOrder(all, { server: "east2", cluster: "east" });
    expect(order.map((o) => o.cluster)).toEqual(["edge", "west", "east"]);
    expect(order[0].why).toMatch(/leaf cluster of east: leaves are rolled before their hub/);
    expect(order[2].why).toMatch(/holds the JetStream meta leader east2: last/);
  });

  it("decided again from where the leader is: with it in west, east goes first", () => {
    expect(rolloutOrder(all, { server: "west1", cluster: "west" }).map((o) => o.cluster)).toEqual([
      "edge",
      "east",
      "west",
    ]);
  });

  it("clusters already rolled are not in it; with no leader reported, config order", () => {
    const order = rolloutOrder([hub, west], undefined, all);
    expect(order.map((o) => o.cluster)).toEqual(["east", "west"]);
    expect(order[0].why).toMatch(/no JetStream meta leader reported/);
  });
});

describe("a first start", () => {
  const east = cluster("east", 1, 3, ["west"]);
  const west = cluster("west", 2, 3, ["east"]);
  const edge = cluster("edge", 4, 1, [], { gateways: undefined, jetstream: { enabled: false }, hub: { urls: [] } });
  const bootstrap = { kind: "bootstrap" as const };
  const rollout = { kind: "rollout" as const };

  it("the JetStream clusters joined by gateways that have no member running start together; a leaf does not", () => {
    expect(startTogether([edge, east, west], [bootstrap, bootstrap, bootstrap])).toEqual(["east", "west"]);
    expect(togetherWhy(["east", "west"], "east")).toMatch(/first start together with west/);
  });

  it("a cluster that already runs starts nothing together (a new one joins the running meta group)", () => {
    expect(startTogether([east, west], [rollout, bootstrap])).toEqual([]);
    const plain = [east, west].map((s) => ({ ...s, jetstream: { enabled: false } }));
    expect(startTogether(plain, [bootstrap, bootstrap])).toEqual([]);
  });
});

describe("validateSupercluster", () => {
  const east = cluster("east", 1, 3, ["west"], {
    leafnodes: { expected: [{ name: "edge1" }] },
    auth: { systemAccount: { user: "sys", password: "a-long-enough-password" } },
  });
  const west = cluster("west", 2, 3, ["east"]);
  const edge = cluster("edge", 4, 1, [], {
    gateways: undefined,
    jetstream: { enabled: false },
    hub: { urls: ["nats-leaf://10.1.0.2:7422"] },
  });
  const at = (problems: ReturnType<typeof validateSupercluster>, field: string) =>
    problems.filter((p) => p.field === field).map((p) => p.message);

  it("a whole supercluster with JetStream across gateways and a leaf passes", () => {
    expect(validateSupercluster([east, west, edge])).toEqual([]);
    // The same cluster alone (one stack per cluster) is refused: it cannot know the other cluster's peers.
    expect(validateClusterSpec(east).map((p) => p.field)).toContain("gateways");
  });

  it("a supercluster of one is a lone cluster: its own rules only", () => {
    const lone = cluster("solo", 1, 3, [], { gateways: undefined });
    expect(validateSupercluster([lone])).toEqual([]);
    expect(validateSupercluster([east]).map((p) => p.field)).toEqual(["clusters[0].gateways"]);
  });

  it("names a duplicate cluster name and a server name used in two clusters", () => {
    const twin = { ...west, name: "east" };
    expect(at(validateSupercluster([east, twin]), "clusters[1].name")[0]).toMatch(/already clusters\[0\]\.name/);
    const clash = { ...west, members: [{ ...west.members[0], name: "east1" }, ...west.members.slice(1)] };
    expect(at(validateSupercluster([east, clash]), "clusters[1].members[0].name")[0]).toMatch(
      /"east1" is already clusters\[0\]\.members\[0\]\.name: .*JetStream peer ids/,
    );
  });

  it("names a host:port two clusters' servers would both listen on", () => {
    const sameHost = { ...west, members: west.members.map((m, i) => (i === 1 ? { ...m, host: "10.1.0.2" } : m)) };
    const problems = validateSupercluster([east, sameHost]);
    expect(at(problems, "clusters[1].members[1].clientPort")[0]).toMatch(
      /10\.1\.0\.2:4222 is already clusters\[0\]\.members\[1\]\.clientPort, in another cluster/,
    );
    expect(validateSupercluster([east, west])).toEqual([]);
  });

  it("each cluster's gateways name exactly the others, at their servers' gateway ports", () => {
    const north = cluster("north", 3, 3, ["east", "west"]);
    const problems = validateSupercluster([east, west, north]);
    expect(at(problems, "clusters[0].gateways.remotes")[0]).toMatch(/missing "north"/);
    expect(at(problems, "clusters[1].gateways.remotes")[0]).toMatch(/missing "north"/);
    const stranger = cluster("west", 2, 3, ["east", "mars"]);
    expect(at(validateSupercluster([east, stranger]), "clusters[1].gateways.remotes[1].name")[0]).toMatch(
      /"mars" is not a cluster of this supercluster/,
    );
    const wrongUrl = { ...west, gateways: { remotes: [{ name: "east", urls: ["nats://10.9.9.9:7222"] }] } };
    expect(at(validateSupercluster([east, wrongUrl]), "clusters[1].gateways.remotes[0].urls[0]")[0]).toMatch(
      /is no gateway of cluster "east"'s servers \(10\.1\.0\.1:7222/,
    );
  });

  it("JetStream on in all gateway-joined clusters or none", () => {
    const noJs = { ...west, jetstream: { enabled: false } };
    expect(at(validateSupercluster([east, noJs]), "clusters[1].jetstream.enabled")[0]).toMatch(
      /off in "west" and on in east: one meta group spans/,
    );
  });

  it("a leaf's hub is a cluster of the supercluster that accepts leaves; a leaf has no gateways", () => {
    const lost = { ...edge, hub: { urls: ["nats-leaf://10.7.0.1:7422"] } };
    expect(at(validateSupercluster([east, west, lost]), "clusters[2].hub.urls[0]")[0]).toMatch(
      /no leafnode endpoint of a cluster of this supercluster \(10\.1\.0\.1:7422/,
    );
    const gw = { ...edge, gateways: { remotes: [{ name: "east", urls: ["nats://10.1.0.1:7222"] }] } };
    expect(at(validateSupercluster([east, west, gw]), "clusters[2].gateways")[0]).toMatch(/cannot have gateways too/);
    expect(at(validateSupercluster([east, west, gw]), "clusters[0].gateways.remotes[0].name")).toEqual([]);
  });

  it("a leaf with JetStream is still refused (it would need a JetStream domain of its own)", () => {
    const jsLeaf = { ...edge, members: [...edge.members, ep("edge2", "10.4.0.2", 0), ep("edge3", "10.4.0.3", 0)] };
    const problems = validateSupercluster([east, west, { ...jsLeaf, jetstream: { enabled: true } }]);
    expect(at(problems, "clusters[2].hub")[0]).toMatch(/leaf cluster with JetStream is not supported yet/);
  });
});
