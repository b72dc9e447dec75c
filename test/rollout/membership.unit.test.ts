/**
 * Members joining and leaving, as the planner decides it from what the servers report (no server started): which
 * steps, in which order, with which words; when a removal is refused and what the refusal names; the jetstream
 * gate's view of a leaving peer; and what a halt in the middle of a removal does.
 */
import { DEFAULT_LAME_DUCK, DEFAULT_POLICY } from "../../engine/defaults";
import { jetstreamGate } from "../../engine/gates/checks";
import { ServerMonitor } from "../../engine/monitor/monitor";
import { decideHalt } from "../../engine/rollout/halt-decision";
import { ObservedCluster, ObservedServer, RaftGroup } from "../../engine/rollout/observe";
import { formatPlan, planRollout } from "../../engine/rollout/plan";
import { ClusterSpec, ServerEndpoint } from "../../engine/spec";

const ep = (name: string, i: number): ServerEndpoint => ({
  name,
  host: "10.0.0.1",
  clientPort: 4000 + i,
  clusterPort: 5000 + i,
  monitorPort: 6000 + i,
});
const SYS = { users: [{ user: "app", password: "p" }], systemAccount: { user: "sys", password: "s" } };
const specOf = (names: string[], auth: ClusterSpec["auth"] = SYS): ClusterSpec => ({
  name: "c",
  version: "2.15.2",
  members: names.map((n, i) => ep(n, i)),
  surge: ep("s", 9),
  routes: { kind: "explicit" },
  jetstream: { enabled: true },
  lameDuck: DEFAULT_LAME_DUCK,
  auth,
});
const META = ["a", "b", "c", "d"];
const up = (name: string, metaPeers = META): ObservedServer => ({
  name,
  running: true,
  reachable: true,
  version: "2.15.2",
  installedVersion: "2.15.2",
  configText: `cfg-${name}`,
  metaLeader: "a",
  metaPeers,
});
const stopped = (name: string, configText?: string): ObservedServer => ({
  name,
  running: false,
  reachable: false,
  installedVersion: configText ? "2.15.2" : undefined,
  configText,
  error: "not running",
});
const stream = (name: string, peers: string[]): RaftGroup => ({ kind: "stream", name: `stream ${name}`, peers });
const consumer = (name: string, peers: string[]): RaftGroup => ({ kind: "consumer", name: `consumer ${name}`, peers });
function cluster(
  members: ObservedServer[],
  leaving: ObservedServer[],
  groups: RaftGroup[],
  meta: string[] = META,
): ObservedCluster {
  return {
    members,
    surge: stopped("s"),
    metaLeader: "a",
    leaving,
    placement: { groups: [{ kind: "meta", name: "meta", peers: meta }, ...groups], unread: [] },
  };
}
/** Every member's config is already what it should be: the plan is only about membership. */
const same = (names: string[]) => new Map(names.map((n) => [n, `cfg-${n}`]));
const steps = (plan: ReturnType<typeof planRollout>) =>
  plan.steps.map((s) => `${s.kind}${s.server ? ` ${s.server}` : ""}`);

