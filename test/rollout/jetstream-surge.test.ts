/**
 * The optional JetStream surge server, with a system account: the surge server joins the meta group while it is in
 * and is peer-removed when it leaves (no ghost peer); the meta leader is asked to step down before its restart.
 */
import { MonitorClient } from "../../engine/monitor/client";
import { formatEvent, RolloutEvent } from "../../engine/rollout/events";
import { runRollout } from "../../engine/rollout/execute";
import { monitorUrl, RolloutPolicy } from "../../engine/spec";
import { LocalTestCluster } from "../support/local-cluster";
import { NEW_MINOR, NEW_MINOR_PREV_PATCH } from "../support/versions";

const FAST: Partial<RolloutPolicy> = { minHealthySeconds: 1, pollIntervalMs: 250, healthyDeadlineSeconds: 30 };

describe("JetStream surge server with a system account", () => {
  let cluster: LocalTestCluster;
  beforeAll(async () => {
    cluster = await LocalTestCluster.create({
      members: 3,
      version: NEW_MINOR_PREV_PATCH,
      jetstream: true,
      namePrefix: "jss",
      overrides: {
        auth: { users: [{ user: "app", password: "app-pass" }], systemAccount: { user: "sys", password: "sys-pass" } },
      },
    });
    cluster.spec = { ...cluster.spec, surge: { ...cluster.spec.surge, jetstream: true } };
    await cluster.bootstrap(FAST);
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it("joins the meta group during the rollout and leaves no ghost peer", async () => {
    const events: RolloutEvent[] = [];
    const report = await runRollout({
      spec: { ...cluster.spec, version: NEW_MINOR },
      driver: cluster.driver,
      listenHost: "127.0.0.1",
      policy: FAST,
      onEvent: (e) => {
        events.push(e);
        process.stdout.write(formatEvent(e) + "\n");
      },
    });
    expect(report.result).toBe("succeeded");
    // While it was in, the surge server was a meta peer: the surge-up gates saw it in the meta group.
    const surgeGates = events.find((e) => e.server === cluster.spec.surge.name && e.kind === "gate-pass")!.message;
    expect(surgeGates).toMatch(new RegExp(`meta leader \\S+, peers \\[.*${cluster.spec.surge.name}.*\\] all current`));
    expect(events.some((e) => e.message.includes("removed from the JetStream meta group"))).toBe(true);
    expect(events.some((e) => e.message.includes("asked the meta leader to step down"))).toBe(true);

    // After: exactly the three members, all current, at the leader.
    const leaderName = (await new MonitorClient(monitorUrl(cluster.spec.members[0])).jsz()).meta_cluster!.leader!;
    const leader = cluster.spec.members.find((m) => m.name === leaderName)!;
    const meta = (await new MonitorClient(monitorUrl(leader)).jsz()).meta_cluster!;
    expect([meta.leader, ...(meta.replicas ?? []).map((r) => r.name)].sort()).toEqual(
      cluster.spec.members.map((m) => m.name).sort(),
    );
  });
});
