/** What the gateways gate says of each member of a test cluster: shared by the gateway tests (plaintext and TLS). */
import { gatewaysGate } from "../../engine/gates/checks";
import { GateObservation } from "../../engine/gates/gate";
import { MonitorClient } from "../../engine/monitor/client";
import { monitorUrl } from "../../engine/spec";
import { LocalTestCluster } from "./local-cluster";

/** The gateways gate's verdict on every member of `cluster`, for a gateway to the cluster named `remote`. */
export function gatewaysGateOf(cluster: LocalTestCluster, remote: string): Promise<GateObservation[]> {
  return Promise.all(
    cluster.spec.members.map((m) =>
      gatewaysGate([remote]).check({
        server: m,
        monitor: new MonitorClient(monitorUrl(m)),
        expect: { version: "", routePeers: [] },
      }),
    ),
  );
}
