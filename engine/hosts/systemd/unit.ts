/**
 * The systemd unit every systemd platform installs (EC2 user data, the SSH bootstrap): the official
 * nats-server.service's stop behaviour (`ExecStop` SIGUSR2 = lame duck, `KillSignal=SIGUSR2`, `TimeoutStopSec`,
 * `Restart=on-failure`) as the `nats` user.
 */
import { DEFAULT_STOP_TIMEOUT_SECONDS } from "../../defaults";
import { HostPaths, NATS_UNIT, NATS_USER } from "./paths";

/** Where the unit file goes. */
export const UNIT_PATH = `/etc/systemd/system/${NATS_UNIT}.service`;

/** The drop-in that carries the stop timeout, rewritten on every rollout (the unit itself may be years old). */
export const STOP_TIMEOUT_DROP_IN_PATH = `/etc/systemd/system/${NATS_UNIT}.service.d/10-stop-timeout.conf`;

export interface UnitOptions {
  /** `RequiresMountsFor` the data directory: JetStream must never fall back to the root disk. */
  readonly withVolume: boolean;
  /** `TimeoutStopSec`: how long lame duck may take before SIGKILL. Default 150 (the official unit). */
  readonly stopTimeoutSeconds?: number;
}

export function systemdUnitFor(paths: HostPaths, options: UnitOptions): string {
  return [
    "[Unit]",
    "Description=NATS Server",
    "Documentation=https://docs.nats.io/running-a-nats-service/introduction/running",
    "After=network-online.target",
    "Wants=network-online.target",
    // No config yet (first boot, before the rollout writes it): skip the start instead of crash-looping.
    `ConditionPathExists=${paths.configPath}`,
    ...(options.withVolume ? [`RequiresMountsFor=${paths.dataDir}`] : []),
    "",
    "[Service]",
    "Type=simple",
    `User=${NATS_USER}`,
    `Group=${NATS_USER}`,
    `ExecStart=${paths.installDir}/nats-server -c ${paths.configPath}`,
    ...(options.withVolume ? volumeGuardLines(paths.dataDir) : []),
    "ExecReload=/bin/kill -s HUP $MAINPID",
    // Lame duck: close listeners, hand clients to the other servers, then exit (nats-server --signal ldm).
    "ExecStop=/bin/kill -s SIGUSR2 $MAINPID",
    // systemd sends KillSignal right after ExecStop; SIGUSR2 again is harmless, SIGTERM could race lame duck.
    "KillSignal=SIGUSR2",
    `TimeoutStopSec=${options.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT_SECONDS}`,
    "Restart=on-failure",
    "RestartSec=5",
    // Holds the pid file; recreated at every start (it is on tmpfs).
    `RuntimeDirectory=${runtimeDirectoryOf(paths.pidFile)}`,
    "RuntimeDirectoryMode=0755",
    "LimitNOFILE=800000",
    "PrivateTmp=true",
    "NoNewPrivileges=true",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/**
 * How much longer than `lame_duck_duration` systemd waits before it SIGKILLs a stopping server: the official unit's
 * `TimeoutStopSec=150` is the default lame duck of 120 s plus this ("lame_duck_duration + some buffer").
 */
export const STOP_TIMEOUT_MARGIN_SECONDS = 30;

/**
 * Before every start, as root (`+`): mount the data volume if it is not mounted yet (its fstab line is `nofail`, so a
 * boot without it goes on), refuse to start when it still is not (JetStream must never fall back to the root disk,
 * also where no systemd mount unit stands behind `RequiresMountsFor`, as in containers), and grow its XFS file system
 * to the volume's size (idempotent; failures only logged: `-`). JetStream sizes its store from the free space it sees
 * at start, so this is the moment a grown volume must show its new size.
 */
function volumeGuardLines(dataDir: string): string[] {
  return [
    // Mounted in PID 1's namespace: `+` lifts PrivateTmp's restrictions but still runs in the service's own mount
    // namespace, where a mount would be invisible to the rest of the host. Without udev (containers) nothing
    // resolves the fstab line's UUID= unless blkid's cache knows the device, and a `nofail` mount that cannot
    // resolve it exits 0 without mounting: prime the cache with the disks present first.
    `ExecStartPre=+/bin/sh -c 'mountpoint -q ${dataDir} || { blkid /dev/sd? /dev/xvd? /dev/nvme?n1 >/dev/null 2>&1; nsenter -t 1 -m mount ${dataDir}; } || true'`,
    `ExecStartPre=+/bin/sh -c 'mountpoint -q ${dataDir} || { echo "${dataDir} is not mounted: not starting on the root disk" >&2; exit 1; }'`,
    `ExecStartPre=+-/bin/sh -c 'xfs_growfs -d ${dataDir} >/dev/null'`,
  ];
}

/** The drop-in overriding `TimeoutStopSec`, so raising lame duck later never gets the server killed mid-drain. */
export function stopTimeoutDropIn(stopTimeoutSeconds: number): string {
  if (!Number.isInteger(stopTimeoutSeconds) || stopTimeoutSeconds < 1) {
    throw new Error(`stop timeout must be a whole number of seconds, got ${stopTimeoutSeconds}`);
  }
  return `# Written by the nats-cluster rollout: lame duck must end within it.\n[Service]\nTimeoutStopSec=${stopTimeoutSeconds}\n`;
}

/** `/var/run/nats/nats.pid` → `nats`: systemd creates `/run/<dir>` for the service. */
export function runtimeDirectoryOf(pidFile: string): string {
  const m = /^(?:\/var)?\/run\/([A-Za-z0-9_.-]+)\/[^/]+$/.exec(pidFile);
  if (!m) {
    throw new Error(
      `pidFile ${JSON.stringify(pidFile)} must be /run/<dir>/<file> or /var/run/<dir>/<file> (a systemd RuntimeDirectory)`,
    );
  }
  return m[1];
}
