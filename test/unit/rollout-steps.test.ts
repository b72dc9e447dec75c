/**
 * The steps around the member restarts, against fake hosts: a config reload, the client traffic watch, and a surge
 * server left by an earlier run (removed when nothing else is left, replaced when unhealthy).
 */
import { executeRollout } from "../../engine/rollout/execute";
import { formatReport, RolloutReport } from "../../engine/rollout/report";
import { fakeRollout, fakeSpec, NEW, OLD } from "../support/fakes/fake-rollout";
import { FakeTraffic } from "../support/fakes/fake-traffic";

const reportOf = (outcome: Awaited<ReturnType<typeof executeRollout>>): RolloutReport => {
  if (outcome.status === "refused") throw new Error(`refused: ${outcome.plan.refusals.join("; ")}`);
  return outcome.report;
};

it("a config change nats-server reloads: written and signalled, the member never goes down", async () => {
  const f = fakeRollout(fakeSpec(), { running: NEW });
  // Same restart digest, other text: what a changed client password looks like to the planner.
  const n2 = f.hosts.server("n2");
  n2.config = `${n2.config}\n# changed in place`;
  const report = reportOf(await executeRollout(f.options));
  expect(report.members.map((m) => `${m.name} ${m.action} ${m.result}`)).toEqual(["n2 reload-member done"]);
  expect(f.hosts.trail(["signalReload", "signalLameDuck", "start"])).toEqual(["signalReload n2"]);
  expect(report.members[0].gateTimings?.map((g) => g.gate)).toContain("config-reloaded");
});

it("what clients felt is in the report, measured from pre-flight to the end", async () => {
  const traffic = new FakeTraffic();
  const f = fakeRollout(fakeSpec(), { extra: { watchTraffic: true } });
  const options = { ...f.options, seams: { ...f.options.seams, traffic: () => traffic } };
  const report = reportOf(await executeRollout(options));
  expect(traffic).toMatchObject({ started: true, stopped: true });
  expect(report.clientImpact).toEqual({ requests: 10, failures: 0, maxGapMs: 250, reconnects: 1 });
});

it("what clients felt is reported per member too: where the failures and the longest gap were", async () => {
  const perMember = [
    { member: "n1", requests: 40, failures: 0, maxGapMs: 300 },
    { member: "n2", requests: 40, failures: 2, maxGapMs: 1800 },
  ];
  const traffic = new FakeTraffic({ requests: 80, failures: 2, maxGapMs: 1800, reconnects: 2, perMember });
  const f = fakeRollout(fakeSpec(), { extra: { watchTraffic: true } });
  const report = reportOf(
    await executeRollout({ ...f.options, seams: { ...f.options.seams, traffic: () => traffic } }),
  );
  expect(report.clientImpact?.perMember).toEqual(perMember);
  expect(formatReport(report)).toContain(
    "    by member (responder's first server): n1 0/40 failed, gap 0.3s; n2 2/40 failed, gap 1.8s",
  );
});

it("acked publishing is reported per member on the same line, and why it was not measured when it was not", async () => {
  const perMember = [
    { member: "n1", requests: 40, failures: 0, maxGapMs: 300 },
    { member: "n2", requests: 40, failures: 2, maxGapMs: 1800 },
  ];
  const publishing = {
    stream: "NATS_ROLLOUT_WATCH_X",
    perMember: [
      { member: "n1", published: 160, acked: 160, timedOut: 0, failed: 0, lost: 0, maxGapMs: 260 },
      { member: "n2", published: 150, acked: 146, timedOut: 3, failed: 1, lost: 0, maxGapMs: 2300 },
    ],
  };
  const summary = { requests: 80, failures: 2, maxGapMs: 1800, reconnects: 2, perMember, publishing };
  // A fresh cluster each time (a rollout that is done has nothing left to do).
  const run = (traffic: FakeTraffic) => {
    const f = fakeRollout(fakeSpec(), { extra: { watchTraffic: true } });
    return executeRollout({ ...f.options, seams: { ...f.options.seams, traffic: () => traffic } }).then(reportOf);
  };
  const text = formatReport(await run(new FakeTraffic(summary)));
  expect(text).toContain(
    "  acked publishing: 310 published, 306 acked, 3 timed out, 1 failed, 0 lost, longest gap without an ack 2.3s",
  );
  expect(text).toContain(
    "    by member (responder's and publisher's first server): " +
      "n1 0/40 failed, gap 0.3s, acked 160/160 (0 timed out, 0 lost), ack gap 0.3s; " +
      "n2 2/40 failed, gap 1.8s, acked 146/150 (3 timed out, 1 failed, 0 lost), ack gap 2.3s",
  );
  const refused = {
    ...summary,
    publishing: { skipped: "stream NATS_ROLLOUT_WATCH_Y was refused (no memory)", perMember: [] },
  };
  const refusedText = formatReport(await run(new FakeTraffic(refused)));
  expect(refusedText).toContain(
    "    acked publishing not measured: stream NATS_ROLLOUT_WATCH_Y was refused (no memory)",
  );
  expect(refusedText).toContain("    by member (responder's first server): n1 0/40 failed");
  const left = {
    ...summary,
    publishing: { ...publishing, cleanup: "stream NATS_ROLLOUT_WATCH_X could not be deleted" },
  };
  expect(formatReport(await run(new FakeTraffic(left)))).toContain(
    "    WATCH STREAM LEFT: stream NATS_ROLLOUT_WATCH_X could not be deleted",
  );
});

it("a traffic watch that cannot connect costs a warning, not the rollout", async () => {
  const f = fakeRollout(fakeSpec(), { extra: { watchTraffic: true } });
  const traffic = new FakeTraffic(undefined, "no servers available");
  const options = { ...f.options, seams: { ...f.options.seams, traffic: () => traffic } };
  const report = reportOf(await executeRollout(options));
  expect(report.result).toBe("succeeded");
  expect(report.clientImpact).toBeUndefined();
  expect(f.events.some((e) => e.kind === "warning" && e.message.includes("traffic watch not started"))).toBe(true);
});

it("a surge server left over while every member is at the target is only removed", async () => {
  const f = fakeRollout(fakeSpec(), { running: NEW });
  Object.assign(f.hosts.server("n-surge"), { running: true, runningVersion: OLD, installed: OLD });
  const report = reportOf(await executeRollout(f.options));
  expect(report.result).toBe("succeeded");
  expect(f.hosts.downsAndUps()).toEqual(["signalLameDuck n-surge", "deprovision n-surge"]);
});

it("a left-over surge server that is unhealthy is replaced before any member goes down", async () => {
  const f = fakeRollout();
  Object.assign(f.hosts.server("n-surge"), { running: true, runningVersion: OLD, installed: OLD });
  // Unhealthy until it is started again.
  f.monitors.script.unhealthy = (s) => (s === "n-surge" ? "not ready" : undefined);
  f.hosts.script.after = (call) => {
    if (call.op === "kill" && call.server === "n-surge") f.monitors.script.unhealthy = undefined;
  };
  const report = reportOf(await executeRollout(f.options));
  expect(report.result).toBe("succeeded");
  expect(f.hosts.downsAndUps().slice(0, 3)).toEqual(["kill n-surge", `start n-surge ${OLD}`, "signalLameDuck n1"]);
});
