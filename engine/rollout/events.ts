import { GateName } from "../gates/gate";
import { seconds } from "../util/duration";

export type StepKind =
  | "start-cluster"
  | "preflight"
  | "surge-up"
  | "recover-member"
  | "add-member"
  | "remove-member"
  | "restart-member"
  | "reload-member"
  | "load-route-tls"
  | "rollback-member"
  | "surge-down"
  | "final-check";

/**
 * Where a step failed when it was not one of its health gates: a host operation (fetching the binary, starting,
 * the lame duck), the look at the cluster before a batch (a member found down the rollout did not take down:
 * "observe"), or the check that the rest of the cluster is whole before a member's lame duck ("cluster").
 */
export type FailurePoint =
  "stage" | "start" | "lame-duck" | "observe" | "cluster" | "peer-remove" | "replicas" | "deprovision";

/** Where a step failed: one of its gates, or a point outside them. */
export type FailedAt = GateName | FailurePoint;

/** Something the rollout did or saw, emitted as it happens. */
export interface RolloutEvent {
  /** Milliseconds since the rollout started. */
  readonly elapsedMs: number;
  readonly kind: "info" | "step-start" | "step-done" | "step-skip" | "gate-wait" | "gate-pass" | "warning" | "halt";
  readonly step?: StepKind;
  readonly server?: string;
  readonly gate?: GateName;
  /** How long the step or the gates took, for `step-done` and `gate-pass`. */
  readonly durationMs?: number;
  readonly message: string;
  /** The cluster it belongs to, when the run rolls several (a supercluster); absent for a lone cluster. */
  readonly cluster?: string;
}

export type EventSink = (event: RolloutEvent) => void;

/**
 * One readable line per event: `[  12.3s] nats-b  restart-member  gate routes waiting 4.0s: /routez peers [...]`,
 * with `cluster east: ` after the time when the run rolls several clusters.
 */
export function formatEvent(e: RolloutEvent): string {
  const at = `[${seconds(e.elapsedMs).padStart(7)}]`;
  const who = (e.server ?? "cluster").padEnd(14);
  const what = e.gate ? `gate ${e.gate}` : (e.step ?? "");
  const mark = e.kind === "halt" ? "HALT " : e.kind === "warning" ? "WARN " : "";
  const where = e.cluster !== undefined ? `cluster ${e.cluster}: ` : "";
  return `${at} ${where}${who} ${mark}${what ? `${what}: ` : ""}${e.message}`;
}

/** An EventSink that also records every event (reports and tests read them back). */
export class EventLog {
  readonly events: RolloutEvent[] = [];
  private readonly started = Date.now();
  constructor(private readonly forward?: EventSink) {}

  emit(event: Omit<RolloutEvent, "elapsedMs">): void {
    const full = { ...event, elapsedMs: Date.now() - this.started } as RolloutEvent;
    this.events.push(full);
    this.forward?.(full);
  }
  /** When the rollout started (epoch milliseconds): what the report's windows are measured from. */
  startedAtMs(): number {
    return this.started;
  }

  elapsedMs(): number {
    return Date.now() - this.started;
  }
}
