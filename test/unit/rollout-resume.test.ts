/**
 * The rollout's other paths against fake hosts: nothing to do, a first start, members found down (recovery), a
 * surge server left by an interrupted rollout (resume), a stop request, and the refusals that touch nothing.
 */
import { executeRollout } from "../../engine/rollout/execute";
import { reconcile } from "../../engine/rollout/reconcile";
import { RolloutReport } from "../../engine/rollout/report";
import { fakeRollout, fakeSpec, NEW, OLD } from "../support/fakes/fake-rollout";

const reportOf = (outcome: Awaited<ReturnType<typeof executeRollout>>): RolloutReport => {
  if (outcome.status === "refused") throw new Error(`refused: ${outcome.plan.refusals.join("; ")}`);
  return outcome.report;
};

it("every member at the target: no change, nothing touched", async () => {
  const { hosts, options } = fakeRollout(fakeSpec(), { running: NEW });
  const outcome = await executeRollout(options);
  expect(outcome).toMatchObject({ status: "done", report: { result: "no-change", members: [] } });
  expect(hosts.downsAndUps()).toEqual([]);
});

it("one member at a time: stage while serving, lame duck, start; the surge server in between", async () => {
  const { hosts, options } = fakeRollout();
  const report = reportOf(await executeRollout(options));
  expect(report.result).toBe("succeeded");
  expect(report.members.map((m) => `${m.name} ${m.result} ${m.from} → ${m.to}`)).toEqual([
    `n1 done ${OLD} → ${NEW}`,
    `n2 done ${OLD} → ${NEW}`,
    `n3 done ${OLD} → ${NEW}`,
  ]);
  expect(hosts.trail(["stageBinary", "signalLameDuck", "start", "deprovision"])).toEqual([
    `stageBinary n-surge ${OLD}`,
    `start n-surge ${OLD}`,
    ...["n1", "n2", "n3"].flatMap((n) => [`stageBinary ${n} ${NEW}`, `signalLameDuck ${n}`, `start ${n} ${NEW}`]),
    "signalLameDuck n-surge",
    "deprovision n-surge",
  ]);
  expect(report.surge).toMatchObject({ name: "n-surge", version: OLD, removed: true });
});

it("no member runs: all start together at the target (bootstrap)", async () => {
  const { hosts, options } = fakeRollout();
  for (const s of hosts.servers.values())
    Object.assign(s, { running: false, runningVersion: undefined, installed: undefined, config: undefined });
  const report = reportOf(await executeRollout(options));
  expect(report).toMatchObject({ kind: "bootstrap", result: "succeeded" });
  expect(report.members.map((m) => `${m.name} ${m.action} ${m.result}`)).toEqual(
    ["n1", "n2", "n3"].map((n) => `${n} start-cluster done`),
  );
  expect(hosts.trail(["start"]).sort()).toEqual(["n1", "n2", "n3"].map((n) => `start ${n} ${NEW}`));
});

it("a first start that fails is left as it is (nothing to roll back to)", async () => {
  const { hosts, options } = fakeRollout();
  for (const s of hosts.servers.values())
    Object.assign(s, { running: false, runningVersion: undefined, installed: undefined, config: undefined });
  hosts.script.startFails = (s) => (s === "n2" ? "n2: port in use" : undefined);
  const report = reportOf(await executeRollout(options));
  expect(report.halt).toMatchObject({ code: "LeftAsIs", server: "n2", gate: "start" });
  // What this step started was taken down with it: nothing is left half-up.
  expect([...hosts.servers.values()].some((s) => s.running)).toBe(false);
});

it("a member found down is started first at the target, then the others roll", async () => {
  const { hosts, options } = fakeRollout();
  Object.assign(hosts.server("n2"), { running: false, runningVersion: undefined });
  const report = reportOf(await executeRollout(options));
  expect(report.result).toBe("succeeded");
  expect(report.members[0]).toMatchObject({ name: "n2", action: "recover-member", result: "done", downMs: undefined });
  expect(report.members[0].note).toMatch(/^was found down; serving again after/);
  expect(report.members.slice(1).map((m) => m.name)).toEqual(["n1", "n3"]);
});

it("a member whose host has nothing (a VM recreated empty): the host is prepared before anything is put on it", async () => {
  const { hosts, options } = fakeRollout(fakeSpec(), { running: NEW });
  hosts.servers.set("n2", { running: false, staged: new Set() });
  const report = reportOf(await executeRollout(options));
  expect(report.result).toBe("succeeded");
  // Without JetStream nothing tells a replaced member from a new one: either way it joins as add-member.
  expect(report.members.map((m) => `${m.name} ${m.action} ${m.result}`)).toEqual(["n2 add-member done"]);
  const n2 = hosts.trail(["provision", "stageBinary", "activateBinary", "writeConfig", "start"]);
  expect(n2).toEqual([
    "provision n2",
    `stageBinary n2 ${NEW}`,
    `activateBinary n2 ${NEW}`,
    "writeConfig n2",
    `start n2 ${NEW}`,
  ]);
});

