/**
 * The one graceful stop of a server: lame duck, wait up to the stop timeout for it to exit, kill it when it has
 * not. Every place that stops a server this way (a member's drain, a drain left over from a killed rollout, the
 * Pulumi providers' deletes) calls {@link stopGracefully}; what differs between them (their log lines, whether a
 * failed signal matters, how often they report progress) is passed in.
 */
import { ServerEndpoint } from "../spec";
import { HostDriver } from "./driver";

/** How one server is stopped. */
export interface GracefulStop {
  /** How long the server has to leave lame duck before it is killed, in seconds (the stop timeout). */
  readonly timeoutSeconds: number;
  /**
   * How lame duck is entered: the driver's signal by default (its failure is the stop's); `"best-effort"`, the
   * driver's signal with its failure ignored (the wait tells whether the server stops); `"already-sent"`, the server
   * is in lame duck already; or a function that sends it.
   */
  readonly signal?: "best-effort" | "already-sent" | (() => Promise<void>);
  /** When the timeout counts from (Date.now() ms); default once lame duck is entered. */
  readonly since?: number;
  /** The longest single wait, after which `waiting` is told; default the whole timeout in one wait. */
  readonly pollMs?: number;
  /** The shortest single wait, even when the deadline is nearer; default 0. */
  readonly minWaitMs?: number;
  /** After each wait that ended with the server still running before the deadline (progress lines). */
  readonly waiting?: () => Promise<void> | void;
  /** The deadline passed with the server still running: called just before the kill (its warning line). */
  readonly killing?: () => void;
  /** How the server is killed; default the driver's kill. */
  readonly kill?: () => Promise<void>;
}

/** Lame duck → wait up to the timeout → kill. Says whether the server exited by itself or was killed. */
export async function stopGracefully(
  driver: Pick<HostDriver, "signalLameDuck" | "waitForExit" | "kill">,
  server: ServerEndpoint,
  stop: GracefulStop,
): Promise<"exited" | "killed"> {
  const signal = stop.signal;
  if (typeof signal === "function") await signal();
  else if (signal === "best-effort") await driver.signalLameDuck(server).catch(() => undefined);
  else if (signal !== "already-sent") await driver.signalLameDuck(server);
  const deadline = (stop.since ?? Date.now()) + stop.timeoutSeconds * 1000;
  const pollMs = stop.pollMs ?? Number.POSITIVE_INFINITY;
  const minWaitMs = stop.minWaitMs ?? 0;
  while (!(await driver.waitForExit(server, Math.min(pollMs, Math.max(minWaitMs, deadline - Date.now()))))) {
    if (Date.now() >= deadline) {
      stop.killing?.();
      await (stop.kill ? stop.kill() : driver.kill(server));
      return "killed";
    }
    await stop.waiting?.();
  }
  return "exited";
}
