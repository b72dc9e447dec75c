/**
 * What one acked publisher felt, counted: every publish, its ack or why there was none, the longest time between two
 * acks, and at the end which acked messages the stream no longer holds. Pure counting, no connection: the publisher
 * (publish-watch.ts) feeds it, the report reads it.
 */

/** What the acked publisher homed on one member felt. */
export interface MemberPublishing {
  /** The member the publisher first connected to (it reconnects elsewhere when that member goes). */
  readonly member: string;
  /** Publishes sent: acked + timedOut + failed. */
  readonly published: number;
  readonly acked: number;
  /** Publishes with no ack before the deadline (stored or not: a timed-out one is never counted lost). */
  readonly timedOut: number;
  /** Publishes refused at once (no stream leader, connection closed, the stream's limits). */
  readonly failed: number;
  /**
   * Acked messages the stream did not hold at the end, checked by sequence: an ack is a promise the message is kept,
   * so anything here is data loss. Absent when the stream could not be read back (then nothing is claimed).
   */
  readonly lost?: number;
  /** Longest time between two acks (a gap still open at the end counts up to the end). */
  readonly maxGapMs: number;
  /** When that gap ended (epoch milliseconds): where it sits on the timeline. */
  readonly maxGapEndedAtMs?: number;
}

export class PublishTally {
  private published = 0;
  private acked = 0;
  private timedOut = 0;
  private failed = 0;
  private maxGapMs = 0;
  private maxGapEndedAt: number;
  private lastAck: number;
  /** Sequence → payload of every acked publish, to check against the stream at the end. */
  readonly ackedMessages = new Map<number, string>();

  constructor(
    readonly member: string,
    startedAt: number,
  ) {
    this.lastAck = startedAt;
    this.maxGapEndedAt = startedAt;
  }

  /** One publish is sent (call once per publish, before its outcome). */
  sent(): void {
    this.published++;
  }

  acknowledged(seq: number, payload: string, at: number): void {
    this.acked++;
    this.ackedMessages.set(seq, payload);
    if (at - this.lastAck > this.maxGapMs) {
      this.maxGapMs = at - this.lastAck;
      this.maxGapEndedAt = at;
    }
    this.lastAck = at;
  }

  timedOutOnce(): void {
    this.timedOut++;
  }

  failedOnce(): void {
    this.failed++;
  }

  /**
   * The figures at `now`. `stored` is the stream's sequence → payload as read back at the end (undefined: it could
   * not be read, and `lost` is left out); `intervalMs` is the publisher's pause between publishes, which an open gap
   * at the end does not count (the next publish was not due yet).
   */
  summary(now: number, intervalMs: number, stored: ReadonlyMap<number, string> | undefined): MemberPublishing {
    const open = now - this.lastAck - intervalMs;
    const [maxGapMs, maxGapEndedAtMs] = open > this.maxGapMs ? [open, now] : [this.maxGapMs, this.maxGapEndedAt];
    let lost: number | undefined;
    if (stored) {
      lost = 0;
      for (const [seq, payload] of this.ackedMessages) if (stored.get(seq) !== payload) lost++;
    }
    return {
      member: this.member,
      published: this.published,
      acked: this.acked,
      timedOut: this.timedOut,
      failed: this.failed,
      ...(lost !== undefined ? { lost } : {}),
      maxGapMs,
      maxGapEndedAtMs,
    };
  }
}
