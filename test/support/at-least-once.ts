/**
 * Numbered messages from a requester to a responder somewhere else (across a gateway, onto a leaf server), at least
 * once: each request is sent again, 100 ms apart, until the responder acknowledges it (while the responder's side is
 * away, the requester's server answers "no responders" at once, so a retry without a pause would burn through its
 * tries in a moment), for at most `giveUpMs` per message (default a minute; longer where a fault cuts the way for
 * minutes on purpose). What an application that must not lose a request does; what it measures is how long the
 * responder went without a new message.
 */
import { NatsConnection } from "@nats-io/nats-core";

export interface AtLeastOnceResult {
  readonly sent: number;
  readonly acked: number;
  /** Requests sent again (timed out or "no responders"). */
  readonly retries: number;
  /** Messages the responder received, repeats included. */
  readonly deliveries: number;
  /** Distinct numbers the responder received. */
  readonly distinct: number;
  /** Numbers sent that the responder never received. */
  readonly missing: ReadonlyArray<number>;
  /** The longest time between two new numbers first seen by the responder. */
  readonly longestGapMs: number;
  /** One line of all of the above, `label` first. */
  readonly summary: string;
}

/**
 * Starts sending `<subject>.<n>` from `requester` to a subscriber on `responder` (which acknowledges each);
 * resolves once the subscription is in place, with the function that stops it and says what happened.
 */
export async function atLeastOnce(
  requester: NatsConnection,
  responder: NatsConnection,
  subject: string,
  label = subject,
  giveUpMs = 60_000,
): Promise<() => Promise<AtLeastOnceResult>> {
  const firstSeen = new Map<number, number>();
  let deliveries = 0;
  const sub = responder.subscribe(`${subject}.>`);
  void (async () => {
    for await (const m of sub) {
      deliveries++;
      const n = Number(m.subject.split(".").pop());
      if (!firstSeen.has(n)) firstSeen.set(n, Date.now());
      m.respond();
    }
  })();
  await responder.flush();
  let running = true;
  let sent = 0;
  let retries = 0;
  const acked = new Set<number>();
  const loop = (async () => {
    while (running) {
      const n = ++sent;
      for (const giveUpAt = Date.now() + giveUpMs; Date.now() < giveUpAt;) {
        const ok = await requester
          .request(`${subject}.${n}`, new Uint8Array(0), { timeout: 500 })
          .then(() => true)
          .catch(() => false);
        if (ok) {
          acked.add(n);
          break;
        }
        retries++;
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return async () => {
    running = false;
    await loop;
    sub.unsubscribe();
    const times = [...firstSeen.entries()].sort(([a], [b]) => a - b).map(([, t]) => t);
    const longestGapMs = Math.max(0, ...times.slice(1).map((t, i) => t - times[i]));
    const missing = Array.from({ length: sent }, (_, i) => i + 1).filter((n) => !firstSeen.has(n));
    const summary =
      `${label}: ${sent} messages, ${acked.size} acknowledged, ${retries} retries, ` +
      `${deliveries} deliveries, ${firstSeen.size} distinct at the responder; ` +
      `longest gap ${(longestGapMs / 1000).toFixed(2)}s`;
    return {
      sent,
      acked: acked.size,
      retries,
      deliveries,
      distinct: firstSeen.size,
      missing,
      longestGapMs,
      summary,
    };
  };
}
