import { createHash } from "node:crypto";
import { canonicalJson } from "../util/json";
import { HostDriver } from "../hosts/driver";
import { ClientTlsMode, clientTlsMode, ClusterSpec, routeTlsOn, ServerEndpoint } from "../spec";
import { serverConfigFor } from "./for-server";
import { renderServerConfig } from "./render";
import { ServerConfig } from "./server-config";

const DIGEST_LINE = /^# nats-cluster restart-digest: (sha256:[0-9a-f]{64})$/m;

/**
 * The digest of the settings a config reload cannot change safely. Left out, because nats-server reloads them on
 * SIGHUP: client auth, the TLS material (certificate rotation is a rolling reload), and route TLS (reloadable, but
 * routes already up keep their plaintext or TLS until they are re-made: the planner handles a route TLS change from
 * what each server reports, engine/rollout/route-tls.ts). Kept in: whether clients use TLS and whether plaintext is
 * still allowed, since nats-server decides `tls_available` only when it starts.
 * Routes are deliberately NOT reloadable here: reloading a smaller route list (explicit → seed) drops the removed
 * routes and nothing re-gossips them, so the mesh stays broken (seen in test/rollout/config-change.test.ts before
 * this rule); a restart rejoins through the seeds and gossip completes the mesh.
 * A config without TLS digests to the same value it did before TLS existed here (no restart after an upgrade of
 * this tool).
 */
export function restartDigest(cfg: ServerConfig): string {
  const { auth: _auth, tls, tlsMaterial: _material, cluster, ...rest } = cfg;
  const { tls: _routeTls, ...clusterRest } = cluster;
  const posture = tls ? { clientTls: tls.allowNonTls ? "optional" : "required" } : {};
  return `sha256:${createHash("sha256")
    .update(canonicalJson({ ...rest, cluster: clusterRest, ...posture }))
    .digest("hex")}`;
}

/** Options of one rendering of a server's config file. */
export interface ConfigTextOptions {
  readonly listenHost?: string;
  /**
   * The route TLS of this text is loaded by a reload, not yet by a start: routes that were up before keep what they
   * had until the server restarts (the first phase of a route TLS change, engine/rollout/plan.ts). Written into the
   * header so a re-run knows the restart is still owed.
   */
  readonly routesLoadedByReload?: boolean;
}

const DATA_VOLUME_LINE = /^# nats-cluster data-volume: (\d+) GiB$/m;
const CLIENTS_LINE = /^# nats-cluster clients: (tls-required|tls-optional|plaintext)$/m;
const ROUTES_LINE = /^# nats-cluster routes: (tls|plaintext)( \(loaded by reload\b.*\))?$/m;
const CLIENT_HEADER: Record<ClientTlsMode, string> = {
  required: "tls-required",
  optional: "tls-optional",
  off: "plaintext",
};

/**
 * The full config file for one server: a header the planner reads back (the restart digest; with TLS, what clients
 * and routes run) and the rendered config. Without TLS the header is what it was before TLS existed here, so a
 * cluster deployed by an older version of this tool sees no change.
 */
export function configTextFor(
  spec: ClusterSpec,
  server: ServerEndpoint,
  driver: HostDriver,
  options: string | ConfigTextOptions = {},
): string {
  const opts: ConfigTextOptions = typeof options === "string" ? { listenHost: options } : options;
  const layout = driver.layout(server);
  const cfg = serverConfigFor(spec, server, layout, opts.listenHost ? { listenHost: opts.listenHost } : undefined);
  const header = [
    "# Written by the nats-cluster rollout engine; edits are overwritten.",
    `# nats-cluster restart-digest: ${restartDigest(cfg)}`,
  ];
  if (spec.tls) header.push(`# nats-cluster clients: ${CLIENT_HEADER[clientTlsMode(spec)]}`);
  // Only where JetStream has a store here and the platform knows the volume's size (not part of the restart
  // digest: a cluster written before this line existed sees a reload that adds it, not a restart of every member).
  if (cfg.jetstream && layout.dataVolumeGiB !== undefined)
    header.push(`# nats-cluster data-volume: ${layout.dataVolumeGiB} GiB`);
  const routes = routeTlsOn(spec) ? "tls" : "plaintext";
  if (opts.routesLoadedByReload) {
    header.push(
      `# nats-cluster routes: ${routes} (loaded by reload; routes made before stay as they were until a restart)`,
    );
  } else if (routes === "tls") header.push("# nats-cluster routes: tls");
  return `${header.join("\n")}\n${renderServerConfig(cfg)}`;
}

/** What a config file says its server runs: client TLS, route TLS, and whether route TLS was only reloaded. */
export interface ConfigTlsPosture {
  readonly clients: ClientTlsMode;
  /** Route TLS as the text has it (what the server loaded, once the text was read by a start or a reload). */
  readonly routes: boolean;
  /**
   * Route TLS came by a reload (the first phase of a change): the routes the server made at its last start have the
   * other setting, until its next restart.
   */
  readonly routesLoadedByReload: boolean;
}

/**
 * The TLS posture a config file records in its header. A file without those lines (no TLS, or written before they
 * existed) is read from its blocks: a top-level `tls {` block is client TLS without plaintext, routes are plaintext.
 */
export function readTlsPosture(configText: string | undefined): ConfigTlsPosture {
  const text = configText ?? "";
  const clientsLine = text.match(CLIENTS_LINE)?.[1];
  const clients: ClientTlsMode =
    clientsLine === "tls-required"
      ? "required"
      : clientsLine === "tls-optional"
        ? "optional"
        : clientsLine === "plaintext"
          ? "off"
          : /^tls \{/m.test(text)
            ? "required"
            : "off";
  const routesLine = text.match(ROUTES_LINE);
  return {
    clients,
    routes: routesLine?.[1] === "tls",
    routesLoadedByReload: routesLine?.[2] !== undefined,
  };
}

/** Route TLS of the routes the server made when it last started (a reload does not re-make routes that are up). */
export function routesStartedWithTls(posture: ConfigTlsPosture): boolean {
  return posture.routesLoadedByReload ? !posture.routes : posture.routes;
}

/**
 * Whether a config file's `gateway {}` runs TLS (a `tls {` block inside it), or undefined when it has no gateway
 * block. Read from the block itself, so a file written before gateway TLS existed reads as plaintext.
 */
export function readGatewayTls(configText: string | undefined): boolean | undefined {
  const block = configText?.match(/^gateway \{\n([\s\S]*?)^\}$/m)?.[1];
  return block === undefined ? undefined : /^ {2}tls \{$/m.test(block);
}

/** The data volume size a config file records (`HostLayout.dataVolumeGiB` when it was written), if any. */
export function readDataVolumeGiB(configText: string | undefined): number | undefined {
  const size = configText?.match(DATA_VOLUME_LINE)?.[1];
  return size === undefined ? undefined : Number(size);
}

/** The restart digest recorded in a config file, or undefined for files this engine did not write. */
export function readRestartDigest(configText: string | undefined): string | undefined {
  return configText?.match(DIGEST_LINE)?.[1];
}
