/**
 * One roller at a time, on real local nats-server processes: two rollouts of one cluster started together (each
 * holding the lease through withRolloutLease, as `pulumi up` and nats-rollout do): one upgrades the cluster, the
 * other is refused naming the first and touches nothing. A lease left by a dead roller is refused without leave and
 * broken with it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { HostDriver } from "../../engine/hosts/driver";
import { LEASE_FILE_NAME } from "../../engine/hosts/local/lease-file";
import { MonitorClient } from "../../engine/monitor/client";
import { ReconcileOutcome, reconcile } from "../../engine/rollout/reconcile";
import { LeaseOutcome, withRolloutLease } from "../../engine/rollout/lease";
import { leaseText } from "../../engine/rollout/lease-decision";
import { monitorUrl, RolloutPolicy } from "../../engine/spec";
import { LocalTestCluster } from "../support/local-cluster";
import { NEW_MINOR, NEW_MINOR_PREV_PATCH } from "../support/versions";

const FAST: Partial<RolloutPolicy> = { minHealthySeconds: 1, pollIntervalMs: 250, healthyDeadlineSeconds: 30 };

/** Methods that change a host: a refused roller must call none of them. */
const MUTATING = [
  "provision",
  "deprovision",
  "stageBinary",
  "activateBinary",
  "writeConfig",
  "start",
  "signalLameDuck",
  "signalReload",
  "kill",
] as const;

/** The driver, with every call of a mutating method recorded. */
function recording(driver: HostDriver): { driver: HostDriver; calls: string[] } {
  const calls: string[] = [];
  const wrapped = Object.create(driver) as HostDriver;
  for (const name of MUTATING) {
    const original = (driver[name] as (...args: unknown[]) => Promise<unknown>).bind(driver);
    (wrapped as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      calls.push(`${name} ${(args[0] as { name: string }).name}`);
      return original(...args);
    };
  }
  return { driver: wrapped, calls };
}

describe("one roller at a time (local processes)", () => {
  let cluster: LocalTestCluster;

  beforeAll(async () => {
    cluster = await LocalTestCluster.create({ members: 3, version: NEW_MINOR_PREV_PATCH, namePrefix: "lease" });
    await cluster.bootstrap(FAST);
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  const pids = () => cluster.spec.members.map((m) => cluster.driver.pid(m));
  const versions = () =>
    Promise.all(cluster.spec.members.map(async (m) => (await new MonitorClient(monitorUrl(m)).varz()).version));

  /** A rollout as the callers run it: reconcile inside the lease, stopping if the lease is lost. */
  function roller(stack: string, driver: HostDriver, breakLease?: true) {
    let pidsAtRefusal: Array<number | undefined> | undefined;
    const outcome = withRolloutLease({ spec: cluster.spec, driver, breakLease }, { stack }, (lease) =>
      reconcile({ ...cluster.options(FAST), driver, stopRequested: lease.lost, watchTraffic: false }),
    ).then((o: LeaseOutcome<ReconcileOutcome>) => {
      if (o.status === "refused") pidsAtRefusal = pids();
      return o;
    });
    return { outcome, pidsAtRefusal: () => pidsAtRefusal };
  }

  it("two rollouts started together: one upgrades the cluster, the other is refused naming it and touches nothing", async () => {
    const before = pids();
    cluster.spec = { ...cluster.spec, version: NEW_MINOR };
    const one = recording(cluster.driver);
    const two = recording(cluster.driver);
    const a = roller("nats/one", one.driver);
    const b = roller("nats/two", two.driver);
    const [oa, ob] = await Promise.all([a.outcome, b.outcome]);

    const statuses = [oa.status, ob.status].sort();
    expect(statuses).toEqual(["ran", "refused"]);
    const [winner, loser] = oa.status === "ran" ? [oa, ob] : [ob, oa];
    const [winnerStack, loserCalls, loserRoller] =
      oa.status === "ran" ? ["nats/one", two.calls, b] : ["nats/two", one.calls, a];
    if (winner.status !== "ran" || loser.status !== "refused") throw new Error("unreachable");
    expect(winner.result.status).toBe("done");
    expect(loser.refusal.code).toBe("held");
    expect(loser.refusal.message).toMatch(
      new RegExp(
        `^another rollout holds the lease of cluster ${cluster.spec.name}: \\S+@\\S+ pid ${process.pid}, stack ${winnerStack}, started `,
      ),
    );
    console.log(`the refusal: ${loser.refusal.message}`);
    // The refused roller changed nothing: no host call that writes, and no member restarted when it was refused.
    expect(loserCalls).toEqual([]);
    expect(loserRoller.pidsAtRefusal()).toEqual(before);
    expect(await versions()).toEqual([NEW_MINOR, NEW_MINOR, NEW_MINOR]);
    // Released at the end: no lease file is left on any member.
    for (const m of cluster.spec.members)
      expect(fs.existsSync(path.join(cluster.driver.dir(m), LEASE_FILE_NAME))).toBe(false);
  }, 240_000);

  it("a dead roller's lease: refused without --break-lease (nothing touched), broken with it", async () => {
    const old = new Date(Date.now() - 10 * 60_000);
    const dead = {
      id: "deadbeef",
      owner: "bob@elsewhere",
      pid: 99999,
      stack: "nats/old",
      startedAt: old.toISOString(),
    };
    for (const m of cluster.spec.members) {
      const file = path.join(cluster.driver.dir(m), LEASE_FILE_NAME);
      fs.writeFileSync(file, leaseText(dead));
      fs.utimesSync(file, old, old);
    }
    const before = pids();
    const refused = recording(cluster.driver);
    const outcome = await roller("cli", refused.driver).outcome;
    expect(outcome).toMatchObject({ status: "refused", refusal: { code: "stale" } });
    if (outcome.status !== "refused") throw new Error("unreachable");
    expect(outcome.refusal.message).toContain("bob@elsewhere pid 99999, stack nats/old");
    expect(outcome.refusal.message).toMatch(
      /last heartbeat 6\d\ds ago \(lease on lease-?\w+\), older than the 120s stale limit/,
    );
    expect(refused.calls).toEqual([]);
    expect(pids()).toEqual(before);

    const broken = await roller("cli", cluster.driver, true).outcome;
    expect(broken).toMatchObject({ status: "ran", result: { status: "done" } });
    for (const m of cluster.spec.members)
      expect(fs.existsSync(path.join(cluster.driver.dir(m), LEASE_FILE_NAME))).toBe(false);
  }, 120_000);
});
