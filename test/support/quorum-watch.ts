/**
 * Watchers that look at a cluster from outside while a rollout runs, for the batching tests and the benchmark:
 * which members are not serving at each moment, how long each stream goes without a leader, and how many times the
 * JetStream meta leader changed.
 */
import { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { MonitorClient } from "../../engine/monitor/client";
import { monitorUrl, ServerEndpoint } from "../../engine/spec";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long the down watch waits for a member's answer (see DownWatch). */
const WATCH_TIMEOUT_MS = 3000;

/**
 * Samples every member's readiness (`/healthz?js-server-only=true`, all members at once) every `intervalMs`: a
 * member in lame duck (its JetStream already stopped), exited or starting counts as down. Keeps every distinct set
 * of members seen down together, each with why (the first time that set was seen).
 *
 * A member that is down answers at once (connection refused, or 503); only a member that is up but starved of CPU is
 * slow. So the wait for an answer is generous (WATCH_TIMEOUT_MS): with 1 s, a CI run on a saturated machine counted
 * a member that had passed every gate minutes before as down beside one being restarted, and failed a quorum check.
 * And a member counts as down only when two samples in a row find it not ready: a starved nats-server can also
 * answer `/healthz` with `HTTP 500 failed to be ready for connections after 1ms: ` (its own 1 ms readiness deadline
 * ran out before it checked anything; the list of what failed is empty), as one did in a later CI run. A restart
 * keeps a member down for well over two samples (lame duck, exit, start: 1.5 s at the least here), so no real one
 * is missed.
 */
export class DownWatch {
  private running = false;
  private loop?: Promise<void>;
  private readonly seen = new Map<string, { names: ReadonlyArray<string>; why: string }>();
  samples = 0;

  constructor(
    private readonly members: ReadonlyArray<ServerEndpoint>,
    private readonly intervalMs = 200,
  ) {}

  start(): void {
    const monitors = this.members.map((m) => ({
      name: m.name,
      monitor: new MonitorClient(monitorUrl(m), WATCH_TIMEOUT_MS),
    }));
    this.running = true;
    let notReadyBefore = new Set<string>();
    this.loop = (async () => {
      while (this.running) {
        const problems = await Promise.all(
          monitors.map(({ monitor }) =>
            monitor
              .healthz({ jsServerOnly: true })
              .then((r) => (r.httpStatus === 200 ? undefined : `HTTP ${r.httpStatus} ${r.body.error ?? r.body.status}`))
              .catch((err: unknown) => (err instanceof Error ? err.message : String(err))),
          ),
        );
        const notReady = new Set(monitors.filter((_, i) => problems[i] !== undefined).map((m) => m.name));
        const down = [...notReady].filter((name) => notReadyBefore.has(name));
        notReadyBefore = notReady;
        const key = down.join(",");
        if (!this.seen.has(key)) {
          const why = monitors
            .flatMap((m, i) => (down.includes(m.name) ? [`${m.name}: ${problems[i]}`] : []))
            .join("; ");
          this.seen.set(key, { names: down, why });
        }
        this.samples++;
        await sleep(this.intervalMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Every distinct set of members seen down at one moment. */
  get downSets(): ReadonlyArray<ReadonlyArray<string>> {
    return [...this.seen.values()].map((s) => s.names);
  }

  /** Each distinct set seen down, with why each of its members counted as down the first time. */
  get downDetails(): ReadonlyArray<string> {
    return [...this.seen.values()].filter((s) => s.names.length).map((s) => `[${s.why}]`);
  }

  /** The most members seen down at one moment. */
  get maxDown(): number {
    return Math.max(0, ...this.downSets.map((d) => d.length));
  }

  /** The most of `peers` seen down at one moment. */
  maxDownOf(peers: ReadonlyArray<string>): number {
    return Math.max(0, ...this.downSets.map((d) => d.filter((n) => peers.includes(n)).length));
  }
}

/** Polls each stream's info (its own connection) and records the longest stretch without a leader per stream. */
export class StreamLeaderWatch {
  private running = false;
  private loop?: Promise<void>;
  readonly longestLeaderlessMs = new Map<string, number>();
  polls = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly streams: ReadonlyArray<string>,
    private readonly intervalMs = 250,
  ) {}

  async start(): Promise<void> {
    const jsm = await jetstreamManager(this.nc, { timeout: 1000 });
    const since = new Map<string, number | undefined>();
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        for (const stream of this.streams) {
          const leader = await jsm.streams
            .info(stream)
            .then((i) => i.cluster?.leader)
            .catch(() => undefined);
          const now = Date.now();
          if (leader) since.set(stream, undefined);
          else if (since.get(stream) === undefined) since.set(stream, now);
          const from = since.get(stream);
          const gap = from === undefined ? 0 : now - from;
          this.longestLeaderlessMs.set(stream, Math.max(this.longestLeaderlessMs.get(stream) ?? 0, gap));
        }
        this.polls++;
        await sleep(this.intervalMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/**
 * Counts JetStream meta-leader elections while a rollout runs: every `intervalMs` the first server that names a
 * leader (`/jsz` meta_cluster.leader) is believed, and each change of that name is one election. A supercluster's
 * meta group spans every cluster, so `servers` are all of them. A leader handed over and handed back between two
 * polls counts as none: this is a floor on elections, which is what "at most one per rollout" needs.
 */
export class MetaLeaderWatch {
  private running = false;
  private loop?: Promise<void>;
  private leader?: string;
  /** Each leader seen, in order (the first one and every change). */
  readonly leaders: string[] = [];

  constructor(
    private readonly servers: ReadonlyArray<ServerEndpoint>,
    private readonly intervalMs = 200,
  ) {}

  start(): void {
    const monitors = this.servers.map((s) => new MonitorClient(monitorUrl(s), 1000));
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        for (const m of monitors) {
          const seen = (await m.jsz().catch(() => undefined))?.meta_cluster?.leader;
          if (!seen) continue;
          if (seen !== this.leader) this.leaders.push(seen);
          this.leader = seen;
          break;
        }
        await sleep(this.intervalMs);
      }
    })();
  }

  /** Stops watching; the number of elections seen (leader changes after the first leader seen). */
  async stop(): Promise<number> {
    this.running = false;
    await this.loop;
    return this.elections;
  }

  get elections(): number {
    return Math.max(0, this.leaders.length - 1);
  }
}
