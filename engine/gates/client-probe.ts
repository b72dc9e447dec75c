import { createInbox, NatsConnection } from "@nats-io/nats-core";
import { connectTo } from "../nats-client";
import { ClusterSpec, ServerEndpoint } from "../spec";
import { describeError, Gate } from "./gate";

/**
 * Real client traffic through the server under test: subscribe on a peer, publish through the server, and the
 * message must arrive. This is what "the member serves clients and routes to the cluster" means to an application.
 */
export function clientProbeGate(
  spec: ClusterSpec,
  peerFor: (server: ServerEndpoint) => ServerEndpoint | undefined,
  timeoutMs = 2000,
): Gate {
  return {
    name: "client-probe",
    async check({ server }) {
      const peer = peerFor(server);
      let through: NatsConnection | undefined;
      let via: NatsConnection | undefined;
      try {
        through = await connectTo(spec, server);
        via = peer ? await connectTo(spec, peer) : through;
        const subject = `_nats_cluster.probe.${createInbox().slice(7)}`;
        const sub = via.subscribe(subject, { max: 1 });
        await via.flush();
        // Interest crosses the route asynchronously: publish until the message arrives or time runs out.
        const deadline = Date.now() + timeoutMs;
        const received = (async () => {
          for await (const _ of sub) return true;
          return false;
        })();
        let arrived = false;
        received.then((v) => (arrived = v));
        while (!arrived && Date.now() < deadline) {
          through.publish(subject);
          await through.flush();
          await new Promise((r) => setTimeout(r, 50));
        }
        sub.unsubscribe();
        const route = peer ? `${server.name} → ${peer.name}` : server.name;
        return arrived
          ? { ok: true, observation: `message published through ${route} arrived` }
          : { ok: false, observation: `message published through ${route} did not arrive within ${timeoutMs} ms` };
      } catch (err) {
        return { ok: false, observation: `client connection failed: ${describeError(err)}` };
      } finally {
        await via?.close().catch(() => undefined);
        if (through !== via) await through?.close().catch(() => undefined);
      }
    },
  };
}
