/**
 * Which members the rollout had down at the same time, from its own calls to the driver rather than from sampling
 * health endpoints: a member is down from its lame-duck signal until its new process is running again. Sampling
 * (DownWatch) can miss a batch whose members are each down for 0.2 s on a busy machine; these intervals cannot.
 */
import { HostDriver } from "../../engine/hosts/driver";
import { ServerEndpoint } from "../../engine/spec";

interface Interval {
  readonly server: string;
  readonly from: number;
  to?: number;
}

export class DownIntervals {
  private readonly intervals: Interval[] = [];

  /** Wraps `driver`'s signalLameDuck and start (in place) for the servers named in `members`. */
  constructor(driver: HostDriver, members: ReadonlyArray<ServerEndpoint>) {
    const names = new Set(members.map((m) => m.name));
    const signal = driver.signalLameDuck.bind(driver);
    const start = driver.start.bind(driver);
    driver.signalLameDuck = async (server) => {
      if (names.has(server.name)) this.intervals.push({ server: server.name, from: performance.now() });
      return signal(server);
    };
    driver.start = async (server) => {
      await start(server);
      const open = [...this.intervals].reverse().find((i) => i.server === server.name && i.to === undefined);
      if (open) open.to = performance.now();
    };
  }

  /** The most members down at one moment (an interval still open counts until now). */
  get maxDown(): number {
    const now = performance.now();
    const edges = this.intervals.flatMap((i) => [
      { at: i.from, delta: 1 },
      { at: i.to ?? now, delta: -1 },
    ]);
    // Ends before starts at the same instant: touching intervals are not overlapping.
    edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let down = 0;
    let most = 0;
    for (const e of edges) most = Math.max(most, (down += e.delta));
    return most;
  }
}
