/**
 * Adding and removing members on real servers, with JetStream and an acked publisher on an R3 file stream running
 * throughout: 3 → 5 → 3. After each step the meta group's peers are exactly the spec's members (no ghost), no
 * acknowledged message is lost, and the plans name each step. Then a removal that must be refused: an R3 stream
 * and 3 → 2 members: refused naming the stream, nothing touched.
 */
import { NatsConnection } from "@nats-io/nats-core";
import { AckPolicy, ClusterInfo, jetstreamManager } from "@nats-io/jetstream";
import { MonitorClient } from "../../engine/monitor/client";
import { formatEvent } from "../../engine/rollout/events";
import { executeRollout, previewRollout, RolloutOptions } from "../../engine/rollout/execute";
import { formatPlan, RolloutPlan } from "../../engine/rollout/plan";
import { formatReport } from "../../engine/rollout/report";
import { ClusterSpec, monitorUrl, RolloutPolicy, ServerEndpoint } from "../../engine/spec";
import { processAlive } from "../support/lab";
import { LocalTestCluster } from "../support/local-cluster";
import { metaPeersOf } from "../support/meta-peers";
import { AckedPublisher, appOptions, connect, createR3Stream } from "../support/traffic";
import { NEW_MINOR } from "../support/versions";

const POLICY: Partial<RolloutPolicy> = { minHealthySeconds: 2, pollIntervalMs: 250, healthyDeadlineSeconds: 90 };
const AUTH = { users: [{ user: "app", password: "app-pass" }], systemAccount: { user: "sys", password: "sys-pass" } };
const STREAM = "MEMBERS";

/** A group's peers, sorted, as one string. */
const canonical = (c: ClusterInfo | undefined) =>
  [c?.leader, ...(c?.replicas ?? []).map((r) => r.name)].sort().join(",");
const kinds = (plan: RolloutPlan) => plan.steps.map((s) => `${s.kind}${s.server ? ` ${s.server}` : ""}`);

