/**
 * TLS on real systemd VMs (the lab), through the ssh platform and the engine's one reconcile path: the material the
 * engine delivers itself over SSH (`tls.pem`), mutual route TLS with the cluster's CA as the only trust, TLS-only
 * clients with passwords. A 3-member JetStream cluster bootstrapped secure (files, modes, owners and the config
 * checked on each VM); a plain nats-server started by hand on the surge VM with the cluster's name and a route to a
 * member never joins and hears nothing; a new certificate is a rolling reload (systemd's MainPID unchanged, the new
 * expiry in /varz, no acknowledged message lost); the key and the passwords are in no journal, no log file, no event
 * and no driver log line, and on the VMs in no file but the one they belong in. Turning route TLS on for a running
 * plaintext cluster on these VMs is test/lab/lab-stack.test.ts's (the same ssh platform, through `pulumi up`).
 * Certificates come from openssl (test/support/certificates.ts), not from the engine.
 * Skips, printing why, where the lab cannot run (not root, no systemd-nspawn and no way to install it, …).
 */
import { createHash, X509Certificate } from "node:crypto";
import { NatsConnection } from "@nats-io/nats-core";
import { jetstream } from "@nats-io/jetstream";
import { NodeConnectionOptions } from "@nats-io/transport-node";
import { VM_LISTEN_HOST } from "../../engine/defaults";
import { MonitorClient } from "../../engine/monitor/client";
import { routePeers } from "../../engine/monitor/types";
import { formatEvent, RolloutEvent } from "../../engine/rollout/events";
import { formatPlan, RolloutPlan } from "../../engine/rollout/plan";
import { previewReconcile, reconcile } from "../../engine/rollout/reconcile";
import { formatReport, RolloutReport } from "../../engine/rollout/report";
import { ClusterSpec, monitorUrl, ServerEndpoint, TlsPem } from "../../engine/spec";
import { makeTestCa, TestCa } from "../support/certificates";
import { labSkipReason } from "../support/lab";
import { AckedPublisher, appOptions, connect, createR3Stream } from "../support/traffic";
import { NEW_MINOR } from "../support/versions";
import { LAB_POLICY, runPassword, SshLabCluster } from "./support/lab-cluster";

const skip = labSkipReason();
if (skip) console.warn(`[ssh lab secure] TLS tests on real VMs skipped: ${skip}`);

const VERSION = NEW_MINOR;
const APP_PASSWORD = runPassword("app");
const SYS_PASSWORD = runPassword("sys");
const AUTH = {
  users: [{ user: "app", password: APP_PASSWORD }],
  systemAccount: { user: "sys", password: SYS_PASSWORD },
};

