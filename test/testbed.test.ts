/**
 * The test bed itself: three real nats-servers of the oldest pinned version form a cluster on loopback ports no other
 * test uses, the full mesh is confirmed through /routez by distinct peers (not by connection count, which route
 * pooling inflates), and every process is stopped by its pid at the end, even when an assertion fails.
 */
import { execFileSync } from "node:child_process";
import { MonitorClient } from "../engine/monitor/client";
import { routePeers } from "../engine/monitor/types";
import { bootstrapCluster } from "../engine/rollout/bootstrap";
import { monitorUrl } from "../engine/spec";
import { LocalTestCluster } from "./support/local-cluster";
import { OwnedPids } from "./support/owned-pids";
import { NATS_VERSIONS, natsServerBinary, OLD_MINOR } from "./support/versions";

describe("test bed", () => {
  it("has every pinned nats-server version installed and reporting itself", () => {
    expect(NATS_VERSIONS.length).toBe(3);
    for (const v of NATS_VERSIONS) {
      expect(execFileSync(natsServerBinary(v), ["--version"]).toString()).toContain(`v${v}`);
    }
  });

  describe("three servers of the oldest pinned version", () => {
    let cluster: LocalTestCluster;
    const pids = new OwnedPids();

    beforeAll(async () => {
      cluster = await LocalTestCluster.create({ members: 3, version: OLD_MINOR, namePrefix: "bed" });
    });
    afterAll(async () => {
      await cluster.destroy();
      expect(pids.size).toBe(3);
      expect(pids.alive()).toEqual([]); // every server is gone
    });

    it("form a full mesh seen through /routez as distinct peers", async () => {
      await bootstrapCluster({
        spec: cluster.spec,
        driver: cluster.driver,
        listenHost: "127.0.0.1",
        policy: { clientProbe: true },
      });
      for (const m of cluster.spec.members) {
        const pid = cluster.driver.pid(m);
        expect(pid).toBeDefined();
        pids.add(pid);
        const monitor = new MonitorClient(monitorUrl(m));
        expect((await monitor.varz()).version).toBe(OLD_MINOR);
        const routez = await monitor.routez();
        const others = cluster.spec.members
          .filter((o) => o.name !== m.name)
          .map((o) => o.name)
          .sort();
        expect(routePeers(routez)).toEqual(others);
        // Route pooling: more connections than peers, which is why the gate counts names.
        expect(routez.num_routes).toBeGreaterThanOrEqual(others.length);
      }
    });
  });
});
