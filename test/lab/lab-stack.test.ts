/**
 * The lab stack end to end through the real Pulumi engine: `pulumi up` on stacks/Pulumi.lab.yaml (platform ssh,
 * seed routes) on a lab of this test's own (4 real systemd VMs), then an upgrade and a downgrade under an acked
 * JetStream publisher (R3 file stream) and request/reply traffic. Checked: every /varz at the target, 0 acked
 * messages lost, never two members down at once (each member's client port polled every 200 ms), each member VM's
 * `systemctl is-active nats-server`, the surge VM's server gone, and `pulumi destroy` stopping every server.
 * Skips, printing why, where the lab or the Pulumi engine cannot run.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { NatsConnection } from "nats";
import { MonitorClient } from "../../engine/monitor/client";
import { TrafficWatch } from "../../engine/rollout/traffic-watch";
import { ClusterSpec, monitorUrl, ServerEndpoint } from "../../engine/spec";
import { Lab, labSkipReason } from "../support/lab";
import { AckedPublisher, appOptions, connect, createR3Stream } from "../support/traffic";
import { NEW_MINOR, OLD_MINOR } from "../support/versions";
import { copyProject, diagnosticsOf, engineUnavailable, pulumiOk, writeStack } from "../pulumi/support/pulumi-project";
import { ReachabilityWatch } from "../ssh/support/reachability";
import { hostKeyOf, startSshLab } from "../ssh/support/ssh-lab";

const skip = labSkipReason() ?? engineUnavailable();
if (skip) console.warn(`[lab stack] the lab stack through Pulumi is skipped: ${skip}`);

const NAMES = ["nats-a", "nats-b", "nats-c", "nats-surge"];

(skip ? describe.skip : describe)("the lab stack through the real Pulumi engine", () => {
  const labs: Lab[] = [];
  let lab: Lab;
  let dir: string;
  let project: string;
  let spec: ClusterSpec;
  let nc: NatsConnection | undefined;
  const figures: string[] = [];
  const pulumi = (args: string[], input?: string) => pulumiOk(dir, project, args, input);
  const endpoint = (name: string, i: number): ServerEndpoint => ({
    name,
    host: lab.vms[i].ip,
    clientPort: 4222,
    clusterPort: 6222,
    monitorPort: 8222,
  });
  const onVm = async (i: number, command: string) => (await lab.ssh(lab.vms[i], command)).stdout.trim();
  const varzVersion = (s: ServerEndpoint) => new MonitorClient(monitorUrl(s)).varz().then((v) => v.version);

  beforeAll(async () => {
    lab = await startSshLab(4, (l) => labs.push(l));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-lab-stack-"));
    project = path.join(dir, "project");
    for (const d of ["state", "home"]) fs.mkdirSync(path.join(dir, d));
    copyProject(project);
    const members = NAMES.slice(0, 3).map((n, i) => endpoint(n, i));
    const surge = endpoint("nats-surge", 3);
    spec = {
      name: "nats-lab",
      version: OLD_MINOR,
      members,
      surge,
      routes: { kind: "seed", seeds: ["nats-a"] },
      jetstream: { enabled: true },
      lameDuck: { durationSeconds: 30, gracePeriodSeconds: 2 },
    };
    // The committed lab stack, on this test's own lab: its addresses, host keys and release server.
    writeStack(
      project,
      "lab",
      {
        version: OLD_MINOR,
        members: members.map((m) => ({ name: m.name, host: m.host })),
        surge: { name: surge.name, host: surge.host },
        lameDuckGracePeriodSeconds: 2,
        rollout: { minHealthySeconds: 2, pollIntervalMs: 250 },
        ssh: {
          user: "ops",
          releaseBaseUrl: lab.releaseBaseUrl,
          hostKeys: Object.fromEntries(NAMES.map((n, i) => [n, hostKeyOf(lab, lab.vms[i])])),
        },
      },
      "lab",
    );
  }, 360_000);

  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    if (figures.length) process.stdout.write(`\n[lab stack] figures:\n${figures.join("\n")}\n`);
    if (dir) {
      // Stops nats-server on every VM; the lab's own teardown would kill them anyway.
      await pulumiOk(dir, project, ["destroy", "--yes", "--stack", "lab"]).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    for (const l of labs) await l.stop().catch((err) => console.error(`lab ${l.name}: ${err}`));
  }, 300_000);

  it(`pulumi up starts the cluster at ${OLD_MINOR} on the VMs (SSH key set as a secret from stdin)`, async () => {
    await pulumi(["stack", "init", "lab"]);
    await pulumi(["config", "set", "--secret", "nats-cluster:sshPrivateKey"], fs.readFileSync(lab.sshKeyPath, "utf8"));
    const started = Date.now();
    const out = await pulumi(["up", "--yes"]);
    figures.push(
      `first pulumi up (4 VMs prepared over SSH, 3 members started): ${((Date.now() - started) / 1000).toFixed(1)}s`,
    );
    expect(diagnosticsOf(out)).toContain(`Start of the cluster at ${OLD_MINOR}: SUCCEEDED`);
    for (const m of spec.members) expect(await varzVersion(m)).toBe(OLD_MINOR);
    // The key is a secret in state.
    expect(await pulumi(["stack", "export"])).not.toContain(fs.readFileSync(lab.sshKeyPath, "utf8").split("\n")[1]);
    nc = await connect(appOptions(spec, "lab-stack-publisher"));
    await createR3Stream(nc, "ORDERS", "orders.>");
  }, 300_000);

  async function rollTo(version: string): Promise<void> {
    spec = { ...spec, version };
    await pulumi(["config", "set", "nats-cluster:version", version]);
    const preview = await pulumi(["preview"]);
    expect(preview).toMatch(new RegExp(`Rollout to nats-server ${version.replace(/\./g, "\\.")}`));
    const publisher = new AckedPublisher(nc!, "orders.new");
    const watch = new TrafficWatch(spec);
    const reach = new ReachabilityWatch(spec.members);
    await watch.start();
    publisher.start();
    reach.start();
    const started = Date.now();
    let out: string;
    try {
      out = await pulumi(["up", "--yes"]);
    } finally {
      await reach.stop();
      await publisher.stop();
    }
    const felt = await watch.stop();
    const seconds = (Date.now() - started) / 1000;
    expect(diagnosticsOf(out)).toContain(`Rollout to ${version}: SUCCEEDED`);
    for (const m of spec.members) expect(await varzVersion(m)).toBe(version);
    for (let i = 0; i < 3; i++) expect(await onVm(i, "systemctl is-active nats-server")).toBe("active");
    // The surge VM's server is gone: no process, and its unit removed.
    expect(await onVm(3, "pgrep -x nats-server || echo none")).toBe("none");
    // Never two members down at once.
    expect(reach.maxDownAtOnce()).toBeLessThanOrEqual(1);
    // Every acked message is in the stream.
    const lost = await publisher.lostMessages(nc!, "ORDERS");
    expect(publisher.acked.size).toBeGreaterThan(0);
    expect(lost).toEqual([]);
    figures.push(
      `pulumi up to ${version}: ${seconds.toFixed(1)}s; acked ${publisher.acked.size}, lost ${lost.length}; ` +
        `most members down at once ${reach.maxDownAtOnce()}; request/reply ${felt.requests} requests, ` +
        `${felt.failures} failed, longest gap ${felt.maxGapMs} ms`,
    );
  }

  it(`upgrades to ${NEW_MINOR} under acked publishing and request/reply: nothing lost, never two down`, async () => {
    await rollTo(NEW_MINOR);
  }, 600_000);

  it(`downgrades back to ${OLD_MINOR} by the same path`, async () => {
    await rollTo(OLD_MINOR);
  }, 600_000);

  it("pulumi destroy stops nats-server on every member VM (lame duck first)", async () => {
    await pulumi(["destroy", "--yes"]);
    for (let i = 0; i < 3; i++) expect(await onVm(i, "pgrep -x nats-server || echo none")).toBe("none");
  }, 300_000);
});
