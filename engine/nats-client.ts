import { NatsConnection, nkeyAuthenticator } from "@nats-io/nats-core";
import { connect, NodeConnectionOptions } from "@nats-io/transport-node";
import { ClusterSpec, clientTlsMode, clientUrl, ServerEndpoint } from "./spec";

/**
 * Connection options for the engine's own clients (client probe, traffic watch, meta-leader step-down), built from
 * the spec's auth and TLS. Credentials come from the spec in memory and are never logged.
 */
export function clientOptions(
  spec: ClusterSpec,
  servers: ReadonlyArray<ServerEndpoint>,
  extra: Partial<NodeConnectionOptions> = {},
): NodeConnectionOptions {
  const options: NodeConnectionOptions = {
    servers: servers.map(clientUrl),
    name: "nats-cluster-rollout",
    timeout: 2000,
    ...extra,
  };
  const auth = spec.auth;
  if (auth?.token) options.token = auth.token;
  else if (auth?.users?.length) {
    options.user = auth.users[0].user;
    options.pass = auth.users[0].password;
  } else if (auth?.probeNkeySeed) {
    options.authenticator = nkeyAuthenticator(new TextEncoder().encode(auth.probeNkeySeed));
  }
  const tls = spec.tls;
  // Clients "off": talk plaintext and never upgrade (null), even to a server that offers TLS: nats.js would upgrade
  // with the system's CAs and fail to verify the cluster's own CA.
  if (tls && clientTlsMode(spec) === "off") options.tls = null;
  else if (tls && (tls.pem || tls.caFile || tls.probeCertFile)) {
    options.tls = {
      // The delivered CA, in memory; or the operator's CA file on this machine.
      ...(tls.pem ? { ca: tls.pem.caPem } : tls.caFile ? { caFile: tls.caFile } : {}),
      ...(tls.probeCertFile && tls.probeKeyFile ? { certFile: tls.probeCertFile, keyFile: tls.probeKeyFile } : {}),
    };
  }
  return options;
}

/** Options for the system account user (meta-leader step-down, peer removal), when the spec has one. */
export function systemClientOptions(
  spec: ClusterSpec,
  servers: ReadonlyArray<ServerEndpoint>,
  extra: Partial<NodeConnectionOptions> = {},
): NodeConnectionOptions | undefined {
  const sys = spec.auth?.systemAccount;
  if (!sys) return undefined;
  const options = clientOptions(spec, servers, { name: "nats-cluster-rollout-system", ...extra });
  delete options.token;
  delete options.authenticator;
  return { ...options, user: sys.user, pass: sys.password };
}

/** Connect to exactly one server, without following gossip to others (a probe must test that server). */
export function connectTo(spec: ClusterSpec, server: ServerEndpoint): Promise<NatsConnection> {
  return connect(clientOptions(spec, [server], { ignoreClusterUpdates: true, reconnect: false, noRandomize: true }));
}

/**
 * Connect to exactly one server as the system-account user (its monitoring requests must reach that server's own
 * `$SYS.REQ.SERVER.<id>.*` service): no gossip, no reconnect (a restarted server is a new connection, with the new
 * server id its INFO carries). Throws when the spec has no system account.
 */
export function connectSystemTo(
  spec: ClusterSpec,
  server: ServerEndpoint,
  extra: Partial<NodeConnectionOptions> = {},
): Promise<NatsConnection> {
  const options = systemClientOptions(spec, [server], {
    ignoreClusterUpdates: true,
    reconnect: false,
    noRandomize: true,
    ...extra,
  });
  if (!options) return Promise.reject(new Error("auth.systemAccount is not set: no system-account user to connect as"));
  return connect(options);
}
