/**
 * The AWS host lifecycle on real hosts: the SSM driver's scripts run on lab VMs (real systemd, cloud-init, a loop
 * device as each member's EBS volume) through a fake AWS at the SDK boundary that plays the SSM agent, Parameter
 * Store and EC2 (support/lab-aws.ts). Members boot with the AWS component's member user data; the surge VM is
 * "launched" by RunInstances at its address as a fresh first boot of the fourth VM with the launch template's user
 * data, and terminated again.
 *
 * Through the real engine (`reconcile`) and the SsmHostDriver: the start of the cluster at the older minor, then a
 * rolling upgrade to the newer one under client traffic (acked JetStream publishes to an R3 stream,
 * request/reply): no acked message lost, every member's /varz at the target, never two members down at once.
 *
 * Root only (the lab): skips, saying why, elsewhere.
 */
import { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { SsmHostDriver } from "../../engine/hosts/aws/ssm-driver";
import { configParameterName, tlsParameterName } from "../../engine/hosts/aws/names";
import { formatEvent, RolloutEvent } from "../../engine/rollout/events";
import { reconcile, ReconcileOutcome } from "../../engine/rollout/reconcile";
import { formatReport, RolloutReport } from "../../engine/rollout/report";
import { ClusterSpec, RolloutPolicy } from "../../engine/spec";
import { JETSTREAM_DEVICE, renderUserData } from "../../components/platforms/aws/user-data";
import { makeTestCa } from "../support/certificates";
import { Lab, labReleasePins, labSkipReason, LabVm } from "../support/lab";
import { AckedPublisher, appOptions, connect, createR3Stream } from "../support/traffic";
import { NEW_MINOR, OLD_MINOR } from "../support/versions";
import { installAwsCliShim, LabAws } from "./support/lab-aws";
import { labReleaseBaseUrl, monitorJson, sh, startLabWithUserData } from "./support/lab-hosts";

const skip = labSkipReason();
if (skip) console.warn(`[lab] AWS SSM lab tests skipped: ${skip}`);

const CLUSTER = "labaws";
// Soak and lame-duck grace as the other lab suites have them (2 s): the SSM path is what this file is about, and at 5 s
// and 10 s they were about 45 s of its waiting.
const POLICY: Partial<RolloutPolicy> = {
  minHealthySeconds: 2,
  pollIntervalMs: 500,
  healthyDeadlineSeconds: 120,
  stopTimeoutSeconds: 150,
};

/**
 * One seed for every lab VM (the lab takes a single user-data file): the fourth VM, the surge server's, runs the
 * surge launch template's user data, the others the member user data. Both exactly as the AWS component renders
 * them; only this dispatch is the lab's.
 */
function labUserData(subnet: string): string {
  const common = {
    version: OLD_MINOR,
    arch: "amd64" as const,
    releaseBaseUrl: labReleaseBaseUrl(subnet),
    releaseSha256: labReleasePins(),
    stopTimeoutSeconds: 150,
  };
  const member = renderUserData({ ...common, serverName: "member", jetstreamDevice: JETSTREAM_DEVICE });
  const surge = renderUserData({ ...common, serverName: `${CLUSTER}-surge` });
  return [
    "#!/bin/sh",
    "# Lab only: the surge VM (vm4) boots with the surge launch template's user data, the others as members.",
    'case "$(hostname)" in *-vm4) part=surge ;; *) part=member ;; esac',
    "mkdir -p /run/nats-lab",
    "cat > /run/nats-lab/member <<'NATS_LAB_MEMBER_EOF'",
    member.trimEnd(),
    "NATS_LAB_MEMBER_EOF",
    "cat > /run/nats-lab/surge <<'NATS_LAB_SURGE_EOF'",
    surge.trimEnd(),
    "NATS_LAB_SURGE_EOF",
    'exec sh "/run/nats-lab/$part"',
    "",
  ].join("\n");
}

/** Polls every member's /varz; remembers the most members that did not answer at the same moment. */
class DownWatch {
  maxDown = 0;
  samples = 0;
  private running = false;
  private loop?: Promise<void>;
  constructor(private readonly vms: ReadonlyArray<LabVm>) {}
  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const up = await Promise.all(this.vms.map((v) => monitorJson(v, "varz")));
        this.maxDown = Math.max(this.maxDown, up.filter((u) => u === undefined).length);
        this.samples++;
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
  }
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

(skip ? describe.skip : describe)("AWS: the SSM driver on lab VMs, through the real engine", () => {
  let lab: Lab | undefined;
  let aws: LabAws;
  let driver: SsmHostDriver;
  let spec: ClusterSpec;
  let nc: NatsConnection | undefined;
  const driverLog: string[] = [];
  const members = (): LabVm[] => [1, 2, 3].map((n) => lab!.vm(n));
  const instanceIds: Record<string, string> = { m1: "i-labmember1", m2: "i-labmember2", m3: "i-labmember3" };

  /** A driver as the RollingUpgrade provider builds one for each `pulumi up`. */
  function newDriver(): SsmHostDriver {
    return new SsmHostDriver({
      region: "lab-1",
      clusterName: CLUSTER,
      instanceIdFor: (server) => instanceIds[server.name],
      surge: { launchTemplateId: "lt-0lab", subnetId: "subnet-0lab" },
      releaseBaseUrl: lab!.releaseBaseUrl,
      releaseSha256: lab!.releaseSha256,
      stopTimeoutSeconds: 150,
      dataVolumeFor: (server) => (instanceIds[server.name] ? {} : undefined),
      pollMs: 250,
      ssmClient: aws,
      ec2Client: aws,
      log: (line) => {
        driverLog.push(line);
        if (!/: (sent|done in)/.test(line)) process.stdout.write(`[driver] ${line}\n`);
      },
    });
  }

  beforeAll(async () => {
    lab = await startLabWithUserData({ vms: 4, volumeMb: 400, volumeVms: [1, 2, 3] }, labUserData, (l) => (lab = l));
    await Promise.all(lab.vms.map((v) => installAwsCliShim(lab!, v)));
    // No surge VM until the rollout launches one.
    await sh(lab, lab.vm(4), "cloud-init status --wait >/dev/null 2>&1 || true", 180_000);
    await lab.poweroff(lab.vm(4));
    aws = new LabAws(
      lab,
      members().map((vm, i) => ({ instanceId: `i-labmember${i + 1}`, vm })),
      lab.vm(4),
    );
    driver = newDriver();
    spec = {
      name: CLUSTER,
      version: OLD_MINOR,
      members: members().map((v, i) => ({
        name: `m${i + 1}`,
        host: v.ip,
        clientPort: 4222,
        clusterPort: 6222,
        monitorPort: 8222,
      })),
      surge: { name: `${CLUSTER}-surge`, host: lab.vm(4).ip, clientPort: 4222, clusterPort: 6222, monitorPort: 8222 },
      routes: { kind: "explicit" },
      jetstream: { enabled: true },
      lameDuck: { durationSeconds: 30, gracePeriodSeconds: 2 },
      // TLS material delivered through SecureStrings (one per file), fetched by each host into /etc/nats/tls.
      // Issued as test/ssh/lab-secure.test.ts issues it (the client probe's TLS check named localhost without it).
      tls: {
        pem: makeTestCa("lab-aws-ca").issue({
          hosts: [...members().map((v) => v.ip), lab.vm(4).ip, "127.0.0.1", "localhost"],
        }),
      },
    };
  }, 420_000);

  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    await aws?.settled().catch(() => undefined);
    await lab?.stop();
  }, 180_000);

  async function run(version: string, events: RolloutEvent[]): Promise<ReconcileOutcome> {
    spec = { ...spec, version };
    return reconcile({
      spec,
      driver,
      policy: POLICY,
      listenHost: "0.0.0.0",
      onEvent: (e) => {
        events.push(e);
        process.stdout.write(`${formatEvent(e)}\n`);
      },
    });
  }

  async function versions(): Promise<string[]> {
    return Promise.all(
      members().map(async (v) => (await monitorJson<{ version: string }>(v, "varz"))?.version ?? "down"),
    );
  }

  test(`the start of the cluster at ${OLD_MINOR}: provision, stage, activate, config through Parameter Store, start`, async () => {
    const events: RolloutEvent[] = [];
    const started = Date.now();
    const outcome = await run(OLD_MINOR, events);
    if (outcome.status !== "done") throw new Error(`bootstrap ${outcome.status}: ${JSON.stringify(outcome, null, 2)}`);
    process.stdout.write(`${formatReport(outcome.report)}\n`);
    console.log(`[lab] start of the AWS cluster through SSM: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(outcome.report.kind).toBe("bootstrap");
    expect(await versions()).toEqual([OLD_MINOR, OLD_MINOR, OLD_MINOR]);
    // Each config came through a SecureString version, fetched on the host by the `aws` CLI (the lab's shim).
    for (const [i, v] of members().entries()) {
      const name = configParameterName(`/nats-cluster/${CLUSTER}`, `m${i + 1}`);
      expect(aws.parameter(name)).toHaveLength(1);
      expect(
        await sh(lab!, v, "sed -n 's/^version=//p' /etc/nats/.nats.conf.meta; stat -c '%a %U' /etc/nats/nats.conf"),
      ).toBe("1\n600 nats\n");
      expect(await sh(lab!, v, "findmnt -n -o SOURCE -T /var/lib/nats/jetstream")).toBe("/dev/sdf\n");
      // The TLS files, each from its own parameter: the nats user's, 0600 in a 0700 directory, the exact bytes.
      for (const file of ["server-cert.pem", "server-key.pem", "ca.pem"]) {
        expect(aws.parameter(tlsParameterName(`/nats-cluster/${CLUSTER}`, `m${i + 1}`, file))).toHaveLength(1);
      }
      expect(await sh(lab!, v, "stat -c '%a %U' /etc/nats/tls /etc/nats/tls/*")).toBe(
        "700 nats\n600 nats\n600 nats\n600 nats\n",
      );
      const key = await sh(lab!, v, "cat /etc/nats/tls/server-key.pem");
      expect(key).toBe(spec.tls?.pem?.keyPem);
    }
  }, 600_000);

  test(`a rolling upgrade ${OLD_MINOR} → ${NEW_MINOR} through SSM, surge VM launched and terminated, under traffic`, async () => {
    nc = await connect(appOptions(spec, "lab-aws-publisher", { tls: { ca: spec.tls?.pem?.caPem } }));
    await createR3Stream(nc, "ORDERS", "orders.>");
    const publisher = new AckedPublisher(nc, "orders.new");
    const down = new DownWatch(members());
    publisher.start();
    down.start();
    const events: RolloutEvent[] = [];
    let outcome: ReconcileOutcome;
    try {
      outcome = await run(NEW_MINOR, events);
    } finally {
      await publisher.stop();
      await down.stop();
    }
    if (outcome.status !== "done") throw new Error(`rollout ${outcome.status}: ${JSON.stringify(outcome, null, 2)}`);
    const report: RolloutReport = outcome.report;
    // What request/reply clients felt: the rollout's own watch (a pair homed on each member).
    const felt = report.clientImpact!;
    process.stdout.write(`${formatReport(report)}\n`);

    expect(report.result).toBe("succeeded");
    // Followers first, the meta leader last: every member restarted once.
    expect(report.members.map((m) => `${m.name} ${m.action} ${m.result}`).sort()).toEqual([
      "m1 restart-member done",
      "m2 restart-member done",
      "m3 restart-member done",
    ]);
    expect(report.surge?.removed).toBe(true);
    expect(await versions()).toEqual([NEW_MINOR, NEW_MINOR, NEW_MINOR]);

    // No acknowledged message lost.
    const jsm = await jetstreamManager(nc);
    expect(publisher.acked.size).toBeGreaterThan(50);
    const info = await jsm.streams.info("ORDERS");
    expect(info.state.messages).toBeGreaterThanOrEqual(publisher.acked.size);
    for (const [seq, id] of publisher.acked) {
      const msg = await jsm.streams.getMessage("ORDERS", { seq });
      expect(msg?.string()).toBe(id);
    }
    // Never two members down at once (sampled every 250 ms), and request/reply kept being answered.
    expect(down.samples).toBeGreaterThan(100);
    expect(down.maxDown).toBeLessThanOrEqual(1);
    expect(felt.requests).toBeGreaterThan(50);

    // The surge VM: launched from the "launch template" at its address, terminated at the end; its parameter gone.
    const surges = aws.surgeInstances();
    expect(surges).toHaveLength(1);
    await aws.settled();
    expect(aws.surgeInstances()[0].state).toBe("terminated");
    expect(aws.parameter(configParameterName(`/nats-cluster/${CLUSTER}`, spec.surge.name))).toBeUndefined();
    // The binary was staged before each lame duck and activated after it, on every member.
    for (const name of ["m1", "m2", "m3"]) {
      const mine = aws.commands.filter((c) => c.instanceId === `i-labmember${name.slice(1)}`).map((c) => c.comment);
      const stageAt = mine.indexOf(`nats-cluster: stage nats-server v${NEW_MINOR}`);
      const lameDuckAt = mine.lastIndexOf("nats-cluster: lame duck (systemctl stop: SIGUSR2)");
      const activateAt = mine.indexOf(`nats-cluster: activate nats-server v${NEW_MINOR}`);
      expect(stageAt).toBeGreaterThanOrEqual(0);
      expect(lameDuckAt).toBeGreaterThan(stageAt);
      expect(activateAt).toBeGreaterThan(lameDuckAt);
    }
    // The stop timeout followed the policy on the hosts (drop-in rewritten with each lame duck).
    expect(await sh(lab!, lab!.vm(1), "systemctl show -p TimeoutStopUSec --value nats-server")).toBe("2min 30s\n");

    const perMember = report.members.map(
      (m) => `${m.name} ${((m.totalMs ?? 0) / 1000).toFixed(1)} s (down ${((m.downMs ?? 0) / 1000).toFixed(1)} s)`,
    );
    const commands = aws.commands.length;
    const commandMs = aws.commands.reduce((sum, c) => sum + c.ms, 0);
    console.log(
      `[lab] SSM rollout on lab VMs: total ${(report.totalMs / 1000).toFixed(1)} s; surge VM launch ${aws.launches
        .map((ms) => `${(ms / 1000).toFixed(1)} s`)
        .join(", ")}, ready ${((report.surge?.readyMs ?? 0) / 1000).toFixed(1)} s; members: ${perMember.join("; ")}; ` +
        `${publisher.acked.size} acked publishes, ${publisher.failures} retried; request/reply ${felt.requests} requests, ` +
        `${felt.failures} failed, max gap ${felt.maxGapMs} ms; ${commands} SSM commands, ${(commandMs / commands).toFixed(0)} ms mean`,
    );
  }, 900_000);
  test("a member replaced by a fresh instance whose first boot failed is prepared again over SSM and recovered", async () => {
    const v = lab!.vm(3);
    // A new instance for m3 on the same volume: nothing on its root disk, and its first boot cannot reach the
    // release server (no NAT yet, say).
    const broken = labUserData(lab!.info.subnet).replaceAll(lab!.releaseBaseUrl, `http://${lab!.info.hostIp}:1`);
    await sh(
      lab!,
      v,
      [
        "systemctl stop nats-server",
        "systemctl disable nats-server",
        "rm -rf /opt/nats /etc/nats /var/lib/nats-cluster /etc/systemd/system/nats-server.service*",
        "cloud-init clean --logs",
      ].join("; "),
    );
    await lab!.exec(v, ["sh", "-c", "cat > /var/lib/cloud/seed/nocloud/user-data"], { input: broken });
    await lab!.shutdown(v);
    await lab!.boot(v);
    // The next `pulumi up`: a new driver; the planner finds m3 down and recovers it.
    driver = newDriver();
    driverLog.length = 0;
    const events: RolloutEvent[] = [];
    const outcome = await run(NEW_MINOR, events);
    if (outcome.status !== "done") throw new Error(`recovery ${outcome.status}: ${JSON.stringify(outcome, null, 2)}`);
    process.stdout.write(`${formatReport(outcome.report)}\n`);
    expect(outcome.report.members.map((m) => `${m.name} ${m.action} ${m.result}`)).toEqual(["m3 recover-member done"]);
    expect(
      driverLog.some((l) =>
        l.includes(`m3 (i-labmember3): first boot did not finish: install nats-server v${OLD_MINOR} from http://`),
      ),
    ).toBe(true);
    expect(
      aws.commands.some((c) => c.comment === "nats-cluster: prepare the host again (user, data volume, unit)"),
    ).toBe(true);
    expect(await versions()).toEqual([NEW_MINOR, NEW_MINOR, NEW_MINOR]);
    expect(await sh(lab!, v, "systemctl is-enabled nats-server; findmnt -n -o SOURCE /var/lib/nats")).toBe(
      "enabled\n/dev/sdf\n",
    );
    // Its JetStream data came back with the volume: the stream is whole on all three again.
    const jsm = await jetstreamManager(nc!);
    const info = await jsm.streams.info("ORDERS");
    expect(info.cluster?.replicas?.every((r) => r.current)).toBe(true);
  }, 600_000);
});
