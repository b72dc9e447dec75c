/**
 * Watches, from outside the engine, which members accept client connections: every `intervalMs` it tries a TCP
 * connect to each member's client port at once and records the round. During a rollout this is how a test proves
 * that never two members were down at the same moment, and measures how long each one was down.
 */
import * as net from "node:net";
import { ServerEndpoint } from "../../../engine/spec";
import { RoundWatch } from "./round-watch";

/** One polling round: the members that did not accept a connection. */
export interface ReachabilityRound {
  readonly at: number;
  readonly down: ReadonlyArray<string>;
}

/** Whether a TCP connect to host:port succeeds within `timeoutMs`. */
export function accepts(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

export class ReachabilityWatch extends RoundWatch<ReachabilityRound> {
  constructor(
    private readonly members: ReadonlyArray<ServerEndpoint>,
    intervalMs = 200,
  ) {
    super(intervalMs);
  }

  protected async round(at: number): Promise<ReachabilityRound> {
    const up = await Promise.all(this.members.map((m) => accepts(m.host, m.clientPort, 500)));
    return { at, down: this.members.filter((_, i) => !up[i]).map((m) => m.name) };
  }

  /** The most members down in any one round. */
  maxDownAtOnce(): number {
    return Math.max(0, ...this.rounds.map((r) => r.down.length));
  }

  /** Per member: the longest stretch of consecutive rounds it was down, in ms (first down round to first up again). */
  longestDownMs(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const m of this.members) {
      let since: number | undefined;
      let longest = 0;
      for (const round of this.rounds) {
        const down = round.down.includes(m.name);
        if (down && since === undefined) since = round.at;
        if (!down && since !== undefined) {
          longest = Math.max(longest, round.at - since);
          since = undefined;
        }
      }
      if (since !== undefined) longest = Math.max(longest, this.rounds.at(-1)!.at - since);
      out[m.name] = longest;
    }
    return out;
  }
}
