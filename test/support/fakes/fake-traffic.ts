/** A client traffic watch that connects nowhere: it reports the summary it was given, or fails to start. */
import { ClientTraffic } from "../../../engine/rollout/context";
import { TrafficSummary } from "../../../engine/rollout/traffic-watch";

export class FakeTraffic implements ClientTraffic {
  started = false;
  stopped = false;

  constructor(
    private readonly summary: TrafficSummary = { requests: 10, failures: 0, maxGapMs: 250, reconnects: 1 },
    private readonly startError?: string,
  ) {}

  async start(): Promise<void> {
    if (this.startError) throw new Error(this.startError);
    this.started = true;
  }

  async stop(): Promise<TrafficSummary> {
    this.stopped = true;
    return this.summary;
  }
}
