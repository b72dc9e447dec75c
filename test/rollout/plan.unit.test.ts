/**
 * The planner is a pure function of what the servers report: these cases pin its decisions without starting servers.
 */
import { CLIENT_ONLY_SURGE_SOAK_SECONDS, surgeSoakSeconds } from "../../engine/defaults";
import { ObservedCluster, ObservedServer } from "../../engine/rollout/observe";
import { formatPlan, planRollout } from "../../engine/rollout/plan";
import { DEFAULT_LAME_DUCK, DEFAULT_POLICY } from "../../engine/defaults";
import { ClusterSpec, ServerEndpoint } from "../../engine/spec";

const ep = (name: string, i: number): ServerEndpoint => ({
  name,
  host: "127.0.0.1",
  clientPort: 4000 + i,
  clusterPort: 5000 + i,
  monitorPort: 6000 + i,
});
const spec = (version: string): ClusterSpec => ({
  name: "c",
  version,
  members: [ep("a", 1), ep("b", 2), ep("c", 3)],
  surge: ep("s", 4),
  routes: { kind: "explicit" },
  jetstream: { enabled: true },
  lameDuck: DEFAULT_LAME_DUCK,
});
const up = (name: string, version: string, config = `cfg-${name}`): ObservedServer => ({
  name,
  running: true,
  reachable: true,
  version,
  installedVersion: version,
  configText: config,
});
const down = (name: string): ObservedServer => ({ name, running: false, reachable: false, error: "not running" });
const observed = (members: ObservedServer[], surge: ObservedServer = down("s"), metaLeader = "a"): ObservedCluster => ({
  members,
  surge,
  metaLeader,
});
const desired = new Map([
  ["a", "cfg-a"],
  ["b", "cfg-b"],
  ["c", "cfg-c"],
]);

