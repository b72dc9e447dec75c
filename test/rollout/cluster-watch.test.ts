/**
 * The cluster watch that runs while a member restarts, on a real 3-member JetStream cluster: it reports how long
 * the watched members were seen green without a break, forgets a green run as soon as one look fails (a member
 * killed mid-watch), names what failed, does not look at the member being changed, and leaves nothing running
 * once stopped. The cluster check (cluster-check.ts) trusts it only for a hold of what it reports.
 */
import { ClusterWatch } from "../../engine/rollout/cluster-watch";
import { CLUSTER_CHECK_HOLD_MS } from "../../engine/rollout/pace";
import { ClusterView, RolloutContext } from "../../engine/rollout/context";
import { EventLog } from "../../engine/rollout/events";
import { resolvePolicy } from "../../engine/rollout/execute";
import { RolloutPolicy } from "../../engine/spec";
import { sleep } from "../../engine/util/async";
import { LocalTestCluster } from "../support/local-cluster";
import { OLD_MINOR } from "../support/versions";

const FAST: Partial<RolloutPolicy> = { minHealthySeconds: 1, pollIntervalMs: 250, healthyDeadlineSeconds: 30 };

describe("the cluster watch during a member's restart", () => {
  let cluster: LocalTestCluster;
  let ctx: RolloutContext;
  const whole: ClusterView = { surgeIn: false, down: new Set() };

  beforeAll(async () => {
    cluster = await LocalTestCluster.create({ members: 3, version: OLD_MINOR, namePrefix: "cw", jetstream: true });
    await cluster.bootstrap(FAST);
    ctx = new RolloutContext({
      spec: cluster.spec,
      driver: cluster.driver,
      policy: resolvePolicy(FAST),
      log: new EventLog(),
      listenHost: "127.0.0.1",
    });
  }, 120_000);
  afterAll(async () => {
    await cluster?.destroy();
  });

  it("reports the members green for longer than the check's hold when they are", async () => {
    const watch = new ClusterWatch(ctx, whole);
    await sleep(CLUSTER_CHECK_HOLD_MS + 1500);
    const seen = await watch.stop();
    expect(seen.lastProblem).toBeUndefined();
    expect(seen.heldGreenMs).toBeGreaterThanOrEqual(CLUSTER_CHECK_HOLD_MS);
  }, 30_000);

  it("does not look at the member being changed", async () => {
    const [changing] = cluster.spec.members;
    await cluster.driver.signalLameDuck(changing);
    await cluster.driver.waitForExit(changing, 60_000);
    const view: ClusterView = { surgeIn: false, down: new Set([changing.name]) };
    const watch = new ClusterWatch(ctx, view, changing);
    await sleep(CLUSTER_CHECK_HOLD_MS + 1500);
    const seen = await watch.stop();
    expect(seen.lastProblem).toBeUndefined();
    expect(seen.heldGreenMs).toBeGreaterThanOrEqual(CLUSTER_CHECK_HOLD_MS);
    await cluster.driver.start(changing);
  }, 90_000);

  it("forgets a green run when a watched member dies, and names it", async () => {
    const [, , victim] = cluster.spec.members;
    // Wait until the member restarted by the test before is back in the cluster, so the run starts green.
    for (let i = 0; i < 30; i++) {
      const settling = new ClusterWatch(ctx, whole);
      await sleep(2000);
      if ((await settling.stop()).heldGreenMs > 0) break;
    }
    const watch = new ClusterWatch(ctx, whole);
    await sleep(2500);
    await cluster.driver.kill(victim);
    await sleep(2500);
    const seen = await watch.stop();
    expect(seen.heldGreenMs).toBe(0);
    // Whichever member's look failed first, what it said names the dead one (no route to it, or itself down).
    expect(seen.lastProblem).toContain(victim.name);
  }, 90_000);
});
