/**
 * The files a rollout writes besides its events (events-json.ts appends those as they happen): its figures in
 * Prometheus text (metrics.ts) and its picture (timeline.ts), both written when it ends, whatever the outcome. One
 * owner for the checks every such path gets before anything is touched, and for how the files are written, so the
 * command line and the Pulumi provider cannot differ.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describeError } from "../util/async";
import { rolloutMetricsText } from "./metrics";
import { RolloutReport } from "./report";
import { timelineSvg } from "./timeline";

/** Where the report's files go (absolute, or relative to the current directory). */
export interface ReportFiles {
  /** Prometheus text for node_exporter's textfile collector: must end in `.prom` (the collector reads only those). */
  readonly metricsFile?: string;
  /** The SVG timeline: must end in `.svg`. */
  readonly timelineFile?: string;
}

/** The ending each kind of file must have, and what reads it. */
export const REPORT_FILE_ENDINGS = { metricsFile: ".prom", timelineFile: ".svg" } as const;

/**
 * Why `file` cannot be written (or appended to), or undefined: the ending it must have, a directory that exists and
 * this user can write, and not a directory itself. Checked before anything is touched.
 */
export function outputFileProblem(file: string, ending?: string): string | undefined {
  if (file === "") return "is not a file's path";
  if (ending !== undefined && !file.endsWith(ending)) return `${file} does not end in ${ending}`;
  const resolved = path.resolve(file);
  const dir = path.dirname(resolved);
  try {
    if (!fs.statSync(dir).isDirectory()) return `${resolved}: ${dir} is not a directory`;
    fs.accessSync(dir, fs.constants.W_OK);
    if (fs.existsSync(resolved) && !fs.statSync(resolved).isFile()) return `${resolved} is not a file`;
  } catch (err) {
    // The system's own words: ENOENT (no such directory), EACCES (not writable by this user).
    return `${resolved}: ${(err as Error).message}`;
  }
  return undefined;
}

/** Every problem of `files`, by its key. */
export function reportFileProblems(files: ReportFiles): Array<{ key: keyof ReportFiles; problem: string }> {
  return (Object.keys(REPORT_FILE_ENDINGS) as Array<keyof ReportFiles>).flatMap((key) => {
    const file = files[key];
    const problem = file === undefined ? undefined : outputFileProblem(file, REPORT_FILE_ENDINGS[key]);
    return problem ? [{ key, problem }] : [];
  });
}

/** Write `text` to `file` whole: under a temporary name beside it, then renamed into place (no reader sees half). */
export function writeWhole(file: string, text: string): void {
  // Not ending in .prom or .svg: a collector never reads the half-written file.
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, text, { mode: 0o644 });
  fs.renameSync(temporary, file);
}

/**
 * Write the report's files. A file that cannot be written costs a warning, never the rollout (it is over). `say`
 * hears where each went; a timeline of a rollout with nothing to draw is not written.
 */
export async function writeReportFiles(
  files: ReportFiles,
  report: RolloutReport,
  cluster: string,
  say: (line: string) => void,
  warn: (line: string) => void,
): Promise<void> {
  if (files.metricsFile !== undefined) {
    const file = files.metricsFile;
    await rolloutMetricsText(report, cluster, new Date())
      .then((text) => writeWhole(file, text))
      .then(() => say(`rollout metrics written to ${file}`))
      .catch((err: unknown) => warn(`rollout metrics not written to ${file}: ${describeError(err)}`));
  }
  if (files.timelineFile !== undefined) {
    const file = files.timelineFile;
    try {
      const svg = timelineSvg(report, cluster);
      if (svg !== undefined) {
        writeWhole(file, svg);
        say(`the rollout drawn in ${file}`);
      }
    } catch (err) {
      warn(`rollout timeline not written to ${file}: ${describeError(err)}`);
    }
  }
}
