/**
 * The rollout as a picture (engine/rollout/timeline.ts): a row per member with its down window where the report
 * says it was, the surge server's life, the clients' longest gap; nothing drawn when the report has no times.
 */
import { RolloutReport } from "../../engine/rollout/report";
import { timelineSvg } from "../../engine/rollout/timeline";

const T0 = Date.parse("2026-12-06T21:00:00Z");
const report: RolloutReport = {
  kind: "rollout",
  targetVersion: "2.15.2",
  result: "succeeded",
  totalMs: 60_000,
  startedAtMs: T0,
  members: [
    { name: "n1", action: "restart-member", to: "2.15.2", result: "done", downMs: 1500, downSinceMs: T0 + 12_000 },
    { name: "n2", action: "restart-member", to: "2.15.2", result: "done", downMs: 3000, downSinceMs: T0 + 30_000 },
  ],
  surge: { name: "n-surge", version: "2.14.9", lifetimeMs: 50_000, startedAtMs: T0 + 5000, removed: true },
  clientImpact: {
    requests: 100,
    failures: 1,
    maxGapMs: 2000,
    reconnects: 2,
    maxGapEndedAtMs: T0 + 32_000,
    maxGapMember: "n2",
    publishing: {
      stream: "NATS_ROLLOUT_WATCH_X",
      perMember: [
        {
          member: "n1",
          published: 200,
          acked: 200,
          timedOut: 0,
          failed: 0,
          lost: 0,
          maxGapMs: 400,
          maxGapEndedAtMs: T0 + 13_000,
        },
        {
          member: "n2",
          published: 196,
          acked: 193,
          timedOut: 3,
          failed: 0,
          lost: 0,
          maxGapMs: 3000,
          maxGapEndedAtMs: T0 + 33_000,
        },
      ],
    },
  },
};

/** The rect of the row labelled `label`, as numbers. */
function barOf(svg: string, label: string): { x: number; width: number } {
  const row = new RegExp(`<rect x="([\\d.]+)" y="\\d+" width="([\\d.]+)"[^>]*><title>${label}`).exec(svg);
  if (!row) throw new Error(`no bar for ${label} in\n${svg}`);
  return { x: Number(row[1]), width: Number(row[2]) };
}

describe("the rollout's timeline", () => {
  it("draws each member's down window, the surge server and the clients' longest gap where they were", () => {
    const svg = timelineSvg(report, "prod")!;
    expect(svg.startsWith("<svg ")).toBe(true);
    expect(svg).toContain("Rollout of prod to 2.15.2: SUCCEEDED in 60.0s");
    // The plot is 790 px wide from x = 150 for 60 s: 13.17 px a second.
    const perSecond = 790 / 60;
    const n1 = barOf(svg, "n1 \\(done\\): down 1.5s");
    expect(n1.x).toBeCloseTo(150 + 12 * perSecond, 0);
    expect(n1.width).toBeCloseTo(1.5 * perSecond, 0);
    const n2 = barOf(svg, "n2 \\(done\\): down 3.0s");
    expect(n2.x).toBeCloseTo(150 + 30 * perSecond, 0);
    const surge = barOf(svg, "n-surge \\(surge\\): serving 50.0s");
    expect(surge.x).toBeCloseTo(150 + 5 * perSecond, 0);
    expect(surge.width).toBeCloseTo(50 * perSecond, 0);
    const gap = barOf(svg, "clients: longest gap 2.0s \\(n2's pair\\); 1/100 failed");
    expect(gap.x).toBeCloseTo(150 + 30 * perSecond, 0);
    const ackGap = barOf(svg, "acked publishing: longest gap without an ack 3.0s \\(n2's publisher\\); 393/396 acked");
    expect(ackGap.x).toBeCloseTo(150 + 30 * perSecond, 0);
    expect(ackGap.width).toBeCloseTo(3 * perSecond, 0);
  });

  it("escapes what it writes, and draws nothing without times or members", () => {
    expect(timelineSvg({ ...report, targetVersion: "<2.15.2&>" }, "a&b")).toContain("a&amp;b to &lt;2.15.2&amp;&gt;");
    expect(timelineSvg({ ...report, startedAtMs: undefined }, "prod")).toBeUndefined();
    expect(timelineSvg({ ...report, members: [] }, "prod")).toBeUndefined();
  });
});
