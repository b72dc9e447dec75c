/**
 * The counting behind the report's acked-publishing figures (engine/rollout/publish-tally.ts): what counts as
 * published, acked, timed out, failed, lost (by sequence against what the stream holds at the end) and the longest
 * gap between acks. The publishers themselves run against real servers in test/rollout/upgrade.test.ts.
 */
import { PublishTally } from "../../engine/rollout/publish-tally";

const T0 = 1_000_000;

function tallyOf(outcomes: ReadonlyArray<["ack", number, string, number] | ["timeout"] | ["fail"]>): PublishTally {
  const tally = new PublishTally("n1", T0);
  for (const o of outcomes) {
    tally.sent();
    if (o[0] === "ack") tally.acknowledged(o[1], o[2], o[3]);
    else if (o[0] === "timeout") tally.timedOutOnce();
    else tally.failedOnce();
  }
  return tally;
}

describe("PublishTally", () => {
  it("counts every publish once: acked, timed out or failed", () => {
    const tally = tallyOf([["ack", 1, "n1-1", T0 + 250], ["timeout"], ["fail"], ["ack", 2, "n1-4", T0 + 3000]]);
    const s = tally.summary(
      T0 + 3000,
      250,
      new Map([
        [1, "n1-1"],
        [2, "n1-4"],
      ]),
    );
    expect(s).toMatchObject({ member: "n1", published: 4, acked: 2, timedOut: 1, failed: 1, lost: 0 });
  });

  it("an acked message the stream does not hold, or holds with other data, is lost; a timed-out one never is", () => {
    const tally = tallyOf([
      ["ack", 1, "n1-1", T0 + 250],
      ["ack", 2, "n1-2", T0 + 500],
      ["ack", 3, "n1-3", T0 + 750],
      ["timeout"],
    ]);
    // seq 2 missing, seq 3 holds someone else's message; seq 4 (the timed-out publish, stored after all) is extra.
    const stored = new Map([
      [1, "n1-1"],
      [3, "n2-9"],
      [4, "n1-4"],
    ]);
    expect(tally.summary(T0 + 750, 250, stored).lost).toBe(2);
  });

  it("says nothing of lost when the stream could not be read back", () => {
    const s = tallyOf([["ack", 1, "n1-1", T0 + 250]]).summary(T0 + 250, 250, undefined);
    expect(s).not.toHaveProperty("lost");
  });

  it("the longest gap between acks, from the start, and where it ended", () => {
    const s = tallyOf([
      ["ack", 1, "a", T0 + 300],
      ["timeout"],
      ["ack", 2, "b", T0 + 4300],
      ["ack", 3, "c", T0 + 4550],
    ]).summary(T0 + 4600, 250, new Map());
    expect(s.maxGapMs).toBe(4000);
    expect(s.maxGapEndedAtMs).toBe(T0 + 4300);
  });

  it("a gap still open at the end counts up to the end, less the pause before the next publish", () => {
    const s = tallyOf([["ack", 1, "a", T0 + 250], ["timeout"], ["timeout"]]).summary(T0 + 9250, 250, new Map());
    expect(s.maxGapMs).toBe(9000 - 250);
    expect(s.maxGapEndedAtMs).toBe(T0 + 9250);
  });

  it("no ack at all: the whole run is one gap", () => {
    const s = tallyOf([["fail"], ["fail"]]).summary(T0 + 5000, 250, new Map());
    expect(s).toMatchObject({ published: 2, acked: 0, failed: 2, lost: 0, maxGapMs: 4750 });
  });
});
