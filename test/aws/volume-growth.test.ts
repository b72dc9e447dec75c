/**
 * Raising `aws.volumeSizeGb` is planned and applied: the aws driver's layout carries each member's data volume size
 * into its config header, and the planner plans a restart of each member whose recorded size differs, through the
 * gated rolling path. The host grows the XFS file system in the unit's `ExecStartPre` (before every start), and
 * JetStream sizes its store from the free space it finds at start: a restart is what puts the grown volume to use.
 * No AWS and no server: the driver is built from the settings the Pulumi layer records (its SDK is loaded lazily,
 * never here), and the plan's rule is a plain function.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configTextFor, readDataVolumeGiB } from "../../engine/config/text";
import { createHostDriver, settingsProblems } from "../../engine/hosts/aws";
import { volumeSizeWaitScript } from "../../engine/hosts/aws/scripts";
import { SsmHostDriver } from "../../engine/hosts/aws/ssm-driver";
import { DEFAULT_HOST_PATHS } from "../../engine/hosts/systemd/paths";
import { memberChange } from "../../engine/rollout/plan";
import { sampleSpec } from "../support/sample-spec";
import { FakeAws } from "./fake-aws";

const settings = (sizes?: Record<string, number>) => ({
  region: "eu-west-1",
  clusterName: "nats-test",
  instanceIds: { n1: "i-0000000000000aaa1", n2: "i-0000000000000aaa2", n3: "i-0000000000000aaa3" },
  volumeIds: { n1: "vol-01", n2: "vol-02", n3: "vol-03" },
  ...(sizes ? { volumeSizesGiB: sizes } : {}),
});

describe("a grown data volume (aws.volumeSizeGb) on aws", () => {
  const spec = sampleSpec("vm");
  const [n1] = spec.members;

  it("records each member's volume size in its config header, never the surge server's", () => {
    const driver = createHostDriver(settings({ n1: 40, n2: 40, n3: 40 }));
    expect(driver.layout(n1).dataVolumeGiB).toBe(40);
    expect(driver.layout(spec.surge).dataVolumeGiB).toBeUndefined();
    const text = configTextFor(spec, n1, driver);
    expect(text).toContain("\n# nats-cluster data-volume: 40 GiB\n");
    expect(readDataVolumeGiB(text)).toBe(40);
    expect(readDataVolumeGiB(configTextFor(spec, spec.surge, driver))).toBeUndefined();
    // Without JetStream there is no store to size: nothing recorded.
    const core = sampleSpec("vm", { jetstream: { enabled: false } });
    expect(readDataVolumeGiB(configTextFor(core, core.members[0], driver))).toBeUndefined();
  });

  it("plans a restart through the gates for a member whose volume grew, naming the sizes", () => {
    const before = configTextFor(spec, n1, createHostDriver(settings({ n1: 20, n2: 20, n3: 20 })));
    const after = configTextFor(spec, n1, createHostDriver(settings({ n1: 40, n2: 40, n3: 40 })));
    expect(memberChange(spec, { version: spec.version, configText: before }, after)).toEqual({
      kind: "restart-member",
      reason:
        "data volume 20 → 40 GiB: its file system grows before the server starts, and JetStream sizes its store at start",
    });
    // Applied: the member was restarted with the new text, and the next preview plans nothing.
    expect(memberChange(spec, { version: spec.version, configText: after }, after)).toBeUndefined();
  });

  it("restarts nobody after this tool is upgraded: a config without the size line only gets it by a reload", () => {
    const older = configTextFor(spec, n1, createHostDriver(settings()));
    expect(readDataVolumeGiB(older)).toBeUndefined();
    const now = configTextFor(spec, n1, createHostDriver(settings({ n1: 20, n2: 20, n3: 20 })));
    expect(memberChange(spec, { version: spec.version, configText: older }, now)?.kind).toBe("reload-member");
  });

  it("refuses recorded sizes that are not whole GiB", () => {
    expect(settingsProblems({ ...settings(), volumeSizesGiB: { n1: 0 } })).toEqual([
      { field: "volumeSizesGiB", message: "must map member names to whole sizes in GiB, 1 or more" },
    ]);
    expect(settingsProblems(settings({ n1: 20 }))).toEqual([]);
  });
});

describe("a start waits until the grown volume shows its size (EBS: usable once the modification is optimizing)", () => {
  const spec = sampleSpec("vm");
  const [n1] = spec.members;
  const GiB = 1073741824;

  /** The script run by `sh`, `findmnt` and `blockdev` played by shims: each read shows the next of `sizesGiB`. */
  function runWait(config: string | undefined, sizesGiB: number[], waitSeconds: number) {
    const dir = mkdtempSync(join(tmpdir(), "vol-wait-"));
    try {
      const configPath = join(dir, "nats.conf");
      if (config !== undefined) writeFileSync(configPath, config);
      const sizes = join(dir, "sizes");
      writeFileSync(sizes, sizesGiB.map((g) => String(g * GiB)).join("\n") + "\n");
      const shim = (name: string, body: string) => {
        writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
        chmodSync(join(dir, name), 0o755);
      };
      shim("findmnt", "echo /dev/nvme1n1");
      // Each read shows the next size; the last one stays.
      shim("blockdev", `head -n 1 '${sizes}'; [ "$(wc -l < '${sizes}')" -gt 1 ] && sed -i 1d '${sizes}'; exit 0`);
      shim("sleep", "exit 0");
      const script = volumeSizeWaitScript({ ...DEFAULT_HOST_PATHS, configPath }, waitSeconds);
      return spawnSync("sh", ["-c", script], {
        encoding: "utf8",
        env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const recording = (gib: number) =>
    `# Written by the nats-cluster rollout engine; edits are overwritten.\n# nats-cluster data-volume: ${gib} GiB\nport: 4222\n`;

  it("starts at once when the device shows the size, after a few seconds when it grows meanwhile", () => {
    expect(runWait(recording(40), [40], 5)).toMatchObject({ status: 0, stdout: `data_volume_bytes=${40 * GiB}\n` });
    expect(runWait(recording(40), [20, 20, 40], 5)).toMatchObject({
      status: 0,
      stdout: `data_volume_bytes=${40 * GiB}\n`,
    });
  });

  it("refuses to start on the old size, naming both, and leaves configs without a size alone", () => {
    const short = runWait(recording(40), [20], 3);
    expect(short.status).toBe(1);
    expect(short.stderr).toContain(
      "the data volume /dev/nvme1n1 shows 20 GiB, not the 40 GiB its config records (aws.volumeSizeGb), after 3s",
    );
    // A rollback's config records the old size: it starts on the old volume.
    expect(runWait(recording(20), [20], 3).status).toBe(0);
    expect(runWait("port: 4222\n", [20], 3)).toMatchObject({ status: 0, stdout: "" });
    expect(runWait(undefined, [20], 3)).toMatchObject({ status: 0, stdout: "" });
  });

  it("the driver's start sends the wait in front of the start and fails while the volume lags (fake SSM)", async () => {
    const aws = new FakeAws();
    const host = aws.addMember("i-0000000000000aaa1");
    const driver = new SsmHostDriver({
      region: "eu-west-1",
      clusterName: "nats-test",
      instanceIdFor: (server) => (server.name === "n1" ? "i-0000000000000aaa1" : undefined),
      dataVolumeFor: () => ({ volumeId: "vol-01", sizeGiB: 40 }),
      pollMs: 1,
      commandTimeoutSeconds: 5,
      provisionTimeoutSeconds: 5,
      ssmClient: aws,
      ec2Client: aws,
      log: () => undefined,
    });
    const text = configTextFor(spec, n1, driver);
    expect(readDataVolumeGiB(text)).toBe(40);
    host.dataVolumeGiB = 20;
    await driver.writeConfig(n1, text);
    await expect(driver.start(n1)).rejects.toThrow(/shows 20 GiB, not the 40 GiB its config records/);
    expect(host.running).toBe(false);
    host.dataVolumeGiB = 40;
    await driver.start(n1);
    expect(host.running).toBe(true);
    const start = aws.scripts().filter((s) => s.includes("systemctl start"));
    expect(start.every((s) => s.indexOf("data_volume_bytes=") < s.indexOf("systemctl start"))).toBe(true);
  });
});
