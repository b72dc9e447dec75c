import { connect, NatsConnection } from "nats";
import { clientOptions } from "../nats-client";
import { allServers, ClusterSpec } from "../spec";

export interface TrafficSummary {
  readonly requests: number;
  readonly failures: number;
  /** Longest time between two successful replies: what a request/reply application felt. */
  readonly maxGapMs: number;
  readonly reconnects: number;
}

/**
 * A small request/reply loop through the cluster for the duration of a rollout, so the report can say what
 * clients felt. The responder and the requester are separate connections that reconnect anywhere in the cluster.
 */
export class TrafficWatch {
  private responder?: NatsConnection;
  private requester?: NatsConnection;
  private running = false;
  private loop?: Promise<void>;
  private requests = 0;
  private failures = 0;
  private maxGapMs = 0;
  private reconnects = 0;
  private lastReply = Date.now();

  constructor(
    private readonly spec: ClusterSpec,
    private readonly intervalMs = 250,
  ) {}

  async start(): Promise<void> {
    const opts = clientOptions(this.spec, allServers(this.spec), {
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: false,
    });
    this.responder = await connect({ ...opts, name: "nats-cluster-rollout-watch-responder" });
    this.requester = await connect({ ...opts, name: "nats-cluster-rollout-watch-requester" });
    const subject = `_nats_cluster.watch.${Date.now()}.${process.pid}`;
    const sub = this.responder.subscribe(subject);
    void (async () => {
      for await (const msg of sub) msg.respond(msg.data);
    })();
    for (const nc of [this.responder, this.requester]) {
      void (async () => {
        for await (const s of nc.status()) if (s.type === "reconnect") this.reconnects++;
      })();
    }
    await this.responder.flush();
    this.running = true;
    this.lastReply = Date.now();
    this.loop = (async () => {
      while (this.running) {
        this.requests++;
        try {
          await this.requester!.request(subject, new Uint8Array(0), { timeout: 1000 });
          const now = Date.now();
          this.maxGapMs = Math.max(this.maxGapMs, now - this.lastReply);
          this.lastReply = now;
        } catch {
          this.failures++;
        }
        await new Promise((r) => setTimeout(r, this.intervalMs));
      }
    })();
  }

  async stop(): Promise<TrafficSummary> {
    this.running = false;
    await this.loop;
    this.maxGapMs = Math.max(this.maxGapMs, Date.now() - this.lastReply - this.intervalMs);
    await Promise.all([this.requester?.close(), this.responder?.close()].map((p) => p?.catch(() => undefined)));
    return { requests: this.requests, failures: this.failures, maxGapMs: this.maxGapMs, reconnects: this.reconnects };
  }
}
