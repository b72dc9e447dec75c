/**
 * Where a nats-server lives on a Linux host with systemd (an EC2 instance, any VM reached by SSH, a lab VM): the
 * names every systemd platform shares, so the user data, the SSH bootstrap, the unit and the host-side scripts can
 * never disagree about a path. Plain data, no SDK and no Pulumi import.
 */

/** Where things live on the host. */
export interface HostPaths {
  /** Directory holding `nats-server-<version>` binaries and the `nats-server` symlink to the active one. */
  readonly installDir: string;
  /** The config file nats-server starts with (mode 0600, owned by the `nats` user: it can hold secrets). */
  readonly configPath: string;
  /** Data directory; a JetStream volume is mounted here when the host has one. */
  readonly dataDir: string;
  /** `pid_file`: under a systemd RuntimeDirectory, so it is recreated at every boot. */
  readonly pidFile: string;
}

export const DEFAULT_HOST_PATHS: HostPaths = {
  installDir: "/opt/nats",
  configPath: "/etc/nats/nats.conf",
  dataDir: "/var/lib/nats",
  pidFile: "/var/run/nats/nats.pid",
};

/**
 * Throws unless every path is absolute and made of plain characters: they are spliced into shell scripts and a
 * systemd unit, where a space or quote would change their meaning.
 */
export function assertHostPaths(paths: HostPaths): void {
  for (const [field, value] of Object.entries(paths)) {
    if (typeof value !== "string" || !/^\/[A-Za-z0-9_./-]*[A-Za-z0-9_.-]$/.test(value)) {
      throw new Error(
        `${field} ${JSON.stringify(value)} must be an absolute path of letters, digits, "_", ".", "-" and "/"`,
      );
    }
  }
}

/** The systemd unit name: `systemctl … nats-server`, `journalctl -u nats-server`. */
export const NATS_UNIT = "nats-server";

/** The unprivileged user nats-server runs as (the official unit's `User=nats`). */
export const NATS_USER = "nats";

/** JetStream's `store_dir` under the data directory. */
export function storeDirOf(paths: HostPaths): string {
  return `${paths.dataDir.replace(/\/+$/, "")}/jetstream`;
}

/** The directory of a file path (`/etc/nats/nats.conf` → `/etc/nats`). */
export function dirOf(file: string): string {
  return file.replace(/\/[^/]*$/, "") || "/";
}

/** Where delivered TLS material lives on a systemd host: `tls/` beside the config (0700, the nats user's). */
export function tlsDirOf(paths: HostPaths): string {
  return `${dirOf(paths.configPath)}/tls`;
}

/** The exporter's systemd unit (engine/exporter.ts): one per host, whichever exporter the stack names. */
export const EXPORTER_UNIT = "nats-exporter";

/** Where the exporter's versioned binaries live: beside nats-server's, in a directory of its own. */
export function exporterDirOf(paths: HostPaths): string {
  return `${paths.installDir.replace(/\/+$/, "")}/exporter`;
}
