import { connect } from "@nats-io/transport-node";
import { systemClientOptions } from "../nats-client";
import { ClusterSpec, ServerEndpoint } from "../spec";

/**
 * JetStream meta-group operations through the system account. Both are optional extras: without a system account
 * user the meta leader steps down by itself when lame duck starts, and a client-only surge server has no peer to
 * remove.
 */
async function systemRequest(
  spec: ClusterSpec,
  via: ReadonlyArray<ServerEndpoint>,
  subject: string,
  body: unknown,
): Promise<unknown> {
  const options = systemClientOptions(spec, via);
  if (!options) throw new Error("auth.systemAccount is not set");
  const nc = await connect(options);
  try {
    const reply = await nc.request(subject, new TextEncoder().encode(JSON.stringify(body)), { timeout: 5000 });
    const answer = JSON.parse(new TextDecoder().decode(reply.data)) as { error?: { description?: string } };
    if (answer.error) throw new Error(`${subject}: ${answer.error.description ?? JSON.stringify(answer.error)}`);
    return answer;
  } finally {
    await nc.close();
  }
}

/** Ask the current meta leader to hand leadership to another peer (one election, chosen by us, before the restart). */
export function stepDownMetaLeader(spec: ClusterSpec, via: ReadonlyArray<ServerEndpoint>): Promise<unknown> {
  return systemRequest(spec, via, "$JS.API.META.LEADER.STEPDOWN", {});
}

/** Remove a server that has left for good from the meta group, so it leaves no ghost peer. */
export function removeMetaPeer(
  spec: ClusterSpec,
  via: ReadonlyArray<ServerEndpoint>,
  serverName: string,
): Promise<unknown> {
  return systemRequest(spec, via, "$JS.API.SERVER.REMOVE", { peer: serverName });
}
