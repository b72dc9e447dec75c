import { createHash } from "node:crypto";
import { HostDriver } from "../hosts/driver";
import { ClusterSpec, ServerEndpoint } from "../spec";
import { serverConfigFor } from "./for-server";
import { renderServerConfig } from "./render";
import { ServerConfig } from "./server-config";

const DIGEST_LINE = /^# nats-cluster restart-digest: (sha256:[0-9a-f]{64})$/m;

/**
 * The digest of the settings a config reload cannot change safely: everything but client auth and TLS, which
 * nats-server reloads on SIGHUP, so changing only them is a rolling reload, not a rolling restart.
 * Routes are deliberately NOT reloadable here: reloading a smaller route list (explicit → seed) drops the removed
 * routes and nothing re-gossips them, so the mesh stays broken (seen in test/rollout/config-change.test.ts before
 * this rule); a restart rejoins through the seeds and gossip completes the mesh.
 */
export function restartDigest(cfg: ServerConfig): string {
  const { auth: _auth, tls: _tls, ...rest } = cfg;
  return `sha256:${createHash("sha256").update(stableStringify(rest)).digest("hex")}`;
}

/** JSON with object keys sorted at every level, so equal settings always give equal digests. */
function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The full config file for one server: a digest header (read back by the planner) and the rendered config. */
export function configTextFor(
  spec: ClusterSpec,
  server: ServerEndpoint,
  driver: HostDriver,
  listenHost?: string,
): string {
  const cfg = serverConfigFor(spec, server, driver.layout(server), listenHost ? { listenHost } : undefined);
  return `# Written by the nats-cluster rollout engine; edits are overwritten.\n# nats-cluster restart-digest: ${restartDigest(cfg)}\n${renderServerConfig(cfg)}`;
}

/** The restart digest recorded in a config file, or undefined for files this engine did not write. */
export function readRestartDigest(configText: string | undefined): string | undefined {
  return configText?.match(DIGEST_LINE)?.[1];
}
