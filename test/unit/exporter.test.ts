/**
 * The `exporter` setting (engine/exporter.ts) and what it becomes on a systemd host (exporter-scripts.ts): every bad
 * field named with its fix before anything runs, and the unit and install script the hosts get. The install itself
 * runs on the lab's VMs (test/lab/lab-exporter.test.ts).
 */
import { decodeStackConfig, StackConfigError } from "../../components/config/decode";
import { exporterProblems, exporterUrl, ExporterRelease } from "../../engine/exporter";
import { sshSettingsProblems } from "../../engine/hosts/ssh/settings";
import {
  exporterUnitFor,
  installExporterScript,
  removeExporterScript,
} from "../../engine/hosts/systemd/exporter-scripts";
import { hostPrepScript } from "../../engine/hosts/systemd/host-prep";
import { DEFAULT_HOST_PATHS } from "../../engine/hosts/systemd/paths";

const SHA = "0123456789abcdef".repeat(4);
const NATS_EXPORTER: ExporterRelease = {
  name: "prometheus-nats-exporter",
  version: "0.16.0",
  url: {
    amd64:
      "https://github.com/nats-io/prometheus-nats-exporter/releases/download/v{version}/prometheus-nats-exporter-v{version}-linux-x86_64.tar.gz",
  },
  sha256: { amd64: SHA },
  port: 7777,
  args: ["-port=7777", "-varz", "-connz", "-routez", "-subz", "-jsz=all", "http://localhost:8222"],
};
const NODE_EXPORTER: ExporterRelease = {
  name: "node_exporter",
  version: "1.12.1",
  url: "http://10.213.0.1:8081/node_exporter/v{version}/node_exporter-{version}.linux-{arch}.tar.gz",
  sha256: { amd64: SHA },
  port: 9100,
};

