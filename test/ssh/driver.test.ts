/**
 * SshHostDriver with a fake transport (support/fake-transport.ts): which script each HostDriver method sends, with
 * which deadline, how it reads the answer, and that every script is valid POSIX sh. The same driver on real VMs is
 * in lab.test.ts.
 */
import { createHash } from "node:crypto";
import { createHostDriver } from "../../engine/hosts/ssh";
import { SshHostDriver } from "../../engine/hosts/ssh/driver";
import { ObservedCluster } from "../../engine/rollout/observe";
import { RolloutPlan } from "../../engine/rollout/plan";
import { versionsStaged, withReleaseRefusals } from "../../engine/rollout/release-refusals";
import { ClusterSpec, ServerEndpoint } from "../../engine/spec";
import { assertParses, FakeTransport, SentCommand } from "./support/fake-transport";
import { generateKeyPair } from "./support/local-sshd";

const key = (comment: string) => generateKeyPair(comment).publicKey;
const server = (name: string, host: string): ServerEndpoint => ({
  name,
  host,
  clientPort: 4222,
  clusterPort: 6222,
  monitorPort: 8222,
});
const a = server("nats-a", "10.0.0.11");
const surge = server("nats-surge", "10.0.0.19");

const settings = {
  hosts: {
    "nats-a": { address: "10.0.0.11", user: "ops" },
    "nats-surge": { address: "10.0.0.19", user: "root", port: 2222 },
  },
  hostKeys: { "nats-a": key("a"), "10.0.0.19": key("surge") },
  surge: "nats-surge",
  releaseBaseUrl: "http://10.0.0.1:8081",
  stopTimeoutSeconds: 90,
};

/** Every script any test sent: all must parse. */
const allSent: SentCommand[] = [];

function setup(extra: Record<string, unknown> = {}): { driver: SshHostDriver; transport: FakeTransport } {
  const transport = new FakeTransport();
  const driver = createHostDriver({ ...settings, ...extra }, {}, transport) as SshHostDriver;
  const run = transport.run.bind(transport);
  transport.run = async (endpoint, command) => {
    allSent.push({ ...command, endpoint });
    return run(endpoint, command);
  };
  return { driver, transport };
}

