/**
 * The EC2 user data: checksum-verified install (and that install part run for real with `sh` against a local
 * release server), no secret anywhere, a systemd unit that stops by lame duck, and shell that parses.
 * AWS itself is not involved: the user data is plain text, and cloud-init is not run here.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, readlink, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import {
  INSTALL_HEREDOC,
  JETSTREAM_DEVICE,
  renderUserData,
  systemdUnitFor,
  userDataInputsFor,
} from "../../components/platforms/aws/user-data";
import { configTextFor } from "../../engine/config/text";
import * as scripts from "../../engine/hosts/aws/scripts";
import { SsmHostDriver } from "../../engine/hosts/aws/ssm-driver";
import { DEFAULT_HOST_PATHS } from "../../engine/hosts/systemd/paths";
import * as systemd from "../../engine/hosts/systemd/scripts";
import { ClusterSpec } from "../../engine/spec";
import { FakeReleaseServer } from "../support/release-server";

const execFileAsync = promisify(execFile);

const SECRETS = ["tok-9f8e7d6c5b4a", "pa55-w0rd-xyz", "sys-pa55-qwerty"];
const spec: ClusterSpec = {
  name: "nats-dev",
  version: "2.15.2",
  members: ["n1", "n2", "n3"].map((name, i) => ({
    name,
    host: `10.0.1.${10 + i}`,
    clientPort: 4222,
    clusterPort: 6222,
    monitorPort: 8222,
  })),
  surge: { name: "surge", host: "10.0.1.99", clientPort: 4222, clusterPort: 6222, monitorPort: 8222 },
  routes: { kind: "explicit" },
  jetstream: { enabled: true },
  lameDuck: { durationSeconds: 30, gracePeriodSeconds: 10 },
  auth: { users: [{ user: "app", password: SECRETS[1] }], systemAccount: { user: "sys", password: SECRETS[2] } },
};
const tokenSpec: ClusterSpec = { ...spec, auth: { token: SECRETS[0] } };

/** The user data's install part: the body of the `sh <<'NATS_INSTALL_EOF'` here-document. */
function installPartOf(userData: string): string {
  const start = userData.indexOf(`<<'${INSTALL_HEREDOC}'\n`);
  const end = userData.indexOf(`\n${INSTALL_HEREDOC}\n`, start);
  expect(start).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  return userData.slice(userData.indexOf("\n", start) + 1, end + 1);
}

