/**
 * Batched rollouts (rollout.maxUnavailable > 1) against fake hosts: the batches as the calls show them, and every
 * way a batch halts. No nats-server; each case takes milliseconds.
 */
import { executeRollout } from "../../engine/rollout/execute";
import { HaltCode, RolloutReport } from "../../engine/rollout/report";
import { RolloutPolicy } from "../../engine/spec";
import { FakeHosts } from "../support/fakes/fake-hosts";
import { FakeMonitors } from "../support/fakes/fake-monitor";
import { fakeRollout, fakeSpec, maxMembersDown, NEW, OLD } from "../support/fakes/fake-rollout";

const MEMBERS = ["n1", "n2", "n3", "n4", "n5"];
const batched = (policy: Partial<RolloutPolicy> = {}) =>
  fakeRollout(fakeSpec(MEMBERS.length), { policy: { maxUnavailable: 2, ...policy } });

const reportOf = (outcome: Awaited<ReturnType<typeof executeRollout>>): RolloutReport => {
  if (outcome.status === "refused") throw new Error("refused");
  return outcome.report;
};

it("members go down two at a time, in batches planned again before each", async () => {
  const { hosts, options } = batched();
  const report = reportOf(await executeRollout(options));
  expect(report.result).toBe("succeeded");
  expect(report.members.map((m) => `${m.name} ${m.batch}`)).toEqual(["n1 1", "n2 1", "n3 2", "n4 2", "n5 3"]);
  expect(maxMembersDown(hosts, MEMBERS)).toBe(2);
  // Every binary of a batch is staged before any member of it goes down.
  const trail = hosts.trail(["stageBinary", "signalLameDuck"]);
  expect(trail.indexOf(`stageBinary n2 ${NEW}`)).toBeLessThan(trail.indexOf("signalLameDuck n1"));
});

it("a member already at the target when its batch comes is skipped", async () => {
  const { hosts, options } = batched();
  hosts.script.after = (call, h) => {
    // Someone else upgraded n4 while batch 1 ran.
    if (call.op === "start" && call.server === "n2")
      Object.assign(h.server("n4"), { runningVersion: NEW, installed: NEW });
  };
  const report = reportOf(await executeRollout(options));
  expect(report.result).toBe("succeeded");
  expect(report.members.find((m) => m.name === "n4")).toMatchObject({
    result: "skipped",
    note: "already at the target",
  });
  expect(hosts.trail(["signalLameDuck"])).not.toContain("signalLameDuck n4");
});

interface BatchHaltCase {
  readonly name: string;
  readonly policy?: Partial<RolloutPolicy>;
  readonly script: (hosts: FakeHosts, monitors: FakeMonitors) => void;
  readonly code: HaltCode;
  readonly server: string;
  readonly at: string;
  readonly members: string[];
  /** Members that still run what they ran before the rollout, untouched. */
  readonly untouched: string[];
  readonly surgeRunningAfter: boolean;
}

const cases: BatchHaltCase[] = [
  {
    name: "a member of a batch cannot start: every member of that batch is rolled back, nothing else",
    script: (hosts) => {
      hosts.script.startFails = (s, v) => (s === "n2" && v === NEW ? "n2: simulated fatal error" : undefined);
    },
    code: "RolledBack",
    server: "n2",
    at: "start",
    members: ["n1 rolled-back", "n2 rolled-back"],
    untouched: ["n3", "n4", "n5"],
    surgeRunningAfter: false,
  },
  {
    name: "without auto-rollback the batch is left as it is",
    policy: { autoRollback: false },
    script: (hosts) => {
      hosts.script.startFails = (s, v) => (s === "n2" && v === NEW ? "n2: simulated fatal error" : undefined);
    },
    code: "LeftAsIs",
    server: "n2",
    at: "start",
    members: ["n1 done", "n2 failed"],
    untouched: ["n3", "n4", "n5"],
    surgeRunningAfter: true,
  },
  {
    name: "a download of the batch fails: no member of it is taken down",
    script: (hosts) => {
      hosts.script.stageFails = (s, v) => (s === "n4" && v === NEW ? "download failed" : undefined);
    },
    code: "Untouched",
    server: "n4",
    at: "stage",
    members: ["n1 done", "n2 done", "n4 failed"],
    untouched: ["n3", "n4", "n5"],
    surgeRunningAfter: false,
  },
  {
    name: "a member outside the batch is down when it fails: the batch is not rolled back",
    script: (hosts) => {
      hosts.script.startFails = (s, v) => (s === "n2" && v === NEW ? "n2: simulated fatal error" : undefined);
      // n5 dies once the halt begins (its log is read first), after n1 passed its gates.
      hosts.script.after = (call, h) => {
        if (call.op === "readLog") h.server("n5").running = false;
      };
    },
    code: "RollbackRefusedOtherMemberDown",
    server: "n2",
    at: "start",
    members: ["n1 done", "n2 failed"],
    untouched: ["n3", "n4"],
    surgeRunningAfter: true,
  },
  {
    name: "a member goes down between two batches: stop there, the surge server keeps carrying clients",
    script: (hosts) => {
      // n5 dies as batch 1 ends: at the first look at the cluster after both of its members started.
      let started = 0;
      hosts.script.after = (call, h) => {
        if (call.op === "start") started++;
        if (started === 3 && call.op === "installedVersion") h.server("n5").running = false;
      };
    },
    code: "MemberLost",
    server: "n5",
    at: "observe",
    members: ["n1 done", "n2 done"],
    untouched: ["n3", "n4"],
    surgeRunningAfter: true,
  },
  {
    name: "the rest of the cluster is not whole before a batch: nothing of it is taken down",
    script: (hosts, monitors) => {
      hosts.script.after = (call) => {
        if (call.op === "start" && call.server === "n2") {
          monitors.script.unhealthy = (s) => (s === "n5" ? "JetStream not current" : undefined);
        }
      };
    },
    code: "ClusterNotWhole",
    server: "n3",
    at: "cluster",
    members: ["n1 done", "n2 done", "n3 failed"],
    untouched: ["n3", "n4", "n5"],
    surgeRunningAfter: true,
  },
];

describe("a batched rollout halts", () => {
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const { hosts, monitors, options } = batched(c.policy);
    c.script(hosts, monitors);
    const report = reportOf(await executeRollout(options));
    expect(report.result).toBe("halted");
    expect(report.halt).toMatchObject({ code: c.code, server: c.server, gate: c.at });
    expect(report.members.map((m) => `${m.name} ${m.result}`).sort()).toEqual([...c.members].sort());
    for (const name of c.untouched) {
      expect(
        hosts
          .trail(["signalLameDuck", "kill", "start"])
          .filter((t) => t.endsWith(` ${name}`) || t.includes(` ${name} `)),
      ).toEqual([]);
    }
    expect(hosts.server("n-surge").running).toBe(c.surgeRunningAfter);
    expect(maxMembersDown(hosts, MEMBERS)).toBeLessThanOrEqual(2);
  });

  it("a rolled-back member that did not fail says it went back with its batch", async () => {
    const { hosts, options } = batched();
    hosts.script.startFails = (s, v) => (s === "n2" && v === NEW ? "n2: simulated fatal error" : undefined);
    const report = reportOf(await executeRollout(options));
    expect(report.members.find((m) => m.name === "n1")!.note).toContain("rolled back with its batch (n2 failed)");
    expect(hosts.server("n1").runningVersion).toBe(OLD);
    expect(hosts.server("n2").runningVersion).toBe(OLD);
  });
});
