/**
 * How a rollout ended, as a value: every normal end (done, halted, interrupted, refused) is one of these, so the
 * engine's callers branch on `status` instead of catching exceptions. Only a bug or an I/O error outside any step
 * still throws.
 */
import { RolloutHalted, RolloutInterrupted, RolloutRefused } from "./errors";
import { RolloutPlan } from "./plan";
import { RolloutReport } from "./report";

export type RolloutOutcome =
  /** Succeeded, or nothing to change (`report.result` says which). */
  | { readonly status: "done"; readonly report: RolloutReport }
  | { readonly status: "halted"; readonly report: RolloutReport }
  | { readonly status: "interrupted"; readonly report: RolloutReport }
  /** Nothing was touched: the plan (or pre-flight) refused, and the plan says why. */
  | { readonly status: "refused"; readonly plan: RolloutPlan };

/** The report of a rollout that went through, or the outcome as the exception the throwing API has always used. */
export function reportOrThrow(outcome: RolloutOutcome): RolloutReport {
  switch (outcome.status) {
    case "done":
      return outcome.report;
    case "halted":
      throw new RolloutHalted(outcome.report);
    case "interrupted":
      throw new RolloutInterrupted(outcome.report);
    case "refused":
      throw new RolloutRefused(outcome.plan);
  }
}
