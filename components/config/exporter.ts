/**
 * The exporter setting every systemd platform shares, as stack config: `<platform>.exporter` (engine/exporter.ts),
 * a release installed beside each server. The rule it must meet lives in the engine; this reads it, names the stack
 * config key in each problem, and checks its port against the servers' own.
 */
import { ExporterRelease, exporterProblems } from "../../engine/exporter";
import type { ServerPlacement } from "../platforms/platform";
import { decodeJson, Obj, Problems } from "./values";

/** Reads `obj.exporter` of the `prefix` config object (`ssh`, `aws`) for hosts of `arch`; undefined when unset. */
export function readExporterSetting(p: Problems, prefix: string, obj: Obj, arch: string): ExporterRelease | undefined {
  let raw = decodeJson(obj.exporter);
  if (raw === undefined) return undefined;
  // `pulumi config set --path …exporter.port 7777` stores text: a whole number in text is the number.
  const port = (raw as Obj | null)?.port;
  if (typeof port === "string" && /^\d+$/.test(port)) raw = { ...(raw as Obj), port: Number(port) };
  const problems = exporterProblems(raw, `${prefix}.exporter`, arch);
  for (const problem of problems) p.add(problem.field, problem.message);
  return problems.length === 0 ? (raw as ExporterRelease) : undefined;
}

/** A problem under `<prefix>.exporter.port` when a server of the stack uses that port itself. */
export function exporterPortClash(
  p: Problems,
  prefix: string,
  exporter: ExporterRelease | undefined,
  servers: ReadonlyArray<ServerPlacement>,
): void {
  if (!exporter) return;
  const clash = servers.find((s) => [s.clientPort, s.clusterPort, s.monitorPort].includes(exporter.port));
  if (clash) {
    p.add(
      `${prefix}.exporter.port`,
      `${exporter.port} is a port of ${clash.name} (client ${clash.clientPort}, cluster ${clash.clusterPort}, ` +
        `monitoring ${clash.monitorPort}); give the exporter a port of its own (e.g. 7777)`,
    );
  }
}
