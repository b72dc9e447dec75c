/**
 * A step (or a batch) failed: gather the facts, let decideHalt (halt-decision.ts) decide, do what it says, and end
 * the run with a halt report whose advice comes from the code (halt-advice.ts). Never touches a member outside the
 * failed step or batch.
 */
import { ServerEndpoint } from "../spec";
import { membersDownBesides } from "./cluster-check";
import { ClusterView, RolloutContext } from "./context";
import { StepFailure } from "./errors";
import { decideHalt, HaltDecision, HaltMember, HaltSituation } from "./halt-decision";
import { AdviceFacts, HALT_ADVICE } from "./halt-advice";
import { RolloutOutcome } from "./outcome";
import { PlannedStep } from "./plan";
import { HaltCode, HaltReport } from "./report";
import { Run } from "./run";
import { rollbackMember } from "./steps";
import { surgeDown } from "./surge-steps";

export interface HaltInput {
  /** Every failure of the step or batch; the first is the one the report names. */
  readonly failures: ReadonlyArray<StepFailure>;
  /** The failed step, or every step of the failed batch. */
  readonly steps: ReadonlyArray<PlannedStep>;
  /** The cluster as it was before the step (or batch) began. */
  readonly view: ClusterView;
}

export async function applyHalt(run: Run, input: HaltInput): Promise<RolloutOutcome> {
  const { ctx, ledger } = run;
  const first = input.failures[0];
  const batch = input.steps[0].batch;
  const names = membersOf(ctx, input);
  const report = await haltReportOf(ctx, input.failures);

  const situation = situationOf(run, input, names);
  let decision = decideHalt(situation);
  // The one question decideHalt cannot answer from what the run knows: is another member down right now?
  if (decision.kind === "roll-back") {
    const othersDown = await membersDownBesides(ctx, input.view, names);
    if (othersDown) decision = decideHalt({ ...situation, othersDown });
  }
  const undone = decision.kind === "nothing-to-undo" && decision.code !== "RemovalIncomplete";
  if (!undone && decision.kind !== "member-lost") recordFailures(run, input);

  const lost = decision.kind === "member-lost";
  const facts: AdviceFacts = {
    subject: lost || batch === undefined ? first.server : `batch ${batch} (${names.join(", ")})`,
    isBatch: batch !== undefined && !lost,
    changed: situation.members.filter((m) => m.touched).map((m) => m.name),
    previousVersions: ledger.previousOf(first.server)?.version,
    surgeIn: input.view.surgeIn,
    surgeRemoved: false,
  };
  const { code, adviceFacts } = await act(run, decision, input, names, facts);
  const halt: HaltReport = {
    ...report,
    code,
    rolledBack: code === "RolledBack",
    advice: HALT_ADVICE[code](adviceFacts),
  };
  return { status: "halted", report: await run.finish("halted", { halt }) };
}

/** What decideHalt needs, from the failures and the ledger: who was touched, and what each ran before. */
function situationOf(run: Run, input: HaltInput, names: ReadonlyArray<string>): HaltSituation {
  const { ctx, ledger } = run;
  const { failures, steps } = input;
  const batch = steps[0].batch;
  const members = names.map((name): HaltMember => {
    const failure = failures.find((f) => f.server === name);
    // A member of the batch that did not fail was touched when its change went through.
    const touched = failure ? !failure.untouched : ledger.latestChange(name, batch)?.result === "done";
    return { name, touched, previousVersion: ledger.previousOf(name)?.version };
  });
  return {
    step: steps[0].kind,
    at: failures[0].at,
    failedIsMember: ctx.spec.members.some((m) => m.name === failures[0].server),
    members,
    surgeIn: input.view.surgeIn,
    autoRollback: ctx.policy.autoRollback,
  };
}

/** Every failed member goes into the report as failed (a rollback then marks it rolled back). */
function recordFailures(run: Run, { failures, steps }: HaltInput): void {
  const batch = steps[0].batch;
  for (const f of failures) {
    const step = steps.find((s) => s.server === f.server);
    const action = step?.kind ?? f.step;
    // A leaving server's step goes to "removed", from the version it ran; a member's to the target.
    const leaving = step?.kind === "remove-member" ? { from: step.from, to: step.to } : { to: run.ctx.spec.version };
    run.ledger.failed({ name: f.server, action, batch, ...leaving, drainMs: f.partial?.drainMs }, f.at);
  }
}

