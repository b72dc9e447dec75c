/**
 * The events of a rollout as data: the one JSON shape of a RolloutEvent (an {@link EventRecord}), and the NDJSON
 * file the command line's `--events FILE` and the stack's `rollout.eventsFile` append them to, one line per event,
 * each written before the rollout goes on (so `tail -f` follows a rollout as it happens). Versioned by `schema`, as
 * the plan document is (plan-json.ts).
 *
 * Events carry no secret (the engine's messages name servers, versions, gates and what a server said, never a
 * credential), so neither do their records.
 */
import * as fs from "node:fs";
import { GateName } from "../gates/gate";
import { describeError } from "../util/async";
import { EventSink, RolloutEvent, StepKind } from "./events";

export const EVENT_SCHEMA = "nats-cluster/event@1";

/** One event as one JSON line. Fields the event does not have are absent. */
export interface EventRecord {
  readonly schema: typeof EVENT_SCHEMA;
  /** When it happened, wall clock, ISO 8601 in UTC. */
  readonly time: string;
  /**
   * Milliseconds since the rollout started (a wait for members still draining from an earlier run, before it,
   * counts from its own start).
   */
  readonly elapsedMs: number;
  /** The cluster's `cluster.name`. */
  readonly cluster: string;
  readonly kind: RolloutEvent["kind"];
  readonly step?: StepKind;
  readonly server?: string;
  readonly gate?: GateName;
  /** How long the step or the gates took, on `step-done` and `gate-pass`. */
  readonly durationMs?: number;
  readonly message: string;
}

/** An event as its record; `at` is when it happened (an event reaches its sinks as it is emitted). */
export function eventRecord(event: RolloutEvent, cluster: string, at: Date = new Date()): EventRecord {
  return {
    schema: EVENT_SCHEMA,
    time: at.toISOString(),
    elapsedMs: event.elapsedMs,
    // The event's own cluster when a supercluster run set one, else the cluster the file was opened for.
    cluster: event.cluster ?? cluster,
    kind: event.kind,
    ...(event.step !== undefined ? { step: event.step } : {}),
    ...(event.server !== undefined ? { server: event.server } : {}),
    ...(event.gate !== undefined ? { gate: event.gate } : {}),
    ...(event.durationMs !== undefined ? { durationMs: event.durationMs } : {}),
    message: event.message,
  };
}

/** An events file open for appending. */
export interface EventsFile {
  /** Appends the event's record as one line; it is in the file when this returns. */
  readonly sink: EventSink;
  close(): void;
}

/**
 * Open `file` for appending (created when missing, never truncated: every run adds its lines). Throws when it cannot
 * be opened, before anything is touched. A write that fails later (a full disk) costs the rest of the file, not the
 * rollout: `onError` hears of it once.
 */
export function openEventsFile(file: string, cluster: string, onError: (message: string) => void): EventsFile {
  let fd: number | undefined = fs.openSync(file, "a");
  return {
    sink: (event) => {
      if (fd === undefined) return;
      try {
        // One write of the whole line on an O_APPEND descriptor: no torn line, and no buffer to flush.
        fs.writeSync(fd, `${JSON.stringify(eventRecord(event, cluster))}\n`);
      } catch (err) {
        onError(`events file ${file}: ${describeError(err)}; no more events are written to it`);
        const broken = fd;
        fd = undefined;
        fs.close(broken, () => undefined);
      }
    },
    close: () => {
      if (fd !== undefined) fs.closeSync(fd);
      fd = undefined;
    },
  };
}
