/**
 * Every way a one-member-at-a-time rollout halts, against fake hosts: the halt code, what was touched (the hosts'
 * recorded calls), and what the report says of each member. No nats-server; each case takes milliseconds.
 */
import { executeRollout } from "../../engine/rollout/execute";
import { HaltCode, RolloutReport } from "../../engine/rollout/report";
import { FakeHosts } from "../support/fakes/fake-hosts";
import { FakeMonitors } from "../support/fakes/fake-monitor";
import { fakeRollout, fakeSpec, maxMembersDown, NEW, OLD } from "../support/fakes/fake-rollout";
import { RolloutPolicy } from "../../engine/spec";

interface HaltCase {
  readonly name: string;
  readonly policy?: Partial<RolloutPolicy>;
  /** Script the fakes: what goes wrong, and when. */
  readonly script: (hosts: FakeHosts, monitors: FakeMonitors) => void;
  readonly code: HaltCode;
  readonly server: string;
  readonly at: string;
  /** The calls that took a member or the surge server down or brought it up, in order. */
  readonly downsAndUps: string[];
  /** What the report says of each member, as `name result`. */
  readonly members: string[];
  readonly surgeRunningAfter: boolean;
}

const cannotStart =
  (server: string, version = NEW) =>
  (hosts: FakeHosts) => {
    hosts.script.startFails = (s, v) => (s === server && v === version ? `${s}: simulated fatal error` : undefined);
  };

const cases: HaltCase[] = [
  {
    name: "the target cannot start: that member is rolled back, the surge server leaves",
    script: cannotStart("n1"),
    code: "RolledBack",
    server: "n1",
    at: "start",
    downsAndUps: [
      `start n-surge ${OLD}`,
      "signalLameDuck n1",
      `start n1 ${NEW}`,
      `start n1 ${OLD}`,
      "signalLameDuck n-surge",
      "deprovision n-surge",
    ],
    members: ["n1 rolled-back"],
    surgeRunningAfter: false,
  },
  {
    name: "gates never pass (wrong version reported): rolled back",
    script: (_hosts, monitors) => {
      monitors.script.reportsVersion = (s, v) => (s === "n2" && v === NEW ? "2.15.1" : undefined);
    },
    code: "RolledBack",
    server: "n2",
    at: "version",
    downsAndUps: [
      `start n-surge ${OLD}`,
      "signalLameDuck n1",
      `start n1 ${NEW}`,
      "signalLameDuck n2",
      `start n2 ${NEW}`,
      "signalLameDuck n2",
      `start n2 ${OLD}`,
      "signalLameDuck n-surge",
      "deprovision n-surge",
    ],
    members: ["n1 done", "n2 rolled-back"],
    surgeRunningAfter: false,
  },
  {
    name: "without auto-rollback the member stays down and the surge server keeps carrying clients",
    policy: { autoRollback: false },
    script: cannotStart("n1"),
    code: "LeftAsIs",
    server: "n1",
    at: "start",
    downsAndUps: [`start n-surge ${OLD}`, "signalLameDuck n1", `start n1 ${NEW}`],
    members: ["n1 failed"],
    surgeRunningAfter: true,
  },
  {
    name: "the download fails: nothing is taken down, the surge server leaves",
    script: (hosts) => {
      hosts.script.stageFails = (s, v) => (s === "n2" && v === NEW ? "download failed" : undefined);
    },
    code: "Untouched",
    server: "n2",
    at: "stage",
    downsAndUps: [
      `start n-surge ${OLD}`,
      "signalLameDuck n1",
      `start n1 ${NEW}`,
      "signalLameDuck n-surge",
      "deprovision n-surge",
    ],
    members: ["n1 done", "n2 failed"],
    surgeRunningAfter: false,
  },
  {
    name: "another member turns unhealthy: the next one is not taken down, the surge server stays",
    script: (hosts, monitors) => {
      hosts.script.after = (call) => {
        if (call.op === "start" && call.server === "n1")
          monitors.script.unhealthy = (s) => (s === "n3" ? "JetStream not current" : undefined);
      };
    },
    code: "ClusterNotWhole",
    server: "n2",
    at: "cluster",
    downsAndUps: [`start n-surge ${OLD}`, "signalLameDuck n1", `start n1 ${NEW}`],
    members: ["n1 done", "n2 failed"],
    surgeRunningAfter: true,
  },
  {
    name: "another member died while this one failed: no rollback (it would make two down)",
    script: (hosts) => {
      cannotStart("n1")(hosts);
      hosts.script.after = (call, h) => {
        if (call.op === "start" && call.server === "n1") h.server("n3").running = false;
      };
    },
    code: "RollbackRefusedOtherMemberDown",
    server: "n1",
    at: "start",
    downsAndUps: [`start n-surge ${OLD}`, "signalLameDuck n1", `start n1 ${NEW}`],
    members: ["n1 failed"],
    surgeRunningAfter: true,
  },
  {
    name: "the rollback fails too: the surge server keeps carrying clients",
    script: (hosts) => {
      hosts.script.startFails = (s) => (s === "n1" ? "n1: cannot start at all" : undefined);
    },
    code: "RollbackFailed",
    server: "n1",
    at: "start",
    downsAndUps: [`start n-surge ${OLD}`, "signalLameDuck n1", `start n1 ${NEW}`, `start n1 ${OLD}`],
    members: ["n1 failed"],
    surgeRunningAfter: true,
  },
  {
    name: "the surge server cannot join: it is removed, no member is touched",
    script: (hosts) => {
      hosts.script.startFails = (s) => (s === "n-surge" ? "surge: cannot start" : undefined);
    },
    code: "SurgeDidNotJoin",
    server: "n-surge",
    at: "start",
    downsAndUps: [`start n-surge ${OLD}`, "deprovision n-surge"],
    members: [],
    surgeRunningAfter: false,
  },
  {
    name: "the final check fails: every member stays at the target",
    script: (hosts, monitors) => {
      hosts.script.after = (call) => {
        if (call.op === "deprovision") monitors.script.unhealthy = (s) => (s === "n2" ? "no routes" : undefined);
      };
    },
    code: "FinalCheckFailed",
    server: "n2",
    at: "ready",
    downsAndUps: [
      `start n-surge ${OLD}`,
      "signalLameDuck n1",
      `start n1 ${NEW}`,
      "signalLameDuck n2",
      `start n2 ${NEW}`,
      "signalLameDuck n3",
      `start n3 ${NEW}`,
      "signalLameDuck n-surge",
      "deprovision n-surge",
    ],
    members: ["n1 done", "n2 done", "n3 done"],
    surgeRunningAfter: false,
  },
];

describe("a rollout one member at a time halts", () => {
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const { hosts, monitors, options } = fakeRollout(fakeSpec(), { policy: c.policy });
    c.script(hosts, monitors);
    const outcome = await executeRollout(options);
    expect(outcome.status).toBe("halted");
    const report = (outcome as { report: RolloutReport }).report;
    expect(report.halt).toMatchObject({ code: c.code, server: c.server, gate: c.at });
    expect(report.halt!.rolledBack).toBe(c.code === "RolledBack");
    expect(hosts.downsAndUps()).toEqual(c.downsAndUps);
    expect(report.members.map((m) => `${m.name} ${m.result}`)).toEqual(c.members);
    expect(hosts.server("n-surge").running).toBe(c.surgeRunningAfter);
    // Never two members down at once (the surge server is not a member).
    expect(maxMembersDown(hosts, ["n1", "n2", "n3"])).toBeLessThanOrEqual(1);
  });
});
