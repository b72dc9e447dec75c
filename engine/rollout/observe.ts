import { OBSERVE_CONCURRENCY } from "../defaults";
import { HostDriver } from "../hosts/driver";
import { MonitorClient } from "../monitor/client";
import { ClusterSpec, monitorUrl, ServerEndpoint } from "../spec";
import { describeError, mapBounded } from "../util/async";
import { isVersion } from "../versions";

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
  /**
   * Set when the servers were not asked (preview before the hosts exist, or they did not answer in time): the
   * observation is assumed from the stack's inputs, and this says why.
   */
  readonly assumed?: string;
}

export async function observeServer(
  server: ServerEndpoint,
  driver: HostDriver,
  monitor = new MonitorClient(monitorUrl(server)),
): Promise<ObservedServer> {
  // A host that cannot be asked (a VM powered off, its network gone) is an observation, not a crash of the
  // rollout: the server then counts as running only if its monitoring port still answers.
  let hostError: string | undefined;
  const [running, installedVersion, configText] = await Promise.all([
    driver.isRunning(server),
    driver.installedVersion(server),
    driver.readConfig(server),
  ]).catch((err: unknown): [boolean | undefined, undefined, undefined] => {
    hostError = `its host does not answer (${describeError(err)})`;
    return [undefined, undefined, undefined];
  });
  if (running === false)
    return { name: server.name, running, reachable: false, installedVersion, configText, error: "not running" };
  try {
    const varz = await monitor.varz();
    return {
      name: server.name,
      running: true,
      reachable: true,
      version: varz.version,
      installedVersion,
      configText,
      metaLeader: varz.jetstream?.meta?.leader || undefined,
    };
  } catch (err) {
    const error = hostError ? `${hostError}; ${describeError(err)}` : describeError(err);
    return { name: server.name, running: running ?? false, reachable: false, installedVersion, configText, error };
  }
}

/**
 * Observe every member and the surge server, a bounded number at a time (a 50-member cluster must not open 150
 * connections at once, nor wait for them one by one). Every decision of the planner starts here.
 */
export async function observeCluster(spec: ClusterSpec, driver: HostDriver): Promise<ObservedCluster> {
  const servers = [...spec.members, spec.surge];
  const seen = await mapBounded(servers, OBSERVE_CONCURRENCY, (s) => observeServer(s, driver));
  const members = seen.slice(0, spec.members.length);
  const surge = seen[seen.length - 1];
  return { members, surge, metaLeader: majorityMetaLeader(members) };
}

/** The meta leader most members name (a member that just lost leadership may still name itself). */
function majorityMetaLeader(members: ReadonlyArray<ObservedServer>): string | undefined {
  const votes = new Map<string, number>();
  for (const m of members) if (m.metaLeader) votes.set(m.metaLeader, (votes.get(m.metaLeader) ?? 0) + 1);
  return [...votes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}

/**
 * What the planner assumes when it cannot ask the servers: every member running what the stack last recorded
 * (`versions`, from the resource's outputs) or, for a member never seen, nothing yet; no surge server.
 */
export function assumeObserved(
  spec: ClusterSpec,
  versions: Readonly<Record<string, string>> | undefined,
  why: string,
): ObservedCluster {
  const members = spec.members.map((m): ObservedServer => {
    const version = versions?.[m.name];
    return isVersion(version)
      ? { name: m.name, running: true, reachable: true, version, installedVersion: version }
      : { name: m.name, running: false, reachable: false, error: "not observed" };
  });
  return { members, surge: { name: spec.surge.name, running: false, reachable: false }, assumed: why };
}
