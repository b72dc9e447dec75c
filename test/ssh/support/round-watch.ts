/**
 * A loop that takes one round every `intervalMs` until stopped, keeping every round: the shape of the watches that
 * look at a cluster from outside while a rollout runs (TCP reachability, unit state on each VM).
 */
export abstract class RoundWatch<R extends { readonly at: number }> {
  readonly rounds: R[] = [];
  private running = false;
  private loop?: Promise<void>;

  constructor(private readonly intervalMs: number) {}

  /** One round, started at `at`. */
  protected abstract round(at: number): Promise<R>;

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const at = Date.now();
        this.rounds.push(await this.round(at));
        await new Promise((r) => setTimeout(r, Math.max(0, this.intervalMs - (Date.now() - at))));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}
