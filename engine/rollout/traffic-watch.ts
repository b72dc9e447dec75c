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

/** One responder homed on a member, and a requester homed on the next member asking it. */
interface Pair {
  readonly member: string;
  readonly subject: string;
  readonly responder: NatsConnection;
  readonly requester: NatsConnection;
  requests: number;
  failures: number;
  maxGapMs: number;
  maxGapEndedAt: number;
  lastReply: number;
}

/**
 * Request/reply through the cluster for the duration of a rollout, so the report can say what clients felt, the
 * way clients sit: for each member, a responder first connected to it and a requester first connected to the next
 * member (every request crosses a route), each reconnecting elsewhere when its server leaves, as an application's
 * connections do. A single pair connected anywhere could sit out the whole rollout on the surge server and report
 * nothing; one pair per member is sure to live through that member's restart.
 *
 * With JetStream, acked publishing too: one publisher first connected to each member, to a stream of the watch's own
 * (publish-watch.ts says which account, and what happens when it cannot be had).
 */
export class TrafficWatch {
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

  private connectTo(home: ServerEndpoint, role: string): Promise<NatsConnection> {
    const opts = clientOptions(this.spec, this.serversFrom(home), {
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: false,
      noRandomize: true,
    });
    return connect({ ...opts, name: `nats-cluster-rollout-watch-${role}-${home.name}` });
  }

  async start(): Promise<void> {
    const members = this.spec.members;
    const base = `_nats_cluster.watch.${Date.now()}.${process.pid}`;
    try {
      for (const [i, member] of members.entries()) {
        const responder = await this.connectTo(member, "responder");
        const requester = await this.connectTo(members[(i + 1) % members.length], "requester").catch(
          async (err: unknown) => {
            await responder.close().catch(() => undefined);
            throw err;
          },
        );
        const subject = `${base}.${member.name}`;
        const sub = responder.subscribe(subject);
        void (async () => {
          for await (const msg of sub) msg.respond(msg.data);
        })();
        for (const nc of [responder, requester]) {
          void (async () => {
            for await (const s of nc.status()) if (s.type === "reconnect") this.reconnects++;
          })();
        }
        await responder.flush();
        this.pairs.push({
          member: member.name,
          subject,
          responder,
          requester,
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
      const byName = new Map(members.map((m) => [m.name, m]));
      this.publishing = new PublishWatch(
        members.map((m) => m.name),
        (name, role) => this.connectTo(byName.get(name)!, role),
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
    const all = this.pairs.flatMap((p) => [p.requester, p.responder]);
    await Promise.all(all.map((nc) => nc.close().catch(() => undefined)));
  }

  async stop(): Promise<TrafficSummary> {
    this.running = false;
    // The publishers wind down (read their stream back, delete it) while the pairs do; the pairs' figures are taken
    // as soon as their own loops end, so the read-back's time is no gap of theirs.
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
