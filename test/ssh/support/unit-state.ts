/**
 * Watches which members are down by their hosts' own account, not through the network: every `intervalMs` it asks
 * each member VM's systemd for nats-server's `ActiveState` through `nsenter` into the VM (no packet crosses the lab's
 * network). A member is down when its unit says anything but `active` (deactivating: lame duck draining; inactive,
 * activating, failed) or its VM is powered off. An ask that fails or times out (a host too busy to answer within
 * 2 s) says nothing: that round does not count the member either way, and `unknownRounds` says how often it happened.
 *
 * Why beside the TCP reachability watch: that one connects through the very network a fault may slow or drop
 * (latency, loss, the userspace delayer behind it), so a stall of the network reads as members down; this one says
 * what the rollout itself had down. The fault matrix judges "down by the rollout" from this, and reports the
 * network's view apart.
 */
import { execFile } from "node:child_process";
import { ReachabilityRound } from "./reachability";
import { RoundWatch } from "./round-watch";

/** A member and how to reach its VM's systemd: the VM's leader pid now (it changes when the VM boots again). */
export interface UnitHost {
  readonly name: string;
  readonly leaderPid: () => number | null | undefined;
}

/** nats-server's unit state inside the VM whose systemd is `leaderPid`, or undefined when it cannot be asked. */
export function unitState(leaderPid: number, timeoutMs = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(
      "nsenter",
      ["-t", String(leaderPid), "-a", "systemctl", "show", "nats-server", "-p", "ActiveState", "--value"],
      { timeout: timeoutMs },
      (err, stdout) => resolve(err ? undefined : stdout.trim()),
    );
  });
}

/** One round: the members down, and what each unit said (`?`: not asked in time; `powered-off`: no VM). */
export interface UnitRound extends ReachabilityRound {
  readonly states: Readonly<Record<string, string>>;
}

export class UnitStateWatch extends RoundWatch<UnitRound> {
  /** Rounds in which some VM could not be asked in time (its member counted neither up nor down). */
  unknownRounds = 0;

  constructor(
    private readonly hosts: ReadonlyArray<UnitHost>,
    intervalMs = 200,
  ) {
    super(intervalMs);
  }

  protected async round(at: number): Promise<UnitRound> {
    const states = await Promise.all(
      this.hosts.map((h) => {
        const pid = h.leaderPid();
        return pid ? unitState(pid).then((state) => state ?? "?") : Promise.resolve("powered-off");
      }),
    );
    if (states.includes("?")) this.unknownRounds++;
    return {
      at,
      down: this.hosts.filter((_, i) => states[i] !== "active" && states[i] !== "?").map((h) => h.name),
      states: Object.fromEntries(this.hosts.map((h, i) => [h.name, states[i]])),
    };
  }

  /** The rounds with more than `limit` members down (leaving out `except`), as `+12.3s a=deactivating b=?` lines. */
  roundsOver(limit: number, except: ReadonlyArray<string> = [], since = this.rounds[0]?.at ?? 0): string[] {
    return this.rounds
      .filter((r) => r.down.filter((n) => !except.includes(n)).length > limit)
      .map(
        (r) =>
          `+${((r.at - since) / 1000).toFixed(1)}s ` +
          Object.entries(r.states)
            .map(([name, state]) => `${name}=${state}`)
            .join(" "),
      );
  }

  /** The most members down in one round, leaving out `except` (members a fault itself took down). */
  maxDownAtOnce(except: ReadonlyArray<string> = []): number {
    return Math.max(0, ...this.rounds.map((r) => r.down.filter((n) => !except.includes(n)).length));
  }
}
