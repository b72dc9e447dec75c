/**
 * retryWhileTransient (engine/util/async.ts), as the publish watch uses it to add its stream: a placement refused
 * because a peer is offline is asked again until it passes or the time is up; any other refusal is final at once.
 */
import { TRANSIENT_STREAM_ADD } from "../../engine/rollout/publish-watch";
import { retryWhileTransient } from "../../engine/util/async";

/** An operation that fails with these messages, in turn, then answers "added". */
function failing(...messages: string[]): { op: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    op: async () => {
      const message = messages[calls++];
      if (message !== undefined) throw new Error(message);
      return "added";
    },
    calls: () => calls,
  };
}
const transient = (err: unknown) => TRANSIENT_STREAM_ADD.test(err instanceof Error ? err.message : String(err));

describe("retryWhileTransient with the publish watch's transient stream refusals", () => {
  it("asks again while the placement is refused for a peer offline, and returns what then succeeds", async () => {
    const { op, calls } = failing(
      "no suitable peers for placement, peer offline",
      "JetStream system temporarily unavailable",
    );
    await expect(retryWhileTransient(op, transient, 1000, 1)).resolves.toBe("added");
    expect(calls()).toBe(3);
  });

  it("gives up a refusal that is not transient at once (no JetStream, limits)", async () => {
    for (const message of [
      "JetStream not enabled for account",
      "insufficient resources",
      "no suitable peers for placement, insufficient storage",
    ]) {
      const { op, calls } = failing(message);
      await expect(retryWhileTransient(op, transient, 1000, 1)).rejects.toThrow(message);
      expect(calls()).toBe(1);
    }
  });

  it("throws the transient refusal itself once the time is up", async () => {
    const { op, calls } = failing(...Array<string>(1000).fill("no suitable peers for placement, peer offline"));
    await expect(retryWhileTransient(op, transient, 30, 10)).rejects.toThrow(/peer offline/);
    expect(calls()).toBeGreaterThanOrEqual(2);
    expect(calls()).toBeLessThan(10);
  });
});
