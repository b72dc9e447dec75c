/**
 * reconcileSupercluster against fake hosts and scripted monitors (test/support/fakes/): the clusters are rolled one
 * after the other with every event naming its cluster, a halt in the first cluster leaves the second untouched and
 * named in `left`, a stop request before a cluster ends the run there, and a supercluster of one is today's
 * reconcile, event for event. No servers, milliseconds.
 */
import { DEFAULT_LAME_DUCK } from "../../engine/defaults";
import { desiredConfigs } from "../../engine/rollout/execute";
import { RolloutEvent } from "../../engine/rollout/events";
import { reconcile } from "../../engine/rollout/reconcile";
import { ClusterSpec, ServerEndpoint } from "../../engine/spec";
import { formatSuperclusterPlan, formatSuperclusterReport } from "../../engine/supercluster/format";
import { previewSupercluster } from "../../engine/supercluster/preview";
import { superclusterPlanDocument } from "../../engine/supercluster/plan-json";
import { planDocument } from "../../engine/rollout/plan-json";
import { reconcileSupercluster } from "../../engine/supercluster/reconcile";
import { SuperclusterOptions } from "../../engine/supercluster/types";
import { FakeHosts } from "../support/fakes/fake-hosts";
import { FakeMonitors } from "../support/fakes/fake-monitor";
import { FAKE_POLICY, NEW, NO_WAITS, OLD } from "../support/fakes/fake-rollout";

const ep = (name: string, i: number): ServerEndpoint => ({
  name,
  host: "127.0.0.1",
  clientPort: 4220 + i,
  clusterPort: 6220 + i,
  monitorPort: 8220 + i,
  gatewayPort: 7220 + i,
});

/** Cluster `name` (members <prefix>1..3 from port offset `base`), gateways to `remote` when given. */
function cluster(name: string, prefix: string, base: number, remote?: { name: string; base: number }): ClusterSpec {
  return {
    name,
    version: NEW,
    members: [1, 2, 3].map((i) => ep(`${prefix}${i}`, base + i)),
    surge: ep(`${prefix}-surge`, base + 9),
    routes: { kind: "explicit" },
    jetstream: { enabled: false },
    lameDuck: DEFAULT_LAME_DUCK,
    ...(remote
      ? { gateways: { remotes: [{ name: remote.name, urls: [`nats://127.0.0.1:${7221 + remote.base}`] }] } }
      : {}),
  };
}

/** Every member of `specs` running OLD with its rendered config, on one set of fake hosts. */
function fakeSupercluster(specs: ClusterSpec[]) {
  const hosts = new FakeHosts();
  for (const spec of specs) {
    const configs = desiredConfigs(spec, hosts, "127.0.0.1");
    for (const m of spec.members) {
      const s = hosts.server(m.name);
      Object.assign(s, { running: true, runningVersion: OLD, installed: OLD, config: configs.get(m.name) });
      s.staged.add(OLD);
      s.configLoadedAt = new Date(0).toISOString();
    }
  }
  const monitors = new FakeMonitors(hosts);
  // Each server of a cluster with gateways has its outbound gateway to every other cluster.
  monitors.script.gateways = (server) => {
    const spec = specs.find((s) => [...s.members, s.surge].some((m) => m.name === server));
    return spec?.gateways ? { name: spec.name, outbound: spec.gateways.remotes.map((r) => r.name) } : undefined;
  };
  const events: RolloutEvent[] = [];
  const options: SuperclusterOptions = {
    clusters: specs.map((spec) => ({
      spec,
      driver: hosts,
      listenHost: "127.0.0.1",
      policy: FAKE_POLICY,
      watchTraffic: false,
    })),
    onEvent: (e) => events.push(e),
    seams: { monitors: monitors.factory, pace: NO_WAITS },
  };
  return { hosts, monitors, events, options };
}

const TOUCHING = ["stageBinary", "writeConfig", "start", "signalLameDuck", "kill", "signalReload"] as const;
const touched = (hosts: FakeHosts, prefix: string) =>
  hosts.trail([...TOUCHING]).filter((line) => line.split(" ")[1].startsWith(prefix));

