/**
 * The ssh transport's decision to connect again after a failed attempt (engine/hosts/ssh/connect-retry.ts): a host
 * whose sshd answered and dropped the connection is tried until the deadline, a refusing one a few times, a silent
 * one twice, a final failure never again.
 */
import {
  ConnectFailureKind,
  connectRetryDelay,
  MAX_CONNECT_BACKOFF_MS,
  SILENT_CONNECT_ATTEMPTS,
} from "../../engine/hosts/ssh/connect-retry";

/** The waits between attempts for a host that fails every one the same way, with `msLeft` before the deadline. */
function waits(kind: ConnectFailureKind, msLeft: number, connectAttempts = 4): number[] {
  const out: number[] = [];
  for (let attempt = 1; attempt < 100; attempt++) {
    const delay = connectRetryDelay({ attempt, kind, connectAttempts, msLeft });
    if (delay === undefined) break;
    out.push(delay);
    msLeft -= delay;
  }
  return out;
}

describe("connectRetryDelay", () => {
  it("a host that refuses: connectAttempts attempts, backoff 0.5, 1, 2 s", () => {
    expect(waits("refused", 60_000)).toEqual([500, 1000, 2000]);
    expect(waits("refused", 60_000, 3)).toEqual([500, 1000]);
    expect(waits("refused", 60_000, 1)).toEqual([]);
  });

  it("a silent host: two attempts in all, whatever connectAttempts says (a dead VM is reported fast)", () => {
    expect(SILENT_CONNECT_ATTEMPTS).toBe(2);
    expect(waits("silent", 60_000)).toEqual([500]);
    expect(waits("silent", 60_000, 10)).toEqual([500]);
    expect(waits("silent", 60_000, 1)).toEqual([]);
  });

  it("a host whose sshd answered and dropped the connection: until the deadline, the backoff capped", () => {
    const all = waits("answered", 60_000);
    expect(all.slice(0, 5)).toEqual([500, 1000, 2000, 4000, 4000]);
    expect(Math.max(...all)).toBe(MAX_CONNECT_BACKOFF_MS);
    // Far more attempts than connectAttempts; it stops only because no wait fits before the deadline.
    expect(all.length).toBeGreaterThan(10);
    const waited = all.reduce((a, b) => a + b, 0);
    expect(60_000 - waited).toBeLessThanOrEqual(MAX_CONNECT_BACKOFF_MS);
    // connectAttempts bounds refusals only.
    expect(waits("answered", 60_000, 1).length).toBe(all.length);
  });

  it("never waits past the deadline", () => {
    expect(connectRetryDelay({ attempt: 1, kind: "answered", connectAttempts: 4, msLeft: 500 })).toBeUndefined();
    expect(connectRetryDelay({ attempt: 1, kind: "answered", connectAttempts: 4, msLeft: 501 })).toBe(500);
    expect(connectRetryDelay({ attempt: 3, kind: "refused", connectAttempts: 4, msLeft: 1500 })).toBeUndefined();
    expect(connectRetryDelay({ attempt: 1, kind: "silent", connectAttempts: 4, msLeft: -1 })).toBeUndefined();
  });

  it("a final failure (host key, authentication, no such host) is never tried again", () => {
    expect(connectRetryDelay({ attempt: 1, kind: "final", connectAttempts: 4, msLeft: 60_000 })).toBeUndefined();
  });
});
