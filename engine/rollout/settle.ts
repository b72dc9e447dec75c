/**
 * Before a rollout observes the servers: a member still draining in lame duck (a rollout killed with SIGKILL, or a
 * `pulumi up` killed, during a drain leaves it so: systemd keeps stopping it, nobody will start it again) is waited
 * for until it has exited, as the killed rollout would have done (SIGKILL only after the stop timeout). The plan then
 * finds it down and starts it at the target through its gates (recover-member), instead of pre-flight refusing the
 * whole rollout because that member is not current, and leaving it down.
 */
import { HostDriver } from "../hosts/driver";
import { stopGracefully } from "../hosts/graceful-stop";
import { ClusterSpec, RolloutPolicy, ServerEndpoint } from "../spec";
import { describeError } from "../util/async";
import { seconds } from "../util/duration";
import { EventLog } from "./events";

async function settleOne(
  driver: HostDriver,
  member: ServerEndpoint,
  stopTimeoutSeconds: number,
  log: EventLog,
): Promise<void> {
  const stopping = await driver.isStopping!(member).catch(() => false);
  if (!stopping) return;
  const started = Date.now();
  log.emit({
    kind: "warning",
    server: member.name,
    message:
      "found in lame duck (a rollout was interrupted during its drain): waiting for it to exit, then it is started " +
      "again at the target through its gates",
  });
  await stopGracefully(driver, member, {
    timeoutSeconds: stopTimeoutSeconds,
    signal: "already-sent",
    since: started,
    pollMs: 5000,
    minWaitMs: 1000,
    killing: () =>
      log.emit({
        kind: "warning",
        server: member.name,
        message: `still draining ${stopTimeoutSeconds}s after the check: killing it`,
      }),
  });
  log.emit({ kind: "info", server: member.name, message: `exited after ${seconds(Date.now() - started)} more` });
}

/** Waits out every member's unfinished lame duck (in parallel); errors are left to the observation to report. */
export async function settleDrainingMembers(
  spec: ClusterSpec,
  driver: HostDriver,
  policy: RolloutPolicy,
  log: EventLog,
): Promise<void> {
  if (!driver.isStopping) return;
  await Promise.all(
    spec.members.map((m) =>
      settleOne(driver, m, policy.stopTimeoutSeconds, log).catch((err) =>
        log.emit({ kind: "warning", server: m.name, message: `could not wait for its drain: ${describeError(err)}` }),
      ),
    ),
  );
}
