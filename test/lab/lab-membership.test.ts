/**
 * The cluster's membership changed by `pulumi up` on the lab's systemd VMs (platform ssh, the lab stack's layout:
 * seed routes, JetStream), under an acked publisher on R3 file streams and request/reply traffic:
 *
 * 1. 3 → 5 members: each new member prepared, started and gated; the meta group has exactly the 5;
 * 2. 5 → 3: each leaving member leaves through lame duck, is peer-removed, the stream replicas it held are whole
 *    again on the remaining members, and its VM's server is gone;
 * 3. a member's VM destroyed and made again empty at the same address (new host key, nothing installed): the
 *    operator pins the new key, `pulumi up` prepares the VM and starts the member under its old name with an empty
 *    store, gated on its replicas current;
 * 4. a member's VM gone for good, replaced by a new name on another VM: the new member joins, the old one is
 *    peer-removed without its host (which answers nothing), its replicas placed on the new one.
 *
 * After each: what `pulumi preview` said (printed with the figures), 0 acknowledged messages lost, the meta group's
 * peers exactly the stack's members (no ghost), and `pulumi preview --expect-no-changes` and
 * `pulumi refresh --expect-no-changes` pass. Skips, printing why, where the lab or the Pulumi engine cannot run.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { MonitorClient } from "../../engine/monitor/client";
import { ClusterSpec, monitorUrl, ServerEndpoint } from "../../engine/spec";
import { Lab, labSkipReason } from "../support/lab";
import { AckedPublisher, appOptions, connect, createR3Stream } from "../support/traffic";
import { metaPeersOf } from "../support/meta-peers";
import { NEW_MINOR } from "../support/versions";
import { copyProject, diagnosticsOf, engineUnavailable, pulumiOk, writeStack } from "../pulumi/support/pulumi-project";
import { hostKeyOf, labStackSsh, startSshLab } from "../ssh/support/ssh-lab";

const yaml = require("js-yaml") as { load(text: string): unknown; dump(value: unknown, options?: object): string };

const skip = labSkipReason() ?? engineUnavailable();
if (skip) console.warn(`[lab membership] membership changes on the lab through Pulumi are skipped: ${skip}`);

/** VM i+1 of the lab hosts NAMES[i]; the last one is the surge server's. */
const NAMES = ["nats-a", "nats-b", "nats-c", "nats-d", "nats-e", "nats-surge"];
const APP = { user: "app", password: `app-${Math.random().toString(36).slice(2)}` };
const SYS = { user: "sys", password: `sys-${Math.random().toString(36).slice(2)}` };

