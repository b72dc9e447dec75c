import { ClusterSpec, monitorUrl, ServerEndpoint } from "../spec";
import { MonitorClient } from "./client";
import { ServerMonitor } from "./monitor";
import { SystemAccountMonitor } from "./system-client";

/**
 * The monitor the spec asks for (`monitoring`, default `"http"`) of one of its servers. A system-account monitor
 * holds a NATS connection once used: whoever creates one closes it.
 */
export function createMonitor(spec: ClusterSpec, server: ServerEndpoint, timeoutMs?: number): ServerMonitor {
  const how = spec.monitoring ?? "http";
  switch (how) {
    case "http":
      return new MonitorClient(monitorUrl(server), timeoutMs);
    case "system-account":
      if (!spec.auth?.systemAccount) {
        throw new Error('monitoring "system-account" needs a system-account user: set auth.systemAccount');
      }
      return new SystemAccountMonitor(spec, server, timeoutMs);
    default:
      throw new Error(`monitoring "${String(how)}" is not one of "http", "system-account"`);
  }
}