describe("SshHostDriver", () => {
  afterAll(() => {
    expect(allSent.length).toBeGreaterThan(15);
    for (const command of allSent) assertParses(command.script);
  });

  it("reaches each server as its settings say: sudo for a user that is not root, the pinned key by name or address", () => {
    const { driver, transport } = setup();
    void driver.isRunning(a);
    void driver.isRunning(surge);
    const [ea, es] = transport.sent.map((c) => c.endpoint);
    expect(ea).toMatchObject({ server: "nats-a", address: "10.0.0.11", port: 22, user: "ops", sudo: true });
    expect(es).toMatchObject({ server: "nats-surge", address: "10.0.0.19", port: 2222, user: "root", sudo: false });
    expect(ea.hostKey.fingerprint).toMatch(/^SHA256:/);
    expect(ea.hostKey.fingerprint).not.toBe(es.hostKey.fingerprint);
  });

  it("sudo: false in the settings turns sudo off for every host", () => {
    const { driver, transport } = setup({ sudo: false });
    void driver.isRunning(a);
    expect(transport.sent[0].endpoint.sudo).toBe(false);
  });

  it("a server that has no host is an error naming the setting to add", async () => {
    const { driver } = setup();
    await expect(driver.isRunning(server("nats-x", "10.0.0.99"))).rejects.toThrow(
      "nats-x: no SSH host for it; add hosts.nats-x (and its host key) to the ssh settings",
    );
  });

  it("provision checks the host's tools and architecture, then prepares it and installs the unit", async () => {
    const { driver, transport } = setup();
    transport.reply = (c) =>
      c.what.startsWith("check the host") ? "machine=x86_64\n" : "prepared=yes\nunit=installed\n";
    await driver.provision(a);
    expect(transport.sent.map((c) => c.what)).toEqual([
      "check the host (tools, systemd, architecture)",
      "prepare the host (nats user, directories, systemd unit)",
      "remove any metrics exporter (none configured)",
    ]);
    const prepare = transport.sent[1].script;
    expect(prepare).toContain("useradd --system");
    expect(prepare).toContain("ExecStop=/bin/kill -s SIGUSR2 $MAINPID");
    expect(prepare).toContain("TimeoutStopSec=90");
    expect(prepare).toContain("systemctl enable --quiet 'nats-server'");
  });

  it("provision installs the exporter the settings name, and refuses one on the server's own ports", async () => {
    const exporter = {
      name: "node_exporter",
      version: "1.12.1",
      url: "http://10.0.0.1:8081/node_exporter/v{version}/node_exporter-{version}.linux-{arch}.tar.gz",
      sha256: { amd64: "ab".repeat(32) },
      port: 9100,
      args: ["--web.listen-address=:9100"],
    };
    const { driver, transport } = setup({ exporter });
    transport.reply = (c) => (c.what.startsWith("check the host") ? "machine=x86_64\n" : "exporter=installed\n");
    await driver.provision(a);
    const install = transport.sent[2];
    expect(install.what).toBe("install the metrics exporter node_exporter 1.12.1 (port 9100)");
    expect(install.script).toContain("node_exporter-1.12.1.linux-amd64.tar.gz");
    expect(install.script).toContain("ExecStart=/opt/nats/exporter/node_exporter-1.12.1 --web.listen-address=:9100");
    await expect(setup({ exporter: { ...exporter, port: 4222 } }).driver.provision(a)).rejects.toThrow(
      "nats-a: exporter.port 4222 is one of its nats-server ports; give the exporter its own",
    );
    // And deprovision takes it away with the server.
    await driver.deprovision(a);
    expect(transport.sent.at(-1)?.script).toContain("rm -rf '/opt/nats/exporter'");
  });

  it("provision refuses a VM of another architecture than the settings' arch, naming the fix", async () => {
    const { driver, transport } = setup();
    transport.reply = () => "machine=aarch64\n";
    await expect(driver.provision(a)).rejects.toThrow(
      "nats-a (10.0.0.11): the VM is aarch64, but the ssh settings' arch is amd64: set arch to arm64",
    );
    expect(transport.sent).toHaveLength(1);
  });

  it("stages from a plain-http mirror only what the settings pin; the plan is refused for the rest", async () => {
    const { driver, transport } = setup({ releaseSha256: {} });
    expect(driver.releaseProblem("2.15.2")).toContain(
      "releaseBaseUrl http://10.0.0.1:8081 is plain http and releaseSha256 pins no SHA-256 for nats-server 2.15.2 " +
        "linux-amd64",
    );
    await expect(driver.stageBinary(a, "2.15.2")).rejects.toThrow(/pins no SHA-256/);
    expect(transport.sent).toHaveLength(0);
    // An https mirror needs no pin: its SHA256SUMS is trusted.
    expect(setup({ releaseBaseUrl: "https://mirror.example.com/nats" }).driver.releaseProblem("2.15.2")).toBe(
      undefined,
    );

    // The planner asks the driver for every version it would stage: the target, and the surge server's.
    const plan: RolloutPlan = {
      kind: "rollout",
      targetVersion: "2.15.2",
      surgeVersion: "2.14.9",
      steps: [
        { kind: "preflight", reason: "" },
        { kind: "surge-up", server: "nats-surge", to: "2.14.9", reason: "" },
        { kind: "restart-member", server: "nats-a", from: "2.14.9", to: "2.15.2", reason: "" },
      ],
      refusals: [],
      estimatedSeconds: 1,
    };
    const spec = { version: "2.15.2" } as ClusterSpec;
    const observed = { surge: { running: false } } as ObservedCluster;
    const pinnedOne = setup({ releaseSha256: { "2.15.2": { amd64: "a".repeat(64) } } }).driver;
    expect(versionsStaged(plan, spec, observed)).toEqual(["2.14.9", "2.15.2"]);
    expect(withReleaseRefusals(plan, spec, observed, pinnedOne).refusals).toEqual([
      expect.stringMatching(/^release: releaseBaseUrl .* pins no SHA-256 for nats-server 2\.14\.9 linux-amd64/),
    ]);
  });

  it("stages from the settings' release URL with a long deadline, and activates without a download", async () => {
    const { driver, transport } = setup({ releaseSha256: { "2.15.2": { amd64: "b".repeat(64) } } });
    await driver.stageBinary(a, "2.15.2");
    await driver.activateBinary(a, "2.15.2");
    const [stage, activate] = transport.sent;
    expect(stage.what).toBe("stage nats-server v2.15.2");
    expect(stage.timeoutMs).toBe(600_000);
    expect(stage.script).toContain("nats_url='http://10.0.0.1:8081/v2.15.2'");
    expect(stage.script).toContain("nats-server-v2.15.2-linux-amd64.tar.gz");
    expect(activate.script).not.toContain("curl");
    expect(activate.script).toContain("ln -sfn");
  });

  it("reads the installed version from the link", async () => {
    const { driver, transport } = setup();
    transport.reply = () => "link=/opt/nats/nats-server-2.14.9\n";
    expect(await driver.installedVersion(a)).toBe("2.14.9");
    transport.reply = () => "link=\n";
    expect(await driver.installedVersion(a)).toBeUndefined();
  });

  it("writeConfig sends the text base64-encoded inside the script and checks the digest the host answers", async () => {
    const { driver, transport } = setup();
    const text = 'authorization { token: "s3cr3t-token" }\n# ünïcode\n';
    const digest = createHash("sha256").update(text).digest("hex");
    transport.reply = () => `config_sha256=${digest}\n`;
    await driver.writeConfig(a, text);
    const sent = transport.sent[0];
    expect(sent.script).not.toContain("s3cr3t-token");
    expect(sent.script.replace(/\n/g, "")).toContain(Buffer.from(text).toString("base64"));
    expect(sent.script).toContain("umask 077");
    expect(sent.script).toContain("chmod 0600");
    expect(sent.what).toBe("write /etc/nats/nats.conf");

    transport.reply = () => "config_sha256=0000\n";
    await expect(driver.writeConfig(a, text)).rejects.toThrow(/the file on the host is not the config sent/);
  });

  it("readConfig returns the exact bytes, or undefined when there is no file", async () => {
    const { driver, transport } = setup();
    const text = "listen: 0.0.0.0:4222\n# ünïcode, no trailing newline";
    transport.reply = () => `config_base64=${Buffer.from(text).toString("base64")}\n`;
    expect(await driver.readConfig(a)).toBe(text);
    transport.reply = () => "config=absent\n";
    expect(await driver.readConfig(a)).toBeUndefined();
    expect(transport.sent.every((c) => c.quiet)).toBe(true);
  });

  it("isRunning is MainPID, so a server in lame duck (deactivating) still counts as running", async () => {
    const { driver, transport } = setup();
    transport.reply = () => "main_pid=4242\nactive_state=deactivating\n";
    expect(await driver.isRunning(a)).toBe(true);
    transport.reply = () => "main_pid=0\nactive_state=inactive\n";
    expect(await driver.isRunning(a)).toBe(false);
  });

  it("lame duck is one command: the stop timeout raised if needed, then systemctl stop --no-block", async () => {
    const { driver, transport } = setup();
    await driver.signalLameDuck(a);
    expect(transport.sent).toHaveLength(1);
    const script = transport.sent[0].script;
    expect(script).toContain("need=90");
    expect(script.indexOf("daemon-reload")).toBeLessThan(script.indexOf("systemctl stop --no-block"));
  });

  it("waitForExit waits on the host in one command whose deadline covers the wait", async () => {
    const { driver, transport } = setup();
    transport.reply = () => "exited=yes\n";
    expect(await driver.waitForExit(a, 4500)).toBe(true);
    expect(transport.sent[0].timeoutMs).toBe(5000 + 60_000);
    expect(transport.sent[0].script).toContain("-lt 5 ]");
    transport.reply = () => "exited=no\n";
    expect(await driver.waitForExit(a, 1000)).toBe(false);
  });

  it("deprovision removes the surge server's unit and store, but only a member's config", async () => {
    const { driver, transport } = setup();
    await driver.deprovision(surge);
    await driver.deprovision(a);
    const [s, m] = transport.sent;
    expect(s.what).toBe("remove nats-server (config, unit, JetStream store)");
    expect(s.script).toContain("rm -f '/etc/systemd/system/nats-server.service'");
    expect(s.script).toContain("rm -rf '/var/lib/nats/jetstream'");
    expect(m.what).toBe("stop nats-server, remove its config");
    expect(m.script).toContain("rm -f '/etc/nats/nats.conf'");
    expect(m.script).not.toContain("nats-server.service'");
    expect(m.script).not.toContain("jetstream");
  });

  it("start, reload, kill and the journal each send their systemd script", async () => {
    const { driver, transport } = setup();
    transport.reply = (c) => (c.what.startsWith("read the last") ? "line 1\nline 2\n\n" : "");
    await driver.start(a);
    await driver.signalReload(a);
    await driver.kill(a);
    expect(await driver.readLog(a, 5)).toBe("line 1\nline 2");
    expect(transport.sent.map((c) => c.what)).toEqual([
      "start nats-server",
      "reload the config (SIGHUP)",
      "kill nats-server (SIGKILL)",
      "read the last 5 journal lines",
    ]);
    expect(transport.sent[3].script).toContain("journalctl -u 'nats-server' -n 5");
  });

  it("the layout is the host paths' (settings may override them)", () => {
    expect(setup().driver.layout(a)).toEqual({
      pidFile: "/var/run/nats/nats.pid",
      storeDir: "/var/lib/nats/jetstream",
      tlsDir: "/etc/nats/tls",
    });
    const { driver } = setup({ paths: { dataDir: "/data/nats", configPath: "/srv/nats/nats.conf" } });
    expect(driver.layout(a).storeDir).toBe("/data/nats/jetstream");
    expect(driver.layout(a).tlsDir).toBe("/srv/nats/tls");
  });
});
