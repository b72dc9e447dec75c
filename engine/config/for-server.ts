import { HostLayout } from "../hosts/driver";
import { ClusterSpec, clusterUrl, ServerEndpoint } from "../spec";
import { ServerConfig } from "./server-config";

export interface ServerConfigOptions {
  /** Host every listener binds to. Default "0.0.0.0" (a VM reached by its address); tests use "127.0.0.1". */
  readonly listenHost?: string;
}

const DEFAULT_LISTEN_HOST = "0.0.0.0";

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

  // A client-only surge server (the default) never joins the JetStream meta group, so it leaves no ghost peer.
  const runsJetStream = spec.jetstream.enabled && (!isSurge || spec.surge.jetstream === true);

  return {
    serverName: server.name,
    listenHost,
    clientPort: server.clientPort,
    monitorPort: server.monitorPort,
    cluster: {
      name: spec.name,
      listenHost,
      port: server.clusterPort,
      routes: routesFor(spec, isSurge),
      noAdvertise: spec.noAdvertise ?? false,
    },
    ...(runsJetStream ? { jetstream: { ...spec.jetstream, storeDir: layout.storeDir } } : {}),
    lameDuck: spec.lameDuck,
    pidFile: layout.pidFile,
    ...(spec.auth ? { auth: spec.auth } : {}),
    ...(spec.tls ? { tls: spec.tls } : {}),
    ...(spec.extraSettings ? { extraSettings: spec.extraSettings } : {}),
  };
}
