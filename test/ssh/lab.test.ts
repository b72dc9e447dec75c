/**
 * The ssh platform end to end on real systemd VMs (the lab: systemd-nspawn containers in network namespaces on
 * this machine, reached by SSH as the non-root `ops` user with sudo, host keys pinned): bare VMs provisioned by the
 * driver, a 3-member JetStream cluster bootstrapped at the older minor through the engine, then a rolling upgrade
 * to the newer minor under real client traffic (an acked publisher to an R3 file stream, request/reply), with a
 * temporary surge server on a fourth VM. Also: a wrong pinned host key is refused, and a download that fails leaves
 * the member running, untouched. (The downgrade on this platform, the same path backwards, is test/lab/lab-stack's,
 * through Pulumi and over TLS; rolling it here too cost the suite a minute.)
 * Skips, printing why, where the lab cannot run (not root, no systemd-nspawn and no way to install it, …).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { createHostDriver, SshHostDriver } from "../../engine/hosts/ssh";
import { Ssh2Transport } from "../../engine/hosts/ssh/transport";
import { MonitorClient } from "../../engine/monitor/client";
import { formatEvent, RolloutEvent } from "../../engine/rollout/events";
import { reconcile } from "../../engine/rollout/reconcile";
import { formatReport, RolloutReport } from "../../engine/rollout/report";
import { ClusterSpec, monitorUrl, ServerEndpoint } from "../../engine/spec";
import { VM_LISTEN_HOST } from "../../engine/defaults";
import { Lab, labSkipReason } from "../support/lab";
import { AckedPublisher, appOptions, connect, createR3Stream } from "../support/traffic";
import { NEW_MINOR, NEW_MINOR_PREV_PATCH, OLD_MINOR } from "../support/versions";
import { LAB_POLICY, SshLabCluster } from "./support/lab-cluster";
import { ReachabilityWatch } from "./support/reachability";
import { TimingTransport } from "./support/ssh-lab";

const skip = labSkipReason();
if (skip) console.warn(`[ssh lab] ssh platform tests on real VMs skipped: ${skip}`);

const POLICY = LAB_POLICY;
// Passwords made for this run: the test proves they never reach a log line or a VM's journal.
const APP_PASSWORD = `app-${Math.random().toString(36).slice(2)}`;
const SYS_PASSWORD = `sys-${Math.random().toString(36).slice(2)}`;

(skip ? describe.skip : describe)("ssh platform on real systemd VMs", () => {
  // The lab, the settings of its VMs and the rollouts' driver (the real transport, timed, logging to driverLog).
  const cluster = new SshLabCluster();
  let lab: Lab;
  let privateKey: string;
  let spec: ClusterSpec;
  let driver: SshHostDriver;
  let timing: TimingTransport;
  const driverLog = cluster.driverLog;
  const events: RolloutEvent[] = [];
  let nc: NatsConnection | undefined;
  const figures: string[] = [];

  const settings = (extra = {}) => cluster.settings(extra);
  const vmOf = (server: ServerEndpoint) => cluster.vmOf(server);
  const onVm = (server: ServerEndpoint, command: string) => cluster.onVm(server, command);
  const varzVersion = (server: ServerEndpoint) => new MonitorClient(monitorUrl(server)).varz().then((v) => v.version);

  beforeAll(async () => {
    await cluster.start();
    ({ lab, privateKey, driver, timing } = cluster);
    spec = {
      name: "ssh-lab",
      version: OLD_MINOR,
      members: cluster.members,
      surge: cluster.surge,
      routes: { kind: "seed", seeds: ["nats-a"] },
      jetstream: { enabled: true },
      lameDuck: { durationSeconds: 30, gracePeriodSeconds: 2 },
      auth: {
        users: [{ user: "app", password: APP_PASSWORD }],
        systemAccount: { user: "sys", password: SYS_PASSWORD },
      },
    };
  }, 360_000);

  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    if (figures.length) process.stdout.write(`\n[ssh lab] figures:\n${figures.join("\n")}\n`);
    await cluster.stop();
  }, 180_000);

  it("provisions bare VMs through the platform factory (key from its secrets), idempotently", async () => {
    const log: string[] = [];
    const fromFactory = createHostDriver(settings(), { secrets: { privateKey }, log: (l) => log.push(l) });
    cluster.track(fromFactory);
    const servers = [...spec.members, spec.surge];
    for (const round of [1, 2]) {
      const started = Date.now();
      await Promise.all(servers.map((s) => fromFactory.provision(s)));
      figures.push(`provision of 4 VMs in parallel, round ${round}: ${Date.now() - started} ms`);
    }
    for (const s of servers) {
      expect(await onVm(s, "systemctl is-enabled nats-server; id -un nats; stat -c '%a %U:%G' /etc/nats")).toBe(
        "enabled\nnats\n750 root:nats",
      );
      expect(await onVm(s, "cat /etc/systemd/system/nats-server.service.d/10-stop-timeout.conf")).toContain(
        "TimeoutStopSec=60",
      );
    }
    // Nothing runs yet and nothing is installed: the driver says so.
    expect(await fromFactory.isRunning(spec.members[0])).toBe(false);
    expect(await fromFactory.installedVersion(spec.members[0])).toBeUndefined();
    expect(await fromFactory.readConfig(spec.members[0])).toBeUndefined();
    expect(log.join("\n")).not.toContain(privateKey.split("\n")[1]);
  }, 120_000);

  it("refuses a VM whose host key is not the pinned one, with a clear error", async () => {
    const base = settings();
    // nats-b's address, but nats-a's key pinned for it.
    const wrong = createHostDriver(
      { ...base, hostKeys: { ...base.hostKeys, "nats-b": base.hostKeys["nats-a"] } },
      { secrets: { privateKey } },
    );
    cluster.track(wrong);
    const err = await wrong.isRunning(spec.members[1]).catch((e: unknown) => e);
    expect(String(err)).toMatch(
      new RegExp(
        `^SshCommandError: nats-b \\(ops@${lab.vms[1].ip.replace(/\./g, "\\.")}\\): check whether nats-server runs: ` +
          "cannot connect: host key mismatch: the host presented ssh-ed25519 SHA256:\\S+, but the settings pin " +
          "ssh-ed25519 SHA256:\\S+ for it; refusing to connect",
      ),
    );
  });

  it(`bootstraps the cluster at ${OLD_MINOR} through the engine`, async () => {
    const started = Date.now();
    const outcome = await reconcile({
      spec,
      driver,
      listenHost: VM_LISTEN_HOST,
      policy: POLICY,
      watchTraffic: false,
      onEvent: (e) => events.push(e),
    });
    figures.push(`bootstrap at ${OLD_MINOR} (3 members): ${Date.now() - started} ms`);
    expect(outcome.status).toBe("done");
    for (const m of spec.members) expect(await varzVersion(m)).toBe(OLD_MINOR);
    expect(await onVm(spec.members[0], "sudo -n stat -c '%a %U' /etc/nats/nats.conf")).toBe("600 nats");
    nc = await connect(appOptions(spec, "ssh-lab-publisher", { user: "app", pass: APP_PASSWORD }));
    await createR3Stream(nc, "ORDERS", "orders.>");
  }, 300_000);

  async function rollTo(version: string): Promise<RolloutReport> {
    spec = { ...spec, version };
    events.length = 0;
    const publisher = new AckedPublisher(nc!, "orders.new");
    const reach = new ReachabilityWatch(spec.members);
    const commandsBefore = timing.timings.length;
    publisher.start();
    reach.start();
    let report: RolloutReport;
    try {
      const outcome = await reconcile({
        spec,
        driver,
        listenHost: VM_LISTEN_HOST,
        policy: POLICY,
        onEvent: (e) => {
          events.push(e);
          process.stdout.write(`${formatEvent(e)}\n`);
        },
      });
      if (outcome.status === "refused") throw new Error(`refused: ${JSON.stringify(outcome.plan.refusals)}`);
      report = outcome.report;
      process.stdout.write(`${formatReport(report)}\n`);
    } finally {
      await reach.stop();
      await publisher.stop();
    }
    // What request/reply clients felt: the rollout's own watch (a pair homed on each member).
    const felt = report.clientImpact!;

    expect(report.result).toBe("succeeded");
    expect(report.members.map((m) => m.result)).toEqual(["done", "done", "done"]);
    // Every member at the target, as /varz reports it, and systemd says it is active.
    for (const m of spec.members) {
      expect(await varzVersion(m)).toBe(version);
      expect(await onVm(m, "systemctl is-active nats-server")).toBe("active");
    }
    // Never two members down at once, seen from outside the engine.
    expect(reach.rounds.length).toBeGreaterThan(50);
    expect(reach.maxDownAtOnce()).toBeLessThanOrEqual(1);
    // No acknowledged message lost.
    const jsm = await jetstreamManager(nc!);
    expect(publisher.acked.size).toBeGreaterThan(20);
    for (const [seq, id] of publisher.acked) {
      const msg = await jsm.streams.getMessage("ORDERS", { seq });
      expect(msg?.string()).toBe(id);
    }
    // The surge server is gone: not running, its unit and config removed from its VM.
    expect(report.surge?.removed).toBe(true);
    expect(await onVm(spec.surge, "systemctl is-active nats-server || true")).not.toBe("active");
    expect(
      await onVm(spec.surge, "sudo -n ls /etc/systemd/system/nats-server.service /etc/nats/nats.conf 2>&1 || true"),
    ).toMatch(/No such file or directory[\s\S]*No such file or directory/);
    expect(await onVm(spec.surge, "pgrep -x nats-server || echo none")).toBe("none");

    // Request/reply kept working: the longest gap far below a member's downtime budget.
    expect(felt.requests).toBeGreaterThan(20);
    expect(felt.maxGapMs).toBeLessThan(10_000);

    const down = reach.longestDownMs();
    figures.push(
      `rollout to ${version}: total ${report.totalMs} ms; surge ready in ${report.surge?.readyMs} ms; ` +
        report.members
          .map(
            (m) =>
              `${m.name} down ${m.downMs} ms (engine), ${down[m.name]} ms (seen by TCP polls), drain ${m.drainMs} ms`,
          )
          .join("; ") +
        `; acked ${publisher.acked.size} (publish retries ${publisher.failures}); request/reply ${felt.requests} requests, ` +
        `${felt.failures} failed, max gap ${felt.maxGapMs} ms; ${timing.timings.length - commandsBefore} SSH commands`,
    );
    return report;
  }

  it(`upgrades to ${NEW_MINOR} under client traffic, one member at a time`, async () => {
    await rollTo(NEW_MINOR);
  }, 600_000);

  it("a download that fails (404) halts before the member is touched: it keeps running its version", async () => {
    const mainPid = (m: ServerEndpoint) => onVm(m, "systemctl show -p MainPID --value nats-server");
    const pidsBefore = await Promise.all(spec.members.map(mainPid));
    const broken = createHostDriver(settings({ releaseBaseUrl: `${lab.releaseBaseUrl}/no-such-path` }), {
      secrets: { privateKey },
    });
    cluster.track(broken);
    // NEW_MINOR_PREV_PATCH was never staged on these VMs, so the stage step must download it.
    const outcome = await reconcile({
      spec: { ...spec, version: NEW_MINOR_PREV_PATCH },
      driver: broken,
      listenHost: VM_LISTEN_HOST,
      policy: { ...POLICY, useSurge: false },
      watchTraffic: false,
    });
    expect(outcome.status).toBe("halted");
    if (outcome.status !== "halted") return;
    expect(outcome.report.halt?.gate).toBe("stage");
    expect(outcome.report.halt?.observation).toContain(
      `download of ${lab.releaseBaseUrl}/no-such-path/v${NEW_MINOR_PREV_PATCH}/nats-server-v${NEW_MINOR_PREV_PATCH}-linux-amd64.tar.gz failed`,
    );
    expect(outcome.report.halt?.code).toBe("Untouched");
    // Untouched: same processes, same version, same link, nothing left of the failed download.
    expect(await Promise.all(spec.members.map(mainPid))).toEqual(pidsBefore);
    for (const m of spec.members) {
      expect(await varzVersion(m)).toBe(NEW_MINOR);
      expect(await driver.installedVersion(m)).toBe(NEW_MINOR);
      expect(await onVm(m, "ls -a /opt/nats")).not.toMatch(new RegExp(`${NEW_MINOR_PREV_PATCH}|partial`));
    }
  }, 300_000);

  it("no secret reached a log line, an event or a VM's journal", async () => {
    const body = privateKey.split("\n")[1];
    const everything = [...driverLog, ...events.map((e) => formatEvent(e))].join("\n");
    expect(driverLog.length).toBeGreaterThan(20);
    for (const secret of [body, APP_PASSWORD, SYS_PASSWORD]) expect(everything).not.toContain(secret);
    for (const m of spec.members) {
      const hits = await onVm(
        m,
        `sudo -n journalctl --no-pager | grep -c -e '${APP_PASSWORD}' -e '${SYS_PASSWORD}' || true`,
      );
      expect(hits).toBe("0");
    }
    // Per-command latency over the kept-open connections.
    for (const [label, match] of [
      ["status (isRunning)", /^check whether nats-server runs$/],
      ["installed version", /^read the installed version$/],
      ["read config", /^read \//],
      ["write config", /^write \//],
      ["lame duck", /^lame duck/],
      ["start (includes its 2 s check)", /^start nats-server$/],
      ["stage (download + verify)", /^stage /],
    ] as const) {
      const s = timing.stats(match);
      figures.push(
        `ssh command "${label}": n=${s.n}, median ${s.medianMs.toFixed(1)} ms, p95 ${s.p95Ms.toFixed(1)} ms`,
      );
    }
  });

  it("measures per-command latency: this transport against the OpenSSH client, plain and with ControlMaster", async () => {
    const member = spec.members[1];
    const vm = vmOf(member);
    const script = 'echo "main_pid=$(systemctl show -p MainPID --value nats-server)"';
    const stats = (ms: number[]) => {
      const s = [...ms].sort((x, y) => x - y);
      return `median ${s[Math.floor(s.length / 2)].toFixed(1)} ms, p95 ${s[Math.floor(s.length * 0.95)].toFixed(1)} ms`;
    };
    // This transport: a fresh one, so the first command pays for the connection.
    const fresh = new TimingTransport(new Ssh2Transport({ privateKey }));
    const probe = createHostDriver(settings(), {}, fresh) as SshHostDriver;
    cluster.track(probe);
    for (let i = 0; i < 31; i++) await probe.isRunning(member);
    const ours = fresh.timings.map((t) => t.ms);
    figures.push(
      `latency, this transport (ssh2): first command ${ours[0].toFixed(1)} ms (connect), then ${stats(ours.slice(1))}`,
    );
    // OpenSSH with the lab's key file, as ops with sudo, the same script on stdin.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ssh-latency-"));
    const args = lab.sshArgs(vm, { user: "ops" });
    const [options, target] = [args.slice(0, -1), args.at(-1)!];
    const mux = ["-o", "ControlMaster=auto", "-o", `ControlPath=${dir}/cm-%C`, "-o", "ControlPersist=30"];
    const runSsh = (extra: string[]) => {
      const started = performance.now();
      const r = spawnSync("ssh", [...options, ...extra, target, "sudo -n sh -s"], { input: script });
      if (r.status !== 0) throw new Error(`ssh: ${r.stderr}`);
      return performance.now() - started;
    };
    try {
      const plain = Array.from({ length: 10 }, () => runSsh([]));
      figures.push(`latency, OpenSSH without multiplexing: ${stats(plain)}`);
      const muxed = Array.from({ length: 31 }, () => runSsh(mux));
      figures.push(
        `latency, OpenSSH with ControlMaster: first ${muxed[0].toFixed(1)} ms, then ${stats(muxed.slice(1))}`,
      );
    } finally {
      // The master process ControlMaster left behind: ask it to exit (it would after 30 s idle anyway).
      spawnSync("ssh", [...options, ...mux, "-O", "exit", target]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const connects = driverLog.filter((l) => / connected in /.test(l));
    figures.push(
      `connections opened by the rollouts' driver: ${connects.length} (${connects.slice(0, 2).join("; ")} …)`,
    );
  });

  it("deprovision of a running member stops it by lame duck (no SIGKILL) and removes its config; its unit stays", async () => {
    const member = spec.members[2];
    const started = Date.now();
    await driver.deprovision(member);
    figures.push(`deprovision of a running member (lame duck, then removal): ${Date.now() - started} ms`);
    expect(await driver.isRunning(member)).toBe(false);
    expect(await driver.readConfig(member)).toBeUndefined();
    expect(await onVm(member, "systemctl is-enabled nats-server")).toBe("enabled");
    const journal = await onVm(member, "sudo -n journalctl -u nats-server --no-pager -n 30");
    expect(journal).toMatch(/Entering lame duck mode/);
    expect(journal).not.toMatch(/SIGKILL|Killing process/);
  }, 120_000);
});