describe("removing members: the plan", () => {
  it("plans remove-member after pre-flight, naming what it does and the replicas it waits for", () => {
    const plan = planRollout(
      cluster(
        [up("a"), up("b"), up("c")],
        [up("d")],
        [stream("ORDERS", ["a", "b", "d"]), consumer("ORDERS > C1", ["a", "b", "d"])],
      ),
      specOf(["a", "b", "c"]),
      same(["a", "b", "c"]),
      DEFAULT_POLICY,
    );
    expect(plan.refusals).toEqual([]);
    expect(steps(plan)).toEqual(["preflight", "remove-member d", "final-check"]);
    expect(plan.steps[1].reason).toBe(
      "left the stack (still runs 2.15.2): lame duck (its clients move to the others), stop, then peer-remove it " +
        "from the JetStream meta group, then wait until its replicas (1 stream, 1 consumer) are whole on the " +
        "remaining members, then remove it from its host",
    );
    expect(formatPlan(plan)).toMatch(/remove-member\s+d\s+2\.15\.2 → removed/);
  });

  it("removes before the remaining members restart for their route lists, one leaving member at a time", () => {
    const plan = planRollout(
      cluster([up("a"), up("b"), up("c")], [up("d"), up("e")], [], [...META, "e"]),
      specOf(["a", "b", "c"]),
      // A new route list changes the restart digest.
      new Map(["a", "b", "c"].map((n) => [n, `# nats-cluster restart-digest: sha256:${"1".repeat(64)}\ncfg-${n}`])),
      DEFAULT_POLICY,
    );
    expect(steps(plan)).toEqual([
      "preflight",
      "remove-member d",
      "remove-member e",
      "surge-up s",
      "restart-member b",
      "restart-member c",
      "restart-member a",
      "surge-down s",
      "final-check",
    ]);
  });

  it("resumes from what the servers report: stopped but still a meta peer, then only a config left, then nothing", () => {
    const spec = specOf(["a", "b", "c"]);
    const stillPeer = planRollout(
      cluster([up("a"), up("b"), up("c")], [stopped("d", "cfg-d")], []),
      spec,
      same(["a", "b", "c"]),
      DEFAULT_POLICY,
    );
    expect(steps(stillPeer)).toEqual(["preflight", "remove-member d", "final-check"]);
    expect(stillPeer.steps[1].reason).toMatch(
      /^left the stack \(stopped, still a peer of the JetStream meta group\): peer-remove/,
    );
    const three = ["a", "b", "c"];
    const configLeft = planRollout(
      cluster([up("a", three), up("b", three), up("c", three)], [stopped("d", "cfg-d")], [], three),
      spec,
      same(three),
      DEFAULT_POLICY,
    );
    expect(configLeft.steps[1].reason).toBe(
      "left the stack (stopped and out of the meta group; its host still has its config): remove it from its host",
    );
    const gone = planRollout(
      cluster([up("a", three), up("b", three), up("c", three)], [stopped("d")], [], three),
      spec,
      same(three),
      DEFAULT_POLICY,
    );
    expect(gone.steps).toEqual([]);
    expect(gone.refusals).toEqual([]);
  });
});

describe("removing members: the refusals (nothing touched)", () => {
  it("refuses when a stream's replicas would exceed the remaining members, naming the stream", () => {
    const three = ["a", "b", "c"];
    const plan = planRollout(
      cluster([up("a", three), up("b", three)], [up("c", three)], [stream("ORDERS", three)], three),
      specOf(["a", "b"]),
      same(["a", "b"]),
      DEFAULT_POLICY,
    );
    expect(plan.refusals).toEqual([
      "remove c: 2 members would remain (a, b), fewer than the replicas of stream ORDERS (R3): scale it down first " +
        "(`nats stream edit ORDERS --replicas 2`) or keep c in the stack",
    ]);
    expect(formatPlan(plan)).toMatch(/^Rollout refused, nothing will be touched:/);
  });

  it("refuses a stream whose only replica is on the leaving member, and an R3 group already short of a peer", () => {
    const plan = planRollout(
      cluster(
        [up("a"), up("b"), up("c")],
        // e left earlier and is stopped, still a peer of ORDERS: stopping d too leaves ORDERS one of three.
        [up("d"), stopped("e", "cfg-e")],
        [stream("LOGS", ["d"]), stream("ORDERS", ["a", "d", "e"])],
        [...META, "e"],
      ),
      specOf(["a", "b", "c"]),
      same(["a", "b", "c"]),
      DEFAULT_POLICY,
    );
    expect(plan.refusals).toEqual([
      "remove d: stream LOGS (R1, peers d) has its only replica on d: its data would be lost; raise its replicas or move it first",
      "remove d: stream ORDERS (R3, peers a, d, e) would lose its quorum while d is stopped (1 of 3 left, 2 needed): " +
        "bring its other peers back or raise its replicas first",
    ]);
  });

  it("a member the plan starts before the removal counts as up: a meta group short of it now is not refused", () => {
    const plan = planRollout(
      cluster([up("a"), up("b"), stopped("c", "cfg-c")], [up("d")], []),
      specOf(["a", "b", "c"]),
      same(["a", "b", "c"]),
      DEFAULT_POLICY,
    );
    // c starts (through its gates) first; then the meta group of a, b, c, d loses only d: 3 of 4.
    expect(plan.refusals).toEqual([]);
    expect(steps(plan)).toEqual(["recover-member c", "preflight", "remove-member d", "final-check"]);
  });

  it("refuses without a system account (the meta peer-remove needs one)", () => {
    const plan = planRollout(
      cluster([up("a"), up("b"), up("c")], [up("d")], []),
      specOf(["a", "b", "c"], { users: [{ user: "app", password: "p" }] }),
      same(["a", "b", "c"]),
      DEFAULT_POLICY,
    );
    expect(plan.refusals).toHaveLength(1);
    expect(plan.refusals[0]).toMatch(/^remove d: .*auth\.systemAccount is not set/);
  });
});

