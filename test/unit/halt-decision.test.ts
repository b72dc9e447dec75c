/** decideHalt is pure: every branch from a table of situations, and the advice table's words for one code. */
import { decideHalt, HaltSituation } from "../../engine/rollout/halt-decision";
import { HALT_ADVICE } from "../../engine/rollout/halt-advice";

const member = (name: string, touched: boolean, previousVersion: string | undefined = "2.14.9") => ({
  name,
  touched,
  previousVersion,
});

const base: HaltSituation = {
  step: "restart-member",
  at: "start",
  failedIsMember: true,
  members: [member("n1", true)],
  surgeIn: true,
  autoRollback: true,
};

describe("decideHalt", () => {
  it.each<[string, Partial<HaltSituation>, { kind: string; code: string } & Record<string, unknown>]>([
    [
      "the surge server could not join",
      { step: "surge-up", failedIsMember: false },
      { kind: "nothing-to-undo", code: "SurgeDidNotJoin" },
    ],
    [
      "the surge server could not leave",
      { step: "surge-down", failedIsMember: false },
      { kind: "nothing-to-undo", code: "SurgeNotRemoved" },
    ],
    [
      "the final check failed",
      { step: "final-check", at: "routes" },
      { kind: "nothing-to-undo", code: "FinalCheckFailed" },
    ],
    [
      "a member was lost between batches",
      { at: "observe", members: [member("n1", false)] },
      { kind: "member-lost", code: "MemberLost" },
    ],
    [
      "a download failed: untouched, surge leaves",
      { at: "stage", members: [member("n1", false)] },
      { kind: "untouched", code: "Untouched", removeSurge: true },
    ],
    [
      "untouched without a surge server",
      { at: "stage", members: [member("n1", false)], surgeIn: false },
      { kind: "untouched", code: "Untouched", removeSurge: false },
    ],
    [
      "the cluster was not whole: surge stays",
      { at: "cluster", members: [member("n1", false)] },
      { kind: "untouched", code: "ClusterNotWhole", removeSurge: false },
    ],
    [
      "no auto-rollback",
      { autoRollback: false },
      { kind: "leave-as-is", code: "LeftAsIs", why: "no-auto-rollback", changed: ["n1"] },
    ],
    [
      "a first start is never rolled back",
      { step: "start-cluster" },
      { kind: "leave-as-is", code: "LeftAsIs", why: "first-start" },
    ],
    [
      "no known previous version",
      { members: [{ name: "n1", touched: true, previousVersion: undefined }] },
      { kind: "leave-as-is", code: "LeftAsIs", why: "previous-unknown" },
    ],
    [
      "another member is down",
      { othersDown: "n3 (not running) is down" },
      { kind: "refuse-rollback", code: "RollbackRefusedOtherMemberDown", othersDown: "n3 (not running) is down" },
    ],
    ["roll back", {}, { kind: "roll-back", code: "RolledBack" }],
    [
      "a batch rolls back only the members it changed",
      { members: [member("n1", true), member("n2", true), member("n3", false)] },
      { kind: "roll-back", code: "RolledBack", changed: [member("n1", true), member("n2", true)] },
    ],
  ])("%s", (_name, situation, expected) => {
    expect(decideHalt({ ...base, ...situation })).toMatchObject(expected);
  });
});

describe("HALT_ADVICE", () => {
  // The one check of the words themselves: a batch's rollback names the batch, its version, and that it went together.
  it("says where a rolled-back batch is and that nothing else was touched", () => {
    const advice = HALT_ADVICE.RolledBack({
      subject: "batch 1 (n1, n2)",
      isBatch: true,
      changed: ["n1", "n2"],
      previousVersions: "2.14.9",
      surgeIn: true,
      surgeRemoved: true,
    });
    expect(advice).toBe(
      "batch 1 (n1, n2) is back on 2.14.9, every member of it rolled back together; no other member was touched; " +
        "fix the cause (see the log lines) before running again",
    );
  });
});