(skip ? describe.skip : describe)("membership changes on the lab through the real Pulumi engine", () => {
  const labs: Lab[] = [];
  let lab: Lab;
  let dir: string;
  let project: string;
  let nc: NatsConnection | undefined;
  /** Where each server name lives now (VM index), changed when a name moves to another VM. */
  const vmOf = new Map(NAMES.map((n, i) => [n, i]));
  let memberNames = ["nats-a", "nats-b", "nats-c"];
  const figures: string[] = [];
  const pulumi = (args: string[], input?: string) => pulumiOk(dir, project, args, input);
  const endpoint = (name: string): ServerEndpoint => ({
    name,
    host: lab.vms[vmOf.get(name)!].ip,
    clientPort: 4222,
    clusterPort: 6222,
    monitorPort: 8222,
  });
  const specNow = (): ClusterSpec => ({
    name: "nats-lab",
    version: NEW_MINOR,
    members: memberNames.map(endpoint),
    surge: endpoint("nats-surge"),
    routes: { kind: "seed", seeds: ["nats-a"] },
    jetstream: { enabled: true },
    lameDuck: { durationSeconds: 30, gracePeriodSeconds: 2 },
    auth: { users: [APP], systemAccount: SYS },
  });
  const onVm = async (i: number, command: string) => (await lab.ssh(lab.vms[i], command)).stdout.trim();
  const stackFile = () => path.join(project, "stacks", "Pulumi.lab.yaml");

  /** Edit the stack file as an operator would (Pulumi's own secrets in it stay as they are). */
  function editStack(change: (config: Record<string, unknown>) => void): void {
    const doc = yaml.load(fs.readFileSync(stackFile(), "utf8")) as { config: Record<string, unknown> };
    change(doc.config);
    fs.writeFileSync(stackFile(), yaml.dump(doc, { lineWidth: -1 }));
  }
  const setMembers = (names: string[]) =>
    editStack((c) => {
      c["nats-cluster:members"] = names.map((n) => ({ name: n, host: endpoint(n).host }));
    });
  const pinHostKey = (name: string) =>
    editStack((c) => {
      const ssh = c["nats-cluster:ssh"] as { hostKeys: Record<string, string> };
      ssh.hostKeys[name] = hostKeyOf(lab, lab.vms[vmOf.get(name)!]);
    });

  /** The meta group's peers as its leader reports them. */
  const metaPeers = () => metaPeersOf(specNow().members);

  /** Seconds until the meta leader reports `name` offline, not current, or unheard for over 5 s. */
  async function untilLeaderStopsHearing(name: string): Promise<number> {
    const started = Date.now();
    const others = specNow().members.filter((m) => m.name !== name);
    while (Date.now() - started < 120_000) {
      for (const s of others) {
        const meta = await new MonitorClient(monitorUrl(s))
          .jsz()
          .then((j) => j.meta_cluster)
          .catch(() => undefined);
        if (!meta || meta.leader !== s.name) continue;
        const peer = (meta.replicas ?? []).find((r) => r.name === name);
        if (!peer || peer.offline || !peer.current || (peer.active ?? 0) / 1e6 > 5000)
          return (Date.now() - started) / 1000;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`the meta leader still hears from ${name} after 120s`);
  }

  /** A stream's peers (leader and replicas), sorted. */
  async function streamPeers(stream: string): Promise<string[]> {
    const info = await (await jetstreamManager(nc!)).streams.info(stream);
    return [info.cluster?.leader, ...(info.cluster?.replicas ?? []).map((r) => r.name)]
      .filter((p): p is string => !!p)
      .sort();
  }

  beforeAll(async () => {
    lab = await startSshLab(NAMES.length, (l) => labs.push(l));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-lab-membership-"));
    project = path.join(dir, "project");
    for (const d of ["state", "home"]) fs.mkdirSync(path.join(dir, d));
    copyProject(project);
    writeStack(
      project,
      "lab",
      {
        version: NEW_MINOR,
        members: memberNames.map((n) => ({ name: n, host: endpoint(n).host })),
        surge: { name: "nats-surge", host: endpoint("nats-surge").host },
        lameDuckGracePeriodSeconds: 2,
        rollout: { minHealthySeconds: 2, pollIntervalMs: 250 },
        // Plaintext: this test is about membership (the lab stack test covers TLS on these VMs).
        tls: undefined,
        ssh: labStackSsh(lab, NAMES),
      },
      "lab",
    );
  }, 600_000);

  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    if (figures.length) process.stdout.write(`\n[lab membership] figures:\n${figures.join("\n")}\n`);
    if (dir) {
      await pulumiOk(dir, project, ["destroy", "--yes", "--stack", "lab"]).catch((err: unknown) =>
        console.error(`[lab membership] destroy: ${String(err).slice(0, 2000)}`),
      );
      fs.rmSync(dir, { recursive: true, force: true });
    }
    for (const l of labs) await l.stop().catch((err) => console.error(`lab ${l.name}: ${err}`));
  }, 600_000);

  /**
   * One membership change by `pulumi up` under traffic: `configure` edits the stack, the preview must match
   * `expectPreview`, then `pulumi up` with an acked publisher on `stream` and request/reply running; afterwards
   * 0 lost, the meta group exactly the members, and nothing left for the next preview or a refresh.
   */
  async function change(
    label: string,
    configure: () => void,
    expectPreview: RegExp,
    stream = "ORDERS",
  ): Promise<{ preview: string; out: string }> {
    configure();
    const preview = await pulumi(["preview"]);
    expect(diagnosticsOf(preview)).toMatch(expectPreview);
    const publisher = new AckedPublisher(nc!, `${stream.toLowerCase()}.new`);
    publisher.start();
    const started = Date.now();
    let out: string;
    try {
      out = await pulumi(["up", "--yes"]);
    } finally {
      await publisher.stop();
    }
    const seconds = (Date.now() - started) / 1000;
    expect(diagnosticsOf(out)).toMatch(/Rollout to [\d.]+: SUCCEEDED/);
    const lost = await publisher.lostMessages(nc!, stream);
    expect(publisher.acked.size).toBeGreaterThan(0);
    expect(lost).toEqual([]);
    const peers = await metaPeers();
    expect(peers).toEqual([...memberNames].sort());
    const plan = (/(Rollout to nats-server[\s\S]*?)\n\s*\n/.exec(diagnosticsOf(preview)) ?? [])[1] ?? "";
    const report = (/(Rollout to [\d.]+: SUCCEEDED[\s\S]*?)\n\s*\n/.exec(diagnosticsOf(out)) ?? [])[1] ?? "";
    // What request/reply clients felt is the report's `clients:` line (the rollout's own watch).
    figures.push(
      `${label}: pulumi up ${seconds.toFixed(1)}s; acked ${publisher.acked.size}, lost ${lost.length}; ` +
        `meta peers [${peers.join(", ")}]\n  preview said:\n${plan.replace(/^/gm, "    ")}\n  report:\n` +
        report.replace(/^/gm, "    "),
    );
    // A finished change leaves nothing that the next preview or a refresh calls a change.
    await pulumi(["preview", "--expect-no-changes"]);
    await pulumi(["refresh", "--expect-no-changes", "--yes"]);
    return { preview, out };
  }

  it(`pulumi up starts 3 members at ${NEW_MINOR} on the VMs`, async () => {
    await pulumi(["stack", "init", "lab"]);
    await pulumi(["config", "set", "--secret", "nats-cluster:sshPrivateKey"], fs.readFileSync(lab.sshKeyPath, "utf8"));
    await pulumi(["config", "set", "--secret", "nats-cluster:auth"], JSON.stringify({ users: [APP] }));
    await pulumi(["config", "set", "--secret", "nats-cluster:systemAccount"], JSON.stringify(SYS));
    const out = await pulumi(["up", "--yes"]);
    expect(diagnosticsOf(out)).toContain(`Start of the cluster at ${NEW_MINOR}: SUCCEEDED`);
    // The application knows every address it may be served from, the members to come included.
    const every = NAMES.slice(0, 5).map(endpoint);
    nc = await connect(
      appOptions({ ...specNow(), members: every }, "lab-membership", {
        user: APP.user,
        pass: APP.password,
        tls: null,
      }),
    );
    await createR3Stream(nc, "ORDERS", "orders.>");
    expect(await metaPeers()).toEqual(["nats-a", "nats-b", "nats-c"]);
  }, 600_000);

  it("3 → 5: each new member prepared, started and gated; the meta group has exactly the five", async () => {
    memberNames = ["nats-a", "nats-b", "nats-c", "nats-d", "nats-e"];
    await change("3 → 5", () => setMembers(memberNames), /add-member\s+nats-d[\s\S]*add-member\s+nats-e/);
    for (const i of [3, 4]) expect(await onVm(i, "systemctl is-active nats-server")).toBe("active");
    // A stream with a replica on a member that will leave: the removal must move it before the member goes.
    await createR3Stream(nc!, "EVENTS", "events.>");
    for (let i = 0; i < 5 && !(await streamPeers("EVENTS")).some((p) => ["nats-d", "nats-e"].includes(p)); i++) {
      // Move one replica off nats-a..c (the meta leader places it on a member that has none: nats-d or nats-e).
      const victim = (await streamPeers("EVENTS"))[0];
      await nc!.request(`$JS.API.STREAM.PEER.REMOVE.EVENTS`, JSON.stringify({ peer: victim }), { timeout: 10_000 });
      for (let t = 0; t < 60 && (await streamPeers("EVENTS")).includes(victim); t++)
        await new Promise((r) => setTimeout(r, 500));
    }
    const placed = await streamPeers("EVENTS");
    expect(placed.some((p) => ["nats-d", "nats-e"].includes(p))).toBe(true);
    figures.push(`  EVENTS placed on [${placed.join(", ")}] before the removal`);
  }, 900_000);

  it("5 → 3: each leaving member goes through lame duck, is peer-removed, its replicas whole on the three", async () => {
    memberNames = ["nats-a", "nats-b", "nats-c"];
    const { preview } = await change(
      "5 → 3",
      () => setMembers(memberNames),
      /remove-member\s+nats-d[\s\S]*remove-member\s+nats-e/,
      "EVENTS",
    );
    expect(preview).toMatch(/peer-remove it from the JetStream meta group/);
    expect(await streamPeers("EVENTS")).toEqual(["nats-a", "nats-b", "nats-c"]);
    expect(await streamPeers("ORDERS")).toEqual(["nats-a", "nats-b", "nats-c"]);
    for (const i of [3, 4]) {
      expect(await onVm(i, "pgrep -x nats-server || echo none")).toBe("none");
      // Config, TLS material and the JetStream store are gone (its replicas are whole on the three): no stale peer
      // state waits there for a server started on this VM again.
      expect(await onVm(i, "ls /etc/nats/nats.conf /etc/nats/tls /var/lib/nats/jetstream 2>/dev/null || true")).toBe(
        "",
      );
    }
  }, 900_000);

  it("a member's VM destroyed and made again empty at the same address: pin its new key, pulumi up brings it back", async () => {
    await lab.recreate(lab.vms[vmOf.get("nats-c")!]);
    expect(await onVm(vmOf.get("nats-c")!, "command -v nats-server || echo none")).toBe("none");
    // With the old key pinned, nothing is done on the impostor the VM now looks like.
    const refused = await pulumiOk(dir, project, ["preview"]).then(
      (o) => o,
      (e: unknown) => String(e),
    );
    expect(refused).toMatch(/nats-c[\s\S]*host key/i);
    const { preview } = await change("nats-c recreated empty", () => pinHostKey("nats-c"), /recover-member\s+nats-c/);
    expect(preview).toMatch(/its host has nothing installed \(a new VM, or its disk lost\)/);
    // Its replicas are back and current: the stream's peers include it, and it reports every message.
    expect(await streamPeers("ORDERS")).toEqual(["nats-a", "nats-b", "nats-c"]);
    const jsz = await new MonitorClient(monitorUrl(endpoint("nats-c"))).healthz({ details: true });
    expect(jsz.httpStatus).toBe(200);
  }, 900_000);

  it("a member's VM gone for good, replaced by a new name on another VM: joined, the old one peer-removed", async () => {
    // nats-f on a fresh VM (the one nats-d had, made again), nats-c's VM powered off for good.
    await lab.recreate(lab.vms[3]);
    vmOf.set("nats-f", 3);
    await lab.poweroff(lab.vms[vmOf.get("nats-c")!]);
    // What an operator sees minutes later: the meta leader no longer hears from it (until then, its removal is
    // refused: it might run where this machine cannot reach it).
    const silentAfter = await untilLeaderStopsHearing("nats-c");
    figures.push(`  nats-c powered off: the meta leader stopped hearing from it after ${silentAfter.toFixed(1)}s`);
    memberNames = ["nats-a", "nats-b", "nats-f"];
    const { preview, out } = await change(
      "nats-c gone, nats-f instead",
      () => {
        setMembers(memberNames);
        pinHostKey("nats-f");
      },
      /add-member\s+nats-f[\s\S]*remove-member\s+nats-c/,
    );
    expect(preview).toMatch(/its host does not answer .*so it is neither stopped nor cleaned there/);
    expect(out).toMatch(/nats-c: .*does not answer/);
    expect(await streamPeers("ORDERS")).toEqual(["nats-a", "nats-b", "nats-f"]);
  }, 900_000);
});
