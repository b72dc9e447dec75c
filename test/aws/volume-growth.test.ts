/**
 * Raising `aws.volumeSizeGb` is planned and applied: the aws driver's layout carries each member's data volume size
 * into its config header, and the planner plans a restart of each member whose recorded size differs, through the
 * gated rolling path. The host grows the XFS file system in the unit's `ExecStartPre` (before every start), and
 * JetStream sizes its store from the free space it finds at start: a restart is what puts the grown volume to use.
 * No AWS and no server: the driver is built from the settings the Pulumi layer records (its SDK is loaded lazily,
 * never here), and the plan's rule is a plain function.
 */
import { configTextFor, readDataVolumeGiB } from "../../engine/config/text";
import { createHostDriver, settingsProblems } from "../../engine/hosts/aws";
import { memberChange } from "../../engine/rollout/plan";
import { sampleSpec } from "../support/sample-spec";

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
