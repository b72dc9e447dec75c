import { allServers, ClusterSpec, ServerEndpoint } from "../spec";
import { HostDriver } from "../hosts/driver";
import { assertValidClusterSpec } from "../validate";
import { RolloutContext } from "./context";
import { EventLog, seconds } from "./events";
import { resolvePolicy, RolloutOptions } from "./execute";
import { drain } from "./steps";
import { observeServer } from "./observe";

/**
 * First deployment: every member installed at the spec's version, configured and started together (configured
 * routes are retried forever, and JetStream needs a quorum to elect a meta leader), then each must pass its gates.
 * Members already running are left alone, so a re-run is safe; a version change is a rollout, not a bootstrap.
 */
export async function bootstrapCluster(options: RolloutOptions): Promise<void> {
  const { spec, driver } = options;
  assertValidClusterSpec(spec);
  const policy = resolvePolicy(options.policy);
  const log = new EventLog(options.onEvent);
  const ctx = new RolloutContext(spec, driver, policy, log, options.listenHost);
  const toStart: ServerEndpoint[] = [];
  for (const member of spec.members) {
    const o = await observeServer(member, driver, ctx.monitor(member));
    if (o.running) {
      log.emit({
        kind: "step-skip",
        server: member.name,
        message: `already running${o.version ? ` ${o.version}` : ""}`,
      });
    } else {
      toStart.push(member);
    }
  }
  await Promise.all(
    toStart.map(async (member) => {
      await driver.provision(member);
      await driver.install(member, spec.version);
      await driver.writeConfig(member, ctx.configFor(member));
      await driver.start(member);
      log.emit({ kind: "info", server: member.name, message: `started ${spec.version}` });
    }),
  );
  for (const member of spec.members) {
    const version = (await observeServer(member, driver, ctx.monitor(member))).version ?? spec.version;
    const result = await ctx.gate("final-check", member, version, { soak: false });
    if (!result.passed) {
      const tail = await driver.readLog(member, 10).catch(() => "");
      throw new Error(
        `bootstrap: ${member.name} failed gate ${result.failure!.gate}: ${result.failure!.observation}\n${tail}`,
      );
    }
    log.emit({
      kind: "step-done",
      server: member.name,
      durationMs: result.totalMs,
      message: `healthy after ${seconds(result.totalMs)}`,
    });
  }
}

/** Stop every server of the cluster (surge included) by lame duck, kill what outlives the stop timeout, remove hosts.
 * */
export async function stopCluster(
  spec: ClusterSpec,
  driver: HostDriver,
  options: { removeData?: boolean; stopTimeoutSeconds?: number } = {},
): Promise<void> {
  const policy = resolvePolicy({ stopTimeoutSeconds: options.stopTimeoutSeconds ?? 40 });
  const ctx = new RolloutContext(spec, driver, policy, new EventLog());
  await Promise.all(
    allServers(spec).map(async (server) => {
      await drain(ctx, "surge-down", server).catch(() => driver.kill(server));
      if (options.removeData ?? true) await driver.deprovision(server);
    }),
  );
}
