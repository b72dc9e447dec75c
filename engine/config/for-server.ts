import { DEFAULT_GATEWAY_PORT, DEFAULT_LEAFNODE_PORT } from "../defaults";
import { HostLayout } from "../hosts/driver";
import { createHash } from "node:crypto";
import {
  ClusterSpec,
  clientTlsMode,
  clusterUrl,
  DeliveredTls,
  gatewayTlsOn,
  HubSpec,
  hubTlsOn,
  routeTlsOn,
  ServerEndpoint,
} from "../spec";
import { LeafRemote, ServerConfig, TlsFiles } from "./server-config";

export interface ServerConfigOptions {
  /** Host every listener binds to. Default "0.0.0.0" (a VM reached by its address); tests use "127.0.0.1". */
  readonly listenHost?: string;
}

const DEFAULT_LISTEN_HOST = "0.0.0.0";

/** Where the monitoring port binds when the engine reads monitoring through the system account: this host only. */
export const MONITOR_LOOPBACK_HOST = "127.0.0.1";

/** The file names the delivered TLS material has in the host's TLS directory (HostLayout.tlsDir). */
export const TLS_FILE_NAMES = { cert: "server-cert.pem", key: "server-key.pem", ca: "ca.pem" } as const;

/**
 * The gateway's CA bundle in the same directory, delivered only when the gateway trusts other clusters' CAs
 * (`gateways.trustedCaPem`); routes and clients keep `ca.pem`, this cluster's CA alone.
 */
export const GATEWAY_CA_FILE_NAME = "gateway-ca.pem";

/** Where the server's certificate, key and CA are: delivered into the host's TLS directory, or the operator's paths. */
function tlsFilesOf(spec: ClusterSpec, layout: HostLayout): TlsFiles | undefined {
  const tls = spec.tls;
  if (!tls) return undefined;
  if (tls.pem) {
    if (!layout.tlsDir) throw new Error("tls.pem: this platform's hosts have no TLS directory to deliver it to");
    const at = (name: string) => `${layout.tlsDir}/${name}`;
    return { certFile: at(TLS_FILE_NAMES.cert), keyFile: at(TLS_FILE_NAMES.key), caFile: at(TLS_FILE_NAMES.ca) };
  }
  if (tls.certFile === undefined || tls.keyFile === undefined) return undefined;
  return {
    certFile: tls.certFile,
    keyFile: tls.keyFile,
    ...(tls.caFile !== undefined ? { caFile: tls.caFile } : {}),
  };
}

/** The gateway's CA bundle: this cluster's CA, then the other clusters' (`gateways.trustedCaPem`); or undefined. */
export function gatewayCaBundle(spec: ClusterSpec): string | undefined {
  const trusted = spec.gateways?.trustedCaPem;
  const own = spec.tls?.pem?.caPem;
  if (trusted === undefined || own === undefined || !gatewayTlsOn(spec)) return undefined;
  return `${own.trimEnd()}\n${trusted.trimEnd()}\n`;
}

/** What the platform writes into each host's TLS directory: the spec's material and the gateway's CA bundle. */
export function deliveredTls(spec: ClusterSpec): DeliveredTls | undefined {
  const pem = spec.tls?.pem;
  if (!pem) return undefined;
  const bundle = gatewayCaBundle(spec);
  return bundle === undefined ? pem : { ...pem, gatewayCaPem: bundle };
}

/** The gateway block's TLS: the servers' certificate, and its CA bundle when it trusts other clusters' CAs. */
function gatewayTlsOf(spec: ClusterSpec, layout: HostLayout, files: TlsFiles | undefined) {
  if (!files || !gatewayTlsOn(spec)) return {};
  const bundle = gatewayCaBundle(spec);
  if (bundle === undefined) return { tls: files };
  return {
    tls: {
      ...files,
      caFile: `${layout.tlsDir}/${GATEWAY_CA_FILE_NAME}`,
      trust: `sha256:${createHash("sha256").update(bundle).digest("hex")}`,
    },
  };
}

/** `sha256:` of the delivered certificate and CA (public material only), so a rotation changes the config text. */
export function tlsMaterialDigest(spec: ClusterSpec): string | undefined {
  const pem = spec.tls?.pem;
  if (!pem) return undefined;
  return `sha256:${createHash("sha256").update(pem.certPem).update("\u0000").update(pem.caPem).digest("hex")}`;
}

/**
 * The route list of one server.
 * Members: every member (explicit mode, itself included, since nats-server ignores a route to itself and so one list
 * serves every member) or the seed members (seed mode, gossip completes the mesh).
 * The surge server always routes to every member: it must reach the whole cluster even while any one member, seed or
 * not, is down for its restart.
 */
function routesFor(spec: ClusterSpec, isSurge: boolean): string[] {
  if (isSurge || spec.routes.kind === "explicit") return spec.members.map(clusterUrl);
  return spec.routes.seeds.map((seed) => {
    const member = spec.members.find((m) => m.name === seed);
    if (!member) throw new Error(`routes.seeds names "${seed}", which is not a member`);
    return clusterUrl(member);
  });
}

/**
 * Flatten the ClusterSpec into the config of one server (a member or the surge server), at the file locations its
 * host driver uses. The spec is assumed valid (engine/validate.ts); a server that is neither a member nor the surge
 * server is a programming error and throws.
 */