describe("the exporter setting", () => {
  it("takes prometheus-nats-exporter as an operator writes it, and node_exporter as the lab serves it", () => {
    expect(exporterProblems(NATS_EXPORTER, "exporter", "amd64")).toEqual([]);
    expect(exporterProblems(NODE_EXPORTER, "exporter", "amd64")).toEqual([]);
    expect(exporterUrl(NATS_EXPORTER, "amd64")).toBe(
      "https://github.com/nats-io/prometheus-nats-exporter/releases/download/v0.16.0/prometheus-nats-exporter-v0.16.0-linux-x86_64.tar.gz",
    );
    expect(exporterUrl(NODE_EXPORTER, "arm64")).toBe(
      "http://10.213.0.1:8081/node_exporter/v1.12.1/node_exporter-1.12.1.linux-arm64.tar.gz",
    );
  });

  it("names every bad field and its fix: no pin (whatever the URL), a bad port, an argument with a space", () => {
    const problems = exporterProblems(
      {
        name: "node exporter",
        version: "latest",
        url: "ftp://x/{os}",
        port: 70000,
        args: ["--a b"],
        extra: 1,
      },
      "ssh.exporter",
      "amd64",
    );
    expect(Object.fromEntries(problems.map((p) => [p.field, p.message]))).toEqual({
      "ssh.exporter.extra": expect.stringMatching(/^unknown; an exporter has name, version, url, sha256, port, args/),
      "ssh.exporter.name": expect.stringMatching(/is not a binary's file name/),
      "ssh.exporter.version": expect.stringMatching(/is not a release version; write one such as "0.16.0"/),
      "ssh.exporter.url": expect.stringMatching(/is not an http\(s\) URL/),
      "ssh.exporter.sha256": expect.stringMatching(/^missing; pin the download's SHA-256 for each architecture/),
      "ssh.exporter.port": expect.stringMatching(/70000 is not a TCP port/),
      "ssh.exporter.args[0]": expect.stringMatching(/no spaces or quotes/),
    });
    const httpsNoPin = exporterProblems({ ...NATS_EXPORTER, sha256: { arm64: SHA } }, "exporter", "amd64");
    expect(httpsNoPin.map((p) => p.field)).toEqual(["exporter.sha256.amd64"]);
    expect(exporterProblems({ ...NODE_EXPORTER, url: "http://h/{os}.tgz" }, "exporter", "amd64")[0].message).toMatch(
      /\{os\} is not a placeholder; use \{version\} and \{arch\}/,
    );
  });

  it("is checked with the ssh settings, and against the servers' own ports in stack config", () => {
    const settings = { hosts: {}, hostKeys: {}, exporter: { ...NODE_EXPORTER, port: "x" } };
    expect(sshSettingsProblems(settings).map((p) => p.field)).toContain("exporter.port");
    let problems: ReadonlyArray<{ field: string; message: string }> = [];
    try {
      decodeStackConfig(
        {
          platform: "ssh",
          version: "2.14.9",
          members: [
            { name: "a", host: "10.0.0.1" },
            { name: "b", host: "10.0.0.2" },
            { name: "c", host: "10.0.0.3" },
          ],
          surge: { name: "s", host: "10.0.0.4" },
          sshPrivateKey: "k",
          ssh: { user: "root", hostKeys: {}, exporter: { ...NODE_EXPORTER, port: 8222 } },
        },
        { stack: "t", projectDir: "/tmp" },
      );
    } catch (err) {
      problems = (err as StackConfigError).problems;
    }
    expect(problems).toContainEqual({
      field: "ssh.exporter.port",
      message: expect.stringMatching(/^8222 is a port of a \(client 4222, cluster 6222, monitoring 8222\); give/),
    });
  });
});

describe("the exporter on a systemd host", () => {
  it("runs the versioned binary with its arguments under a user of its own, restarted if it dies", () => {
    const unit = exporterUnitFor(DEFAULT_HOST_PATHS, NATS_EXPORTER);
    expect(unit).toContain(
      "ExecStart=/opt/nats/exporter/prometheus-nats-exporter-0.16.0 -port=7777 -varz -connz -routez -subz -jsz=all http://localhost:8222\n",
    );
    expect(unit).toContain("DynamicUser=yes\n");
    expect(unit).not.toMatch(/^User=nats$/m);
    expect(unit).toContain("Restart=always\n");
    expect(unit).toContain("WantedBy=multi-user.target\n");
  });

  it("checks the download against the pin before unpacking it, and fails unless the port answers", () => {
    const script = installExporterScript(DEFAULT_HOST_PATHS, NODE_EXPORTER, "amd64");
    expect(script).toContain(
      "exp_url='http://10.213.0.1:8081/node_exporter/v1.12.1/node_exporter-1.12.1.linux-amd64.tar.gz'",
    );
    const verify = script.indexOf("sha256sum -c -");
    expect(verify).toBeGreaterThan(0);
    expect(script.indexOf("tar -xzf")).toBeGreaterThan(verify);
    expect(script).toContain(`printf '%s  %s\\n' '${SHA}'`);
    expect(script).toContain("http://127.0.0.1:9100/metrics");
    expect(script).toMatch(/nothing answers on port 9100 after \d+s: exporter\.args must make it listen there/);
    expect(() => installExporterScript(DEFAULT_HOST_PATHS, NODE_EXPORTER, "arm64")).toThrow(
      /exporter\.sha256\.arm64: no pinned SHA-256/,
    );
    // A bare binary (no tarball): used as downloaded.
    const bare = installExporterScript(DEFAULT_HOST_PATHS, { ...NODE_EXPORTER, url: "https://h/x-{arch}" }, "amd64");
    expect(bare).not.toContain("tar -xzf");
  });

  it("removes unit and binaries, and is part of a first boot's preparation after nats-server", () => {
    expect(removeExporterScript(DEFAULT_HOST_PATHS)).toContain("rm -rf '/opt/nats/exporter'");
    const prep = hostPrepScript({
      paths: DEFAULT_HOST_PATHS,
      install: { what: "install nats-server", script: "true" },
      exporter: { release: NODE_EXPORTER, arch: "amd64" },
    });
    expect(prep.indexOf("# 5. The metrics exporter beside it")).toBeGreaterThan(
      prep.indexOf("# 4. nats-server itself"),
    );
    expect(prep).toContain("nats_step='install the metrics exporter node_exporter 1.12.1'");
  });
});
