/**
 * The rollout's error types, in one place. A StepFailure is how a step (engine/rollout/steps.ts, cluster-check.ts)
 * tells the run it failed; the run turns it into a halt decision, never into a crash. RolloutRefused, RolloutHalted
 * and RolloutInterrupted exist only for callers of the throwing `runRollout`: inside the engine a rollout's end is a
 * RolloutOutcome value (outcome.ts).
 */
import { GateName } from "../gates/gate";
import { FailedAt, FailurePoint, StepKind } from "./events";
import { formatPlan, RolloutPlan } from "./plan";
import type { MemberReport, RolloutReport } from "./report";

/** Where a step failed: a gate, or a point outside the gates (never both). */
export type FailureLocation =
  { readonly gate: GateName; readonly point?: undefined } | { readonly point: FailurePoint; readonly gate?: undefined };

export type StepFailureOptions = FailureLocation & {
  readonly server: string;
  readonly step: StepKind;
  /** What the server (or its host) said. */
  readonly observation: string;
  /** What the step had measured before it failed (its drain, its gates), for the report. */
  readonly partial?: Partial<MemberReport>;
  /** The server was never taken down (the failure came before its lame duck): nothing to roll back. */
  readonly untouched?: boolean;
};

/** A step failed: which server, where, and what the server (or its host) said. */
export class StepFailure extends Error {
  readonly server: string;
  readonly step: StepKind;
  readonly gate?: GateName;
  readonly point?: FailurePoint;
  /** The gate or the point, whichever it was: what reports and log lines name. */
  readonly at: FailedAt;
  readonly observation: string;
  readonly partial?: Partial<MemberReport>;
  readonly untouched: boolean;

  constructor(options: StepFailureOptions) {
    const at: FailedAt = options.point === undefined ? options.gate : options.point;
    super(`${options.server}: ${options.step} failed at ${at}: ${options.observation}`);
    this.name = "StepFailure";
    this.server = options.server;
    this.step = options.step;
    this.gate = options.gate;
    this.point = options.point;
    this.at = at;
    this.observation = options.observation;
    this.partial = options.partial;
    this.untouched = options.untouched ?? false;
  }
}

/** Pre-flight or validation said no: nothing was touched. */
export class RolloutRefused extends Error {
  constructor(readonly plan: RolloutPlan) {
    super(formatPlan(plan));
    this.name = "RolloutRefused";
  }
}

/** A step failed: the rollout stopped; the report says where, what the server said, and whether it rolled back. */
export class RolloutHalted extends Error {
  constructor(readonly report: RolloutReport) {
    const h = report.halt;
    super(`rollout halted at ${h?.server} (${h?.step}), ${h?.gate}: ${h?.observation}`);
    this.name = "RolloutHalted";
  }
}

/** Stopped on request between two steps; the report says what is left and how to resume. */
export class RolloutInterrupted extends Error {
  constructor(readonly report: RolloutReport) {
    super(`rollout interrupted before ${report.interrupted?.before}: ${report.interrupted?.advice}`);
    this.name = "RolloutInterrupted";
  }
}
