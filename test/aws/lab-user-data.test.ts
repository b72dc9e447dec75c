/**
 * The AWS member user data as EC2 would run it: rendered by the AWS component, run by cloud-init (NoCloud seed) at
 * the first boot of real systemd VMs of the lab, the release URL pointed at the lab's release server and a loop
 * device bound as /dev/sdf standing in for the EBS volume. Then what the rollout and the host do next: a config
 * written, the server started, a cluster formed; a reboot, a second first boot and a grown volume keep the data;
 * a first boot whose download fails leaves a host the rollout can finish.
 *
 * Root only (the lab): skips, saying why, elsewhere. This is how the XFS label defect was found: the user data
 * ran `mkfs.xfs -L nats-jetstream`, XFS labels hold at most 12 characters, and every member's first boot failed.
 */
import { spawnSync } from "node:child_process";
import { activateScriptFor, stageScriptFor } from "../../engine/hosts/systemd/install-scripts";
import { configTextFor } from "../../engine/config/text";
import { SsmHostDriver } from "../../engine/hosts/aws/ssm-driver";
import { bootDoneScript } from "../../engine/hosts/aws/scripts";
import { ClusterSpec } from "../../engine/spec";
import { JETSTREAM_DEVICE, renderUserData } from "../../components/platforms/aws/user-data";
import { Lab, labReleasePins, labSkipReason, LabVm } from "../support/lab";
import { OLD_MINOR } from "../support/versions";
import { eventually, keyValues, labReleaseBaseUrl, monitorJson, sh, startLabWithUserData } from "./support/lab-hosts";

const skip = labSkipReason();
if (skip) console.warn(`[lab] AWS user-data lab tests skipped: ${skip}`);

/** The member user data, as the AWS component renders it for this lab. */
function memberUserData(subnet: string, releaseBaseUrl = labReleaseBaseUrl(subnet)): string {
  return renderUserData({
    serverName: "member",
    version: OLD_MINOR,
    arch: "amd64",
    jetstreamDevice: JETSTREAM_DEVICE,
    // No /dev/disk/by-id in the lab (no udev): the script falls back to /dev/sdf, as on Xen or without the link.
    jetstreamVolumeId: "vol-0000000000000lab1",
    releaseBaseUrl,
    releaseSha256: labReleasePins(),
    stopTimeoutSeconds: 150,
  });
}