describe("adding members: the plan", () => {
  it("a new member is add-member (not a recovery), started before pre-flight; a member found down is recover-member", () => {
    const plan = planRollout(
      {
        members: [up("a", ["a", "b", "c"]), up("b", ["a", "b", "c"]), stopped("c", "cfg-c"), stopped("d")],
        surge: stopped("s"),
        metaLeader: "a",
      },
      specOf(["a", "b", "c", "d"]),
      same(["a", "b", "c", "d"]),
      DEFAULT_POLICY,
    );
    expect(steps(plan)).toEqual(["recover-member c", "add-member d", "final-check"]);
    expect(plan.steps[1].reason).toBe(
      "new member: start it at 2.15.2; its gates: routes to every member, current in a JetStream meta group of 4",
    );
  });
});

describe("replacing a member: its VM or disk gone", () => {
  /** A leaving server whose host does not answer at all (its VM destroyed). */
  const vanished = (name: string): ObservedServer => ({
    name,
    running: false,
    reachable: false,
    error: "its host does not answer (cannot connect: timed out); fetch failed",
    hostError: "its host does not answer (cannot connect: timed out)",
  });
  /** The meta leader a, with what it reports of its peers. */
  const leaderHearing = (unheard: string[], meta = META) => ({ ...up("a", meta), metaPeersUnheard: unheard });

  it("same name on an empty host the meta group still lists: recover-member, prepared and caught up from its peers", () => {
    const plan = planRollout(
      { members: [leaderHearing(["c"]), up("b"), stopped("c")], surge: stopped("s"), metaLeader: "a" },
      specOf(["a", "b", "c"]),
      same(["a", "b", "c"]),
      DEFAULT_POLICY,
    );
    expect(steps(plan)).toEqual(["recover-member c", "final-check"]);
    expect(plan.steps[0].reason).toBe(
      "its host has nothing installed (a new VM, or its disk lost), and the JetStream meta group still lists it: " +
        "prepare the host and start it at 2.15.2 with an empty store; it catches up from its peers, gated on every " +
        "stream and consumer replica on it current",
    );
  });

  it("a new name for a VM gone for good: add the new one, then peer-remove the old one without touching its host", () => {
    const meta = ["a", "b", "c"];
    // The placement's meta group counts the spec's members too (f, not started yet): a, b, c, f with c and f down
    // now. f starts (and passes its gates) before the removal, so removing c leaves 3 of 4: a quorum.
    const plan = planRollout(
      cluster(
        [leaderHearing(["c"], meta), up("b", meta), stopped("f")],
        [vanished("c")],
        [stream("ORDERS", meta)],
        [...meta, "f"],
      ),
      specOf(["a", "b", "f"]),
      same(["a", "b", "f"]),
      DEFAULT_POLICY,
    );
    expect(plan.refusals).toEqual([]);
    expect(steps(plan)).toEqual(["add-member f", "preflight", "remove-member c", "final-check"]);
    expect(plan.steps[2].reason).toBe(
      "left the stack (stopped, still a peer of the JetStream meta group): its host does not answer (cannot " +
        "connect: timed out), so it is neither stopped nor cleaned there, then peer-remove it from the JetStream " +
        "meta group, then wait until its replicas (1 stream) are whole on the remaining members",
    );
  });

  it("refuses to peer-remove a server whose host does not answer while the meta leader still hears from it", () => {
    const meta = ["a", "b", "c", "d"];
    const still = planRollout(
      cluster([leaderHearing([], meta), up("b", meta), up("c", meta)], [vanished("d")], [], meta),
      specOf(["a", "b", "c"]),
      same(["a", "b", "c"]),
      DEFAULT_POLICY,
    );
    expect(still.refusals).toEqual([
      "remove d: its host does not answer (cannot connect: timed out), but the meta leader a still hears from " +
        "it: it runs where this machine cannot reach it; reach its host (network, address, ssh) or stop it there, " +
        "then remove it",
    ]);
    const noLeader = planRollout(
      cluster([up("a", meta), up("b", meta), up("c", meta)], [vanished("d")], [], meta),
      specOf(["a", "b", "c"]),
      same(["a", "b", "c"]),
      DEFAULT_POLICY,
    );
    expect(noLeader.refusals).toEqual([
      "remove d: its host does not answer and no meta leader answered to say whether it still runs; try again " +
        "once the cluster has a meta leader",
    ]);
  });

  it("once peer-removed, a vanished server is gone: the next plan has nothing for it", () => {
    const three = ["a", "b", "f"];
    const plan = planRollout(
      cluster([leaderHearing([], three), up("b", three), up("f", three)], [vanished("c")], [], three),
      specOf(three),
      same(three),
      DEFAULT_POLICY,
    );
    expect(plan.steps).toEqual([]);
    expect(plan.refusals).toEqual([]);
  });
});

