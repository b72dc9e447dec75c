/**
 * Acknowledged JetStream publishing through the cluster for the duration of a rollout, the other half of what
 * clients feel (request/reply is traffic-watch.ts): one publisher first connected to each member, publishing with
 * acks to a stream the watch makes for itself and deletes at the end, whatever the end (done, halted, interrupted, an
 * error). A publisher homed on the member being restarted feels that member go (its connection moves, its publishes
 * in flight time out); the stream's replicas feel every member's restart.
 *
 * The stream: `NATS_ROLLOUT_WATCH_<time>_<pid>_<random>`, memory storage (nothing written to the members' disks),
 * min(3, members) replicas, subjects `_nats_cluster.watch_js.<same>.>`, capped (64 MiB, one day; a full stream
 * refuses new publishes rather than dropping acked ones, which would read as lost). It lives in the account of the
 * engine's own client credentials (the spec's token, first user, or probe nkey: nats-client.ts), the account the
 * client probe and the request/reply watch use. Where that account has no JetStream, or the stream is refused (limits,
 * no memory storage), the watch goes on without publishing and the report says why: the watch never halts a rollout.
 * The rollout's own placement reads leave this stream out (observe.ts), so it never slows a batch or refuses a removal.
 */
import { errors, nanos, NatsConnection } from "@nats-io/nats-core";
import { DiscardPolicy, jetstream, JetStreamManager, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { WATCH_STREAM_LEFTOVER_MS, WATCH_STREAM_PREFIX } from "../defaults";
import { describeError, mapBounded, retryWhileTransient } from "../util/async";
import { MemberPublishing, PublishTally } from "./publish-tally";

/** Caps of the watch's stream: far above a rollout's publishes (a few per second per member). */
const MAX_BYTES = 64 * 1024 * 1024;
const MAX_AGE_MS = WATCH_STREAM_LEFTOVER_MS;
/** How long to wait for one ack, and for the JetStream API. */
const ACK_TIMEOUT_MS = 2000;
const API_TIMEOUT_MS = 5000;
/**
 * The end's requests (read-back, delete) wait less, since each is asked again: on loopback or a LAN a stream leader
 * answers in milliseconds, and one sent as the connection moves to another server is never answered.
 */
const END_API_TIMEOUT_MS = 1500;
/**
 * How long reading the stream back at the end may take before lost is left unclaimed: two Raft elections
 * (nats-server's election timeout is 4 to 9 s, server/raft.go) and a reconnect. Not longer: where JetStream stays
 * unavailable (a gateway cut, a lost quorum) the read fails after all, and a halted rollout's report waits for it.
 */
const READ_BACK_MS = 20_000;
/** The read-back's requests in flight. */
const READ_BACK_IN_FLIGHT = 8;
/** The pause before a read-back or delete request that went unanswered (a leader election) is asked again. */
const END_RETRY_PAUSE_MS = 250;
/** How long deleting the stream at the end is asked for before it is left, named in the report: one election. */
const DELETE_WITHIN_MS = 10_000;
/** JetStream's answer for a stream that is not there: final, never asked again. */
const STREAM_NOT_FOUND = /stream not found/i;
/** How long a stream refused for a passing reason is asked for again (see addStream). */
const STREAM_ADD_RETRY_MS = 10_000;
/** JetStream's answers that pass once the meta leader has heard from every peer. */
export const TRANSIENT_STREAM_ADD = /peer offline|temporarily unavailable/i;

export interface PublishSummary {
  /** The stream the publishers wrote to (deleted at the end unless `cleanup` says otherwise). */
  readonly stream?: string;
  /** Why nothing was published (the account has no JetStream, the stream was refused); then perMember is empty. */
  readonly skipped?: string;
  /** Why the stream could not be read back (lost is then absent), or deleted (it is left, named here). */
  readonly readBack?: string;
  readonly cleanup?: string;
  /** Watch streams of earlier rollouts, left behind and older than a day, deleted by this one. */
  readonly swept?: ReadonlyArray<string>;
  readonly perMember: ReadonlyArray<MemberPublishing>;
}

interface Publisher {
  /** Borrowed from the request/reply watch (its connection homed on the member): never closed here. */
  readonly nc: NatsConnection;
  readonly subject: string;
  readonly tally: PublishTally;
}

/**
 * Publishes over connections it borrows and never closes: the request/reply watch's, one homed on each member (each
 * connection is a client a member's lame duck waits for, about a second each, so the watch keeps to one per member).
 */
export class PublishWatch {
  private publishers: Publisher[] = [];
  private jsm?: JetStreamManager;
  /** The same account's API with a shorter timeout, for the end's requests, each asked again when unanswered. */
  private endJsm?: JetStreamManager;
  private stream?: string;
  private skipped?: string;
  private running = false;
  private loops: Array<Promise<void>> = [];
  private swept: string[] = [];

  constructor(
    /** The members, in spec order: one publisher each. */
    private readonly members: ReadonlyArray<string>,
    /**
     * The connection homed on `member` (first connected to it, reconnecting to the others), owned by the caller, who
     * closes it after stop(). The first member's also manages the stream and reads it back.
     */
    private readonly connectionOf: (member: string) => NatsConnection,
    private readonly intervalMs = 250,
  ) {}

  /**
   * Make the stream and connect the publishers. Never throws: what could not be had becomes `skipped` (and nothing
   * is left behind).
   */
  async start(): Promise<void> {
    const unique = `${Date.now().toString(36)}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`.toUpperCase();
    const name = `${WATCH_STREAM_PREFIX}${unique}`;
    const base = `_nats_cluster.watch_js.${unique}`;
    try {
      this.jsm = await jetstreamManager(this.connectionOf(this.members[0]), { timeout: API_TIMEOUT_MS });
      this.endJsm = await jetstreamManager(this.connectionOf(this.members[0]), {
        timeout: END_API_TIMEOUT_MS,
        checkAPI: false,
      });
    } catch (err) {
      this.skipped = `the watch's account has no JetStream (${describeError(err)})`;
      return;
    }
    this.swept = await this.sweepLeftovers();
    try {
      await this.addStream({
        name,
        subjects: [`${base}.>`],
        storage: StorageType.Memory,
        num_replicas: Math.min(3, this.members.length),
        max_bytes: MAX_BYTES,
        max_age: nanos(MAX_AGE_MS),
        discard: DiscardPolicy.New,
      });
      this.stream = name;
    } catch (err) {
      this.skipped = `stream ${name} was refused (${describeError(err)})`;
      return;
    }
    const started = Date.now();
    this.publishers = this.members.map((member) => ({
      nc: this.connectionOf(member),
      subject: `${base}.${member}`,
      tally: new PublishTally(member, started),
    }));
    this.running = true;
    this.loops = this.publishers.map((p) => this.publish(p));
  }

  /**
   * Add the stream, asking again for a few seconds while JetStream says a peer is offline or it is briefly
   * unavailable: right after a cluster starts (or a member rejoins), the meta leader may not have heard from every
   * peer yet, and a CI run saw an R3 placement refused with "no suitable peers for placement, peer offline" although
   * pre-flight had found every member healthy. Anything else (no JetStream, limits) is final at once.
   */
  private addStream(config: Parameters<JetStreamManager["streams"]["add"]>[0]): Promise<unknown> {
    return retryWhileTransient(
      () => this.jsm!.streams.add(config),
      (err) => TRANSIENT_STREAM_ADD.test(describeError(err)),
      STREAM_ADD_RETRY_MS,
      500,
    );
  }

  private async publish(p: Publisher): Promise<void> {
    const js = jetstream(p.nc, { timeout: ACK_TIMEOUT_MS });
    let n = 0;
    while (this.running) {
      const payload = `${p.tally.member}-${++n}`;
      p.tally.sent();
      try {
        const ack = await js.publish(p.subject, payload);
        p.tally.acknowledged(ack.seq, payload, Date.now());
      } catch (err) {
        if (err instanceof errors.TimeoutError) p.tally.timedOutOnce();
        else p.tally.failedOnce();
      }
      await new Promise((r) => setTimeout(r, this.intervalMs));
    }
  }

  /** Stop publishing, read the stream back (lost by sequence) and delete it; the connections stay the caller's. */
  async stop(): Promise<PublishSummary> {
    if (this.skipped !== undefined) return { skipped: this.skipped, perMember: [] };
    this.running = false;
    await Promise.all(this.loops);
    const now = Date.now();
    let stored: Map<number, string> | undefined;
    let readBack: string | undefined;
    try {
      stored = await this.readBack();
    } catch (err) {
      readBack = `the stream could not be read back, so nothing is said of lost messages (${describeError(err)})`;
    }
    const perMember = this.publishers.map((p) => p.tally.summary(now, this.intervalMs, stored));
    const cleanup = await this.deleteStream();
    return {
      stream: this.stream,
      perMember,
      ...(readBack ? { readBack } : {}),
      ...(cleanup ? { cleanup } : {}),
      ...(this.swept.length > 0 ? { swept: this.swept } : {}),
    };
  }

  /**
   * Delete the watch streams earlier rollouts left behind (the report of that rollout named each one), once they are
   * older than a day: by then no rollout is still using one. Never throws: a sweep that fails leaves them for the next.
   */
  private async sweepLeftovers(): Promise<string[]> {
    const swept: string[] = [];
    try {
      const names: string[] = [];
      for await (const name of this.jsm!.streams.names()) names.push(name);
      for (const name of leftoverWatchStreams(names, Date.now())) {
        if (await this.jsm!.streams.delete(name).catch(() => false)) swept.push(name);
      }
    } catch {
      /* listing refused or timed out: the next rollout sweeps */
    }
    return swept;
  }

  /**
   * Sequence → payload of every message the stream holds, each asked of the stream's leader by sequence
   * (`$JS.API.STREAM.MSG.GET`), a few in flight, each asked again when unanswered until READ_BACK_MS have passed.
   * Not an ordered consumer, as before: one made while its connection was moving to another server read nothing for
   * 10 s in 3 of 24 tries on loopback (and a CI run's read 0 of 398 messages in 30 s at a rollout's end), and one
   * unanswered request (an election, a connection moving) ended the read. A sequence the leader does not hold is
   * simply absent from the map.
   */
  private async readBack(): Promise<Map<number, string>> {
    const deadline = Date.now() + READ_BACK_MS;
    let failure: string | undefined;
    // Asked again while no other request has failed for good and the deadline is ahead; a stream gone is final.
    const untilDeadline = <T>(op: () => Promise<T>): Promise<T> =>
      retryWhileTransient(
        op,
        (err) => failure === undefined && !STREAM_NOT_FOUND.test(describeError(err)),
        Math.max(0, deadline - Date.now()),
        END_RETRY_PAUSE_MS,
      );
    const stored = new Map<number, string>();
    const { state } = await untilDeadline(() => this.endJsm!.streams.info(this.stream!));
    if (state.messages === 0) return stored;
    const sequences = Array.from({ length: state.last_seq - state.first_seq + 1 }, (_, i) => state.first_seq + i);
    await mapBounded(sequences, READ_BACK_IN_FLIGHT, async (seq) => {
      if (failure !== undefined) return;
      try {
        const message = await untilDeadline(() => this.endJsm!.streams.getMessage(this.stream!, { seq }));
        if (message) stored.set(message.seq, message.string());
      } catch (err) {
        failure ??= `sequence ${seq}: ${describeError(err)}`;
      }
    });
    if (failure !== undefined)
      throw new Error(`read ${stored.size} of ${state.messages} messages in time (${failure})`);
    return stored;
  }

  /**
   * Delete the watch's stream, asked again for up to DELETE_WITHIN_MS while no answer comes (the connection may be
   * moving to another server, or the stream's leader being elected). "Not found" is done: an earlier request that went
   * unanswered deleted it, or someone else did; either way nothing is left behind. What went wrong, naming the stream
   * left behind, or undefined.
   */
  private async deleteStream(): Promise<string | undefined> {
    const name = this.stream;
    if (!name || !this.endJsm) return undefined;
    const jsm = this.endJsm;
    try {
      await retryWhileTransient(
        () =>
          jsm.streams.delete(name).catch((err: unknown) => {
            if (!STREAM_NOT_FOUND.test(describeError(err))) throw err;
            return true;
          }),
        () => true,
        DELETE_WITHIN_MS,
        END_RETRY_PAUSE_MS,
      );
      return undefined;
    } catch (err) {
      return `stream ${name} could not be deleted (${describeError(err)}); delete it with \`nats stream rm ${name}\``;
    }
  }
}

/**
 * The watch streams among `names` made more than a day before `now`, by the time in their names
 * (`NATS_ROLLOUT_WATCH_<base-36 milliseconds>_<pid>_<random>`, as start() names them). A name that does not parse is
 * not the watch's and is kept.
 */
export function leftoverWatchStreams(names: ReadonlyArray<string>, now: number): string[] {
  return names.filter((name) => {
    if (!name.startsWith(WATCH_STREAM_PREFIX)) return false;
    const made = parseInt(name.slice(WATCH_STREAM_PREFIX.length).split("_")[0].toLowerCase(), 36);
    return Number.isFinite(made) && made > 0 && now - made > WATCH_STREAM_LEFTOVER_MS;
  });
}
