/**
 * The cluster every fault runs against, as test/ssh/lab.test.ts builds it: a lab of 4 VMs (3 members + the surge
 * VM), the ssh platform's driver (ops with sudo, pinned host keys), a 3-member JetStream cluster bootstrapped at the
 * older version through `reconcile`, an R3 file stream; and the client traffic of a fault run (acked publishers
 * spread over the members, request/reply, a TCP reachability watch), all on the host.
 */
import * as fs from "node:fs";
import { NatsConnection } from "@nats-io/nats-core";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createHostDriver, SshHostDriver } from "../../../engine/hosts/ssh";
import { SshCommand, SshEndpoint, SshResult, SshTransport, Ssh2Transport } from "../../../engine/hosts/ssh/transport";
import { MonitorClient } from "../../../engine/monitor/client";
import { reconcile } from "../../../engine/rollout/reconcile";
import { TrafficSummary, TrafficWatch } from "../../../engine/rollout/traffic-watch";
import { ClusterSpec, monitorUrl, RolloutPolicy, ServerEndpoint } from "../../../engine/spec";
import { VM_LISTEN_HOST } from "../../../engine/defaults";
import { createLab, Lab, processAlive } from "../../support/lab";
import { AckedPublisher, appOptions, connect, createR3Stream } from "../../support/traffic";
import { OLD_MINOR } from "../../support/versions";
import { ReachabilityWatch } from "../../ssh/support/reachability";
import { UnitStateWatch } from "../../ssh/support/unit-state";
import { sshSettingsFor } from "../../ssh/support/ssh-lab";
import { removeAllFaults, removeOperatorNamespace } from "./inject";
import { killRecordedNetDelay, removeNetDelayRules, stopNetDelay } from "./netdelay";

export const NAMES = ["nats-a", "nats-b", "nats-c", "nats-surge"];
export const STREAM = "ORDERS";
/**
 * The policy of every fault run: short soaks, a 60 s healthy deadline (a fault must end within it). A row may set its
 * own over it (FaultDef.policy).
 */
export const FAULT_POLICY: Partial<RolloutPolicy> = {
  minHealthySeconds: 2,
  pollIntervalMs: 250,
  healthyDeadlineSeconds: 60,
  stopTimeoutSeconds: 60,
};
const APP = { user: "app", password: `app-${Math.random().toString(36).slice(2)}` };
const SYS = { user: "sys", password: `sys-${Math.random().toString(36).slice(2)}` };
const STATE_ROOT = "/var/lib/nats-cluster-lab";

export interface FaultClusterOptions {
  /** A loop-device volume (MB) per member VM, XFS, mounted at the data directory (where the JetStream store is). */
  readonly volumeMb?: number;
  readonly log: (line: string) => void;
}

/**
 * Fault labs are `flt<digits>` on 10.213.<50-99>. One whose owner process is gone (a run killed outright) is removed
 * before a new one, with what the faults made for it: the fault tables, the delay chain and its delayer (by the pid
 * recorded in the lab's state directory), the operator namespace.
 */
async function sweepStaleFaultLabs(log: (line: string) => void): Promise<void> {
  if (!fs.existsSync(STATE_ROOT)) return;
  for (const name of fs.readdirSync(STATE_ROOT)) {
    if (!/^flt\d+$/.test(name)) continue;
    let owner: number;
    try {
      owner = Number(fs.readFileSync(`${STATE_ROOT}/${name}/owner.pid`, "utf8").trim());
    } catch {
      continue; // not made by this harness
    }
    if (owner && processAlive(owner)) continue;
    log(`[faults] removing stale fault lab ${name} (owner ${owner} gone)`);
    const lab = createLab({ name });
    killRecordedNetDelay(`${STATE_ROOT}/${name}`);
    removeAllFaults(lab);
    removeNetDelayRules(lab);
    removeOperatorNamespace(lab);
    await lab.stop().catch((err) => log(`[faults] stale lab ${name}: ${err}`));
  }
}

export class FaultCluster {
  readonly lab: Lab;
  spec!: ClusterSpec;
  settings!: Record<string, unknown>;
  privateKey!: string;
  driver!: SshHostDriver;
  /** The in-process engine's transport: {@link HoldingTransport.holdUntil} makes a fault land between two steps. */
  transport!: HoldingTransport;

