import { HostDriver } from "../hosts/driver";
import { allServers, ClusterSpec } from "../spec";
import { RolloutContext } from "./context";
import { EventLog } from "./events";
import { resolvePolicy, RolloutOptions, runRollout } from "./execute";
import { RolloutReport } from "./report";
import { drain } from "./steps";

/**
 * Start a cluster that does not run yet: the reconcile path's `start-cluster` step (all members together, then
 * each through its gates), without the traffic watch. Members already running are reconciled as in any rollout.
 */
export function bootstrapCluster(options: RolloutOptions): Promise<RolloutReport> {
  return runRollout({ ...options, watchTraffic: false });
}

/** Stop every server of the cluster (surge included) by lame duck, kill what outlives the stop timeout, remove hosts.
 * */
export async function stopCluster(
  spec: ClusterSpec,
  driver: HostDriver,
  options: { removeData?: boolean; stopTimeoutSeconds?: number } = {},
): Promise<void> {
  const policy = resolvePolicy({ stopTimeoutSeconds: options.stopTimeoutSeconds ?? 40 });
  const ctx = new RolloutContext({ spec, driver, policy, log: new EventLog() });
  try {
    await Promise.all(
      allServers(spec).map(async (server) => {
        await drain(ctx, "surge-down", server).catch(() => driver.kill(server));
        if (options.removeData ?? true) await driver.deprovision(server);
      }),
    );
  } finally {
    await ctx.close();
  }
}