describe("reconcileSupercluster (fakes)", () => {
  const east = cluster("east", "e", 0, { name: "west", base: 10 });
  const west = cluster("west", "w", 10, { name: "east", base: 0 });

  it("rolls east then west (no JetStream: config order), every event naming its cluster", async () => {
    const { hosts, events, options } = fakeSupercluster([east, west]);
    const outcome = await reconcileSupercluster(options);
    expect(outcome.status).toBe("done");
    expect(outcome.clusters.map((c) => [c.name, c.outcome.status])).toEqual([
      ["east", "done"],
      ["west", "done"],
    ]);
    expect(outcome.left).toEqual([]);
    for (const m of [...east.members, ...west.members]) expect(hosts.server(m.name).runningVersion).toBe(NEW);
    // Every member of east was restarted before any of west.
    const starts = hosts.trail(["start"]).map((l) => l.split(" ")[1]);
    expect(starts.findIndex((s) => s.startsWith("w"))).toBeGreaterThan(starts.lastIndexOf("e3"));
    expect(events.every((e) => e.cluster === "east" || e.cluster === "west")).toBe(true);
    expect(events.filter((e) => e.message.startsWith("supercluster: cluster")).map((e) => e.cluster)).toEqual([
      "east",
      "west",
    ]);
    // Resume = run again: nothing left to do anywhere.
    const again = await reconcileSupercluster(options);
    expect(again.status).toBe("done");
    for (const c of again.clusters) expect(c.outcome.status === "done" && c.outcome.report.result).toBe("no-change");
  });

  it("a halt in the first cluster stops the run: the second is untouched and named in left", async () => {
    const { hosts, options } = fakeSupercluster([east, west]);
    hosts.script.startFails = (server, version) => (server === "e2" && version === NEW ? "exited at once" : undefined);
    const outcome = await reconcileSupercluster(options);
    expect(outcome.status).toBe("halted");
    expect(outcome.clusters.map((c) => c.name)).toEqual(["east"]);
    expect(outcome.left).toEqual(["west"]);
    expect(touched(hosts, "w")).toEqual([]);
    for (const m of west.members) expect(hosts.server(m.name).runningVersion).toBe(OLD);
    expect(formatSuperclusterReport(outcome)).toMatch(/not reached: west; run again to resume/);
  });

  it("a cluster's final check waits for the other cluster's gateways back (the last surge server's leaving)", async () => {
    const { hosts, monitors, events, options } = fakeSupercluster([east, west]);
    // w2's one outbound gateway to east was to e-surge: gone when e-surge left, back two looks later.
    const healthy = monitors.script.gateways!;
    let looksWithout = 0;
    hosts.script.after = (call) => {
      if (call.op === "deprovision" && call.server === "e-surge") {
        monitors.script.gateways = (server) =>
          server === "w2" && looksWithout++ < 2 ? { name: "west", outbound: [] } : healthy(server);
      }
    };
    const outcome = await reconcileSupercluster(options);
    expect(outcome.status).toBe("done");
    expect(looksWithout).toBeGreaterThan(2);
    const eastFinal = events.filter((e) => e.cluster === "east" && e.step === "final-check" && e.server === "w2");
    // Looked again after the two misses, then passed: east's run is not done before w2 is back.
    expect(eastFinal.map((e) => e.kind)).toEqual(["gate-pass"]);
  });

  it("a server of the other cluster that never finds its way back halts the run at the final check", async () => {
    const { hosts, monitors, options } = fakeSupercluster([east, west]);
    const healthy = monitors.script.gateways!;
    hosts.script.after = (call) => {
      if (call.op === "deprovision" && call.server === "e-surge") {
        monitors.script.gateways = (server) => (server === "w2" ? { name: "west", outbound: [] } : healthy(server));
      }
    };
    const outcome = await reconcileSupercluster(options);
    expect(outcome.status).toBe("halted");
    expect(outcome.left).toEqual(["west"]);
    const first = outcome.clusters[0].outcome;
    expect(first.status === "halted" && first.report.halt).toMatchObject({
      code: "FinalCheckFailed",
      server: "w2",
      step: "final-check",
      gate: "gateways",
      observation: expect.stringContaining("no outbound gateway to east"),
    });
    // Every member of east stays at the target; west untouched.
    for (const m of east.members) expect(hosts.server(m.name).runningVersion).toBe(NEW);
    expect(touched(hosts, "w")).toEqual([]);
  });

  it("a stop requested before a cluster ends the run there, with it and the rest left", async () => {
    const { hosts, options } = fakeSupercluster([east, west]);
    const outcome = await reconcileSupercluster({
      ...options,
      stopRequested: () => "Ctrl-C",
    });
    expect(outcome.status).toBe("interrupted");
    expect(outcome.left).toEqual(["east", "west"]);
    expect(touched(hosts, "")).toEqual([]);
  });

  it("preview plans every cluster in rollout order and touches nothing", async () => {
    const { hosts, options } = fakeSupercluster([east, west]);
    const preview = await previewSupercluster(options);
    expect(preview.plan.refusals).toEqual([]);
    expect(
      preview.plan.order.map((o) => [o.cluster, o.plan.steps.filter((s) => s.kind === "restart-member").length]),
    ).toEqual([
      ["east", 3],
      ["west", 3],
    ]);
    expect(preview.observed.map((o) => o.cluster)).toEqual(["east", "west"]);
    const text = formatSuperclusterPlan(preview.plan);
    expect(text).toMatch(/Supercluster of 2 clusters, one at a time/);
    expect(text.indexOf("1. cluster east: joined by gateways, in config order")).toBeLessThan(
      text.indexOf("2. cluster west"),
    );
    expect(text).toMatch(/restart-member {2}w3 +2\.14\.9 → 2\.15\.2/);
    expect(touched(hosts, "")).toEqual([]);
  });

  it("the preview's plan as data: the order, why, and each cluster's plan@1 document, deterministic", async () => {
    const { options } = fakeSupercluster([east, west]);
    const preview = await previewSupercluster(options);
    const doc = superclusterPlanDocument(preview.plan);
    expect(doc.schema).toBe("nats-cluster/supercluster-plan@1");
    expect(doc.refusals).toEqual([]);
    expect(doc.clusters.map((c) => [c.index, c.cluster, c.why])).toEqual(
      preview.plan.order.map((o, i) => [i + 1, o.cluster, o.why]),
    );
    for (const [i, c] of doc.clusters.entries()) {
      expect(c.plan).toEqual(planDocument(preview.plan.order[i].plan, c.cluster));
    }
    expect(doc.clusters[1].plan.steps.filter((st) => st.kind === "restart-member").map((st) => st.server)).toEqual([
      "w1",
      "w2",
      "w3",
    ]);
    expect(doc.estimatedSeconds).toBe(preview.plan.order.reduce((sum, o) => sum + o.plan.estimatedSeconds, 0));
    // The same plan, the same document (a preview with nothing new shows no change); it survives JSON as it is.
    expect(superclusterPlanDocument((await previewSupercluster(fakeSupercluster([east, west]).options)).plan)).toEqual(
      doc,
    );
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });

  it("a supercluster of one is reconcile, event for event", async () => {
    const lone = { ...cluster("solo", "s", 20) };
    const a = fakeSupercluster([lone]);
    const b = fakeSupercluster([lone]);
    const outcome = await reconcileSupercluster(a.options);
    const events: RolloutEvent[] = [];
    const single = await reconcile({
      ...b.options.clusters[0],
      onEvent: (e) => events.push(e),
      seams: b.options.seams,
    });
    const shape = (e: RolloutEvent) => [e.kind, e.step, e.server, e.gate, e.cluster];
    expect(outcome.status).toBe(single.status);
    expect(a.events.map(shape)).toEqual(events.map(shape));
    expect(a.hosts.downsAndUps()).toEqual(b.hosts.downsAndUps());
  });
});