export function serverConfigFor(
  spec: ClusterSpec,
  server: ServerEndpoint,
  layout: HostLayout,
  opts?: ServerConfigOptions,
): ServerConfig {
  const isSurge = server.name === spec.surge.name;
  if (!isSurge && !spec.members.some((m) => m.name === server.name)) {
    throw new Error(`server "${server.name}" is neither a member of cluster "${spec.name}" nor its surge server`);
  }
  const listenHost = opts?.listenHost ?? DEFAULT_LISTEN_HOST;
  const files = tlsFilesOf(spec, layout);
  const clients = clientTlsMode(spec);
  const material = tlsMaterialDigest(spec);

  // A client-only surge server (the default) never joins the JetStream meta group, so it leaves no ghost peer.
  const runsJetStream = spec.jetstream.enabled && (!isSurge || spec.surge.jetstream === true);

  return {
    serverName: server.name,
    listenHost,
    clientPort: server.clientPort,
    monitorPort: server.monitorPort,
    ...(spec.monitoring === "system-account" ? { monitorHost: MONITOR_LOOPBACK_HOST } : {}),
    cluster: {
      name: spec.name,
      listenHost,
      port: server.clusterPort,
      routes: routesFor(spec, isSurge),
      noAdvertise: spec.noAdvertise ?? false,
      ...(files && routeTlsOn(spec) ? { tls: files } : {}),
    },
    ...(spec.gateways
      ? {
          gateway: {
            name: spec.name,
            listenHost,
            port: gatewayPortOf(spec, server),
            remotes: spec.gateways.remotes,
            ...gatewayTlsOf(spec, layout, files),
          },
        }
      : {}),
    ...leafnodesOf(spec, server, isSurge, listenHost, files, clients === "required"),
    ...(runsJetStream ? { jetstream: { ...spec.jetstream, storeDir: layout.storeDir } } : {}),
    lameDuck: spec.lameDuck,
    pidFile: layout.pidFile,
    ...(spec.auth ? { auth: spec.auth } : {}),
    ...(files && clients !== "off"
      ? {
          tls: {
            ...files,
            ...(spec.tls?.verify !== undefined ? { verify: spec.tls.verify } : {}),
            ...(clients === "optional" ? { allowNonTls: true } : {}),
          },
        }
      : {}),
    ...(material ? { tlsMaterial: material } : {}),
    ...(spec.extraSettings ? { extraSettings: spec.extraSettings } : {}),
  };
}

/** The gateway port `server` listens on: its own, else the spec's, else nats' conventional 7222. */
export function gatewayPortOf(spec: ClusterSpec, server: ServerEndpoint): number {
  return server.gatewayPort ?? spec.gateways?.port ?? DEFAULT_GATEWAY_PORT;
}

/** The leafnode port `server` listens on: its own, else the spec's, else nats-server's default 7422. */
export function leafnodePortOf(spec: ClusterSpec, server: ServerEndpoint): number {
  return server.leafnodePort ?? spec.leafnodes?.port ?? DEFAULT_LEAFNODE_PORT;
}

/**
 * The remote to the hub: its URLs, the password of `hub.user` from `auth.users` (render time only: the spec names the
 * user, never the password), and TLS with this cluster's CA and certificate when `hub.tls` is on.
 */
function hubRemoteOf(spec: ClusterSpec, hub: HubSpec, files: TlsFiles | undefined): LeafRemote {
  let credentials: LeafRemote["credentials"];
  if (hub.user !== undefined) {
    const user = spec.auth?.users?.find((u) => u.user === hub.user);
    if (!user) throw new Error(`hub.user "${hub.user}" is not a user of auth.users`);
    credentials = { user: user.user, password: user.password };
  }
  let tls: TlsFiles | undefined;
  if (hubTlsOn(spec)) {
    if (!files?.caFile)
      throw new Error("hub.tls: this cluster has no CA to verify the hub with (tls.pem or tls.caFile)");
    tls = files;
  }
  return { urls: hub.urls, ...(credentials ? { credentials } : {}), ...(tls ? { tls } : {}) };
}

/**
 * The `leafnodes {}` of one server: accepting leaves on members only (the surge server is temporary, and a leaf that
 * moved onto it would have to move again), with the client TLS when clients must use TLS (`optional` is refused by
 * validation: the leafnode port has no allow_non_tls); connecting out to the hub on every server, the surge too.
 */
function leafnodesOf(
  spec: ClusterSpec,
  server: ServerEndpoint,
  isSurge: boolean,
  listenHost: string,
  files: TlsFiles | undefined,
  clientTlsRequired: boolean,
): Pick<ServerConfig, "leafnodes"> {
  const accepts = spec.leafnodes !== undefined && !isSurge;
  if (!accepts && !spec.hub) return {};
  const verify = spec.tls?.verify !== undefined ? { verify: spec.tls.verify } : {};
  return {
    leafnodes: {
      ...(accepts
        ? {
            listen: {
              listenHost,
              port: leafnodePortOf(spec, server),
              ...(files && clientTlsRequired ? { tls: { ...files, ...verify } } : {}),
            },
          }
        : {}),
      ...(spec.hub ? { remotes: [hubRemoteOf(spec, spec.hub, files)] } : {}),
    },
  };
}
