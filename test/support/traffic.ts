import { NatsConnection } from "@nats-io/nats-core";
import { jetstream, JetStreamClient, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect, NodeConnectionOptions } from "@nats-io/transport-node";
import { clientUrl, ClusterSpec } from "../../engine/spec";

/** Options that reconnect forever across every member (what a well-configured application does). */
export function appOptions(
  spec: Pick<ClusterSpec, "members">,
  name: string,
  extra: Partial<NodeConnectionOptions> = {},
): NodeConnectionOptions {
  return { servers: spec.members.map(clientUrl), name, maxReconnectAttempts: -1, reconnectTimeWait: 100, ...extra };
}

/**
 * An R3 file stream to prove no acknowledged write is lost during a rollout; in a supercluster, `cluster` places it
 * in that cluster (its three replicas on that cluster's servers).
 */
export async function createR3Stream(
  nc: NatsConnection,
  name: string,
  subject: string,
  cluster?: string,
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name,
    subjects: [subject],
    num_replicas: 3,
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    ...(cluster ? { placement: { cluster, tags: [] } } : {}),
  });
}

/**
 * Publishes with acks as fast as acks come back (bounded by `intervalMs`), each message carrying a unique id;
 * remembers what the stream acknowledged (sequence → id) and how many publishes failed (timeouts while a stream
 * leader moves are expected; a failed publish is retried with the same id, so it is stored at most once).
 */
export class AckedPublisher {
  readonly acked = new Map<number, string>();
  failures = 0;
  private running = false;
  private loop?: Promise<void>;
  private js?: JetStreamClient;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subject: string,
    private readonly intervalMs = 20,
    /** Ids (and JetStream msg ids) are `<prefix><n>`: publishers sharing a stream need prefixes of their own. */
    private readonly idPrefix = "m-",
  ) {}

  start(): void {
    this.js = jetstream(this.nc, { timeout: 2000 });
    this.running = true;
    this.loop = (async () => {
      let n = 0;
      while (this.running) {
        const id = `${this.idPrefix}${++n}`;
        for (let attempt = 0; this.running || attempt === 0; attempt++) {
          try {
            const ack = await this.js!.publish(this.subject, new TextEncoder().encode(id), { msgID: id });
            this.acked.set(ack.seq, id);
            break;
          } catch {
            this.failures++;
            await new Promise((r) => setTimeout(r, 100));
            if (!this.running) break;
          }
        }
        await new Promise((r) => setTimeout(r, this.intervalMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** The acknowledged sequences whose message is not in `stream` as it was published (empty: nothing lost). */
  async lostMessages(nc: NatsConnection, stream: string): Promise<number[]> {
    const jsm = await jetstreamManager(nc);
    const lost: number[] = [];
    for (const [seq, id] of this.acked) {
      const msg = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (!msg || new TextDecoder().decode(msg.data) !== id) lost.push(seq);
    }
    return lost;
  }
}

export { connect };
