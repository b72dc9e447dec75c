/**
 * The host-side scripts the ssh driver adds, run for real on this machine: each in a private mount namespace whose
 * /etc/systemd/system is an empty tmpfs (so nothing of this machine's systemd is touched), with `systemctl`,
 * `chown` and `install` replaced by stand-ins that log their arguments, and every other path in a temp directory.
 * What only a real systemd can show (the unit starting, lame duck) is in lab.test.ts.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readConfigScript, writeConfigScript } from "../../engine/hosts/ssh/scripts";
import { HostPaths } from "../../engine/hosts/systemd/paths";
import { installUnitScript, lameDuckStopTimeoutScript, removeServerScript } from "../../engine/hosts/systemd/scripts";
import {
  STOP_TIMEOUT_DROP_IN_PATH,
  stopTimeoutDropIn,
  systemdUnitFor,
  UNIT_PATH,
} from "../../engine/hosts/systemd/unit";

const canUnshare = process.getuid?.() === 0 && run("unshare", ["-m", "true"]) !== undefined;
if (!canUnshare) console.warn("scripts.test: skipped the runs that need root and unshare -m");

function run(cmd: string, args: string[], input?: string): string | undefined {
  try {
    return execFileSync(cmd, args, { input, stdio: ["pipe", "pipe", "pipe"] }).toString();
  } catch {
    return undefined;
  }
}

(canUnshare ? describe : describe.skip)("ssh host scripts, run in a sandbox", () => {
  let dir: string;
  let paths: HostPaths;
  let calls: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ssh-scripts-"));
    paths = {
      installDir: `${dir}/opt`,
      configPath: `${dir}/etc/nats.conf`,
      dataDir: `${dir}/data`,
      pidFile: "/var/run/nats/nats.pid",
    };
    calls = `${dir}/calls.log`;
    fs.mkdirSync(`${dir}/bin`);
    // Stand-ins: log the call; `show -p MainPID --value` answers the pid in <dir>/mainpid (0: nothing runs), which
    // only SIGKILL clears (a server that never leaves lame duck).
    const standIn = (name: string, body = "") =>
      fs.writeFileSync(`${dir}/bin/${name}`, `#!/bin/sh\necho "${name} $*" >> ${calls}\n${body}\n`, { mode: 0o755 });
    standIn(
      "systemctl",
      `case "$*" in *MainPID*) cat ${dir}/mainpid 2>/dev/null || echo 0 ;; *SIGKILL*) echo 0 > ${dir}/mainpid ;; esac`,
    );
    standIn("chown");
    standIn("install", 'for last; do :; done; mkdir -p "$last"');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Runs scripts one after another in one private mount namespace; prints `=== <file>` and each file asked for. */
  function sandbox(scripts: string[], show: string[] = []): string {
    scripts.forEach((s, i) => fs.writeFileSync(`${dir}/script${i}.sh`, s));
    const body = [
      "set -e",
      "mount -t tmpfs tmpfs /etc/systemd/system",
      `export PATH=${dir}/bin:$PATH`,
      ...scripts.map((_, i) => `sh ${dir}/script${i}.sh`),
      ...show.map((f) => `echo "=== ${f}"; cat ${f}`),
    ].join("\n");
    return execFileSync("unshare", ["-m", "sh", "-c", body]).toString();
  }
  const systemctlCalls = () => (fs.existsSync(calls) ? fs.readFileSync(calls, "utf8") : "");

  it("installUnitScript writes the unit and drop-in once, reloads and enables; a second run changes nothing", () => {
    const script = installUnitScript(paths, { withVolume: false, stopTimeoutSeconds: 90 });
    const out = sandbox([script, script], [UNIT_PATH, STOP_TIMEOUT_DROP_IN_PATH]);
    expect(out).toContain("unit=installed\nunit=unchanged\n");
    expect(out).toContain(`=== ${UNIT_PATH}\n${systemdUnitFor(paths, { withVolume: false, stopTimeoutSeconds: 90 })}`);
    expect(out).toContain(`=== ${STOP_TIMEOUT_DROP_IN_PATH}\n${stopTimeoutDropIn(90)}`);
    expect(systemctlCalls().match(/daemon-reload/g)).toHaveLength(1);
    expect(systemctlCalls().match(/enable --quiet nats-server/g)).toHaveLength(2);
  });

  it("lameDuckStopTimeoutScript raises the stop timeout to the config's lame duck + 30 s, once", () => {
    fs.mkdirSync(`${dir}/etc`);
    fs.writeFileSync(
      paths.configPath,
      'listen: 0.0.0.0:4222\nlame_duck_duration: "200s"\nlame_duck_grace_period: "10s"\n',
    );
    const script = lameDuckStopTimeoutScript(paths, 90);
    const out = sandbox([script, script], [STOP_TIMEOUT_DROP_IN_PATH]);
    expect(out).toContain("stop_timeout=230\nstop_timeout=230\n");
    expect(out).toContain(`=== ${STOP_TIMEOUT_DROP_IN_PATH}\n${stopTimeoutDropIn(230)}`);
    expect(systemctlCalls().match(/daemon-reload/g)).toHaveLength(1);
  });

  it("lameDuckStopTimeoutScript keeps the floor when lame duck needs less, and when there is no config", () => {
    fs.mkdirSync(`${dir}/etc`);
    fs.writeFileSync(paths.configPath, 'lame_duck_duration: "30s"\n');
    const out = sandbox([lameDuckStopTimeoutScript(paths, 150)], [STOP_TIMEOUT_DROP_IN_PATH]);
    expect(out).toBe(`stop_timeout=150\n=== ${STOP_TIMEOUT_DROP_IN_PATH}\n${stopTimeoutDropIn(150)}`);
    fs.rmSync(paths.configPath);
    expect(sandbox([lameDuckStopTimeoutScript(paths, 120)])).toBe("stop_timeout=120\n");
  });

  it("writeConfigScript writes exactly the bytes sent, 0600, by a rename, and prints their digest", () => {
    const text = 'authorization { token: "t0k\'en$HOME`x`" }\n# ünïcode\n\n' + "x".repeat(5000);
    const out = sandbox([writeConfigScript(paths, text)]);
    expect(out).toBe(`config_sha256=${createHash("sha256").update(text).digest("hex")}\n`);
    expect(fs.readFileSync(paths.configPath, "utf8")).toBe(text);
    expect(fs.statSync(paths.configPath).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(`${dir}/etc`)).toEqual(["nats.conf"]); // no temp file left
    expect(systemctlCalls()).toContain(`chown nats:nats ${dir}/etc/.nats.conf.`);
  });

  it("writeConfigScript with TLS material writes it first into tls/ (0700, the nats user's), each file 0600", () => {
    const tls = {
      certPem: "-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----\n",
      keyPem: "-----BEGIN PRIVATE KEY-----\nk3y'$HOME`x`\n-----END PRIVATE KEY-----\n",
      caPem: "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n",
    };
    const script = writeConfigScript(paths, "tls {}\n", tls);
    expect(script).not.toContain("k3y");
    const out = sandbox([script]);
    expect(out).toContain(`tls_cert_sha256=${createHash("sha256").update(tls.certPem).digest("hex")}\n`);
    const tlsDir = `${dir}/etc/tls`;
    expect(fs.readFileSync(`${tlsDir}/server-key.pem`, "utf8")).toBe(tls.keyPem);
    expect(fs.readFileSync(`${tlsDir}/server-cert.pem`, "utf8")).toBe(tls.certPem);
    expect(fs.readFileSync(`${tlsDir}/ca.pem`, "utf8")).toBe(tls.caPem);
    for (const f of fs.readdirSync(tlsDir)) expect(fs.statSync(`${tlsDir}/${f}`).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(tlsDir).sort()).toEqual(["ca.pem", "server-cert.pem", "server-key.pem"]);
    // `install` is a stand-in here: what it was asked for is the directory's mode and owner.
    expect(systemctlCalls()).toContain(`install -d -m 0700 -o nats -g nats ${tlsDir}`);
    expect(systemctlCalls()).toContain(`chown nats:nats ${tlsDir}/.server-key.pem.`);
  });

  it("writeConfigScript delivers the gateway's CA bundle beside ca.pem when there is one, 0600 too", () => {
    const tls = {
      certPem: "-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----\n",
      keyPem: "-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n",
      caPem: "-----BEGIN CERTIFICATE-----\nown\n-----END CERTIFICATE-----\n",
      gatewayCaPem: "-----BEGIN CERTIFICATE-----\nown\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nwest\n",
    };
    sandbox([writeConfigScript(paths, "gateway {}\n", tls)]);
    const tlsDir = `${dir}/etc/tls`;
    expect(fs.readFileSync(`${tlsDir}/gateway-ca.pem`, "utf8")).toBe(tls.gatewayCaPem);
    expect(fs.readFileSync(`${tlsDir}/ca.pem`, "utf8")).toBe(tls.caPem);
    expect(fs.statSync(`${tlsDir}/gateway-ca.pem`).mode & 0o777).toBe(0o600);
  });

  /** The TLS material as writeConfigScript delivers it (tls/ beside the config): deprovision must take it away. */
  function deliverTls(): void {
    fs.mkdirSync(`${dir}/etc/tls`, { mode: 0o700 });
    for (const f of ["server-cert.pem", "server-key.pem", "ca.pem"]) fs.writeFileSync(`${dir}/etc/tls/${f}`, "pem");
  }

  /** A staged binary and the link to it, as stage + activate leave them. */
  function installBinary(): void {
    fs.mkdirSync(`${dir}/opt`);
    fs.writeFileSync(`${dir}/opt/nats-server-2.15.2`, "#!/bin/sh\n", { mode: 0o755 });
    fs.symlinkSync(`${dir}/opt/nats-server-2.15.2`, `${dir}/opt/nats-server`);
  }

  it("readConfigScript gives the file's bytes back as base64, or config=absent", () => {
    expect(sandbox([readConfigScript(paths)])).toBe("config=absent\n");
    fs.mkdirSync(`${dir}/etc`);
    const text = "no newline at the end: ü";
    fs.writeFileSync(paths.configPath, text);
    expect(sandbox([readConfigScript(paths)])).toBe(`config_base64=${Buffer.from(text).toString("base64")}\n`);
  });

  it("removeServerScript removes the config and TLS material, and for the surge server the unit, link and store", () => {
    const unitScript = installUnitScript(paths, { withVolume: false, stopTimeoutSeconds: 90 });
    fs.mkdirSync(`${dir}/etc`);
    fs.mkdirSync(`${dir}/data/jetstream`, { recursive: true });
    fs.writeFileSync(paths.configPath, "x");
    deliverTls();
    installBinary();
    const surge = removeServerScript(paths, { unit: true, data: true }, { drainSeconds: 1, killSeconds: 1 });
    const out = sandbox([unitScript, surge, `ls /etc/systemd/system; ls ${dir}/etc ${dir}/data ${dir}/opt`]);
    // The versioned binary stays for a later stage; the link goes (no installed version: no surge server left).
    expect(out).toBe(`unit=installed\nremoved=yes\n${dir}/data:\n\n${dir}/etc:\n\n${dir}/opt:\nnats-server-2.15.2\n`);
    expect(systemctlCalls()).not.toContain("SIGKILL"); // nothing ran: nothing to kill
    expect(systemctlCalls()).toContain("disable --quiet nats-server");
  });

  it("removeServerScript for a member keeps the unit and the store, not the TLS material", () => {
    const unitScript = installUnitScript(paths, { withVolume: false, stopTimeoutSeconds: 90 });
    fs.mkdirSync(`${dir}/etc`);
    fs.mkdirSync(`${dir}/data/jetstream`, { recursive: true });
    fs.writeFileSync(paths.configPath, "x");
    deliverTls();
    installBinary();
    const member = removeServerScript(paths, { unit: false, data: false }, { drainSeconds: 1, killSeconds: 1 });
    const out = sandbox([unitScript, member, `ls /etc/systemd/system; ls ${dir}/etc ${dir}/data ${dir}/opt`]);
    expect(out).toBe(
      `unit=installed\nremoved=yes\nnats-server.service\nnats-server.service.d\n${dir}/data:\njetstream\n\n${dir}/etc:\n\n` +
        `${dir}/opt:\nnats-server\nnats-server-2.15.2\n`,
    );
  });

  it("removeServerScript stops a running server by lame duck, and SIGKILLs it when it does not leave in time", () => {
    fs.writeFileSync(`${dir}/mainpid`, "4242\n");
    const started = Date.now();
    const out = sandbox([removeServerScript(paths, { unit: false, data: false }, { drainSeconds: 1, killSeconds: 1 })]);
    expect(out).toBe("removed=yes\n");
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(systemctlCalls()).toMatch(/stop --no-block nats-server\n(.*\n)*systemctl kill -s SIGKILL nats-server/);
  });
});
