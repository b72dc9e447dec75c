/**
 * What to do when a step failed, decided from facts alone (no I/O), in the order that matters: nothing of a member
 * was changed by the step; a member went down that the rollout did not take down; the failed member(s) were never
 * taken down; a rollback is not wanted or not possible; another member is down (a rollback would make two down);
 * otherwise roll back. A single member is a batch of one: there is one decision for both. applyHalt (halt.ts)
 * gathers the facts and does what the decision says.
 */
import { FailedAt } from "./events";
import { PlannedStepKind } from "./plan";
import { HaltCode } from "./report";

/** One member of the failed step (or batch): whether it was taken down or changed, and what it ran before. */
export interface HaltMember {
  readonly name: string;
  readonly touched: boolean;
  /** Undefined when this run does not know it (nothing to roll back to). */
  readonly previousVersion?: string;
}

export interface HaltSituation {
  /** The kind of the step that failed (a batch: its members' kind). */
  readonly step: PlannedStepKind;
  /** Where the first failure happened: a gate, or a point outside the gates. */
  readonly at: FailedAt;
  /** The failed server is a member of the cluster (not the surge server). */
  readonly failedIsMember: boolean;
  /** The members of the failed step or batch; empty for a step that changes no member. */
  readonly members: ReadonlyArray<HaltMember>;
  readonly surgeIn: boolean;
  readonly autoRollback: boolean;
  /**
   * Other members found down (words for the advice), asked only once a first decision said "roll back": undefined
   * when not asked or when every other member is up.
   */
  readonly othersDown?: string;
}

export type HaltDecision =
  /** The step changes no member (the surge server's steps, the final check): nothing to undo. */
  | {
      readonly kind: "nothing-to-undo";
      readonly code: "SurgeDidNotJoin" | "SurgeNotRemoved" | "FinalCheckFailed" | "RemovalIncomplete";
    }
  /** A member went down between batches without the rollout taking it down: stop, touch nothing more. */
  | { readonly kind: "member-lost"; readonly code: "MemberLost" }
  /**
   * No member of the step was taken down. The surge server leaves (a re-run brings it again) unless the cluster
   * itself is short of a member: then it keeps carrying the clients it took over.
   */
  | { readonly kind: "untouched"; readonly code: "Untouched" | "ClusterNotWhole"; readonly removeSurge: boolean }
  /** Members were changed and stay as they are. */
  | {
      readonly kind: "leave-as-is";
      readonly code: "LeftAsIs";
      readonly why: "no-auto-rollback" | "first-start" | "previous-unknown";
      readonly changed: ReadonlyArray<string>;
    }
  /** A rollback would take a second member down: it is refused. */
  | {
      readonly kind: "refuse-rollback";
      readonly code: "RollbackRefusedOtherMemberDown";
      readonly changed: ReadonlyArray<string>;
      readonly othersDown: string;
    }
  /** Put every changed member back on what it ran before, together, through the same gates; then the surge leaves. */
  | { readonly kind: "roll-back"; readonly code: "RolledBack"; readonly changed: ReadonlyArray<HaltMember> };

/** Every halt code a decision can give (a failed rollback is found only by doing it: RollbackFailed). */
export type DecidedHaltCode = Exclude<HaltCode, "RollbackFailed">;

export function decideHalt(s: HaltSituation): HaltDecision {
  if (s.step === "surge-up") return { kind: "nothing-to-undo", code: "SurgeDidNotJoin" };
  if (s.step === "surge-down") return { kind: "nothing-to-undo", code: "SurgeNotRemoved" };
  // A leaving server is never started again by a halt: it is leaving; a re-run resumes its removal from what the
  // servers report. Refused before it was touched: as untouched as any member.
  if (s.step === "remove-member") {
    if (s.members.some((m) => m.touched)) return { kind: "nothing-to-undo", code: "RemovalIncomplete" };
    const short = s.at === "cluster";
    return { kind: "untouched", code: short ? "ClusterNotWhole" : "Untouched", removeSurge: s.surgeIn && !short };
  }
  if (s.step === "final-check" || !s.failedIsMember) return { kind: "nothing-to-undo", code: "FinalCheckFailed" };
  if (s.at === "observe") return { kind: "member-lost", code: "MemberLost" };

  const changed = s.members.filter((m) => m.touched);
  if (changed.length === 0) {
    const short = s.at === "cluster";
    return { kind: "untouched", code: short ? "ClusterNotWhole" : "Untouched", removeSurge: s.surgeIn && !short };
  }
  const names = changed.map((m) => m.name);
  const why = !s.autoRollback
    ? "no-auto-rollback"
    : s.step === "start-cluster"
      ? "first-start"
      : changed.some((m) => m.previousVersion === undefined)
        ? "previous-unknown"
        : undefined;
  if (why) return { kind: "leave-as-is", code: "LeftAsIs", why, changed: names };
  if (s.othersDown !== undefined) {
    return {
      kind: "refuse-rollback",
      code: "RollbackRefusedOtherMemberDown",
      changed: names,
      othersDown: s.othersDown,
    };
  }
  return { kind: "roll-back", code: "RolledBack", changed };
}
