/**
 * Quorum-aware batches (rollout.maxUnavailable > 1), pure: the planner's batching from an observation, the policy
 * rule, the stack-config key, and the typed placement read from `/jsz`. No servers.
 */
import { decodeStackConfig } from "../../components/config/decode";
import { decodeJsz } from "../../engine/monitor/decode";
import {
  ObservedCluster,
  observeOptionsFor,
  ObservedServer,
  RaftGroup,
  raftGroupsOf,
} from "../../engine/rollout/observe";
import { estimateSeconds, formatPlan, planBatches, planRollout } from "../../engine/rollout/plan";
import { validatePolicy } from "../../engine/validate";
import { DEFAULT_LAME_DUCK, DEFAULT_POLICY } from "../../engine/defaults";
import { ClusterSpec, RolloutPolicy, ServerEndpoint } from "../../engine/spec";
import { readStackFile } from "../pulumi/support/stack-files";

const ep = (name: string, i: number): ServerEndpoint => ({
  name,
  host: "127.0.0.1",
  clientPort: 4000 + i,
  clusterPort: 5000 + i,
  monitorPort: 6000 + i,
});
const names = (n: number) => Array.from({ length: n }, (_, i) => `n${i + 1}`);
const spec = (n: number, jetstream: boolean): ClusterSpec => ({
  name: "c",
  version: "2.15.2",
  members: names(n).map(ep),
  surge: ep("s", 99),
  routes: { kind: "explicit" },
  jetstream: { enabled: jetstream },
  lameDuck: DEFAULT_LAME_DUCK,
});
const up = (name: string, extra: Partial<ObservedServer> = {}): ObservedServer => ({
  name,
  running: true,
  reachable: true,
  version: "2.14.9",
  installedVersion: "2.14.9",
  configText: `cfg-${name}`,
  connections: 1,
  maxConnections: 65536,
  ...extra,
});
const surgeDown: ObservedServer = { name: "s", running: false, reachable: false, error: "not running" };
const desired = (n: number) => new Map(names(n).map((m) => [m, `cfg-${m}`]));
const policy = (maxUnavailable: number): RolloutPolicy => ({ ...DEFAULT_POLICY, maxUnavailable });
const meta = (n: number): RaftGroup => ({ kind: "meta", name: "meta", peers: names(n) });
const stream = (name: string, ...peers: string[]): RaftGroup => ({ kind: "stream", name: `stream ${name}`, peers });

function observed(n: number, groups?: RaftGroup[], leader?: string, unread: string[] = []): ObservedCluster {
  return {
    members: names(n).map((m) => up(m)),
    surge: surgeDown,
    metaLeader: leader,
    ...(groups ? { placement: { groups, unread } } : {}),
  };
}

/** The member steps of a plan as batches of names. */
function batchesOf(plan: ReturnType<typeof planRollout>): string[][] {
  const out: string[][] = [];
  for (const s of plan.steps) if (s.batch !== undefined) (out[s.batch - 1] ??= []).push(s.server!);
  return out;
}