(skip ? describe.skip : describe)("AWS user data through cloud-init on lab VMs", () => {
  let lab: Lab | undefined;
  let bootSeconds = 0;
  const vm = (n: number): LabVm => lab!.vm(n);
  const driver = new SsmHostDriver({ region: "lab", clusterName: "labud", instanceIdFor: () => "i-lab" });
  let spec: ClusterSpec;

  beforeAll(async () => {
    const started = Date.now();
    lab = await startLabWithUserData(
      { vms: 3, volumeMb: 400 },
      (subnet) => memberUserData(subnet),
      (l) => (lab = l),
    );
    // cloud-init finished on every VM (status --wait in bootDoneScript).
    await Promise.all(lab.vms.map((v) => sh(lab!, v, bootDoneScript(), 180_000)));
    bootSeconds = (Date.now() - started) / 1000;
    const perVm = await Promise.all(
      lab.vms.map(async (v) => {
        const out = await sh(
          lab!,
          v,
          "journalctl -b -o short-unix --no-pager | head -n 1 | cut -d' ' -f1; stat -c %.3Y /var/lib/nats-cluster/boot-status",
        );
        const [bootAt, doneAt] = out.trim().split("\n").map(Number);
        return doneAt - bootAt;
      }),
    );
    console.log(
      `[lab] lab up + cloud-init done on 3 VMs: ${bootSeconds.toFixed(1)} s; per VM, boot to user data done: ` +
        perVm.map((s) => `${s.toFixed(1)} s`).join(", "),
    );
    spec = {
      name: "labud",
      version: OLD_MINOR,
      members: lab.vms.map((v, i) => ({
        name: `m${i + 1}`,
        host: v.ip,
        clientPort: 4222,
        clusterPort: 6222,
        monitorPort: 8222,
      })),
      surge: { name: "surge", host: `${lab.info.subnet}.99`, clientPort: 4222, clusterPort: 6222, monitorPort: 8222 },
      routes: { kind: "explicit" },
      jetstream: { enabled: true },
      lameDuck: { durationSeconds: 30, gracePeriodSeconds: 10 },
    };
  }, 420_000);
  afterAll(() => lab?.stop(), 120_000);

  test("first boot: binary verified and installed, blank volume formatted and mounted, unit enabled but not started", async () => {
    for (const v of lab!.vms) {
      const boot = keyValues(await sh(lab!, v, bootDoneScript()));
      expect(boot).toMatchObject({ cloud_init_exit: "0", boot: "done" });
      const out = keyValues(
        await sh(
          lab!,
          v,
          [
            'echo "link=$(readlink /opt/nats/nats-server)"',
            'echo "version=$(/opt/nats/nats-server --version)"',
            'echo "verified=$(grep -c "linux-amd64.tar.gz: OK" /var/log/cloud-init-output.log)"',
            'echo "mount=$(findmnt -n -o SOURCE,FSTYPE /var/lib/nats)"',
            'echo "label=$(blkid -o value -s LABEL /dev/sdf)"',
            'echo "fstab=$(grep " /var/lib/nats " /etc/fstab)"',
            'echo "owner=$(stat -c %U:%G /var/lib/nats /var/lib/nats/jetstream | sort -u)"',
            'echo "enabled=$(systemctl is-enabled nats-server)"',
            'echo "active=$(systemctl is-active nats-server || true)"',
            'echo "dropin=$(grep TimeoutStopSec /etc/systemd/system/nats-server.service.d/10-stop-timeout.conf)"',
          ].join("\n"),
        ),
      );
      expect(out.link).toBe(`/opt/nats/nats-server-${OLD_MINOR}`);
      expect(out.version).toBe(`nats-server: v${OLD_MINOR}`);
      expect(Number(out.verified)).toBe(1);
      expect(out.mount).toMatch(/^\/dev\/sdf\s+xfs$/);
      expect(out.label).toBe("nats-data");
      expect(out.fstab).toMatch(/^UUID=[0-9a-f-]{36} \/var\/lib\/nats xfs defaults,noatime,nofail 0 2$/);
      expect(out.owner).toBe("nats:nats");
      expect(out.enabled).toBe("enabled");
      // No config yet: ConditionPathExists keeps it from starting (and from crash-looping).
      expect(out.active).toBe("inactive");
      expect(out.dropin).toBe("TimeoutStopSec=150");
    }
  });

  test("once its config is written, each server starts and they form a JetStream cluster", async () => {
    await Promise.all(
      spec.members.map(async (m, i) => {
        await lab!.exec(
          vm(i + 1),
          ["sh", "-c", "umask 077; cat > /etc/nats/nats.conf; chown nats:nats /etc/nats/nats.conf"],
          {
            input: configTextFor(spec, m, driver, "0.0.0.0"),
          },
        );
        await sh(lab!, vm(i + 1), "systemctl start nats-server; sleep 1; systemctl is-active nats-server");
      }),
    );
    for (const [i, v] of lab!.vms.entries()) {
      const routes = await eventually(`routes of ${v.name}`, async () => {
        const routez = await monitorJson<{ routes?: Array<{ remote_name: string }> }>(v, "routez");
        const names = [...new Set((routez?.routes ?? []).map((r) => r.remote_name))].sort();
        return names.length === 2 ? names : undefined;
      });
      expect(routes).toEqual(spec.members.filter((_, j) => j !== i).map((m) => m.name));
    }
    const leader = await eventually("a JetStream meta leader", async () => {
      const jsz = await monitorJson<{ meta_cluster?: { leader?: string } }>(vm(1), "jsz");
      return jsz?.meta_cluster?.leader || undefined;
    });
    expect(spec.members.map((m) => m.name)).toContain(leader);
    // JetStream's store is on the volume.
    expect(await sh(lab!, vm(1), "findmnt -n -o SOURCE -T /var/lib/nats/jetstream")).toBe("/dev/sdf\n");
  });

  test("a reboot with the same volume keeps the data: the unit mounts it (nofail fstab line) and starts", async () => {
    await sh(lab!, vm(1), "echo kept-across-reboot > /var/lib/nats/marker; sync");
    await lab!.shutdown(vm(1));
    await lab!.boot(vm(1));
    const out = await eventually("vm1's server after the reboot", async () => {
      const text = await sh(
        lab!,
        vm(1),
        "systemctl is-active nats-server || true; findmnt -n -o SOURCE /var/lib/nats; cat /var/lib/nats/marker 2>&1",
      );
      return text.startsWith("active\n") ? text : undefined;
    });
    expect(out).toBe("active\n/dev/sdf\nkept-across-reboot\n");
    await eventually("vm1 back in the cluster", async () => {
      const routez = await monitorJson<{ num_routes?: number }>(vm(1), "routez");
      return (routez?.num_routes ?? 0) >= 2 ? true : undefined;
    });
  }, 120_000);

  test("a second first boot with the same volume (a replacement instance) does not format it", async () => {
    const before = await sh(
      lab!,
      vm(2),
      "blkid -o value -s UUID /dev/sdf; echo kept-across-instances > /var/lib/nats/marker; sync",
    );
    await sh(
      lab!,
      vm(2),
      "systemctl stop nats-server; cloud-init clean --logs; rm -f /var/lib/nats-cluster/boot-status",
    );
    await lab!.shutdown(vm(2));
    await lab!.boot(vm(2));
    expect(keyValues(await sh(lab!, vm(2), bootDoneScript(), 180_000)).boot).toBe("done");
    const out = await sh(
      lab!,
      vm(2),
      "grep -c 'nats-cluster host preparation done' /var/log/cloud-init-output.log; blkid -o value -s UUID /dev/sdf; cat /var/lib/nats/marker; grep -c ' /var/lib/nats ' /etc/fstab",
    );
    // The user data ran again, found the XFS file system and kept it (same UUID, same file), one fstab line.
    expect(out).toBe(`1\n${before.trim()}\nkept-across-instances\n1\n`);
    await eventually("vm2 serving again", async () => ((await monitorJson(vm(2), "healthz")) ? true : undefined));
  }, 180_000);

  test("a grown volume is grown on the host before the next start, and JetStream sees the room", async () => {
    const v = vm(3);
    const sizeMb = async () => Number((await sh(lab!, v, "df -m --output=size /var/lib/nats | tail -n 1")).trim());
    const maxStore = async () =>
      (await monitorJson<{ config?: { max_storage?: number } }>(v, "jsz"))?.config?.max_storage ?? 0;
    const [sizeBefore, storeBefore] = [await sizeMb(), await maxStore()];
    // What `aws ec2 modify-volume` (aws.volumeSizeGb raised) does to the disk: it gets bigger under the server.
    expect(spawnSync("truncate", ["-s", "700M", v.volumeFile!]).status).toBe(0);
    expect(spawnSync("losetup", ["-c", v.volumeDevice!]).status).toBe(0);
    expect(await sizeMb()).toBe(sizeBefore); // the file system does not grow by itself
    await sh(lab!, v, "systemctl restart nats-server");
    const sizeAfter = await sizeMb();
    expect(sizeAfter).toBeGreaterThan(sizeBefore + 250);
    const storeAfter = await eventually("JetStream up again", async () => (await maxStore()) || undefined);
    console.log(
      `[lab] volume grown: ${sizeBefore} MB → ${sizeAfter} MB; JetStream max_storage ${storeBefore} → ${storeAfter}`,
    );
    expect(storeAfter).toBeGreaterThan(storeBefore);
  }, 120_000);

  test("a first boot whose download fails names the failing command, and leaves a host the rollout finishes", async () => {
    const v = vm(3);
    // The release server not reachable at first boot (no NAT yet, say): port 1 on the lab host refuses.
    const broken = memberUserData(lab!.info.subnet, `http://${lab!.info.hostIp}:1`);
    // A new instance on the same volume: its root disk has no binary yet.
    await sh(
      lab!,
      v,
      "systemctl stop nats-server; rm -rf /opt/nats /etc/nats/nats.conf /var/lib/nats-cluster; cloud-init clean --logs",
    );
    await lab!.exec(v, ["sh", "-c", "cat > /var/lib/cloud/seed/nocloud/user-data"], { input: broken });
    await lab!.shutdown(v);
    await lab!.boot(v);
    const boot = keyValues(await sh(lab!, v, bootDoneScript(), 180_000));
    expect(boot.boot).toBe("failed");
    expect(boot.boot_error).toBe(
      `install nats-server v${OLD_MINOR} from http://${lab!.info.hostIp}:1: stage nats-server v${OLD_MINOR}: download of ` +
        `http://${lab!.info.hostIp}:1/v${OLD_MINOR}/nats-server-v${OLD_MINOR}-linux-amd64.tar.gz failed (exit 1)`,
    );
    // The unit came before the download: enabled, its volume mounted; only the binary is missing.
    expect(
      await sh(lab!, v, "systemctl is-enabled nats-server; findmnt -n -o SOURCE /var/lib/nats; ls /opt/nats"),
    ).toBe("enabled\n/dev/sdf\n");
    // What the rollout does next over SSM: stage, activate, write the config, start.
    await sh(lab!, v, stageScriptFor(OLD_MINOR, "amd64", "/opt/nats", lab!.release), 120_000);
    await sh(lab!, v, activateScriptFor(OLD_MINOR, "/opt/nats"));
    await lab!.exec(v, ["sh", "-c", "umask 077; cat > /etc/nats/nats.conf; chown nats:nats /etc/nats/nats.conf"], {
      input: configTextFor(spec, spec.members[2], driver, "0.0.0.0"),
    });
    await sh(lab!, v, "systemctl start nats-server");
    await eventually("vm3 back in the cluster", async () => {
      const routez = await monitorJson<{ num_routes?: number }>(v, "routez");
      return (routez?.num_routes ?? 0) >= 2 ? true : undefined;
    });
  }, 240_000);
});
