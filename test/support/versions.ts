import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** versions.env is the one place pinned versions live; tests read it rather than repeat the numbers. */
function readVersionsEnv(): Record<string, string> {
  // Found by walking up, so this works from test/support and from the compiled dist/test/support (the benchmark).
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "versions.env")) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  const text = fs.readFileSync(path.join(dir, "versions.env"), "utf8");
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = line.match(/^([A-Z0-9_]+)=(?:"([^"]*)"|(\S*))/);
    if (m) out[m[1]] = m[2] ?? m[3];
  }
  return out;
}

const env = readVersionsEnv();

/** Pinned nats-server versions, oldest first: [older minor latest patch, newer minor patch N, newer minor patch N+1].
 * */
export const NATS_VERSIONS: string[] = env.NATS_SERVER_VERSIONS.split(/\s+/).filter(Boolean);
export const [OLD_MINOR, NEW_MINOR_PREV_PATCH, NEW_MINOR] = NATS_VERSIONS;

/** Where scripts/provision.sh puts the binaries: `<dir>/v<version>/nats-server`. */
export const BIN_CACHE =
  process.env.NATS_SERVER_BIN_CACHE ?? path.join(os.homedir(), ".cache", "nats-cluster", "nats-server");

export function natsServerBinary(version: string): string {
  return path.join(BIN_CACHE, `v${version}`, "nats-server");
}

/** node_exporter, the real exporter the lab's release server serves for the stacks' `exporter` setting. */
export const NODE_EXPORTER_VERSION: string | undefined = env.NODE_EXPORTER_VERSION;

/** Where scripts/provision.sh --for test builds it; the lab serves it only when it is there. */
export function nodeExporterBinary(): string | undefined {
  if (!NODE_EXPORTER_VERSION) return undefined;
  const cache = process.env.NATS_CLUSTER_CACHE ?? path.join(os.homedir(), ".cache", "nats-cluster");
  return path.join(cache, "node_exporter", `v${NODE_EXPORTER_VERSION}`, "node_exporter");
}
