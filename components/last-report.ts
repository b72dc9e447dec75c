/**
 * The last bootstrap or rollout as the RollingUpgrade resource records it (an output of the stack): a summary as
 * data, and the engine's report as text. Plain JSON: outputs are protobuf Structs.
 */
import type { RolloutReport } from "../engine";
import type { EngineModule } from "./engine-module";

/** The last bootstrap or rollout, as text and as data. */
export interface LastReport {
  /** What it was: the start of a cluster, or a rolling change. */
  readonly kind: "bootstrap" | "rollout";
  /** `succeeded`, `halted`, `interrupted`, `no-change` or `refused`. */
  readonly result: string;
  /** The version the cluster was taken to. */
  readonly targetVersion: string;
  /** When it finished (ISO 8601). */
  readonly finishedAt: string;
  /** Total time in seconds. */
  readonly totalSeconds: number;
  /** Per member: from → to, what was done, the result, time without serving clients. */
  readonly members: ReadonlyArray<{
    readonly name: string;
    readonly action: string;
    readonly from?: string;
    readonly to: string;
    readonly result: string;
    readonly downSeconds?: number;
  }>;
  /** Where it stopped, when it halted. */
  readonly halt?: {
    /** Why it halted and what was done about it (the engine's HaltCode: RolledBack, Untouched, …). */
    readonly code: string;
    readonly server: string;
    readonly step: string;
    readonly gate: string;
    readonly observation: string;
    readonly rolledBack: boolean;
    readonly advice: string;
  };
  /** What is left and how to resume, when it was interrupted. */
  readonly interrupted?: { readonly before: string; readonly advice: string };
  /** The engine's report, formatted for people. */
  readonly text: string;
}

const tenths = (ms: number) => Math.round(ms / 100) / 10;

export function reportOf(engine: EngineModule, report: RolloutReport): LastReport {
  const h = report.halt;
  return JSON.parse(
    JSON.stringify({
      kind: report.kind,
      result: report.result,
      targetVersion: report.targetVersion,
      finishedAt: new Date().toISOString(),
      totalSeconds: tenths(report.totalMs),
      members: report.members.map((m) => ({
        name: m.name,
        action: m.action,
        from: m.from,
        to: m.to,
        result: m.result,
        downSeconds: m.downMs === undefined ? undefined : tenths(m.downMs),
      })),
      halt: h
        ? {
            code: h.code,
            server: h.server,
            step: h.step,
            gate: h.gate,
            observation: h.observation,
            rolledBack: h.rolledBack,
            advice: h.advice,
          }
        : undefined,
      interrupted: report.interrupted,
      text: engine.formatReport(report),
    }),
  ) as LastReport;
}
