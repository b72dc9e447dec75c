import { createHash } from "node:crypto";
import { canonicalJson } from "../util/json";
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
  return `sha256:${createHash("sha256").update(canonicalJson(rest)).digest("hex")}`;
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
