/**
 * What the gateways gate says of each member of a test cluster, and whether a whole supercluster's `/gatewayz` is
 * whole: shared by the gateway tests (plaintext and TLS) and the supercluster lab test.
 */
import { gatewaysGate } from "../../engine/gates/checks";
import { GateObservation } from "../../engine/gates/gate";
import { MonitorClient } from "../../engine/monitor/client";
import { monitorUrl, ServerEndpoint } from "../../engine/spec";
import { LocalTestCluster } from "./local-cluster";

/** The gateways gate's verdict on each of `servers`, for gateways to the clusters named in `remotes`. */
export function gatewaysGateOfServers(
  servers: ReadonlyArray<ServerEndpoint>,
  remotes: ReadonlyArray<string>,
): Promise<GateObservation[]> {
  return Promise.all(
    servers.map((m) =>
      gatewaysGate(remotes).check({
        server: m,
        monitor: new MonitorClient(monitorUrl(m)),
        expect: { version: "", routePeers: [] },
      }),
    ),
  );
}

/** The gateways gate's verdict on every member of `cluster`, for a gateway to the cluster named `remote`. */
export function gatewaysGateOf(cluster: LocalTestCluster, remote: string): Promise<GateObservation[]> {
  return gatewaysGateOfServers(cluster.spec.members, [remote]);
}

/** One cluster of a supercluster as the whole-gateways check reads it. */
export interface GatewayCluster {
  readonly name: string;
  readonly servers: ReadonlyArray<ServerEndpoint>;
}

/**
 * Whether every cluster's `/gatewayz` is whole: each server has its outbound gateway to every other cluster (the
 * gate's rule), and each cluster receives at least one inbound connection from every server of each other cluster
 * (every server makes one outbound connection per remote cluster, to ONE server there, so they are counted over the
 * cluster, not asked of each server). `lines` says what each server and cluster reported.
 */
export async function gatewayzWhole(
  clusters: ReadonlyArray<GatewayCluster>,
): Promise<{ readonly ok: boolean; readonly lines: string[] }> {
  const lines: string[] = [];
  let ok = true;
  for (const cluster of clusters) {
    const remotes = clusters.filter((c) => c.name !== cluster.name);
    const seen = await gatewaysGateOfServers(
      cluster.servers,
      remotes.map((r) => r.name),
    );
    seen.forEach((s, i) => {
      ok &&= s.ok;
      lines.push(`${cluster.servers[i].name}: ${s.observation}`);
    });
    for (const remote of remotes) {
      let inbound = 0;
      for (const s of cluster.servers) {
        const g = await new MonitorClient(monitorUrl(s)).gatewayz().catch(() => undefined);
        inbound += (g?.inbound_gateways?.[remote.name] ?? []).filter((r) => r.connection !== undefined).length;
      }
      const whole = inbound >= remote.servers.length;
      ok &&= whole;
      lines.push(`${cluster.name}: ${inbound} inbound from ${remote.name} (its ${remote.servers.length} servers)`);
    }
  }
  return { ok, lines };
}