describe("quorum-aware batches", () => {
  it("maxUnavailable 1 is today's plan exactly: one member at a time, no batch, no placement needed", () => {
    const o = observed(5, undefined, "n1");
    const plan = planRollout(o, spec(5, true), desired(5), DEFAULT_POLICY);
    expect(DEFAULT_POLICY.maxUnavailable).toBe(1);
    expect(plan.steps.some((s) => s.batch !== undefined)).toBe(false);
    expect(plan.steps.map((s) => s.server ?? s.kind)).toEqual([
      "preflight",
      "s",
      "n2",
      "n3",
      "n4",
      "n5",
      "n1",
      "s",
      "final-check",
    ]);
    expect(formatPlan(plan)).not.toMatch(/batch/);
  });

  it("core NATS (JetStream off): batches up to the limit, in spec order", () => {
    const plan = planRollout(observed(7), spec(7, false), desired(7), policy(3));
    expect(batchesOf(plan)).toEqual([["n1", "n2", "n3"], ["n4", "n5", "n6"], ["n7"]]);
    expect(plan.steps.find((s) => s.server === "n4")?.reason).toContain(
      "not in batch 1: full (3 = rollout.maxUnavailable)",
    );
    // One restart's cost per batch, not per member.
    const oneAtATime = planRollout(observed(7), spec(7, false), desired(7), policy(1));
    expect(plan.estimatedSeconds).toBeLessThan(oneAtATime.estimatedSeconds * 0.6);
  });

  it("R3 streams keep their quorum: no two peers of one in a batch; R1 streams constrain nothing; leader last, alone", () => {
    const groups = [
      meta(7),
      stream("A", "n2", "n3", "n4"),
      { kind: "consumer" as const, name: "consumer A > C1", peers: ["n2", "n3", "n4"] },
      stream("B", "n4", "n5", "n6"),
      stream("R1", "n2"),
    ];
    const plan = planRollout(observed(7, groups, "n1"), spec(7, true), desired(7), policy(3));
    expect(batchesOf(plan)).toEqual([["n2", "n5", "n7"], ["n3", "n6"], ["n4"], ["n1"]]);
    const reason = (n: string) => plan.steps.find((s) => s.server === n)!.reason;
    expect(reason("n3")).toContain(
      "not in batch 1 (with n2): stream A (R3: n2, n3, n4) and 1 more group on the same peers keeps its quorum " +
        "with at most 1 of its peers down",
    );
    expect(reason("n4")).toMatch(/not in batches 1 \(with n2\), 2 \(with n3\): stream A/);
    expect(reason("n6")).toContain("not in batch 1 (with n5): stream B (R3: n4, n5, n6)");
    expect(reason("n1")).toContain("JetStream meta leader: last, in a batch of its own, steps down first");
    const text = formatPlan(plan);
    expect(text).toContain("in 4 batches of at most 3 members down at once");
    expect(text).toContain("batch 1 of 4: n2, n5, n7 (down together)");
    expect(text).toContain("batch 4 of 4: n1\n");
    // Batches, in order, between surge-up and surge-down.
    expect(plan.steps.map((s) => s.kind)).toEqual([
      "preflight",
      "surge-up",
      ...Array(7).fill("restart-member"),
      "surge-down",
      "final-check",
    ]);
  });

  it("the meta group counts too: 3 JetStream members go one at a time; 5 go two by two", () => {
    expect(batchesOf(planRollout(observed(3, [meta(3)], "n1"), spec(3, true), desired(3), policy(3)))).toEqual([
      ["n2"],
      ["n3"],
      ["n1"],
    ]);
    const five = planRollout(observed(5, [meta(5)], "n3"), spec(5, true), desired(5), policy(5));
    expect(batchesOf(five)).toEqual([["n1", "n2"], ["n4", "n5"], ["n3"]]);
    expect(five.steps.find((s) => s.server === "n4")!.reason).toContain(
      "not in batch 1 (with n1, n2): the meta group (5 peers) keeps its quorum with at most 2 of its peers down",
    );
  });

  it("a ghost peer (down, never coming back) uses up its group's margin", () => {
    const r5 = stream("R5", "n1", "n2", "n3", "n4", "ghost");
    const batches = planBatches(names(4), { maxUnavailable: 4, groups: [r5], down: new Set(["ghost"]) }).batches;
    expect(batches).toEqual([["n1"], ["n2"], ["n3"], ["n4"]]);
    const healthy = stream("R5", "n1", "n2", "n3", "n4", "n5");
    expect(planBatches(names(4), { maxUnavailable: 4, groups: [healthy] }).batches).toEqual([
      ["n1", "n2"],
      ["n3", "n4"],
    ]);
  });

  it("the capacity rule: a batch's clients must fit in the room of the servers staying up, the surge server's too", () => {
    const full = (name: string) => up(name, { connections: 90, maxConnections: 100 });
    const o: ObservedCluster = { members: names(4).map(full), surge: surgeDown };
    const plan = planRollout(o, spec(4, false), desired(4), policy(3));
    // Two members' 180 clients would need room on two members (10 + 10) and the surge server (100): 120.
    expect(batchesOf(plan)).toEqual([["n1"], ["n2"], ["n3"], ["n4"]]);
    expect(plan.steps.find((s) => s.server === "n2")!.reason).toContain(
      "not in batch 1: 180 clients would move, and the servers staying up have room for 120",
    );
    // With room to spare, the same cluster batches to the limit.
    const roomy: ObservedCluster = { members: names(4).map((m) => up(m, { connections: 10 })), surge: surgeDown };
    expect(batchesOf(planRollout(roomy, spec(4, false), desired(4), policy(3)))).toEqual([["n1", "n2", "n3"], ["n4"]]);
    // Without a surge server there is less room.
    const noSurge = planBatches(["a", "b"], {
      maxUnavailable: 2,
      capacity: {
        clients: new Map([
          ["a", 50],
          ["b", 50],
          ["c", 0],
        ]),
        room: new Map([
          ["a", 50],
          ["b", 50],
          ["c", 99],
        ]),
      },
    });
    expect(noSurge.batches).toEqual([["a"], ["b"]]);
  });

  it("placement unknown: a member whose /jsz could not be read goes alone; an assumed plan goes one at a time", () => {
    const unread = planRollout(observed(5, [meta(5)], "n1", ["n3"]), spec(5, true), desired(5), policy(3));
    expect(batchesOf(unread)).toEqual([["n2", "n4"], ["n3"], ["n5"], ["n1"]]);
    expect(unread.steps.find((s) => s.server === "n3")!.reason).toContain("its placement (/jsz) could not be read");
    const assumed = planRollout(observed(4, undefined, "n1"), spec(4, true), desired(4), policy(3));
    expect(batchesOf(assumed)).toEqual([["n2"], ["n3"], ["n4"], ["n1"]]);
    expect(assumed.steps.find((s) => s.server === "n3")!.reason).toContain("Raft placement not observed");
  });

  it("the estimate: a batch costs its longest step", () => {
    const s = spec(3, false);
    const restart = { kind: "restart-member" as const, server: "n1", reason: "" };
    const one = estimateSeconds([restart], s, DEFAULT_POLICY);
    expect(
      estimateSeconds(
        [
          { ...restart, batch: 1 },
          { ...restart, batch: 1 },
          { ...restart, batch: 2 },
        ],
        s,
        DEFAULT_POLICY,
      ),
    ).toBe(2 * one);
  });
});

