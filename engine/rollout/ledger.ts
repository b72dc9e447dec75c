/**
 * What a rollout has done so far, member by member, as named operations: the report's entries, what each member
 * ran before this run changed it (for a rollback), and the surge server's lifetime. The run, the batches and the
 * halt write here and nowhere else, so the report is read from one place.
 */
import { seconds } from "../util/duration";
import { FailedAt, StepKind } from "./events";
import { MemberReport, RolloutReport } from "./report";

/** What a member ran before this run changed it: what a rollback puts back. */
export interface PreviousRun {
  readonly version: string;
  readonly configText?: string;
}

/** Where an entry belongs: a member, the step that changed it, and its batch when the rollout is batched. */
interface EntryKey {
  readonly name: string;
  readonly action: StepKind;
  readonly batch?: number;
}

export class RunLedger {
  private readonly entries: MemberReport[] = [];
  private readonly previous = new Map<string, PreviousRun>();
  private surgeStartedAt?: number;
  private surgeVersion?: string;
  private surgeReadyMs?: number;
  private surgeDrainMs?: number;

  /** Every entry so far, in the order they happened. */
  get members(): ReadonlyArray<MemberReport> {
    return this.entries;
  }

  rememberPrevious(name: string, previous: PreviousRun): void {
    this.previous.set(name, previous);
  }

  /** The member had nothing else to go back to (it had the target installed already). */
  forgetPrevious(name: string): void {
    this.previous.delete(name);
  }

  previousOf(name: string): PreviousRun | undefined {
    return this.previous.get(name);
  }

  /** A member reached the target (or a bootstrap member passed its gates). */
  done(entry: Omit<MemberReport, "result">): void {
    this.entries.push({ ...entry, result: "done" });
  }

  /** A member was already at the target when its step came. */
  skipped(key: EntryKey & { from?: string; to: string }, note = "already at the target"): void {
    this.entries.push({ ...key, result: "skipped", note });
  }

  /** A member's step failed at `at`. */
  failed(key: EntryKey & { from?: string; to: string; drainMs?: number }, at: FailedAt): void {
    this.entries.push({
      ...key,
      from: key.from ?? this.previous.get(key.name)?.version,
      result: "failed",
      note: `failed at ${at}`,
    });
  }

  /** The latest entry of `name` in `batch` (undefined: not batched) that changed it or failed: what a halt reads. */
  latestChange(name: string, batch?: number): MemberReport | undefined {
    return [...this.entries].reverse().find((m) => m.name === name && m.batch === batch && m.result !== "skipped");
  }

  /**
   * `name` is back on its previous version after its gates passed in `gatesMs`; `why` says why it went back when it
   * did not fail itself (it was rolled back with its batch).
   */
  rolledBack(name: string, batch: number | undefined, gatesMs: number, why: string): void {
    const entry = this.latestChange(name, batch);
    if (!entry) return;
    const back = `back on ${this.previous.get(name)?.version ?? "its previous version"}, its gates passed in ${seconds(gatesMs)}`;
    const note = entry.result === "failed" ? `${entry.note}; ${back}` : `${why}; ${back}`;
    this.entries[this.entries.lastIndexOf(entry)] = { ...entry, result: "rolled-back", note };
  }

  /** Names of the members this run took to the target, in order. */
  doneNames(): string[] {
    return this.entries.filter((m) => m.result === "done").map((m) => m.name);
  }

  surgeJoining(version: string): void {
    this.surgeStartedAt = Date.now();
    this.surgeVersion = version;
  }

  surgeReady(ms: number): void {
    this.surgeReadyMs = ms;
  }

  surgeDrained(ms: number): void {
    this.surgeDrainMs = ms;
  }

  /** The report's surge section, when this run brought (or adopted) a surge server. */
  surgeReport(name: string, removed: boolean): RolloutReport["surge"] {
    if (this.surgeStartedAt === undefined) return undefined;
    return {
      name,
      version: this.surgeVersion,
      lifetimeMs: Date.now() - this.surgeStartedAt,
      startedAtMs: this.surgeStartedAt,
      ...(this.surgeReadyMs !== undefined ? { readyMs: this.surgeReadyMs } : {}),
      ...(this.surgeDrainMs !== undefined ? { drainMs: this.surgeDrainMs } : {}),
      removed,
    };
  }
}
