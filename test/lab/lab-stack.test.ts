/**
 * The lab stack end to end through the real Pulumi engine: `pulumi up` on stacks/Pulumi.lab.yaml (platform ssh,
 * seed routes, client passwords) on a lab of this test's own (4 real systemd VMs), started in PLAINTEXT, then: an
 * upgrade; TLS turned on for the running cluster the secure way (route TLS by reload then restart, clients
 * plaintext → optional), each step by `pulumi up` with what `pulumi preview` said beside what clients felt; a
 * certificate rotation (a rolling reload: every member serves the new fingerprint, same pids); clients TLS only and a
 * downgrade in one `pulumi up` (a version and a setting changed together: one restart of each member); key material
 * and passwords looked for in the state, `pulumi stack export`, every output and every VM's journal.
 * All under an acked JetStream publisher (R3 file stream) and request/reply traffic. Checked at each rollout: every
 * /varz at the target, 0 acked messages lost, never two members down at once (each member's client port polled
 * every 200 ms), each member VM's `systemctl is-active nats-server`, the surge VM's server gone; `pulumi destroy`
 * stops every server. Skips, printing why, where the lab or the Pulumi engine cannot run.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { NatsConnection } from "@nats-io/nats-core";
import { MonitorClient } from "../../engine/monitor/client";
import { routePeers } from "../../engine/monitor/types";
import { ClusterSpec, monitorUrl, ServerEndpoint, TlsPem } from "../../engine/spec";
import { certificateFacts, servedCertificate } from "../../engine/tls/inspect";
import { Lab, labSkipReason } from "../support/lab";
import { AckedPublisher, appOptions, connect, createR3Stream } from "../support/traffic";
import { NEW_MINOR, OLD_MINOR } from "../support/versions";
import {
  copyProject,
  diagnosticsOf,
  engineUnavailable,
  pulumiIn,
  pulumiOk,
  writeStack,
} from "../pulumi/support/pulumi-project";
import { ReachabilityWatch } from "../ssh/support/reachability";
import { labStackSsh, startSshLab } from "../ssh/support/ssh-lab";

const skip = labSkipReason() ?? engineUnavailable();
if (skip) console.warn(`[lab stack] the lab stack through Pulumi is skipped: ${skip}`);

const NAMES = ["nats-a", "nats-b", "nats-c", "nats-surge"];
// Passwords made for this run: the test proves they never reach the state in plain text, an output or a journal.
const APP = { user: "app", password: `app-${Math.random().toString(36).slice(2)}` };
const SYS = { user: "sys", password: `sys-${Math.random().toString(36).slice(2)}` };

(skip ? describe.skip : describe)("the lab stack through the real Pulumi engine", () => {
  const labs: Lab[] = [];
  let lab: Lab;
  let dir: string;
  let project: string;
  let spec: ClusterSpec;
  let nc: NatsConnection | undefined;
  const figures: string[] = [];
  /** Every output of every pulumi command, to look for secrets in. */
  const outputs: string[] = [];
  const pulumi = async (args: string[], input?: string) => {
    const out = await pulumiOk(dir, project, args, input);
    outputs.push(out);
    return out;
  };
  /** The TLS material the stack issued, from the state (`--show-secrets`: the test's own look, never printed). */
  const issuedPem = async (): Promise<TlsPem> => {
    const state = JSON.parse(await pulumiOk(dir, project, ["stack", "export", "--show-secrets"])) as {
      deployment: { resources: Array<{ type: string; outputs?: { tlsPem?: unknown } }> };
    };
    const value: unknown = state.deployment.resources.find((r) => r.type.endsWith("RollingUpgrade"))?.outputs?.tlsPem;
    // A secret shows as its envelope with the value as JSON text in `plaintext` (--show-secrets).
    const pem = (
      value && typeof value === "object" && "plaintext" in value ? JSON.parse(String(value.plaintext)) : value
    ) as TlsPem | undefined;
    if (!pem?.certPem) throw new Error("no tlsPem in the RollingUpgrade's state");
    return pem;
  };
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
      auth: { users: [APP], systemAccount: SYS },
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
        // Plaintext first: the test turns TLS on for the running cluster.
        tls: undefined,
        ssh: labStackSsh(lab, NAMES),
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
    await pulumi(["config", "set", "--secret", "nats-cluster:auth"], JSON.stringify({ users: [APP] }));
    await pulumi(["config", "set", "--secret", "nats-cluster:systemAccount"], JSON.stringify(SYS));
    const started = Date.now();
    const out = await pulumi(["up", "--yes"]);
    figures.push(
      `first pulumi up (4 VMs prepared over SSH, 3 members started): ${((Date.now() - started) / 1000).toFixed(1)}s`,
    );
    expect(diagnosticsOf(out)).toContain(`Start of the cluster at ${OLD_MINOR}: SUCCEEDED`);
    for (const m of spec.members) expect(await varzVersion(m)).toBe(OLD_MINOR);
    // The key is a secret in state.
    expect(await pulumi(["stack", "export"])).not.toContain(fs.readFileSync(lab.sshKeyPath, "utf8").split("\n")[1]);
    // A plaintext application. `tls: null`: nats.js 2.x otherwise upgrades to TLS by itself as soon as a server offers
    // it (allow_non_tls), with the system's CAs, and fails to verify the cluster's own CA (README: Security).
    nc = await connect(appOptions(spec, "lab-stack-publisher", { user: APP.user, pass: APP.password, tls: null }));
    await createR3Stream(nc, "ORDERS", "orders.>");
  }, 300_000);

  /** The members' MainPID on their VMs. */
  const mainPids = async () => {
    const pids: string[] = [];
    for (let i = 0; i < 3; i++) pids.push(await onVm(i, "systemctl show -p MainPID --value nats-server"));
    return pids;
  };

  /**
   * One change by `pulumi up` under traffic: `configure` changes the stack's config, the preview is checked against
   * `expectPreview` and kept for the figures, then `pulumi up` and what clients felt.
   */
  async function rollout(
    label: string,
    configure: () => Promise<void>,
    expectPreview: RegExp,
    expectDone: string,
  ): Promise<{ preview: string; out: string }> {
    await configure();
    const preview = await pulumi(["preview"]);
    expect(preview).toMatch(expectPreview);
    const publisher = new AckedPublisher(nc!, "orders.new");
    const reach = new ReachabilityWatch(spec.members);
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
    const seconds = (Date.now() - started) / 1000;
    expect(diagnosticsOf(out)).toContain(expectDone);
    for (const m of spec.members) expect(await varzVersion(m)).toBe(spec.version);
    for (let i = 0; i < 3; i++) expect(await onVm(i, "systemctl is-active nats-server")).toBe("active");
    // The surge VM's server is gone: no process, and its unit removed.
    expect(await onVm(3, "pgrep -x nats-server || echo none")).toBe("none");
    // Never two members down at once.
    expect(reach.maxDownAtOnce()).toBeLessThanOrEqual(1);
    // Every acked message is in the stream.
    const lost = await publisher.lostMessages(nc!, "ORDERS");
    expect(publisher.acked.size).toBeGreaterThan(0);
    expect(lost).toEqual([]);
    const plan = (/(Rollout to nats-server[\s\S]*?)\n\s*\n/.exec(diagnosticsOf(preview)) ?? [])[1] ?? "";
    // What request/reply clients felt: the report's line of the rollout's own watch (a pair homed on each member).
    const felt = /clients: (\d+ requests, \d+ failed, longest gap without a reply [\d.]+s)/.exec(diagnosticsOf(out));
    figures.push(
      `${label}: pulumi up ${seconds.toFixed(1)}s; acked ${publisher.acked.size}, lost ${lost.length}; ` +
        `most members down at once ${reach.maxDownAtOnce()}; request/reply ${felt?.[1] ?? "(no clients: line)"}\n` +
        `  preview said:\n${plan.replace(/^/gm, "    ")}`,
    );
    // Nothing left over: the next preview and a refresh see no change (no drift after a finished rollout).
    await pulumi(["preview", "--expect-no-changes"]);
    await pulumi(["refresh", "--expect-no-changes", "--yes"]);
    return { preview, out };
  }

  async function rollTo(version: string, label = `to ${version}`): Promise<void> {
    spec = { ...spec, version };
    await rollout(
      label,
      () => pulumi(["config", "set", "nats-cluster:version", version]).then(() => undefined),
      new RegExp(`Rollout to nats-server ${version.replace(/\./g, "\\.")}`),
      `Rollout to ${version}: SUCCEEDED`,
    );
  }

  it("refuses a version the stack does not pin from the lab's plain-http mirror: preview says so, up touches nothing", async () => {
    const pin = `nats-cluster:ssh.releaseSha256["${NEW_MINOR}"].${lab.info.releaseArch}`;
    const sha = lab.releaseSha256[NEW_MINOR][lab.info.releaseArch];
    await pulumi(["config", "rm", "--path", pin]);
    await pulumi(["config", "set", "nats-cluster:version", NEW_MINOR]);
    try {
      const preview = await pulumi(["preview"]);
      expect(preview).toContain("Rollout refused, nothing will be touched:");
      expect(preview).toMatch(
        new RegExp(
          `release: releaseBaseUrl http://\\S+ is plain http and releaseSha256 pins no SHA-256 for nats-server ${NEW_MINOR.replace(/\./g, "\\.")} linux-`,
        ),
      );
      const pids = await mainPids();
      const up = await pulumiIn(dir, project, ["up", "--yes"]);
      outputs.push(up.output);
      expect(up.code).not.toBe(0);
      for (const m of spec.members) expect(await varzVersion(m)).toBe(OLD_MINOR);
      expect(await mainPids()).toEqual(pids);
      figures.push(`unpinned ${NEW_MINOR} from an http mirror: refused at preview, up exit ${up.code}, pids unchanged`);
    } finally {
      await pulumi(["config", "set", "--path", pin, sha]);
      await pulumi(["config", "set", "nats-cluster:version", OLD_MINOR]);
    }
  });

  it(`upgrades to ${NEW_MINOR} under acked publishing and request/reply: nothing lost, never two down`, async () => {
    await rollTo(NEW_MINOR, `plaintext upgrade to ${NEW_MINOR}`);
  }, 600_000);

  it("turns route TLS on for the running cluster: every member loads it by reload, then restarts", async () => {
    const pidsBefore = await mainPids();
    const { preview } = await rollout(
      "route TLS on (clients still plaintext)",
      async () => {
        await pulumi(["config", "set", "--path", "nats-cluster:tls.generate.validityDays", "365"]);
        await pulumi(["config", "set", "--path", "nats-cluster:tls.clients", "off"]);
      },
      /load-route-tls\s+nats-a[\s\S]*load-route-tls\s+nats-c[\s\S]*surge-up[\s\S]*restart-member/,
      `Rollout to ${spec.version}: SUCCEEDED`,
    );
    expect(preview).toMatch(/route TLS on: its routes are re-made with TLS only by a restart/);
    const pem = await issuedPem();
    spec = { ...spec, tls: { pem, clients: "off" } };
    // Restarted (new MainPIDs), routes with the issued certificate, clients still plaintext, a full mesh.
    const pidsAfter = await mainPids();
    pidsAfter.forEach((pid, i) => expect(pid).not.toBe(pidsBefore[i]));
    for (const m of spec.members) {
      const monitor = new MonitorClient(monitorUrl(m));
      const v = await monitor.varz();
      expect(Date.parse(v.cluster!.tls_cert_not_after!)).toBe(certificateFacts(pem.certPem).notAfter.getTime());
      expect(v.tls_cert_not_after).toBeUndefined();
      expect(routePeers(await monitor.routez())).toEqual(
        spec.members.filter((o) => o.name !== m.name).map((o) => o.name),
      );
    }
    // The surge VM keeps nothing of the cluster: no config, no TLS material.
    expect(await onVm(3, "ls /etc/nats/ 2>&1 || true")).not.toMatch(/nats\.conf|tls/);
  }, 600_000);

  it("moves clients to TLS optional (both accepted) by pulumi up; the application then connects with TLS", async () => {
    await rollout(
      "clients optional (allow_non_tls)",
      () => pulumi(["config", "set", "--path", "nats-cluster:tls.clients", "optional"]).then(() => undefined),
      /restart-member\s+nats-a/,
      `Rollout to ${spec.version}: SUCCEEDED`,
    );
    spec = { ...spec, tls: { ...spec.tls, clients: "optional" } };
    // The application moves to TLS (what the operator does between the two steps).
    await nc?.close();
    const caPem = spec.tls!.pem!.caPem;
    nc = await connect(
      appOptions(spec, "lab-stack-publisher-tls", { user: APP.user, pass: APP.password, tls: { ca: caPem } }),
    );
  }, 600_000);

  it("rotates the certificate by pulumi up: a rolling reload, every member serves the new one, same pids", async () => {
    const before = await mainPids();
    const old = certificateFacts(spec.tls!.pem!.certPem).fingerprintSha256;
    const { preview } = await rollout(
      "certificate rotation",
      () => pulumi(["config", "set", "--path", "nats-cluster:tls.generate.rotation", "1"]).then(() => undefined),
      /new TLS material is issued by this update[\s\S]*reload-member\s+nats-\w[\s\S]*reload-member[\s\S]*reload-member/,
      `Rollout to ${spec.version}: SUCCEEDED`,
    );
    expect(preview).not.toMatch(/restart-member/);
    const pem = await issuedPem();
    spec = { ...spec, tls: { ...spec.tls, pem } };
    const fresh = certificateFacts(pem.certPem).fingerprintSha256;
    expect(fresh).not.toBe(old);
    expect(await mainPids()).toEqual(before);
    for (const m of spec.members) {
      const served = await servedCertificate({ host: m.host, port: m.clientPort, caPem: pem.caPem, timeoutMs: 5000 });
      expect(served.fingerprintSha256).toBe(fresh);
    }
    figures.push(`  rotation: ${old.slice(0, 19)}… → ${fresh.slice(0, 19)}…, MainPIDs ${before.join(" ")} unchanged`);
  }, 600_000);

  it(`clients TLS only and a downgrade back to ${OLD_MINOR} in one pulumi up: one restart of each member`, async () => {
    // A version and a setting that needs a restart, changed together as an operator would: each member restarts
    // once, into the older binary with the TLS-only config; the downgrade takes the same path as an upgrade.
    spec = { ...spec, version: OLD_MINOR };
    const { preview } = await rollout(
      `clients TLS only and downgrade to ${OLD_MINOR}`,
      async () => {
        await pulumi(["config", "set", "--path", "nats-cluster:tls.clients", "required"]);
        await pulumi(["config", "set", "nats-cluster:version", OLD_MINOR]);
      },
      new RegExp(`Rollout to nats-server ${OLD_MINOR.replace(/\./g, "\\.")}[\\s\\S]*restart-member\\s+nats-a`),
      `Rollout to ${OLD_MINOR}: SUCCEEDED`,
    );
    // Every member restarts (the preview prints its plan more than once: count the members, not the lines).
    expect(new Set(preview.match(/restart-member\s+nats-\w+/g)?.map((l) => l.split(/\s+/)[1])).size).toBe(3);
    expect(preview).not.toMatch(/load-route-tls|reload-member/);
    // The reason names both: the setting is not hidden behind the version.
    expect(preview).toContain(`downgrade ${NEW_MINOR} → ${OLD_MINOR}, and a config change by the same restart`);
    spec = { ...spec, tls: { ...spec.tls, clients: "required" } };
    const plain = await connect({
      servers: `nats://${spec.members[0].host}:4222`,
      user: APP.user,
      pass: APP.password,
      tls: null,
      reconnect: false,
    }).then(
      (c) => c.close().then(() => "connected"),
      (e: unknown) => String(e),
    );
    expect(plain).not.toBe("connected");
  }, 600_000);

  it("key material and passwords appear nowhere: state, stack export, outputs, every VM's journal", async () => {
    const pem = spec.tls!.pem!;
    const keyLine = pem.keyPem.split("\n")[1];
    const needles = { key: keyLine, "app password": APP.password, "system password": SYS.password };
    const places: Record<string, string> = {
      "pulumi stack export": await pulumiOk(dir, project, ["stack", "export"]),
      "pulumi outputs": outputs.join("\n"),
    };
    const walk = (d: string): string[] =>
      fs
        .readdirSync(d, { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
    for (const f of walk(path.join(dir, "state"))) places[`state ${path.basename(f)}`] = fs.readFileSync(f, "utf8");
    for (let i = 0; i < 4; i++)
      places[`${NAMES[i]} journal`] = await onVm(
        i,
        "journalctl --no-pager -b 2>/dev/null; cat /var/log/syslog 2>/dev/null; true",
      );
    const hits = Object.entries(places).flatMap(([where, text]) =>
      Object.entries(needles)
        .filter(([, needle]) => text.includes(needle))
        .map(([what]) => `${what} in ${where}`),
    );
    expect(hits).toEqual([]);
    // Where the key must be: the member's own TLS directory, readable by the nats user only.
    expect(await onVm(0, "stat -c '%U %a' /etc/nats/tls /etc/nats/tls/server-key.pem")).toBe("nats 700\nnats 600");
    figures.push(
      `  secrets: looked in ${Object.keys(places).length} places (state files, export, outputs, journals): 0 hits`,
    );
  }, 300_000);

  it("pulumi destroy stops nats-server on every member VM (lame duck first)", async () => {
    await pulumi(["destroy", "--yes"]);
    for (let i = 0; i < 3; i++) expect(await onVm(i, "pgrep -x nats-server || echo none")).toBe("none");
  }, 300_000);
});