describe("the jetstream gate and a leaving peer", () => {
  const monitor = (peers: string[]): ServerMonitor =>
    ({
      healthz: async () => ({ httpStatus: 200, body: { status: "ok" } }),
      jsz: async () => ({
        meta_cluster: {
          leader: "a",
          replicas: peers.filter((p) => p !== "a").map((name) => ({ name, current: true })),
        },
      }),
    }) as unknown as ServerMonitor;
  const check = (peers: string[], leaving: string[]) =>
    jetstreamGate(() => monitor(peers)).check({
      server: ep("a", 0),
      monitor: monitor(peers),
      expect: { version: "2.15.2", routePeers: [], metaPeers: ["a", "b", "c"], metaPeersLeaving: leaving },
    });

  it("allows a leaving peer, and still refuses any other peer beyond the spec", async () => {
    expect(await check(["a", "b", "c", "d"], ["d"])).toMatchObject({ ok: true });
    expect(await check(["a", "b", "c"], ["d"])).toMatchObject({ ok: true });
    expect(await check(["a", "b", "c", "d"], [])).toMatchObject({
      ok: false,
      observation: expect.stringMatching(/unexpected peers: d/),
    });
    expect(await check(["a", "b", "c", "d", "x"], ["d"])).toMatchObject({
      ok: false,
      observation: expect.stringMatching(/unexpected peers: x$/),
    });
  });
});

describe("a halt in the middle of a removal", () => {
  const situation = { step: "remove-member" as const, failedIsMember: false, surgeIn: false, autoRollback: true };
  it("never starts the leaving member again: RemovalIncomplete once touched; Untouched/ClusterNotWhole before", () => {
    expect(decideHalt({ ...situation, at: "replicas", members: [{ name: "d", touched: true }] })).toEqual({
      kind: "nothing-to-undo",
      code: "RemovalIncomplete",
    });
    expect(decideHalt({ ...situation, at: "cluster", members: [{ name: "d", touched: false }] })).toMatchObject({
      code: "ClusterNotWhole",
    });
  });
});
