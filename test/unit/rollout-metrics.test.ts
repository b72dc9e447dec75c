/**
 * The rollout's figures as Prometheus text (engine/rollout/metrics.ts): what each member's down time, drain, gates
 * and the clients' per-member failures become, a halt's code, and the file written whole under its own name.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { rolloutMetricsText } from "../../engine/rollout/metrics";
import { reportFileProblems, writeReportFiles } from "../../engine/rollout/report-files";
import { RolloutReport } from "../../engine/rollout/report";

const report: RolloutReport = {
  kind: "rollout",
  targetVersion: "2.15.2",
  result: "halted",
  totalMs: 61_500,
  members: [
    {
      name: "n1",
      action: "restart-member",
      from: "2.14.9",
      to: "2.15.2",
      result: "done",
      downMs: 1200,
      drainMs: 800,
      gateTimings: [
        { gate: "ready", ms: 100 },
        { gate: "jetstream", ms: 2500 },
      ],
      soakMs: 2000,
    },
    { name: "n2", action: "restart-member", from: "2.14.9", to: "2.15.2", result: "rolled-back", downMs: 9000 },
  ],
  surge: { name: "n-surge", version: "2.14.9", lifetimeMs: 50_000, removed: true },
  halt: {
    code: "RolledBack",
    server: "n2",
    step: "restart-member",
    gate: "jetstream",
    observation: "not current",
    logTail: "",
    rolledBack: true,
    advice: "…",
  },
  clientImpact: {
    requests: 80,
    failures: 2,
    maxGapMs: 1800,
    reconnects: 3,
    perMember: [
      { member: "n1", requests: 40, failures: 0, maxGapMs: 300 },
      { member: "n2", requests: 40, failures: 2, maxGapMs: 1800 },
    ],
    publishing: {
      stream: "NATS_ROLLOUT_WATCH_X",
      perMember: [
        { member: "n1", published: 200, acked: 198, timedOut: 2, failed: 0, lost: 0, maxGapMs: 2100 },
        { member: "n2", published: 190, acked: 190, timedOut: 0, failed: 0, maxGapMs: 400 },
      ],
    },
  },
};

describe("the rollout's metrics", () => {
  it("names each figure by cluster, member and gate, as gauges of the last rollout", async () => {
    const text = await rolloutMetricsText(report, "prod", new Date("2026-12-06T21:00:00Z"));
    const lines = text.split("\n");
    const expected = [
      'nats_rollout_last_end_timestamp_seconds{cluster="prod"} 1796590800',
      'nats_rollout_last_duration_seconds{cluster="prod"} 61.5',
      'nats_rollout_last_result{result="halted",target_version="2.15.2",cluster="prod"} 1',
      'nats_rollout_last_result{result="succeeded",target_version="2.15.2",cluster="prod"} 0',
      'nats_rollout_last_halted{code="RolledBack",cluster="prod"} 1',
      'nats_rollout_last_rolled_back_members{cluster="prod"} 1',
      'nats_rollout_last_member_down_seconds{member="n1",action="restart-member",result="done",cluster="prod"} 1.2',
      'nats_rollout_last_member_down_seconds{member="n2",action="restart-member",result="rolled-back",cluster="prod"} 9',
      'nats_rollout_last_member_drain_seconds{member="n1",action="restart-member",result="done",cluster="prod"} 0.8',
      'nats_rollout_last_member_gate_seconds{member="n1",gate="jetstream",cluster="prod"} 2.5',
      'nats_rollout_last_member_soak_seconds{member="n1",cluster="prod"} 2',
      'nats_rollout_last_surge_lifetime_seconds{cluster="prod"} 50',
      'nats_rollout_last_client_failures{cluster="prod"} 2',
      'nats_rollout_last_client_max_gap_seconds{cluster="prod"} 1.8',
      'nats_rollout_last_member_client_failures{member="n2",cluster="prod"} 2',
      'nats_rollout_last_member_client_max_gap_seconds{member="n1",cluster="prod"} 0.3',
      'nats_rollout_last_member_publish_published{member="n1",cluster="prod"} 200',
      'nats_rollout_last_member_publish_acked{member="n1",cluster="prod"} 198',
      'nats_rollout_last_member_publish_timed_out{member="n1",cluster="prod"} 2',
      'nats_rollout_last_member_publish_failed{member="n2",cluster="prod"} 0',
      'nats_rollout_last_member_publish_lost{member="n1",cluster="prod"} 0',
      'nats_rollout_last_member_publish_max_gap_seconds{member="n1",cluster="prod"} 2.1',
      'nats_rollout_last_client_publishing_measured{cluster="prod"} 1',
    ];
    for (const line of expected) expect(lines).toContain(line);
    expect(text).toContain("# TYPE nats_rollout_last_member_down_seconds gauge");
    // A member with no drain (n2's was not measured) has no drain line rather than a made-up 0.
    expect(text).not.toMatch(/nats_rollout_last_member_drain_seconds\{member="n2"/);
    // Nor a lost line where the stream could not be read back.
    expect(text).not.toMatch(/nats_rollout_last_member_publish_lost\{member="n2"/);
  });

  it("writes the file whole, renamed into place, and refuses a path the textfile collector would not read", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-metrics-"));
    try {
      const file = path.join(dir, "nats-rollout.prom");
      const problemOf = (metricsFile: string) => reportFileProblems({ metricsFile })[0]?.problem;
      expect(problemOf(file)).toBeUndefined();
      const said: string[] = [];
      await writeReportFiles(
        { metricsFile: file },
        report,
        "prod",
        (l) => said.push(l),
        (l) => said.push(`warn ${l}`),
      );
      expect(said).toEqual([`rollout metrics written to ${file}`]);
      expect(fs.readFileSync(file, "utf8")).toContain('nats_rollout_last_result{result="halted"');
      expect(fs.readdirSync(dir)).toEqual(["nats-rollout.prom"]);
      expect(problemOf(path.join(dir, "rollout.txt"))).toMatch(/does not end in \.prom/);
      expect(problemOf(path.join(dir, "no-such-dir", "x.prom"))).toMatch(/no-such-dir\/x\.prom: ENOENT/);
      expect(problemOf(dir + ".prom")).toBeUndefined();
      expect(reportFileProblems({ timelineFile: path.join(dir, "t.png") })).toEqual([
        { key: "timelineFile", problem: `${path.join(dir, "t.png")} does not end in .svg` },
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
