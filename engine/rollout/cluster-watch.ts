/**
 * A watch of the rest of the cluster while one member restarts (or the surge server joins), so that the next
 * member's "is the cluster whole?" check (cluster-check.ts) need not hold the others green on its own: the watch
 * has already looked at them, every second, for the whole step, up to the moment the step ended. Without it each
 * member paid the hold (3 s) on top of its restart; with it the check is one look when the watch saw them green
 * long enough, and the full hold otherwise (a member that failed a look during the step, a watch that saw too
 * little). It never decides anything itself: it only tells the check how much it already saw.
 */
import { ServerEndpoint } from "../spec";
import { describeError, sleep } from "../util/async";
import { ClusterView, RolloutContext } from "./context";

/** What a watch saw, when it was stopped. */
export interface WatchResult {
  /** How long every watched member was seen green without a break, up to the last look (0: the last look failed). */
  readonly heldGreenMs: number;
  /** When the watch was stopped (Date.now()). */
  readonly endedAt: number;
  /** The last problem seen, if any (for the log). */
  readonly lastProblem?: string;
}

export class ClusterWatch {
  private stopped = false;
  private wake?: () => void;
  private greenSince?: number;
  private lastLookStarted?: number;
  private lastGreen = false;
  private lastProblem?: string;
  private readonly loop: Promise<void>;

  /**
   * Start watching every member but `changing` (and those `view` counts down) as `view` expects them: routed to
   * each other (and to the surge server when it is in), current in the JetStream meta group, passing the probe.
   */
  constructor(
    private readonly ctx: RolloutContext,
    private readonly view: ClusterView,
    changing?: ServerEndpoint,
  ) {
    const watched = ctx.spec.members.filter((m) => m.name !== changing?.name && !view.down.has(m.name));
    this.loop = this.run(watched);
  }

  private async run(watched: ReadonlyArray<ServerEndpoint>): Promise<void> {
    const gates = this.ctx.wholeClusterGates(this.view);
    while (!this.stopped) {
      const started = Date.now();
      const problems = await Promise.all(
        watched.map(async (m) => {
          const target = this.ctx.target(m, "(any)", this.view);
          for (const gate of gates) {
            const seen = await gate
              .check(target)
              .catch((err: unknown) => ({ ok: false, observation: describeError(err) }));
            if (!seen.ok) return `${m.name} ${gate.name}: ${seen.observation}`;
          }
          return undefined;
        }),
      );
      // A look that ended after stop() counts for nothing: stop() has already answered.
      if (this.stopped) return;
      const problem = problems.find((p) => p !== undefined);
      this.lastLookStarted = started;
      this.lastGreen = problem === undefined;
      if (problem === undefined) this.greenSince ??= started;
      else {
        this.greenSince = undefined;
        this.lastProblem = problem;
      }
      await Promise.race([
        sleep(this.ctx.pace.clusterWatchPollMs),
        new Promise<void>((resolve) => (this.wake = resolve)),
      ]);
    }
  }

  /** Stop, and say what was seen: green from the first look of the last unbroken green run to the last look. */
  async stop(): Promise<WatchResult> {
    const heldGreenMs =
      this.lastGreen && this.greenSince !== undefined && this.lastLookStarted !== undefined
        ? this.lastLookStarted - this.greenSince
        : 0;
    const result = { heldGreenMs, endedAt: Date.now(), lastProblem: this.lastProblem };
    this.stopped = true;
    this.wake?.();
    // The look in progress (bounded by the gates' own timeouts) ends before the step goes on: nothing outlives it.
    await this.loop;
    return result;
  }
}

/**
 * Run `work` (one member's restart, a batch's, the surge server's start) while the rest of the cluster (the members
 * `view` does not count down, but `changing`) is watched; resolves with what the work returned and what the watch
 * saw, for the next step's (or batch's) cluster check. A failed `work` rejects as it did, with the watch stopped.
 */
export async function whileWatched<T>(
  ctx: RolloutContext,
  view: ClusterView,
  changing: ServerEndpoint | undefined,
  work: () => Promise<T>,
): Promise<{ result: T; watched: WatchResult }> {
  const watch = new ClusterWatch(ctx, view, changing);
  let result: T;
  try {
    result = await work();
  } catch (err) {
    await watch.stop();
    throw err;
  }
  return { result, watched: await watch.stop() };
}