describe("user data", () => {
  const member = renderUserData({
    ...userDataInputsFor(spec, spec.members[0]),
    arch: "amd64",
    jetstreamDevice: JETSTREAM_DEVICE,
  });

  it("installs from the official release and verifies it against SHA256SUMS", () => {
    expect(member.startsWith("#!/bin/sh\n")).toBe(true);
    expect(member).toContain("nats_url='https://github.com/nats-io/nats-server/releases/download/v2.15.2'");
    expect(member).toContain('"$nats_url/SHA256SUMS"');
    expect(member).toContain("nats_asset='nats-server-v2.15.2-linux-amd64.tar.gz'");
    expect(member).toContain("sha256sum -c");
    expect(member).toContain("nats_dir='/opt/nats'");
  });

  it("carries no secret: not the token, not a password, not the config", () => {
    for (const s of [spec, tokenSpec]) {
      // The config of this very server does hold the secrets (so the test would notice them leaking)...
      const driver = new SsmHostDriver({ region: "eu-west-1", clusterName: s.name, instanceIdFor: () => "i-1" });
      const config = configTextFor(s, s.members[0], driver);
      const present = SECRETS.filter((secret) => config.includes(secret));
      expect(present.length).toBeGreaterThan(0);
      // ...and none of them reaches the user data, for a member or the surge server.
      for (const server of [s.members[0], s.surge]) {
        const userData = renderUserData({
          ...userDataInputsFor(s, server),
          arch: "arm64",
          jetstreamDevice: JETSTREAM_DEVICE,
        });
        for (const secret of SECRETS) expect(userData).not.toContain(secret);
        expect(userData).not.toContain("authorization");
        expect(userData).not.toMatch(/nats\.conf'? *<</); // no here-document writing the config
      }
    }
  });

  it("writes a systemd unit that stops by lame duck (SIGUSR2), like the official one, as user nats", () => {
    const unit = systemdUnitFor(DEFAULT_HOST_PATHS, { withVolume: true });
    expect(unit).toContain("ExecStop=/bin/kill -s SIGUSR2 $MAINPID");
    expect(unit).toContain("KillSignal=SIGUSR2");
    expect(unit).toContain("TimeoutStopSec=150");
    expect(unit).toContain("Restart=on-failure");
    expect(unit).toContain("User=nats");
    expect(unit).toContain("ExecStart=/opt/nats/nats-server -c /etc/nats/nats.conf");
    expect(unit).toContain("ConditionPathExists=/etc/nats/nats.conf");
    expect(unit).toContain("RequiresMountsFor=/var/lib/nats");
    expect(unit).toContain("RuntimeDirectory=nats");
    // Before every start: mount the volume if the boot did not (in PID 1's namespace), refuse to start on the root
    // disk, grow the file system to the volume's size.
    expect(unit).toContain("nsenter -t 1 -m mount /var/lib/nats");
    expect(unit).toContain('mountpoint -q /var/lib/nats || { echo "/var/lib/nats is not mounted');
    expect(unit).toContain("ExecStartPre=+-/bin/sh -c 'xfs_growfs -d /var/lib/nats >/dev/null'");
    expect(systemdUnitFor(DEFAULT_HOST_PATHS, { withVolume: false })).not.toContain("ExecStartPre");
    expect(member).toContain(unit.trimEnd());
    expect(member).toContain("systemctl enable nats-server");
    expect(member).not.toContain("systemctl start");
    expect(systemdUnitFor(DEFAULT_HOST_PATHS, { withVolume: false, stopTimeoutSeconds: 200 })).toContain(
      "TimeoutStopSec=200",
    );
  });

  it("mounts the JetStream volume on members (formatting only a blank one) and not on a client-only surge server", () => {
    expect(member).toContain("for d in '/dev/sdf' '/dev/xvdf'; do");
    // Blank means a low-level probe finds nothing at all (blkid -p exits 2): no file system, no partition table.
    expect(member).toContain('nats_probe="$(blkid -p -o export "$nats_dev" 2>&1)" || nats_probe_rc=$?');
    expect(member).toMatch(/if \[ "\$nats_probe_rc" -eq 2 \]; then\n {2}nats_run "format the blank data volume/);
    expect(member).toContain('xfs defaults,noatime,nofail 0 2" >> /etc/fstab.nats-cluster');
    const surgeInputs = userDataInputsFor(spec, spec.surge);
    expect(surgeInputs.jetstream).toBe(false);
    const surge = renderUserData({ ...surgeInputs, arch: "amd64" });
    expect(surge).not.toContain("mkfs");
    expect(surge).not.toContain("RequiresMountsFor");
    expect(userDataInputsFor({ ...spec, surge: { ...spec.surge, jetstream: true } }, spec.surge).jetstream).toBe(true);
  });

  it("labels the file system with at most 12 characters: mkfs.xfs refuses longer labels", () => {
    const labels = [...member.matchAll(/mkfs\.xfs .*-L (\S+)/g)].map((m) => m[1]);
    expect(labels).toEqual(["nats-data"]);
    for (const label of labels) expect(label.length).toBeLessThanOrEqual(12);
  });

  it("finds an EBS volume by its /dev/disk/by-id link first (any distribution on Nitro), then by device name", () => {
    const withId = renderUserData({
      ...userDataInputsFor(spec, spec.members[0]),
      arch: "amd64",
      jetstreamDevice: JETSTREAM_DEVICE,
      jetstreamVolumeId: "vol-0123456789abcdef0",
    });
    expect(withId).toContain(
      "for d in '/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0' '/dev/sdf' '/dev/xvdf'; do",
    );
  });

  it("writes and enables the unit before the download, so a failed download leaves a host the rollout can finish", () => {
    const unitAt = member.indexOf("cat > '/etc/systemd/system/nats-server.service'");
    const enableAt = member.indexOf("systemctl enable nats-server");
    const downloadAt = member.indexOf("curl ");
    expect(unitAt).toBeGreaterThan(0);
    expect(enableAt).toBeGreaterThan(unitAt);
    expect(downloadAt).toBeGreaterThan(enableAt);
    // The step that failed is recorded for the boot check, with the install's own last error line.
    expect(member).toContain("trap nats_finish EXIT");
    expect(member).toContain("'/var/lib/nats-cluster/boot-status'");
    expect(member).toContain('nats_step="$nats_step: $(tail -n 1 "$nats_err")"');
  });

  it("is valid POSIX shell, and so is every SSM script", () => {
    const check = (text: string) => execFileSync("sh", ["-n"], { input: text });
    check(member);
    check(renderUserData({ serverName: "surge", version: "2.14.9", arch: "arm64" }));
    const paths = DEFAULT_HOST_PATHS;
    for (const text of [
      systemd.statusScript(),
      systemd.startScript(paths),
      systemd.lameDuckScript(),
      systemd.reloadScript(paths),
      systemd.killScript(10),
      systemd.logScript(20),
      systemd.installedVersionScript(paths),
      scripts.readConfigScript(paths),
      scripts.writeConfigScript({
        region: "eu-west-1",
        parameterName: "/nats-cluster/dev/n1/nats.conf",
        parameterVersion: 3,
        paths,
      }),
      scripts.writeConfigScript({
        region: "eu-west-1",
        parameterName: "/nats-cluster/dev/n1/nats.conf",
        parameterVersion: 3,
        paths,
        tlsFiles: ["server-cert.pem", "server-key.pem", "ca.pem"].map((fileName, i) => ({
          fileName,
          name: `/nats-cluster/dev/n1/tls/${fileName}`,
          version: i + 1,
        })),
      }),
      scripts.removeConfigScript(paths),
      scripts.bootDoneScript(),
      systemd.stopTimeoutScript(200),
      systemd.waitForExitScript(30),
      new SsmHostDriver({
        region: "eu-west-1",
        clusterName: "c",
        instanceIdFor: () => "i-1",
        dataVolumeFor: () => ({ volumeId: "vol-1" }),
      }).prepScript(spec.members[0]),
    ]) {
      check(text);
    }
  });

  it("refuses paths that would change the meaning of the script", () => {
    expect(() =>
      renderUserData({
        serverName: "n1",
        version: "2.15.2",
        arch: "amd64",
        paths: { ...DEFAULT_HOST_PATHS, configPath: "/etc/nats/x y.conf" },
      }),
    ).toThrow(/configPath/);
    expect(() =>
      renderUserData({
        serverName: "n1",
        version: "2.15.2",
        arch: "amd64",
        paths: { ...DEFAULT_HOST_PATHS, pidFile: "/tmp/nats.pid" },
      }),
    ).toThrow(/pidFile/);
  });
});

describe("the user data's install part, run with sh against a local release server", () => {
  const releases = new FakeReleaseServer();
  let work: string;
  // curl must reach 127.0.0.1 directly even where a proxy is configured.
  const env = { ...process.env, no_proxy: "127.0.0.1,localhost", NO_PROXY: "127.0.0.1,localhost" };

  beforeAll(async () => {
    await releases.start();
    releases.publish("9.9.1");
    releases.publish("9.9.2", { checksum: "wrong" });
    work = await mkdtemp(path.join(tmpdir(), "aws-user-data-"));
  });
  afterAll(async () => {
    await releases.close();
    await rm(work, { recursive: true, force: true });
  });

  const installPart = (version: string, installDir: string): string =>
    installPartOf(
      renderUserData({
        serverName: "n1",
        version,
        arch: "amd64",
        jetstreamDevice: JETSTREAM_DEVICE,
        releaseBaseUrl: releases.base,
        releaseSha256: releases.pins,
        paths: { ...DEFAULT_HOST_PATHS, installDir },
      }),
    );

  it("installs a release whose SHA-256 matches, and refuses one whose SHA-256 does not", async () => {
    const installDir = path.join(work, "opt", "nats");
    const link = path.join(installDir, "nats-server");

    const good = await execFileAsync("sh", ["-c", installPart("9.9.1", installDir)], { env });
    expect(good.stdout).toContain("nats-server v9.9.1 installed");
    expect(good.stderr).toContain(": OK"); // sha256sum -c's verdict
    expect(await readlink(link)).toBe(path.join(installDir, "nats-server-9.9.1"));
    expect((await execFileAsync(link, ["--version"])).stdout.trim()).toBe("nats-server: v9.9.1");

    const bad = await execFileAsync("sh", ["-c", installPart("9.9.2", installDir)], { env }).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(`checksum mismatch for ${releases.base}/v9.9.2/nats-server-v9.9.2-linux-amd64.tar.gz`);
    // The running version is untouched and nothing unverified was left behind.
    expect(await readlink(link)).toBe(path.join(installDir, "nats-server-9.9.1"));
    expect((await readdir(installDir)).sort()).toEqual(["nats-server", "nats-server-9.9.1"]);
    // A plain-http mirror: the stack's pins decide, its SHA256SUMS is never asked.
    expect(bad.stderr).toContain("(per the pinned SHA-256)");
    expect(releases.requests.filter((r) => r.endsWith("SHA256SUMS"))).toEqual([]);
  });

  it("is refused at preview for a version the stack does not pin on a plain-http mirror", () => {
    expect(() => installPart("9.9.3", "/opt/nats")).toThrow(
      `cannot stage nats-server v9.9.3: releaseBaseUrl ${releases.base} is plain http and releaseSha256 pins no ` +
        "SHA-256 for nats-server 9.9.3 linux-amd64",
    );
  });
});
