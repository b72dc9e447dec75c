/**
 * The TLS changes a plan refuses because no order of member steps could make them without cutting someone off:
 * clients jumping between plaintext-only and TLS-only, and gateways switching between plaintext and TLS while the
 * other clusters of the supercluster cannot follow. (Route TLS is turned on and off by reloads: routeTlsLoads in
 * plan.ts, which refuses what needs a restart beside it.) Each refusal names the field and the way through.
 */
import { readGatewayTls, readTlsPosture, routesStartedWithTls } from "../config/text";
import { ClusterSpec } from "../spec";
import { ObservedCluster } from "./observe";
import { DesiredConfigs } from "./planned-step";

/**
 * Client TLS may move one step at a time: plaintext → optional (`allow_non_tls`: both) → required, and back. A jump
 * from plaintext to required (or back) would cut every client of a member at its restart that has not moved yet.
 */
export function clientTlsRefusals(observed: ObservedCluster, spec: ClusterSpec, desired: DesiredConfigs): string[] {
  const refusals: string[] = [];
  for (const m of observed.members) {
    if (!m.reachable) continue;
    const now = readTlsPosture(m.configText).clients;
    const want = readTlsPosture(desired.get(m.name)).clients;
    if ((now === "off" && want === "required") || (now === "required" && want === "off")) {
      refusals.push(
        `tls.clients: ${m.name} accepts ${now === "off" ? "plaintext clients only" : "TLS clients only"} now; ` +
          `going straight to ${want === "off" ? "plaintext" : "TLS only"} would cut every client that has not moved. ` +
          'Set tls.clients: "optional" (both accepted) and `pulumi up`, move the clients, then set ' +
          `tls.clients: "${want}"`,
      );
      break;
    }
  }
  return refusals;
}

/**
 * Gateways going from plaintext to TLS (or back) while routes keep theirs: a cluster deployed before gateway TLS
 * existed, whose routes already run TLS. A TLS gateway and a plaintext one cannot connect, and the other clusters
 * change by their own rollouts, so the first restarted member would never pass its gateways gate (and be rolled
 * back). Refused, with the way through; a route TLS change is refused by routeTlsLoads.
 */
export function gatewayTlsRefusals(observed: ObservedCluster, desired: DesiredConfigs): string[] {
  for (const m of observed.members) {
    if (!m.reachable) continue;
    const now = readGatewayTls(m.configText);
    const want = readGatewayTls(desired.get(m.name));
    if (now === undefined || want === undefined || now === want) continue;
    if (routesStartedWithTls(readTlsPosture(m.configText)) !== readTlsPosture(desired.get(m.name)).routes) continue;
    return [
      `gateways: ${m.name} runs ${now ? "TLS" : "plaintext"} gateways, and this config makes them ` +
        `${want ? "TLS (they follow route TLS)" : "plaintext"}; a TLS gateway and a plaintext one cannot connect, ` +
        "and the other clusters change by their own rollouts: drop gateways on every cluster of the supercluster, " +
        "then add them back once each runs this version",
    ];
  }
  return [];
}