/** One machine-readable line per scenario, e.g. `lab-secure scenario=rotation members=3 lost=0 …`. */
function machineLine(fields: Record<string, string | number>): void {
  const line = `lab-secure ${Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ")}`;
  process.stdout.write(`${line}\n`);
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");
const notAfterOf = (certPem: string) => new Date(new X509Certificate(certPem).validTo).getTime();

/** The base64 lines of a PEM's body: each one is distinctive (a P-256 key's first line ends in key bytes). */
const bodyLines = (pem: string) => pem.split("\n").filter((l) => l && !l.startsWith("-----"));

/** The certificate for every server: the four VMs' addresses, and loopback. */
const hostsOf = (cluster: SshLabCluster) => [...cluster.lab.vms.map((vm) => vm.ip), "127.0.0.1", "localhost"];

function baseSpec(cluster: SshLabCluster, name: string): ClusterSpec {
  return {
    name,
    version: VERSION,
    members: cluster.members,
    surge: cluster.surge,
    routes: { kind: "seed", seeds: ["nats-a"] },
    jetstream: { enabled: true },
    lameDuck: { durationSeconds: 30, gracePeriodSeconds: 2 },
    auth: AUTH,
  };
}

interface Rolled {
  readonly plan: RolloutPlan;
  readonly report: RolloutReport;
  readonly ms: number;
}

/** Preview (printed), then reconcile to `spec` through the engine with the ssh driver; the report printed. */
async function roll(
  cluster: SshLabCluster,
  spec: ClusterSpec,
  events: RolloutEvent[],
  opts: { watchTraffic?: boolean } = {},
): Promise<Rolled> {
  const options = { spec, driver: cluster.driver, listenHost: VM_LISTEN_HOST, policy: LAB_POLICY };
  const { plan } = await previewReconcile(options);
  process.stdout.write(`${formatPlan(plan)}\n`);
  const started = Date.now();
  const outcome = await reconcile({
    ...options,
    ...(opts.watchTraffic === false ? { watchTraffic: false } : {}),
    onEvent: (e) => {
      events.push(e);
      process.stdout.write(`${formatEvent(e)}\n`);
    },
  });
  const ms = Date.now() - started;
  if (outcome.status === "refused") throw new Error(`refused:\n${formatPlan(outcome.plan)}`);
  process.stdout.write(`${formatReport(outcome.report)}\n`);
  return { plan, report: outcome.report, ms };
}

/** Connects once the server listens (tries for up to 15 s). */
async function connectWhenUp(opts: NodeConnectionOptions): Promise<NatsConnection> {
  const until = Date.now() + 15_000;
  for (;;) {
    try {
      return await connect(opts);
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const mainPid = (cluster: SshLabCluster, m: ServerEndpoint) =>
  cluster.onVm(m, "systemctl show -p MainPID --value nats-server");
const varz = (server: ServerEndpoint) => new MonitorClient(monitorUrl(server)).varz();

/** Something that must not leave the places it belongs in. */
interface Secret {
  readonly label: string;
  /** Strings to look for (each distinctive on its own). */
  readonly needles: ReadonlyArray<string>;
  /** The only files on a member's VM that may hold it (none on the surge VM). */
  readonly memberFiles: ReadonlyArray<string>;
}

/** The directories of a VM searched for secrets (everything but the system's own trees: /usr, /proc, /sys, /dev). */
const SEARCHED = "/etc /var /run /tmp /root /home /opt /srv";

/**
 * Every VM's journal of this boot and its cloud-init/syslog files, the engine's events and the driver's log lines:
 * no secret anywhere. On each VM, the files that hold a secret: exactly the ones it belongs in. Returns the count
 * of hits (0) and what was searched, for the machine line.
 */
async function expectSecretsNowhere(
  cluster: SshLabCluster,
  secrets: ReadonlyArray<Secret>,
  events: ReadonlyArray<RolloutEvent>,
): Promise<{ hits: number; journalBytes: number; logLines: number }> {
  const hits: string[] = [];
  const logs = [...cluster.driverLog, ...events.map(formatEvent)];
  expect(cluster.driverLog.length).toBeGreaterThan(20);
  let journalBytes = 0;
  for (const secret of secrets) {
    for (const needle of secret.needles) {
      const n = logs.filter((l) => l.includes(needle)).length;
      if (n) hits.push(`${secret.label}: ${n} engine event or driver log lines`);
    }
  }
  for (const server of [...cluster.members, cluster.surge]) {
    const isMember = server.name !== cluster.surge.name;
    // The journal comes back here and is searched here: the needles never go onto a VM's command line.
    const journal = await cluster.onVm(
      server,
      "journalctl -b --no-pager -o short-iso; " +
        "for f in /var/log/cloud-init.log /var/log/cloud-init-output.log /var/log/syslog /var/log/messages " +
        '/var/log/auth.log; do [ -f "$f" ] && cat "$f"; done; true',
    );
    journalBytes += journal.length;
    expect(journal).toMatch(/nats-server|sshd/); // not an empty read
    for (const secret of secrets) {
      const n = secret.needles.filter((needle) => journal.includes(needle)).length;
      if (n) hits.push(`${secret.label}: in ${server.name}'s journal or log files`);
      // The needles go to grep on its stdin (-f -), never on a command line.
      const files = await cluster.onVm(
        server,
        `grep -rlsF -D skip -f - ${SEARCHED} 2>/dev/null || true`,
        `${secret.needles.join("\n")}\n`,
      );
      const found = files ? files.split("\n").sort() : [];
      expect({ server: server.name, secret: secret.label, files: found }).toEqual({
        server: server.name,
        secret: secret.label,
        files: isMember ? [...secret.memberFiles].sort() : [],
      });
    }
  }
  expect(hits).toEqual([]);
  return { hits: hits.length, journalBytes, logLines: logs.length };
}

(skip ? describe.skip : describe)("a secure cluster on real systemd VMs (ssh platform, TLS material over SSH)", () => {
  const cluster = new SshLabCluster();
  const events: RolloutEvent[] = [];
  let ca: TestCa;
  let pem: TlsPem;
  let firstPem: TlsPem;
  let spec: ClusterSpec;
  let nc: NatsConnection | undefined;
  let tlsDir: string;

  beforeAll(async () => {
    await cluster.start();
    ca = makeTestCa("lab-secure-ca");
    pem = firstPem = ca.issue({ hosts: hostsOf(cluster) });
    spec = { ...baseSpec(cluster, "lab-secure"), tls: { pem } };
    tlsDir = cluster.driver.layout(spec.members[0]).tlsDir!;
  }, 360_000);

  afterAll(async () => {
    await nc?.close().catch(() => undefined);
    ca?.dispose();
    await cluster.stop();
  }, 180_000);

  it("bootstraps a 3-member JetStream cluster secure: the material in /etc/nats/tls, the config refers to it", async () => {
    const { report, ms } = await roll(cluster, spec, events, { watchTraffic: false });
    expect(report.result).toBe("succeeded");
    expect(report.kind).toBe("bootstrap");
    for (const m of spec.members) {
      // The directory 0700 and each file 0600, all the nats user's; nothing else in it (no temp file left over).
      expect(await cluster.onVm(m, `stat -c '%a %U:%G %n' ${tlsDir} ${tlsDir}/*; ls -A ${tlsDir}`)).toBe(
        [
          `700 nats:nats ${tlsDir}`,
          `600 nats:nats ${tlsDir}/ca.pem`,
          `600 nats:nats ${tlsDir}/server-cert.pem`,
          `600 nats:nats ${tlsDir}/server-key.pem`,
          "ca.pem",
          "server-cert.pem",
          "server-key.pem",
        ].join("\n"),
      );
      // What is on disk is what was sent (compared by digest: the key does not travel back).
      expect(await cluster.onVm(m, `cd ${tlsDir} && sha256sum server-key.pem server-cert.pem ca.pem`)).toBe(
        [
          `${sha256(pem.keyPem)}  server-key.pem`,
          `${sha256(pem.certPem)}  server-cert.pem`,
          `${sha256(pem.caPem)}  ca.pem`,
        ].join("\n"),
      );
      const config = await cluster.onVm(m, "cat /etc/nats/nats.conf");
      for (const file of ["server-cert.pem", "server-key.pem", "ca.pem"]) expect(config).toContain(`${tlsDir}/${file}`);
      expect(config).toMatch(/cluster \{[\s\S]*tls \{[\s\S]*verify: true/);
      expect(config).not.toMatch(/-----BEGIN|PRIVATE KEY/);
      for (const line of bodyLines(pem.keyPem)) expect(config).not.toContain(line);
      // Both listeners run the delivered certificate.
      const v = await varz(m);
      expect(Date.parse(v.tls_cert_not_after!)).toBe(notAfterOf(pem.certPem));
      expect(Date.parse(v.cluster!.tls_cert_not_after!)).toBe(notAfterOf(pem.certPem));
    }
    // An application: TLS with the cluster's CA (verifying the VMs' addresses), the app's password.
    nc = await connect(appOptions(spec, "lab-secure-app", { tls: { ca: pem.caPem }, user: "app", pass: APP_PASSWORD }));
    await createR3Stream(nc, "ORDERS", "orders.>");
    machineLine({ scenario: "bootstrap", members: spec.members.length, tls: "routes+clients", seconds: ms / 1000 });
  }, 300_000);

  it("a plain nats-server on the surge VM with the cluster's name and a route to nats-a never joins, hears 0", async () => {
    const surge = spec.surge;
    const member = spec.members[0];
    const rogue: ServerEndpoint = {
      name: "rogue",
      host: surge.host,
      clientPort: 4333,
      clusterPort: 6333,
      monitorPort: 8333,
    };
    const tag = `${Date.now()}`;
    const dir = `/tmp/rogue-${tag}`;
    const unit = `rogue-nats-${tag}`;
    // Only the binary, through the driver (the lab's release server): no config, no unit, no certificate.
    await cluster.driver.stageBinary(surge, VERSION);
    const conf = [
      'server_name: "rogue"',
      `listen: "0.0.0.0:${rogue.clientPort}"`,
      `http: "0.0.0.0:${rogue.monitorPort}"`,
      `cluster { name: "${spec.name}", listen: "0.0.0.0:${rogue.clusterPort}", routes: ["nats://${member.host}:${member.clusterPort}"] }`,
    ].join("\n");
    const since = (await cluster.onVm(member, "date +%s")).trim();
    let heard = 0;
    const seenPeers = new Set<string>();
    let rogueRoutes: number | undefined;
    try {
      await cluster.onVm(surge, `mkdir -m 0700 ${dir} && cat > ${dir}/rogue.conf`, `${conf}\n`);
      await cluster.onVm(
        surge,
        `systemd-run --quiet --collect --unit=${unit} /opt/nats/nats-server-${VERSION} -c ${dir}/rogue.conf`,
      );
      // A client of the rogue, once it listens (no TLS, no auth: a server of anyone's).
      const eavesdropper = await connectWhenUp({
        servers: `nats://${rogue.host}:${rogue.clientPort}`,
        reconnect: false,
      });
      eavesdropper.subscribe(">", { callback: () => void heard++ });
      await eavesdropper.flush();
      const monitors = spec.members.map((m) => new MonitorClient(monitorUrl(m)));
      // The rogue retries its route every second: give it several tries while the members carry traffic.
      for (let i = 0; i < 20; i++) {
        nc!.publish("orders.card", new TextEncoder().encode('{"card":"4111-1111"}'));
        await jetstream(nc!).publish("orders.card", new TextEncoder().encode(`{"n":${i}}`));
        for (const m of monitors) routePeers(await m.routez()).forEach((p) => seenPeers.add(p));
        await new Promise((r) => setTimeout(r, 250));
      }
      await nc!.flush();
      rogueRoutes = (await new MonitorClient(monitorUrl(rogue)).routez()).num_routes;
      await eavesdropper.close();
    } finally {
      await cluster.onVm(
        surge,
        `systemctl stop ${unit} 2>/dev/null; systemctl reset-failed ${unit} 2>/dev/null; rm -rf ${dir}; true`,
      );
    }
    expect(heard).toBe(0);
    expect([...seenPeers]).not.toContain("rogue");
    // The positive side: the members route to each other, so "no rogue" is not "no routes at all".
    expect([...seenPeers].sort()).toEqual(spec.members.map((m) => m.name).sort());
    expect(rogueRoutes).toBe(0);
    // nats-a says why, in its journal: the rogue's route attempts from the surge VM's address fail the TLS handshake.
    const journal = await cluster.onVm(member, `journalctl -u nats-server --no-pager --since @${since}`);
    const refused = journal.split("\n").filter((l) => l.includes(surge.host) && /TLS|tls/.test(l));
    expect(refused.length).toBeGreaterThan(0);
    process.stdout.write(`nats-a on the rogue: ${refused[0]}\n`);
    // Gone, and its files with it.
    expect(await cluster.onVm(surge, `systemctl is-active ${unit} || true`)).not.toBe("active");
    expect(await cluster.onVm(surge, `pgrep -x nats-server || echo none; ls ${dir} 2>&1 || true`)).toMatch(
      /^none\n.*No such file or directory/,
    );
    machineLine({
      scenario: "rogue",
      heard,
      rogue_routes: rogueRoutes,
      members_listing_rogue: [...seenPeers].filter((p) => p === "rogue").length,
      refusals_logged: refused.length,
    });
  }, 180_000);

  it("rotates the certificate by a rolling reload: MainPIDs unchanged, the new expiry everywhere, 0 acked lost", async () => {
    const next = ca.issue({ hosts: hostsOf(cluster), days: 45 });
    expect(notAfterOf(next.certPem)).not.toBe(notAfterOf(pem.certPem));
    const rotated: ClusterSpec = { ...spec, tls: { pem: next } };
    const pidsBefore = await Promise.all(spec.members.map((m) => mainPid(cluster, m)));
    const publisher = new AckedPublisher(nc!, "orders.rotation");
    publisher.start();
    let rolled: Rolled;
    try {
      rolled = await roll(cluster, rotated, events);
    } finally {
      await publisher.stop();
    }
    spec = rotated;
    pem = next;
    const { plan, report, ms } = rolled;
    // One reload per member (the meta leader last), nothing else touched: no surge server, no restart.
    expect(plan.steps.map((s) => s.kind)).toEqual(["preflight", ...Array(3).fill("reload-member"), "final-check"]);
    expect(plan.steps.flatMap((s) => (s.server ? [s.server] : [])).sort()).toEqual(spec.members.map((m) => m.name));
    expect(report.result).toBe("succeeded");
    expect(report.members.map((m) => m.result)).toEqual(["done", "done", "done"]);
    expect(report.members.every((m) => m.gateTimings?.some((g) => g.gate === "tls"))).toBe(true);
    const pidsAfter = await Promise.all(spec.members.map((m) => mainPid(cluster, m)));
    expect(pidsAfter).toEqual(pidsBefore);
    expect(pidsAfter.every((p) => Number(p) > 0)).toBe(true);
    for (const m of spec.members) {
      const v = await varz(m);
      expect(Date.parse(v.tls_cert_not_after!)).toBe(notAfterOf(next.certPem));
      expect(Date.parse(v.cluster!.tls_cert_not_after!)).toBe(notAfterOf(next.certPem));
      expect(await cluster.onVm(m, `sha256sum < ${tlsDir}/server-key.pem`)).toBe(`${sha256(next.keyPem)}  -`);
    }
    const lost = await publisher.lostMessages(nc!, "ORDERS");
    expect(publisher.acked.size).toBeGreaterThan(10);
    expect(lost).toEqual([]);
    const impact = report.clientImpact!;
    expect(impact.requests).toBeGreaterThan(5);
    // Nothing left to do.
    const again = await previewReconcile({
      spec,
      driver: cluster.driver,
      listenHost: VM_LISTEN_HOST,
      policy: LAB_POLICY,
    });
    expect(again.plan.steps).toEqual([]);
    machineLine({
      scenario: "rotation",
      members: spec.members.length,
      lost: lost.length,
      acked: publisher.acked.size,
      pids_unchanged: pidsAfter.filter((p, i) => p === pidsBefore[i]).length,
      gap_ms: impact.maxGapMs,
      requests: impact.requests,
      failed: impact.failures,
      seconds: ms / 1000,
    });
  }, 300_000);

  it("the key and the passwords are in no journal, log file, event or driver line; on a VM only where they belong", async () => {
    const found = await expectSecretsNowhere(
      cluster,
      [
        { label: "the server key", needles: bodyLines(pem.keyPem), memberFiles: [`${tlsDir}/server-key.pem`] },
        { label: "the rotated-out key", needles: bodyLines(firstPem.keyPem), memberFiles: [] },
        { label: "the passwords", needles: [APP_PASSWORD, SYS_PASSWORD], memberFiles: ["/etc/nats/nats.conf"] },
      ],
      events,
    );
    machineLine({
      scenario: "secrets",
      vms: 4,
      hits: found.hits,
      journal_bytes: found.journalBytes,
      log_lines: found.logLines,
    });
  }, 180_000);
});