/** Do what the decision says; a rollback may still fail, which is its own code. */
async function act(
  run: Run,
  decision: HaltDecision,
  input: HaltInput,
  names: ReadonlyArray<string>,
  facts: AdviceFacts,
): Promise<{ code: HaltCode; adviceFacts: AdviceFacts }> {
  const { ctx, ledger } = run;
  switch (decision.kind) {
    case "nothing-to-undo":
    case "member-lost":
    case "leave-as-is":
      return { code: decision.code, adviceFacts: facts };
    case "refuse-rollback":
      return { code: decision.code, adviceFacts: { ...facts, othersDown: decision.othersDown } };
    case "untouched":
      // Nothing is down: the surge server is not needed any more, and a re-run brings it up again.
      if (decision.removeSurge) await surgeDown(ctx).catch(() => undefined);
      return { code: decision.code, adviceFacts: { ...facts, surgeRemoved: decision.removeSurge } };
    case "roll-back": {
      // Together: they were safe down together, and a rollback keeps the rollout's pacing.
      const failedNames = input.failures.map((f) => f.server).join(", ");
      const batch = input.steps[0].batch;
      const results = await Promise.allSettled(
        decision.changed.map(async ({ name }) => {
          const previous = ledger.previousOf(name);
          if (!previous) throw new Error(`${name}: its previous version is not known`);
          return rollbackMember(ctx, rollbackView(input.view, names, name), ctx.member(name), previous);
        }),
      );
      const notBack: string[] = [];
      results.forEach((result, i) => {
        const name = decision.changed[i].name;
        if (result.status === "fulfilled") {
          const gatesMs = result.value.gateTimings?.at(-1)?.ms ?? 0;
          ledger.rolledBack(name, batch, gatesMs, `rolled back with its batch (${failedNames} failed)`);
        } else {
          const e = result.reason as unknown;
          notBack.push(`${name}: ${e instanceof StepFailure ? `${e.at}: ${e.observation}` : String(e)}`);
        }
      });
      if (notBack.length > 0) {
        return { code: "RollbackFailed", adviceFacts: { ...facts, rollbackErrors: notBack.join("; ") } };
      }
      if (input.view.surgeIn) await surgeDown(ctx);
      const versions = [...new Set(decision.changed.map((m) => m.previousVersion))].join(", ");
      return { code: decision.code, adviceFacts: { ...facts, previousVersions: versions, surgeRemoved: true } };
    }
  }
}

/** The members the failed step or batch is about: its member steps' servers, and any member that failed in it. */
function membersOf(ctx: RolloutContext, input: HaltInput): string[] {
  // A leaving server counts as the member of its remove-member step.
  const known = (name: string) => [...ctx.spec.members, ...ctx.leaving].some((m) => m.name === name);
  const names = input.steps.flatMap((s) => (s.server !== undefined && known(s.server) ? [s.server] : []));
  for (const f of input.failures) {
    if (!names.includes(f.server) && known(f.server)) names.push(f.server);
  }
  return names;
}

/** The cluster as a member being rolled back sees it: the other members of its batch are down, it is not. */
function rollbackView(view: ClusterView, batch: ReadonlyArray<string>, member: string): ClusterView {
  return { ...view, down: new Set([...view.down, ...batch].filter((n) => n !== member)) };
}

/** Where it failed and what the server's log says; every failure goes to the log as a halt line. */
async function haltReportOf(
  ctx: RolloutContext,
  failures: ReadonlyArray<StepFailure>,
): Promise<Omit<HaltReport, "code" | "rolledBack" | "advice">> {
  const first = failures[0];
  const server: ServerEndpoint | undefined =
    first.server === ctx.spec.surge.name
      ? ctx.spec.surge
      : [...ctx.spec.members, ...ctx.leaving].find((m) => m.name === first.server);
  const logTail = server ? await ctx.driver.readLog(server, 15).catch(() => "") : "";
  for (const f of failures) {
    ctx.log.emit({ kind: "halt", step: f.step, server: f.server, message: `${f.at}: ${f.observation}` });
  }
  return { server: first.server, step: first.step, gate: first.at, observation: first.observation, logTail };
}
