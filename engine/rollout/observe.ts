import { HostDriver } from "../hosts/driver";
import { MonitorClient } from "../monitor/client";
import { ClusterSpec, monitorUrl, ServerEndpoint } from "../spec";
import { describeError } from "../gates/gate";

/** What one server looks like right now, from its host (driver) and its monitoring port. */
export interface ObservedServer {
  readonly name: string;
  /** The process (or instance) is alive, per the host driver. */
  readonly running: boolean;
  /** `/varz` answered. */
  readonly reachable: boolean;
  /** The version it runs now (`/varz`), when reachable. */
  readonly version?: string;
  /** The version its next start runs (the host's installed binary). */
  readonly installedVersion?: string;
  /** The config file on its host. Secret-bearing: never logged. */
  readonly configText?: string;
  /** The JetStream meta leader as this server sees it. */
  readonly metaLeader?: string;
  /** Why it is not reachable, when it is not. */
  readonly error?: string;
}

export interface ObservedCluster {
  readonly members: ReadonlyArray<ObservedServer>;
  readonly surge: ObservedServer;
  /** The meta leader most members agree on. */
  readonly metaLeader?: string;
}

export async function observeServer(
  server: ServerEndpoint,
  driver: HostDriver,
  monitor = new MonitorClient(monitorUrl(server)),
): Promise<ObservedServer> {
  const [running, installedVersion, configText] = await Promise.all([
    driver.isRunning(server),
    driver.installedVersion(server),
    driver.readConfig(server),
  ]);
  if (!running)
    return { name: server.name, running, reachable: false, installedVersion, configText, error: "not running" };
  try {
    const varz = await monitor.varz();
    return {
      name: server.name,
      running,
      reachable: true,
      version: varz.version,
      installedVersion,
      configText,
      metaLeader: varz.jetstream?.meta?.leader || undefined,
    };
  } catch (err) {
    return { name: server.name, running, reachable: false, installedVersion, configText, error: describeError(err) };
  }
}

/** Observe every member and the surge server in parallel. Every decision of the planner starts here. */
export async function observeCluster(spec: ClusterSpec, driver: HostDriver): Promise<ObservedCluster> {
  const [members, surge] = await Promise.all([
    Promise.all(spec.members.map((m) => observeServer(m, driver))),
    observeServer(spec.surge, driver),
  ]);
  const votes = new Map<string, number>();
  for (const m of members) if (m.metaLeader) votes.set(m.metaLeader, (votes.get(m.metaLeader) ?? 0) + 1);
  const metaLeader = [...votes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  return { members, surge, metaLeader };
}