describe("planRollout", () => {
  it("orders followers first and the meta leader last, between surge up and surge down", () => {
    const plan = planRollout(
      observed([up("a", "2.14.9"), up("b", "2.14.9"), up("c", "2.14.9")]),
      spec("2.15.2"),
      desired,
      DEFAULT_POLICY,
    );
    expect(plan.refusals).toEqual([]);
    expect(plan.steps.map((s) => `${s.kind}:${s.server ?? ""}`)).toEqual([
      "preflight:",
      "surge-up:s",
      "restart-member:b",
      "restart-member:c",
      "restart-member:a",
      "surge-down:s",
      "final-check:",
    ]);
    expect(plan.surgeVersion).toBe("2.14.9");
    expect(plan.steps.find((s) => s.server === "a")?.reason).toContain("meta leader");
    expect(formatPlan(plan)).toContain("restart-member  b              2.14.9 → 2.15.2");
  });

  it("skips members already at the target", () => {
    const plan = planRollout(
      observed([up("a", "2.15.2"), up("b", "2.14.9"), up("c", "2.15.2")]),
      spec("2.15.2"),
      desired,
      DEFAULT_POLICY,
    );
    expect(plan.steps.filter((s) => s.kind === "restart-member").map((s) => s.server)).toEqual(["b"]);
  });

  it("does nothing when everything is at the target", () => {
    const plan = planRollout(
      observed([up("a", "2.15.2"), up("b", "2.15.2"), up("c", "2.15.2")]),
      spec("2.15.2"),
      desired,
      DEFAULT_POLICY,
    );
    expect(plan.steps).toEqual([]);
    expect(formatPlan(plan)).toMatch(/No rollout/);
  });

  it("refuses a downgrade across a storage-format boundary unless forced", () => {
    const o = observed([up("a", "2.11.9"), up("b", "2.11.9"), up("c", "2.11.9")]);
    const refused = planRollout(o, spec("2.10.22"), desired, DEFAULT_POLICY);
    expect(refused.refusals.join("\n")).toMatch(/^version: downgrade of a 2\.11\.9 → 2\.10\.22 refused/m);
    expect(
      planRollout(o, spec("2.10.22"), desired, { ...DEFAULT_POLICY, allowUnsafeDowngrade: true }).refusals,
    ).toEqual([]);
  });

  it("recovers members found down first, at the target, then rolls the others", () => {
    const b = { ...down("b"), installedVersion: "2.14.9", configText: "cfg-b" };
    const plan = planRollout(
      observed([up("a", "2.14.9"), b, up("c", "2.14.9")]),
      spec("2.15.2"),
      desired,
      DEFAULT_POLICY,
    );
    expect(plan.refusals).toEqual([]);
    expect(plan.steps.map((s) => `${s.kind}:${s.server ?? ""}:${s.to ?? ""}`)).toEqual([
      "recover-member:b:2.15.2",
      "preflight::",
      "surge-up:s:2.14.9",
      "restart-member:c:2.15.2",
      "restart-member:a:2.15.2",
      "surge-down:s:",
      "final-check::",
    ]);
    expect(plan.steps[0]).toMatchObject({ from: "2.14.9", to: "2.15.2" });
    expect(plan.steps[0].reason).toMatch(/found down \(not running\): start it again at 2\.15\.2, through the gates/);
  });

  it("a crashed member with nothing else to change: recover it, then the final check", () => {
    const b = { ...down("b"), installedVersion: "2.15.2", configText: "cfg-b" };
    const plan = planRollout(
      observed([up("a", "2.15.2"), b, up("c", "2.15.2")]),
      spec("2.15.2"),
      desired,
      DEFAULT_POLICY,
    );
    expect(plan.steps.map((s) => `${s.kind}:${s.server ?? ""}`)).toEqual(["recover-member:b", "final-check:"]);
  });

  it("no member running: the cluster is started as a whole", () => {
    const plan = planRollout(observed([down("a"), down("b"), down("c")]), spec("2.15.2"), desired, DEFAULT_POLICY);
    expect(plan.kind).toBe("bootstrap");
    expect(plan.steps.map((s) => s.kind)).toEqual(["start-cluster"]);
    expect(formatPlan(plan)).toMatch(/^Start of a new cluster at nats-server 2\.15\.2/);
  });

  it("resumes an interrupted rollout: recovers the member that is down first, adopts the surge server", () => {
    const plan = planRollout(
      observed([up("a", "2.15.2"), down("b"), up("c", "2.14.9")], up("s", "2.14.9")),
      spec("2.15.2"),
      desired,
      DEFAULT_POLICY,
    );
    expect(plan.refusals).toEqual([]);
    expect(plan.steps.map((s) => `${s.kind}:${s.server ?? ""}`)).toEqual([
      "recover-member:b",
      "preflight:",
      "surge-up:s",
      "restart-member:c",
      "surge-down:s",
      "final-check:",
    ]);
    expect(plan.steps[2].reason).toContain("already running");
  });

  it("removes a surge server left behind when there is nothing else to do", () => {
    const leftover = { ...down("s"), installedVersion: "2.14.9" };
    const plan = planRollout(
      observed([up("a", "2.15.2"), up("b", "2.15.2"), up("c", "2.15.2")], leftover),
      spec("2.15.2"),
      desired,
      DEFAULT_POLICY,
    );
    expect(plan.steps.map((s) => s.kind)).toEqual(["surge-down"]);
  });

  it("a config change that only touches auth is a reload without a surge server", () => {
    const header = (d: string) => `# nats-cluster restart-digest: sha256:${d.repeat(64)}\n`;
    const want = new Map([
      ["a", header("a") + "new"],
      ["b", header("a") + "new"],
      ["c", header("a") + "new"],
    ]);
    const plan = planRollout(
      observed([
        up("a", "2.15.2", header("a") + "old"),
        up("b", "2.15.2", header("a") + "old"),
        up("c", "2.15.2", header("b") + "old"),
      ]),
      spec("2.15.2"),
      want,
      DEFAULT_POLICY,
    );
    expect(plan.steps.map((s) => `${s.kind}:${s.server ?? ""}`)).toEqual([
      "preflight:",
      "surge-up:s",
      "reload-member:b",
      "restart-member:c",
      "reload-member:a",
      "surge-down:s",
      "final-check:",
    ]);
    const reloadOnly = planRollout(
      observed([
        up("a", "2.15.2", header("a") + "old"),
        up("b", "2.15.2", header("a") + "new"),
        up("c", "2.15.2", header("a") + "new"),
      ]),
      spec("2.15.2"),
      want,
      DEFAULT_POLICY,
    );
    expect(reloadOnly.steps.map((s) => s.kind)).toEqual(["preflight", "reload-member", "final-check"]);
  });
});

describe("the surge server's soak", () => {
  const surge = ep("s", 4);
  it("is short for a client-only surge server, a member's for a JetStream one, never longer than the policy", () => {
    expect(surgeSoakSeconds(surge, DEFAULT_POLICY)).toBe(CLIENT_ONLY_SURGE_SOAK_SECONDS);
    expect(surgeSoakSeconds({ ...surge, jetstream: true }, DEFAULT_POLICY)).toBe(DEFAULT_POLICY.minHealthySeconds);
    expect(surgeSoakSeconds(surge, { ...DEFAULT_POLICY, minHealthySeconds: 1 })).toBe(1);
  });
});
