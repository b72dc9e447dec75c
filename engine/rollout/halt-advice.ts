/**
 * The advice a halt report gives, written once per code: what the rollout left where, and what the operator does
 * next. Tests and programs read the code; this table is the one place its words live.
 */
import { HaltCode } from "./report";

/** The facts the words need. */
export interface AdviceFacts {
  /** The member (`nats-b`) or the batch (`batch 2 (nats-b, nats-c)`) that failed; for MemberLost, the lost member. */
  readonly subject: string;
  readonly isBatch: boolean;
  /** Members that were taken down or changed. */
  readonly changed: ReadonlyArray<string>;
  /** What they ran before (versions, comma-separated), when known. */
  readonly previousVersions?: string;
  /** The surge server was in the cluster when the step failed. */
  readonly surgeIn: boolean;
  /** The halt removed the surge server. */
  readonly surgeRemoved: boolean;
  /** RollbackRefusedOtherMemberDown: who else is down. */
  readonly othersDown?: string;
  /** RollbackFailed: why, per member. */
  readonly rollbackErrors?: string;
}

const keepsCarrying = (f: AdviceFacts) => (f.surgeIn ? "; the surge server keeps carrying clients" : "");
const listed = (names: ReadonlyArray<string>) => names.join(", ");

export const HALT_ADVICE: Readonly<Record<HaltCode, (f: AdviceFacts) => string>> = {
  SurgeDidNotJoin: () => "the surge server could not join and was removed; no member was touched",
  SurgeNotRemoved: () => "every member is at the target; the surge server could not be removed: run again to remove it",
  FinalCheckFailed: () => "no member was changed by this step; fix the cause and run again",
  RemovalIncomplete: (f) =>
    `${f.subject} is leaving and its removal stopped half-way (it is not started again: it is leaving); no member ` +
    "was touched; fix the cause named above, then run again: the removal resumes from what the servers report " +
    "(peer-remove, replicas whole, host cleaned)",
  Untouched: (f) =>
    `${f.subject} was never taken down: ${f.isBatch ? "they still run as before" : `it still runs ${f.previousVersions ?? "as before"}`} ` +
    `and serve${f.isBatch ? "" : "s"} clients${f.surgeRemoved ? "; the surge server was removed" : ""}; ` +
    "fix the cause and run again to resume",
  ClusterNotWhole: (f) =>
    `${f.subject} was never taken down: the rest of the cluster was not whole${keepsCarrying(f)}; bring the ` +
    "member(s) named back (their VM, their volume), check the cluster, then run again to resume",
  MemberLost: (f) =>
    `${f.subject} went down during the rollout without the rollout taking it down: nothing more was touched` +
    `${keepsCarrying(f)}; run again: the re-run starts it first, then goes on with the members left`,
  LeftAsIs: (f) =>
    `${f.subject} is left as it is${f.isBatch ? ` (${listed(f.changed)} changed or down)` : ""}${keepsCarrying(f)}; ` +
    "no other member was touched; fix the cause and run again, or set the previous version",
  RollbackRefusedOtherMemberDown: (f) =>
    `${f.subject} is NOT rolled back: ${f.othersDown}, and taking ${listed(f.changed)} down again would make more ` +
    `members down at once than the rollout allows; it runs as its gates last saw it${keepsCarrying(f)}; bring the ` +
    "other member back, then run again (the plan starts from what the servers report)",
  RollbackFailed: (f) =>
    `the rollback failed too (${f.rollbackErrors}); ${listed(f.changed)} may be down${keepsCarrying(f)}; ` +
    `no member outside ${f.subject} was touched`,
  RolledBack: (f) =>
    `${f.subject} is back on ${f.previousVersions}${f.isBatch ? ", every member of it rolled back together" : ""}; ` +
    "no other member was touched; fix the cause (see the log lines) before running again",
};