it("a member found down with its files still there is started again without preparing its host", async () => {
  const { hosts, options } = fakeRollout(fakeSpec(), { running: NEW });
  Object.assign(hosts.server("n2"), { running: false, runningVersion: undefined });
  reportOf(await executeRollout(options));
  expect(hosts.trail(["provision"])).toEqual([]);
  expect(hosts.trail(["start"])).toEqual([`start n2 ${NEW}`]);
});

it("a recovery that fails its gates goes back to the version it had installed", async () => {
  const { hosts, options } = fakeRollout();
  Object.assign(hosts.server("n2"), { running: false, runningVersion: undefined });
  hosts.script.startFails = (s, v) => (s === "n2" && v === NEW ? "n2: simulated fatal error" : undefined);
  const report = reportOf(await executeRollout(options));
  expect(report.halt).toMatchObject({ code: "RolledBack", server: "n2", step: "recover-member" });
  expect(hosts.server("n2")).toMatchObject({ running: true, runningVersion: OLD });
  expect(hosts.trail(["signalLameDuck"])).toEqual([]);
});

it("a stop request is honoured before the next member, with the surge server left serving", async () => {
  let restarts = 0;
  const f = fakeRollout();
  const options = { ...f.options, stopRequested: () => (restarts >= 1 ? "Ctrl-C" : undefined) };
  f.hosts.script.after = (call) => {
    if (call.op === "start" && call.server === "n1") restarts++;
  };
  const outcome = await executeRollout(options);
  expect(outcome.status).toBe("interrupted");
  const report = reportOf(outcome);
  expect(report.interrupted).toMatchObject({ before: "restart-member n2" });
  expect(report.members.map((m) => m.name)).toEqual(["n1"]);
  expect(f.hosts.server("n-surge").running).toBe(true);
});

it("a re-run after an interruption adopts the surge server and changes only the members left", async () => {
  const f = fakeRollout();
  Object.assign(f.hosts.server("n1"), { runningVersion: NEW, installed: NEW });
  const surge = f.hosts.server("n-surge");
  Object.assign(surge, {
    running: true,
    runningVersion: OLD,
    installed: OLD,
    configLoadedAt: new Date(0).toISOString(),
  });
  const report = reportOf(await executeRollout(f.options));
  expect(report.result).toBe("succeeded");
  expect(report.members.map((m) => m.name)).toEqual(["n2", "n3"]);
  expect(report.surge).toMatchObject({ readyMs: 0, removed: true });
  expect(f.hosts.trail(["start"])).toEqual([`start n2 ${NEW}`, `start n3 ${NEW}`]);
});

it("pre-flight refuses an unhealthy member: nothing is touched", async () => {
  const f = fakeRollout();
  f.monitors.script.unhealthy = (s) => (s === "n3" ? "JetStream not current" : undefined);
  const outcome = await executeRollout(f.options);
  expect(outcome.status).toBe("refused");
  if (outcome.status !== "refused") return;
  expect(outcome.plan.refusals).toEqual([expect.stringMatching(/^pre-flight: member n3 failed gate ready/)]);
  expect(f.hosts.downsAndUps()).toEqual([]);
});

it("the plan refuses an unsafe downgrade: nothing is observed twice, nothing touched", async () => {
  const f = fakeRollout(fakeSpec(3, "2.10.0"));
  const outcome = await executeRollout(f.options);
  expect(outcome.status).toBe("refused");
  expect(f.hosts.downsAndUps()).toEqual([]);
});

it("a recovery that fails with the target already installed has nothing to go back to: left as it is", async () => {
  const { hosts, options } = fakeRollout();
  Object.assign(hosts.server("n2"), { running: false, runningVersion: undefined, installed: NEW });
  hosts.server("n2").staged.add(NEW);
  hosts.script.startFails = (s) => (s === "n2" ? "n2: simulated fatal error" : undefined);
  const report = reportOf(await executeRollout(options));
  expect(report.halt).toMatchObject({ code: "LeftAsIs", server: "n2", step: "recover-member" });
  expect(hosts.trail(["start"])).toEqual([`start n2 ${NEW}`]);
});

it("a stop request between two batches: the next batch is not begun", async () => {
  let started = 0;
  const f = fakeRollout(fakeSpec(5), { policy: { maxUnavailable: 2 } });
  f.hosts.script.after = (call) => {
    if (call.op === "start" && call.server !== "n-surge") started++;
  };
  const outcome = await executeRollout({ ...f.options, stopRequested: () => (started >= 2 ? "Ctrl-C" : undefined) });
  expect(outcome.status).toBe("interrupted");
  const report = reportOf(outcome);
  expect(report.interrupted?.before).toBe("restart-member n3");
  expect(report.members.map((m) => `${m.name} ${m.result}`)).toEqual(["n1 done", "n2 done"]);
});

it("reconcile returns the rollout's outcome as a value, with what the servers report afterwards", async () => {
  const f = fakeRollout();
  f.hosts.script.startFails = (s, v) => (s === "n1" && v === NEW ? "n1: simulated fatal error" : undefined);
  const outcome = await reconcile(f.options);
  expect(outcome.status).toBe("halted");
  expect(outcome.seen).toEqual({ versions: { n1: OLD, n2: OLD, n3: OLD }, surgeRunning: false });
});