  constructor(private readonly options: FaultClusterOptions) {
    this.lab = createLab({
      name: `flt${10000 + Math.floor(Math.random() * 90000)}`,
      vms: 4,
      subnet: `10.213.${50 + Math.floor(Math.random() * 50)}`,
      volumeMb: options.volumeMb,
      volumeVms: options.volumeMb ? [1, 2, 3] : undefined,
    });
  }

  get members(): ReadonlyArray<ServerEndpoint> {
    return this.spec.members;
  }
  vmOf(name: string) {
    return this.lab.vms[NAMES.indexOf(name)];
  }
  get appUser() {
    return APP;
  }

  /** A driver with a transport of its own, as a new `pulumi up` process has (nothing remembered from a run before). */
  newDriver(): void {
    this.driver?.close();
    // The transport's failed connection attempts (each one's reason) go to the row's lines, shown when it fails.
    const log = (line: string) => {
      if (/connection attempt \d+ failed|cannot connect|reconnecting/.test(line)) this.options.log(`[ssh] ${line}`);
    };
    this.transport = new HoldingTransport(new Ssh2Transport({ privateKey: this.privateKey, log }));
    this.driver = createHostDriver(this.settings, {}, this.transport) as SshHostDriver;
  }

  /** Lab up, volumes mounted, VMs provisioned, cluster bootstrapped at the older version, R3 stream made. */
  async start(bootstrap?: () => Promise<void>): Promise<void> {
    await sweepStaleFaultLabs(this.options.log);
    const started = Date.now();
    await this.lab.start();
    const vmEndpoint = (name: string, i: number): ServerEndpoint => ({
      name,
      host: this.lab.vms[i].ip,
      clientPort: 4222,
      clusterPort: 6222,
      monitorPort: 8222,
    });
    if (this.options.volumeMb) {
      await Promise.all(
        [0, 1, 2].map((i) =>
          this.lab.exec(
            this.lab.vms[i],
            "mkfs.xfs -q -f -L natsdata /dev/sdf && mkdir -p /var/lib/nats && mount /dev/sdf /var/lib/nats",
          ),
        ),
      );
    }
    this.privateKey = fs.readFileSync(this.lab.sshKeyPath, "utf8");
    this.settings = {
      ...sshSettingsFor(this.lab, NAMES),
      surge: "nats-surge",
      stopTimeoutSeconds: 60,
    } as unknown as Record<string, unknown>;
    this.newDriver();
    this.spec = {
      name: "faults",
      version: OLD_MINOR,
      members: NAMES.slice(0, 3).map((n, i) => vmEndpoint(n, i)),
      surge: vmEndpoint("nats-surge", 3),
      routes: { kind: "seed", seeds: ["nats-a"] },
      jetstream: { enabled: true },
      lameDuck: { durationSeconds: 30, gracePeriodSeconds: 2 },
      auth: { users: [APP], systemAccount: SYS },
    };
    if (bootstrap) {
      await bootstrap();
    } else {
      await Promise.all([...this.spec.members, this.spec.surge].map((s) => this.driver.provision(s)));
      const outcome = await reconcile({
        spec: this.spec,
        driver: this.driver,
        listenHost: VM_LISTEN_HOST,
        policy: FAULT_POLICY,
        watchTraffic: false,
      });
      if (outcome.status !== "done") throw new Error(`bootstrap at ${OLD_MINOR}: ${outcome.status}`);
    }
    const nc = await connect(appOptions(this.spec, "faults-admin", { user: APP.user, pass: APP.password }));
    await createR3Stream(nc, STREAM, "orders.>");
    await nc.close();
    this.options.log(
      `[faults] lab ${this.lab.name} (${this.lab.info.subnet}.0/24): 3 members at ${OLD_MINOR} + surge VM, ` +
        `stream ${STREAM} R3, ready in ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
  }

  /** Everything this cluster made: fault tables, the operator namespace, the lab. Safe to call twice. */
  async stop(): Promise<void> {
    this.driver?.close();
    try {
      if (this.lab.info) {
        removeAllFaults(this.lab);
        removeNetDelayRules(this.lab);
        stopNetDelay(this.lab);
      }
    } catch {
      /* the lab never came up */
    }
    removeOperatorNamespace(this.lab);
    await this.lab.stop();
  }

  /**
   * Waits (up to `deadlineMs`) until every member's full `/healthz` has answered 200 three polls in a row: what an
   * operator checks after healing a fault, before running again. Resolves with how long it took, or -1.
   */
  async waitHealthy(deadlineMs: number): Promise<number> {
    const started = Date.now();
    let streak = 0;
    while (Date.now() - started < deadlineMs) {
      const ok = await Promise.all(
        this.spec.members.map((m) =>
          new MonitorClient(monitorUrl(m), 2000)
            .healthz()
            .then((h) => h.httpStatus === 200)
            .catch(() => false),
        ),
      );
      streak = ok.every(Boolean) ? streak + 1 : 0;
      if (streak >= 3) return Date.now() - started;
      await new Promise((r) => setTimeout(r, 1000));
    }
    return -1;
  }

  /** What every member reports (`/varz` version or why not), and whether the surge server still serves. */
  async state(): Promise<{ versions: Record<string, string>; surge: string }> {
    const versions: Record<string, string> = {};
    for (const m of this.spec.members) {
      versions[m.name] = await new MonitorClient(monitorUrl(m), 2000)
        .varz()
        .then((v) => v.version)
        .catch(() => "down");
    }
    const surgeVarz = await new MonitorClient(monitorUrl(this.spec.surge), 2000).varz().catch(() => undefined);
    const surgeHost = await this.driver
      .readConfig(this.spec.surge)
      .then((c) => (c === undefined ? "removed" : "config left"))
      .catch(() => "VM down");
    const surge = surgeVarz ? `SERVING ${surgeVarz.version}` : `gone (${surgeHost})`;
    return { versions, surge };
  }
}

/**
 * The ssh transport with a hold: while a fault is being injected at a progress line, the engine's next command
 * waits for it, so "the VM died between two members" is what happens, not a race with the injection's 0.3 s.
 */
export class HoldingTransport implements SshTransport {
  private hold: Promise<unknown> = Promise.resolve();
  constructor(private readonly inner: SshTransport) {}

  holdUntil(done: Promise<unknown>): void {
    this.hold = done.catch(() => undefined);
  }

  async run(endpoint: SshEndpoint, command: SshCommand): Promise<SshResult> {
    await this.hold;
    return this.inner.run(endpoint, command);
  }

  close(): void {
    this.inner.close();
  }
}

/** What the clients felt during one fault run. */
export interface ClientFigures {
  readonly acked: number;
  readonly lost: number;
  readonly publishFailures: number;
  /** The most members the clients could not connect to at once (TCP, through the network the fault may slow). */
  readonly maxDownAtOnce: number;
  /**
   * The most members down at once by their hosts' own account (nats-server's unit not `active`, read through
   * nsenter, no network), not counting the members the fault itself took down: the rollout's doing.
   */
  readonly maxDownByRollout: number;
  /**
   * The most members at once the clients could not reach while their unit was `active` on the VM: the network's
   * own stall (a fault's latency or loss), reported apart from the rollout's doing.
   */
  readonly maxUnreachableWhileUp: number;
  readonly requestReply: TrafficSummary;
  readonly lostDetail?: string;
}

/**
 * Clients of one fault run: one acked publisher per member (each connection starts at another member and
 * reconnects anywhere), request/reply (the engine's TrafficWatch: responder and requester on random servers), and a
 * TCP reachability watch of the members' client ports every 200 ms (what clients could reach), and a watch of each
 * member's unit state on its VM every 200 ms (what the rollout had down, whatever the network does).
 */
export class FaultTraffic {
  private readonly connections: NatsConnection[] = [];
  private readonly publishers: AckedPublisher[] = [];
  private readonly watch: TrafficWatch;
  readonly reach: ReachabilityWatch;
  readonly units: UnitStateWatch;

  constructor(private readonly cluster: FaultCluster) {
    this.watch = new TrafficWatch(cluster.spec);
    this.reach = new ReachabilityWatch(cluster.spec.members);
    this.units = new UnitStateWatch(
      cluster.spec.members.map((m) => ({ name: m.name, leaderPid: () => cluster.vmOf(m.name)?.leaderPid })),
    );
  }

  async start(): Promise<void> {
    const { spec, appUser } = this.cluster;
    for (let i = 0; i < spec.members.length; i++) {
      const order = [...spec.members.slice(i), ...spec.members.slice(0, i)];
      const nc = await connect({
        ...appOptions({ ...spec, members: order }, `faults-publisher-${i}`, {
          user: appUser.user,
          pass: appUser.password,
        }),
        noRandomize: true,
      });
      this.connections.push(nc);
      const publisher = new AckedPublisher(nc, `orders.p${i}`, 50, `p${i}-`);
      this.publishers.push(publisher);
      publisher.start();
    }
    await this.watch.start();
    this.reach.start();
    this.units.start();
  }

  /**
   * Stops the clients and checks every acknowledged message is in the stream, read back through an ordered
   * consumer once the stream answers again (up to `verifyDeadlineMs`). `faultDown`: members the fault took down.
   */
  async stop(faultDown: ReadonlyArray<string>, verifyDeadlineMs = 120_000): Promise<ClientFigures> {
    await Promise.all(this.publishers.map((p) => p.stop()));
    const requestReply = await this.watch.stop();
    await this.reach.stop();
    await this.units.stop();
    const ids = new Map<number, string>();
    this.publishers.forEach((p, i) => p.acked.forEach((id, seq) => ids.set(seq, `orders.p${i}:${id}`)));
    const { lost, detail } = await this.verify(ids, verifyDeadlineMs);
    for (const nc of this.connections) await nc.close().catch(() => undefined);
    const maxDownByRollout = this.units.maxDownAtOnce(faultDown);
    // Every round where the rollout had two down, with each unit's state: the evidence a reader needs.
    for (const line of this.units.roundsOver(1, faultDown)) console.log(`[faults] units with 2+ down: ${line}`);
    if (this.units.unknownRounds) {
      console.log(
        `[faults] unit state not read in time in ${this.units.unknownRounds} of ${this.units.rounds.length} rounds`,
      );
    }
    const maxUnreachableWhileUp = Math.max(
      0,
      ...this.reach.rounds.map((r) => {
        const unit = nearestRound(this.units.rounds, r.at);
        return unit ? r.down.filter((n) => !unit.down.includes(n)).length : 0;
      }),
    );
    return {
      acked: ids.size,
      lost,
      publishFailures: this.publishers.reduce((n, p) => n + p.failures, 0),
      maxDownAtOnce: this.reach.maxDownAtOnce(),
      maxDownByRollout,
      maxUnreachableWhileUp,
      requestReply,
      lostDetail: detail,
    };
  }

  /** Reads the stream back and counts acked messages that are not there (sequence → subject:id). */
  private async verify(
    expected: ReadonlyMap<number, string>,
    deadlineMs: number,
  ): Promise<{ lost: number; detail?: string }> {
    const { spec, appUser } = this.cluster;
    const deadline = Date.now() + deadlineMs;
    let lastError = "";
    while (Date.now() < deadline) {
      let nc: NatsConnection | undefined;
      try {
        nc = await connect(appOptions(spec, "faults-verify", { user: appUser.user, pass: appUser.password }));
        const jsm = await jetstreamManager(nc, { timeout: 5000 });
        const info = await jsm.streams.info(STREAM);
        const last = info.state.last_seq;
        const seen = new Map<number, string>();
        if (last > 0) {
          const consumer = await jetstream(nc, { timeout: 5000 }).consumers.get(STREAM);
          const messages = await consumer.consume({ max_messages: 2000 });
          const timer = setTimeout(() => messages.stop(), 60_000);
          for await (const m of messages) {
            seen.set(m.seq, `${m.subject}:${new TextDecoder().decode(m.data)}`);
            if (m.seq >= last) break;
          }
          clearTimeout(timer);
        }
        const missing = [...expected].filter(([seq, id]) => seen.get(seq) !== id);
        await nc.close();
        return {
          lost: missing.length,
          detail: missing.length
            ? `e.g. ${missing
                .slice(0, 3)
                .map(([s, id]) => `seq ${s} (${id}): ${seen.get(s) ?? "absent"}`)
                .join(", ")}`
            : undefined,
        };
      } catch (err) {
        lastError = String(err);
        await nc?.close().catch(() => undefined);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    throw new Error(`could not read stream ${STREAM} back within ${deadlineMs / 1000} s: ${lastError}`);
  }
}

/** The round taken nearest to `at` (within 300 ms), or undefined. */
function nearestRound<R extends { readonly at: number }>(rounds: ReadonlyArray<R>, at: number): R | undefined {
  let best: R | undefined;
  for (const r of rounds) if (!best || Math.abs(r.at - at) < Math.abs(best.at - at)) best = r;
  return best && Math.abs(best.at - at) <= 300 ? best : undefined;
}