describe("adding and removing members (JetStream, R3 stream, acked publisher)", () => {
  let cluster: LocalTestCluster;
  let all: ServerEndpoint[];
  let nc: NatsConnection;
  let publisher: AckedPublisher;
  /** The leaving member that holds a replica of the stream when the removal begins. */
  let held: string[] = [];
  const specOf = (n: number): ClusterSpec => ({ ...cluster.spec, members: all.slice(0, n) });
  const options = (spec: ClusterSpec, leaving: ServerEndpoint[] = []): RolloutOptions =>
    cluster.options(POLICY, {
      spec,
      leaving: leaving.length ? { members: leaving } : undefined,
      onEvent: (e) => process.stdout.write(formatEvent(e) + "\n"),
    });

  beforeAll(async () => {
    cluster = await LocalTestCluster.create({
      members: 5,
      version: NEW_MINOR,
      jetstream: true,
      namePrefix: "mb",
      overrides: { auth: AUTH },
    });
    all = [...cluster.spec.members];
    cluster.spec = specOf(3);
    await cluster.bootstrap(POLICY);
    // The application knows every address it may be served from (the members to come included).
    nc = await connect(
      appOptions({ ...cluster.spec, members: all }, "members-publisher", { user: "app", pass: "app-pass" }),
    );
    await createR3Stream(nc, STREAM, "members.>");
    publisher = new AckedPublisher(nc, "members.x");
    publisher.start();
  }, 120_000);

  afterAll(async () => {
    await publisher?.stop();
    await nc?.close();
    if (cluster) cluster.spec = specOf(5);
    await cluster?.destroy();
  });

  it("3 → 5: each new member starts through its gates, then the others restart for their route lists", async () => {
    const spec = specOf(5);
    const { plan } = await previewRollout(options(spec));
    console.log(formatPlan(plan));
    expect(plan.refusals).toEqual([]);
    expect(kinds(plan)).toEqual([
      "add-member mb4",
      "add-member mb5",
      "preflight",
      "surge-up mb-surge",
      ...["mb1", "mb2", "mb3"]
        .filter((n) => n !== plan.steps.find((s) => s.reason.includes("meta leader"))?.server)
        .map((n) => `restart-member ${n}`),
      ...plan.steps.filter((s) => s.reason.includes("meta leader")).map((s) => `restart-member ${s.server}`),
      "surge-down mb-surge",
      "final-check",
    ]);
    expect(plan.steps[0].reason).toMatch(
      /^new member: start it at .*routes to every member, current in a JetStream meta group of 5/,
    );
    expect(plan.steps.find((s) => s.kind === "restart-member")!.reason).toMatch(
      /^route list changes \(\+mb4, \+mb5\): routes change only by a restart/,
    );

    const outcome = await executeRollout(options(spec));
    if (outcome.status !== "done") throw new Error(`not done: ${JSON.stringify(outcome, null, 1).slice(0, 3000)}`);
    console.log(formatReport(outcome.report));
    cluster.spec = spec;
    expect(await metaPeersOf(spec.members)).toEqual(["mb1", "mb2", "mb3", "mb4", "mb5"]);
    expect((await previewRollout(options(spec))).plan.steps).toEqual([]);
    expect(publisher.acked.size).toBeGreaterThan(0);
    expect(await publisher.lostMessages(nc, STREAM)).toEqual([]);

    // Move one replica of the stream (and of its consumer) onto a new member, as the meta leader places streams
    // over time: the removal below must then wait for it to be whole on the members that stay.
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add(STREAM, { durable_name: "C1", ack_policy: AckPolicy.Explicit });
    const moved = await nc.request(`$JS.API.STREAM.PEER.REMOVE.${STREAM}`, JSON.stringify({ peer: "mb2" }));
    expect(JSON.parse(new TextDecoder().decode(moved.data))).toMatchObject({ success: true });
    // The consumer follows its stream a moment later: wait for both.
    const settled = (c: ClusterInfo | undefined) => {
      const peers = [c?.leader, ...(c?.replicas ?? []).map((r) => r.name)];
      return peers.length === 3 && !peers.includes("mb2") && (c?.replicas ?? []).every((r) => r.current);
    };
    for (let i = 0; i < 120; i++) {
      // A request may time out while the stream's leader moves: look again.
      const s = await jsm.streams.info(STREAM).then(
        (i) => i.cluster,
        () => undefined,
      );
      const c = await jsm.consumers.info(STREAM, "C1").then(
        (i) => i.cluster,
        () => undefined,
      );
      if (settled(s) && settled(c) && canonical(s) === canonical(c)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const c = (await jsm.streams.info(STREAM)).cluster;
    held = [c?.leader, ...(c?.replicas ?? []).map((r) => r.name)].filter((p) => p === "mb4" || p === "mb5");
    console.log(`stream ${STREAM} on ${[c?.leader, ...(c?.replicas ?? []).map((r) => r.name)].join(", ")}`);
    expect(held).toHaveLength(1);
  }, 400_000);

  it("5 → 3: each leaving member leaves through lame duck, is peer-removed, its replicas whole again; no ghost", async () => {
    const spec = specOf(3);
    const leaving = all.slice(3);
    const { plan } = await previewRollout(options(spec, leaving));
    console.log(formatPlan(plan));
    expect(plan.refusals).toEqual([]);
    const k = kinds(plan);
    expect(k.slice(0, 4)).toEqual(["preflight", "remove-member mb4", "remove-member mb5", "surge-up mb-surge"]);
    expect(k.filter((s) => s.startsWith("restart-member")).sort()).toEqual(
      ["mb1", "mb2", "mb3"].map((n) => `restart-member ${n}`),
    );
    expect(k.slice(-2)).toEqual(["surge-down mb-surge", "final-check"]);
    for (const step of plan.steps.slice(1, 3)) {
      expect(step.reason).toMatch(
        step.server === held[0]
          ? /^left the stack \(still runs .*\): lame duck .*peer-remove it from the JetStream meta group, then wait until its replicas \(1 stream, 1 consumer\) are whole on the remaining members, then remove it from its host$/
          : /^left the stack \(still runs .*\): lame duck .*peer-remove it from the JetStream meta group, then remove it from its host$/,
      );
    }

    const outcome = await executeRollout(options(spec, leaving));
    if (outcome.status !== "done") throw new Error(`not done: ${JSON.stringify(outcome, null, 1).slice(0, 3000)}`);
    console.log(formatReport(outcome.report));
    cluster.spec = spec;
    expect(await metaPeersOf(spec.members)).toEqual(["mb1", "mb2", "mb3"]);
    for (const l of leaving) {
      expect(await cluster.driver.isRunning(l)).toBe(false);
      expect(await cluster.driver.readConfig(l)).toBeUndefined();
    }
    // The stream is whole on the three that stay.
    const info = await (await jetstreamManager(nc)).streams.info(STREAM);
    expect([info.cluster?.leader, ...(info.cluster?.replicas ?? []).map((r) => r.name)].sort()).toEqual([
      "mb1",
      "mb2",
      "mb3",
    ]);
    // Nothing left to do, even with the leaving servers still named (what a re-run after the update sees).
    expect((await previewRollout(options(spec, leaving))).plan.steps).toEqual([]);
    await publisher.stop();
    console.log(`acked ${publisher.acked.size}, publish retries ${publisher.failures}`);
    expect(await publisher.lostMessages(nc, STREAM)).toEqual([]);
  }, 400_000);

  it("3 → 2 with an R3 stream: refused naming the stream, nothing touched", async () => {
    const spec = specOf(2);
    const leaving = [all[2]];
    const pid = cluster.driver.pid(leaving[0]);
    const outcome = await executeRollout(options(spec, leaving));
    expect(outcome.status).toBe("refused");
    if (outcome.status !== "refused") return;
    console.log(formatPlan(outcome.plan));
    expect(outcome.plan.refusals.join("\n")).toMatch(
      /remove mb3: 2 members would remain \(mb1, mb2\), fewer than the replicas of stream MEMBERS \(R3\)/,
    );
    expect(cluster.driver.pid(leaving[0])).toBe(pid);
    expect(await cluster.driver.isRunning(leaving[0])).toBe(true);
    expect(await metaPeersOf(all.slice(0, 3))).toEqual(["mb1", "mb2", "mb3"]);
  }, 120_000);

  it("mb3's host loses everything (process, binary, config, store): back under its name, caught up from its peers", async () => {
    const spec = specOf(3);
    const mb3 = all[2];
    // What a VM or disk replaced looks like to the planner: nothing runs, nothing is installed, no store.
    await cluster.driver.deprovision(mb3);
    const { plan } = await previewRollout(options(spec));
    console.log(formatPlan(plan));
    expect(kinds(plan)).toEqual(["recover-member mb3", "final-check"]);
    expect(plan.steps[0].reason).toMatch(/^its host has nothing installed \(a new VM, or its disk lost\)/);
    const replaced = new AckedPublisher(nc, "members.y");
    replaced.start();
    const outcome = await executeRollout(options(spec));
    await replaced.stop();
    if (outcome.status !== "done") throw new Error(`not done: ${JSON.stringify(outcome, null, 1).slice(0, 3000)}`);
    console.log(formatReport(outcome.report));
    expect(outcome.report.result).toBe("succeeded");
    expect(outcome.report.members[0].note).toMatch(/^its host was empty: prepared, started with an empty store/);
    expect(await metaPeersOf(spec.members)).toEqual(["mb1", "mb2", "mb3"]);
    // Its replica of the stream is current and holds what the others hold.
    const info = await (await jetstreamManager(nc)).streams.info(STREAM);
    const peers = [info.cluster?.leader, ...(info.cluster?.replicas ?? []).map((r) => r.name)].sort();
    expect(peers).toEqual(["mb1", "mb2", "mb3"]);
    expect(info.cluster?.replicas?.every((r) => r.current)).toBe(true);
    const onMb3 = (await new MonitorClient(monitorUrl(mb3)).jszPlacement()).account_details
      ?.flatMap((a) => a.stream_detail ?? [])
      .find((d) => d.name === STREAM);
    expect(onMb3).toBeDefined();
    console.log(`acked ${replaced.acked.size} while mb3 came back; stream ${STREAM} on ${peers.join(", ")}`);
    expect(await replaced.lostMessages(nc, STREAM)).toEqual([]);
    expect((await previewRollout(options(spec))).plan.steps).toEqual([]);
  }, 300_000);

  it("a removal halted half-way (a remaining member frozen once the leaving one is peer-removed) resumes, and never restarts it", async () => {
    // mb4 again, under the name it had before it was removed: a removed peer may come back as a new member.
    const four = specOf(4);
    const grown = await executeRollout(options(four));
    if (grown.status !== "done") throw new Error(`not done: ${JSON.stringify(grown, null, 1).slice(0, 3000)}`);
    expect(grown.report.result).toBe("succeeded");
    cluster.spec = four;
    expect(await metaPeersOf(four.members)).toEqual(["mb1", "mb2", "mb3", "mb4"]);

    const three = specOf(3);
    const mb4 = all[3];
    const mb2Pid = cluster.driver.pid(all[1])!;
    const publisherNow = new AckedPublisher(nc, "members.z");
    publisherNow.start();
    try {
      let frozen = false;
      const halted = await executeRollout(
        cluster.options(
          { ...POLICY, healthyDeadlineSeconds: 8 },
          {
            spec: three,
            leaving: { members: [mb4] },
            onEvent: (e) => {
              process.stdout.write(formatEvent(e) + "\n");
              // mb4 is out of the meta group: freeze mb2 so the cluster cannot be seen whole again in time.
              if (!frozen && e.server === "mb4" && e.message === "removed from the JetStream meta group") {
                frozen = true;
                process.kill(mb2Pid, "SIGSTOP");
              }
            },
          },
        ),
      );
      process.kill(mb2Pid, "SIGCONT");
      expect(frozen).toBe(true);
      expect(halted.status).toBe("halted");
      if (halted.status !== "halted") return;
      console.log(formatReport(halted.report));
      expect(halted.report.halt).toMatchObject({ code: "RemovalIncomplete", server: "mb4", step: "remove-member" });
      expect(halted.report.members.find((m) => m.name === "mb4")).toMatchObject({
        from: NEW_MINOR,
        to: "removed",
        result: "failed",
      });
      expect(await cluster.driver.isRunning(mb4)).toBe(false);

      // Resumed from what the servers report: mb4 is stopped and out of the meta group; what is left is its host.
      const { plan } = await previewRollout(options(three, [mb4]));
      console.log(formatPlan(plan));
      // Then the others restart for their route lists without mb4, as in 5 → 3.
      expect(kinds(plan).slice(0, 2)).toEqual(["preflight", "remove-member mb4"]);
      expect(plan.steps[1].reason).toMatch(
        /^left the stack \(stopped and out of the meta group; its host still has its config\)/,
      );
      const resumed = await executeRollout(options(three, [mb4]));
      if (resumed.status !== "done") throw new Error(`not done: ${JSON.stringify(resumed, null, 1).slice(0, 3000)}`);
      console.log(formatReport(resumed.report));
      expect(resumed.report.result).toBe("succeeded");
      cluster.spec = three;
      expect(await cluster.driver.isRunning(mb4)).toBe(false);
      expect(await cluster.driver.readConfig(mb4)).toBeUndefined();
      expect(await metaPeersOf(three.members)).toEqual(["mb1", "mb2", "mb3"]);
    } finally {
      await publisherNow.stop();
      // Never left frozen, whatever failed (it is gone already when the resume restarted it for its routes).
      if (processAlive(mb2Pid)) process.kill(mb2Pid, "SIGCONT");
    }
    console.log(`acked ${publisherNow.acked.size} through the halt and the resume`);
    expect(await publisherNow.lostMessages(nc, STREAM)).toEqual([]);
  }, 400_000);
});