describe("rollout.maxUnavailable", () => {
  it("validatePolicy: a whole number, at least 1", () => {
    expect(validatePolicy({ maxUnavailable: 3 })).toEqual([]);
    expect(validatePolicy({ maxUnavailable: 0 })[0].message).toBe(
      "0 is below the minimum of 1 (1 is one member at a time)",
    );
    expect(validatePolicy({ maxUnavailable: 2.5 })[0].message).toBe(
      "2.5 is not a whole number (a count of members; write e.g. 3)",
    );
    expect(validatePolicy({ maxUnavailable: "3" })[0].message).toMatch(/"3" is not a number/);
  });

  it("stack config nats-cluster:rollout.maxUnavailable is decoded (as `pulumi config set --path` leaves it)", () => {
    const config = decodeStackConfig(
      { ...readStackFile("local"), rollout: { maxUnavailable: "2" } },
      { stack: "local", projectDir: "/project" },
    );
    expect(config.rollout.maxUnavailable).toBe(2);
    expect(() =>
      decodeStackConfig(
        { ...readStackFile("local"), rollout: { maxUnavailable: 0 } },
        { stack: "local", projectDir: "/project" },
      ),
    ).toThrow(/nats-cluster:rollout\.maxUnavailable: 0 is below the minimum of 1/);
  });
});

describe("Raft placement from /jsz", () => {
  // As nats-server 2.15.2 answered /jsz?accounts=true&streams=true&consumers=true on p1 (trimmed).
  const jsz = {
    server_id: "NDWP",
    meta_cluster: { name: "probe", leader: "p1", replicas: [{ name: "p2", current: true }] },
    account_details: [
      {
        name: "$G",
        id: "$G",
        stream_detail: [
          {
            name: "R3S",
            cluster: {
              name: "probe",
              raft_group: "S-R3F-niRk4oLs",
              leader: "p2",
              replicas: [
                { name: "p2", current: true },
                { name: "p3", current: false },
              ],
            },
            consumer_detail: [
              {
                stream_name: "R3S",
                name: "C1",
                cluster: {
                  leader: "p1",
                  replicas: [
                    { name: "p2", current: true },
                    { name: "p3", current: true },
                  ],
                },
              },
            ],
          },
          { name: "R1S", cluster: { name: "probe", leader: "p1" }, consumer_detail: null },
        ],
      },
      { name: "ACC", stream_detail: [{ name: "X", cluster: { leader: "p3", replicas: [{ name: "p1" }] } }] },
    ],
  };

  it("is read only when JetStream is on and members are batched: maxUnavailable 1 reads what it always read", () => {
    expect(observeOptionsFor(spec(3, true), policy(1))).toEqual({ placement: false });
    expect(observeOptionsFor(spec(3, false), policy(3))).toEqual({ placement: false });
    expect(observeOptionsFor(spec(3, true), policy(3))).toEqual({ placement: true });
  });

  it("every group with its peers: the reporter, the leader and the replicas it lists", () => {
    expect(raftGroupsOf("p1", decodeJsz("u", jsz))).toEqual([
      { kind: "stream", name: "stream R3S", peers: ["p1", "p2", "p3"] },
      { kind: "consumer", name: "consumer R3S > C1", peers: ["p1", "p2", "p3"] },
      { kind: "stream", name: "stream R1S", peers: ["p1"] },
      { kind: "stream", name: "stream ACC/X", peers: ["p1", "p3"] },
    ]);
  });

  it("decode guards name the field that is not what nats-server sends", () => {
    expect(() => decodeJsz("u", { ...jsz, account_details: {} })).toThrow(/account_details is not a list/);
    expect(() => decodeJsz("u", { account_details: [{ name: "$G", stream_detail: [{ cluster: {} }] }] })).toThrow(
      /field name is missing/,
    );
    expect(() =>
      decodeJsz("u", {
        account_details: [{ name: "$G", stream_detail: [{ name: "S", cluster: { replicas: [{}] } }] }],
      }),
    ).toThrow(/field name is missing/);
    expect(() =>
      decodeJsz("u", { account_details: [{ name: "$G", stream_detail: [{ name: "S", cluster: { leader: 3 } }] }] }),
    ).toThrow(/field leader is number/);
  });
});
