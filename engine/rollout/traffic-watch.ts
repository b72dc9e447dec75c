import { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { clientOptions } from "../nats-client";
import { ClusterSpec, ServerEndpoint } from "../spec";
import { PublishSummary, PublishWatch } from "./publish-watch";

/** What the request/reply pair homed on one member felt. */
export interface MemberTraffic {
  /** The member its responder first connected to (its requester first connected to the next member). */
  readonly member: string;
  readonly requests: number;
  readonly failures: number;
  /** Longest time between two successful replies. */
  readonly maxGapMs: number;
  /** When that gap ended (epoch milliseconds): where it sits on the timeline. */
  readonly maxGapEndedAtMs?: number;
}

export interface TrafficSummary {
  /** Every pair's requests and failures, summed. */
  readonly requests: number;
  readonly failures: number;
  /** Longest time between two successful replies of any one pair: what a request/reply application felt. */
  readonly maxGapMs: number;
  readonly reconnects: number;
  /** When the longest gap of any pair ended (epoch milliseconds), and whose pair it was. */
  readonly maxGapEndedAtMs?: number;
  readonly maxGapMember?: string;
  /** The same, per member (absent from reports written before it was measured per member). */
  readonly perMember?: ReadonlyArray<MemberTraffic>;
  /** Acked JetStream publishing, per member (absent without JetStream, and from reports written before it). */
  readonly publishing?: PublishSummary;
}

export interface TrafficWatchOptions {
  /** Pause between two requests of a pair, and two publishes of a publisher. Default 250 ms. */
  readonly intervalMs?: number;
  /**
   * Acked publishing (publish-watch.ts): "on" when the cluster runs JetStream, "off" when the policy turned it off
   * (the report says so), "none" without JetStream (nothing said). Default "none".
   */
  readonly publishing?: "on" | "off" | "none";
}

/** The responder homed on a member, and the requester homed on the next member asking it. */
interface Pair {
  readonly member: string;
  readonly subject: string;
  /** The member's home connection. */
  readonly responder: NatsConnection;
  /** The next member's home connection (the member's own with a single member). */
  readonly requester: NatsConnection;
  requests: number;
  failures: number;
  maxGapMs: number;
  maxGapEndedAt: number;
  lastReply: number;
}

/**
 * Request/reply through the cluster for the duration of a rollout, so the report can say what clients felt, the
 * way clients sit: one connection first connected to each member (its home), reconnecting elsewhere when its server
 * leaves, as an application's connections do. Each answers requests on its own subject and asks the previous
 * member's connection (so every request crosses a route): the pair of a member is its responder and the next
 * member's requester. A single pair connected anywhere could sit out the whole rollout on the surge server and report
 * nothing; one pair per member is sure to live through that member's restart.
 *
 * With JetStream, each connection also publishes with acks to a stream of the watch's own (publish-watch.ts says
 * which account, and what happens when it cannot be had).
 *
 * One connection per member, not one per role: nats-server's lame duck closes the clients of a member about one a
 * second (its lame_duck_duration spread over them, at most a second apart), and a member's restart waits for that, so
 * every extra connection of the watch made each member's drain a second longer.
 */
export class TrafficWatch {
  /** One connection first connected to each member, in spec order. */
  private homes: NatsConnection[] = [];
  private pairs: Pair[] = [];
  private running = false;
  private loops: Array<Promise<void>> = [];
  private reconnects = 0;
  private readonly intervalMs: number;
  private publishing?: PublishWatch;

  constructor(
    private readonly spec: ClusterSpec,
    private readonly options: TrafficWatchOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 250;
  }

  /** Every server to reconnect to, `home` first (connected to first, tried first again). */
  private serversFrom(home: ServerEndpoint): ServerEndpoint[] {
    return [home, ...this.spec.members.filter((m) => m.name !== home.name), this.spec.surge];
  }

  private connectTo(home: ServerEndpoint): Promise<NatsConnection> {
    const opts = clientOptions(this.spec, this.serversFrom(home), {
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: false,
      noRandomize: true,
    });
    return connect({ ...opts, name: `nats-cluster-rollout-watch-${home.name}` });
  }

  async start(): Promise<void> {
    const members = this.spec.members;
    const base = `_nats_cluster.watch.${Date.now()}.${process.pid}`;
    try {
      for (const member of members) {
        const nc = await this.connectTo(member);
        this.homes.push(nc);
        void (async () => {
          for await (const s of nc.status()) if (s.type === "reconnect") this.reconnects++;
        })();
      }
      for (const [i, member] of members.entries()) {
        const responder = this.homes[i];
        const subject = `${base}.${member.name}`;
        const sub = responder.subscribe(subject);
        void (async () => {
          for await (const msg of sub) msg.respond(msg.data);
        })();
        await responder.flush();
        this.pairs.push({
          member: member.name,
          subject,
          responder,
          requester: this.homes[(i + 1) % members.length],
          requests: 0,
          failures: 0,
          maxGapMs: 0,
          maxGapEndedAt: Date.now(),
          lastReply: Date.now(),
        });
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    this.running = true;
    const started = Date.now();
    this.loops = this.pairs.map((pair) => {
      pair.lastReply = started;
      return this.ask(pair);
    });
    if (this.options.publishing === "on") {
      const homeOf = new Map(members.map((m, i) => [m.name, this.homes[i]]));
      this.publishing = new PublishWatch(
        members.map((m) => m.name),
        (name) => homeOf.get(name)!,
        this.intervalMs,
      );
      // Never throws: a stream that cannot be had is a line in the report, not a failed watch.
      await this.publishing.start();
    }
  }

  private async ask(pair: Pair): Promise<void> {
    while (this.running) {
      pair.requests++;
      try {
        await pair.requester.request(pair.subject, new Uint8Array(0), { timeout: 1000 });
        const now = Date.now();
        if (now - pair.lastReply > pair.maxGapMs) {
          pair.maxGapMs = now - pair.lastReply;
          pair.maxGapEndedAt = now;
        }
        pair.lastReply = now;
      } catch {
        pair.failures++;
      }
      await new Promise((r) => setTimeout(r, this.intervalMs));
    }
  }

  private async close(): Promise<void> {
    await Promise.all(this.homes.map((nc) => nc.close().catch(() => undefined)));
  }

  async stop(): Promise<TrafficSummary> {
    this.running = false;
    // The publishers wind down (read their stream back, delete it) while the pairs do; the pairs' figures are taken
    // as soon as their own loops end, so the read-back's time is no gap of theirs. The connections, shared by both,
    // close only once both are done.
    const publishingStopped = this.publishing?.stop();
    await Promise.all(this.loops);
    const now = Date.now();
    const perMember = this.pairs.map((p): MemberTraffic => {
      // A gap still open at the end (no reply since) counts up to now.
      const open = now - p.lastReply - this.intervalMs;
      const [maxGapMs, maxGapEndedAtMs] = open > p.maxGapMs ? [open, now] : [p.maxGapMs, p.maxGapEndedAt];
      return { member: p.member, requests: p.requests, failures: p.failures, maxGapMs, maxGapEndedAtMs };
    });
    const publishing: PublishSummary | undefined =
      this.options.publishing === "off"
        ? { skipped: "turned off (rollout.watchPublishing: false)", perMember: [] }
        : await publishingStopped;
    await this.close();
    const longest = perMember.reduce<MemberTraffic | undefined>(
      (a, p) => (!a || p.maxGapMs > a.maxGapMs ? p : a),
      undefined,
    );
    return {
      requests: perMember.reduce((n, p) => n + p.requests, 0),
      failures: perMember.reduce((n, p) => n + p.failures, 0),
      maxGapMs: longest?.maxGapMs ?? 0,
      reconnects: this.reconnects,
      ...(longest ? { maxGapEndedAtMs: longest.maxGapEndedAtMs, maxGapMember: longest.member } : {}),
      perMember,
      ...(publishing ? { publishing } : {}),
    };
  }
}
