/**
 * The ports engine/util/fetch-ports.ts says fetch refuses are the ones this Node's fetch really refuses: each is
 * rejected with "bad port" before any connection is made (so this needs no socket), and the list misses none of the
 * ports next to them that the CI machine's random test ports could hit.
 */
import { FETCH_BLOCKED_PORTS } from "../../engine/util/fetch-ports";

async function refusal(port: number): Promise<string | undefined> {
  try {
    // An address in TEST-NET-1 (RFC 5737): were a port not refused, nothing would answer; the timeout ends it.
    await fetch(`http://192.0.2.1:${port}/`, { signal: AbortSignal.timeout(50) });
    return undefined;
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause;
    return cause?.message;
  }
}

test("every listed port is refused by fetch as a bad port", async () => {
  for (const port of FETCH_BLOCKED_PORTS)
    expect({ port, refusal: await refusal(port) }).toEqual({ port, refusal: "bad port" });
});

test("10080, the one inside the tests' random port range (10000-32000), is listed", () => {
  expect(FETCH_BLOCKED_PORTS.has(10080)).toBe(true);
});
