import { sleep } from "../util/async";
import { Gate, GateName, GateObservation, GateTarget } from "./gate";

export interface GateTiming {
  readonly gate: GateName;
  /** Time from the start of the wait until the gate first passed. */
  readonly ms: number;
}

/** What every gate run reports, passed or not. */
interface GateRunTimes {
  /** Per gate, how long it took to pass (gates are waited for in order). */
  readonly timings: ReadonlyArray<GateTiming>;
  /** Time spent holding every gate green (the soak). */
  readonly soakMs: number;
  readonly totalMs: number;
}

/** Which gate failed, and the server's last answer. */
export interface GateFailure {
  readonly gate: GateName;
  readonly observation: string;
}

/** Passed, or failed with the gate and what the server said: a failure always carries its reason. */
export type GateRunResult =
  | (GateRunTimes & { readonly passed: true })
  | (GateRunTimes & { readonly passed: false; readonly failure: GateFailure });

export interface GateRunOptions {
  /** The whole wait, soak included, must end by then (no wait in the engine is unbounded). */
  readonly deadlineMs: number;
  readonly pollMs: number;
  /** Every gate must keep passing for this long; a failure during the soak restarts it. */
  readonly soakMs: number;
  /** Called while a gate is still failing, at most every `progressEveryMs`, so long waits are visible. */
  readonly onWaiting?: (gate: GateName, elapsedMs: number, last: GateObservation) => void;
  readonly onPassed?: (gate: GateName, elapsedMs: number, last: GateObservation) => void;
  readonly onSoakReset?: (gate: GateName, last: GateObservation) => void;
  readonly progressEveryMs?: number;
}

/**
 * Wait for each gate in order, then hold all of them green for the soak time (one healthz pass right after a
 * restart proves little: nats-server#4875). Fails at the deadline with the last observation of the failing gate.
 */
export async function runGates(
  target: GateTarget,
  gates: ReadonlyArray<Gate>,
  options: GateRunOptions,
): Promise<GateRunResult> {
  const started = Date.now();
  const deadline = started + options.deadlineMs;
  const progressEvery = options.progressEveryMs ?? 5000;
  const timings: GateTiming[] = [];
  let soakStarted = 0;
  const fail = (gate: GateName, last: GateObservation): GateRunResult => ({
    passed: false,
    timings,
    soakMs: soakStarted ? Date.now() - soakStarted : 0,
    totalMs: Date.now() - started,
    failure: { gate, observation: last.observation },
  });

  for (;;) {
    // Phase 1: each gate in order until it passes (after a soak reset, first-pass timings stay as recorded).
    for (const gate of gates) {
      let lastProgress = Date.now();
      for (;;) {
        const last = await gate.check(target);
        if (last.ok) {
          if (!timings.some((t) => t.gate === gate.name)) timings.push({ gate: gate.name, ms: Date.now() - started });
          options.onPassed?.(gate.name, Date.now() - started, last);
          break;
        }
        if (Date.now() + options.pollMs > deadline) return fail(gate.name, last);
        if (Date.now() - lastProgress >= progressEvery) {
          options.onWaiting?.(gate.name, Date.now() - started, last);
          lastProgress = Date.now();
        }
        await sleep(options.pollMs);
      }
    }
    // Phase 2: the soak: all gates, every poll, for soakMs.
    soakStarted = Date.now();
    let reset = false;
    while (Date.now() - soakStarted < options.soakMs) {
      await sleep(Math.min(options.pollMs, Math.max(0, options.soakMs - (Date.now() - soakStarted))));
      for (const gate of gates) {
        const last = await gate.check(target);
        if (!last.ok) {
          if (Date.now() + options.pollMs > deadline) return fail(gate.name, last);
          options.onSoakReset?.(gate.name, last);
          reset = true;
          break;
        }
      }
      if (reset) break;
    }
    if (!reset) {
      return { passed: true, timings, soakMs: Date.now() - soakStarted, totalMs: Date.now() - started };
    }
  }
}
