/**
 * The ssh platform's settings, as the Pulumi layer records them in state: plain JSON, no secret (the private key
 * comes from the platform's secrets, in memory only) and nothing that depends on the machine running the engine.
 * `settingsProblems` names the field and the fix for every problem, so `pulumi preview` can say what to change.
 */
import { DEFAULT_STOP_TIMEOUT_SECONDS, MIN_LAME_DUCK_SECONDS } from "../../defaults";
import { AddProblem, Problem } from "../../problem";
import { ExporterRelease, exporterProblems } from "../../exporter";
import { ReleasePins, releaseSettingsProblems } from "../../release";
import { DEFAULT_HOST_PATHS, HostPaths } from "../systemd/paths";
import { hostKeyProblem } from "./host-key";

/** How to reach one server's VM. */
export interface SshHostSettings {
  /** IP address or DNS name the engine connects to (often the server's own address). */
  readonly address: string;
  /** sshd's port. Default 22. */
  readonly port?: number;
  /** The user to log in as: root, or a user with passwordless sudo. */
  readonly user: string;
}

/** Settings of the ssh platform, as recorded in the RollingUpgrade's inputs. */
export interface SshSettings {
  /** Server name → its VM: every member and the surge server. */
  readonly hosts: Readonly<Record<string, SshHostSettings>>;
  /**
   * Pinned host public keys, by server name or by address: `"ssh-ed25519 AAAA…"` (a `.pub` file's line). A host
   * presenting another key is refused.
   */
  readonly hostKeys: Readonly<Record<string, string>>;
  /** The server that is the temporary surge server: deprovision removes its unit and store, not just its config. */
  readonly surge?: string;
  /** Run the host scripts through `sudo -n`. Default: when the user is not root. */
  readonly sudo?: boolean;
  /** Release tarball architecture of the VMs. Default amd64 (provision checks it against `uname -m`). */
  readonly arch?: "amd64" | "arm64";
  /** Release download base URL, reached from the VMs. Default the official GitHub releases. */
  readonly releaseBaseUrl?: string;
  /** Pinned SHA-256s per version and arch (engine/release.ts): required for a plain-http mirror. */
  readonly releaseSha256?: ReleasePins;
  /** The unit's `TimeoutStopSec` floor (lame duck may raise it). Default 150, the official unit's. */
  readonly stopTimeoutSeconds?: number;
  /** Where nats-server lives on the VMs; each field overrides one default (engine/hosts/systemd/paths.ts). */
  readonly paths?: Partial<HostPaths>;
  /** A metrics exporter installed beside every server (engine/exporter.ts); unset: none (and any old one removed). */
  readonly exporter?: ExporterRelease;
}

const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** A Linux user name (useradd's default rule). */
const USER_NAME = /^[a-z_][a-z0-9_-]*\$?$/;
/** An address or DNS name: it goes into messages and a TCP connect, never into a shell. */
const ADDRESS = /^[A-Za-z0-9.:_-]+$/;
/** A path spliced into scripts and the unit (systemd/paths.ts assertHostPaths has the same rule). */
const PLAIN_PATH = /^\/[A-Za-z0-9_./-]*[A-Za-z0-9_.-]$/;

/** The pinned key for a server: by its name first, then by its address. */
export function pinnedKeyFor(settings: SshSettings, server: string): string | undefined {
  const host = settings.hosts[server];
  return settings.hostKeys?.[server] ?? (host ? settings.hostKeys?.[host.address] : undefined);
}

/** Whether commands go through sudo on this host. */
export function usesSudo(settings: SshSettings, host: SshHostSettings): boolean {
  return settings.sudo ?? host.user !== "root";
}

/** The host paths in effect: the defaults with the settings' overrides. */
export function hostPathsOf(settings: SshSettings): HostPaths {
  return { ...DEFAULT_HOST_PATHS, ...(settings.paths ?? {}) };
}

/** A value as a message may quote it: short, and never a private key pasted in the wrong field. */
function shown(value: unknown): string {
  if (typeof value === "string" && /PRIVATE KEY/.test(value)) return "(a private key)";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Every problem with `settings`, each naming its field; empty when they are usable. */
export function sshSettingsProblems(settings: unknown): Problem[] {
  const problems: Problem[] = [];
  const add: AddProblem = (field, message) => problems.push({ field, message });
  if (!isObject(settings)) {
    add("", "the ssh platform's settings must be an object with hosts and hostKeys");
    return problems;
  }
  secretsInSettings(settings, "", add);

  const hosts = settings.hosts;
  if (!isObject(hosts) || Object.keys(hosts).length === 0) {
    add("hosts", "missing; map every server name (members and the surge server) to { address, user, port? }");
  } else {
    for (const [name, host] of Object.entries(hosts)) hostProblems(name, host, add);
  }

  const hostKeys = settings.hostKeys;
  if (!isObject(hostKeys)) {
    add("hostKeys", 'missing; pin every host\'s public key, e.g. { "<server or address>": "ssh-ed25519 AAAA…" }');
  } else {
    for (const [key, line] of Object.entries(hostKeys)) {
      const problem = hostKeyProblem(line);
      if (problem) add(`hostKeys.${key}`, problem);
    }
    if (isObject(hosts)) {
      for (const [name, host] of Object.entries(hosts)) {
        if (!isObject(host) || typeof host.address !== "string" || !ADDRESS.test(host.address)) continue;
        if (hostKeys[name] === undefined && hostKeys[host.address] === undefined) {
          add(
            "hostKeys",
            `no pinned key for ${name} (${host.address}); add "${name}": "<its public key>", read on the VM from ` +
              `/etc/ssh/ssh_host_ed25519_key.pub (or ssh-keyscan -t ed25519 ${host.address}, checked out of band)`,
          );
        }
      }
    }
  }

  if (
    settings.surge !== undefined &&
    (typeof settings.surge !== "string" || !isObject(hosts) || !(settings.surge in hosts))
  ) {
    add("surge", `${shown(settings.surge)} is not one of the hosts; name the surge server's entry in hosts`);
  }
  if (settings.sudo !== undefined && typeof settings.sudo !== "boolean") add("sudo", "must be true or false");
  if (settings.arch !== undefined && settings.arch !== "amd64" && settings.arch !== "arm64") {
    add("arch", `${shown(settings.arch)} is not amd64 or arm64`);
  }
  for (const p of releaseSettingsProblems(settings.releaseBaseUrl, settings.releaseSha256)) add(p.field, p.message);
  const stop = settings.stopTimeoutSeconds;
  if (stop !== undefined && (typeof stop !== "number" || !Number.isInteger(stop) || stop <= MIN_LAME_DUCK_SECONDS)) {
    add(
      "stopTimeoutSeconds",
      `${shown(stop)} must be a whole number of seconds above ${MIN_LAME_DUCK_SECONDS} (the shortest lame ` +
        `duck); default ${DEFAULT_STOP_TIMEOUT_SECONDS}`,
    );
  }
  pathProblems(settings.paths, add);
  const arch = settings.arch === "arm64" ? "arm64" : "amd64";
  for (const p of exporterProblems(settings.exporter, "exporter", arch)) add(p.field, p.message);
  return problems;
}

function hostProblems(name: string, host: unknown, add: AddProblem): void {
  const field = `hosts.${name}`;
  if (!SERVER_NAME.test(name)) add(field, "is not a server name (letters, digits, '.', '_', '-')");
  if (!isObject(host)) {
    add(field, "must be { address, user, port? }");
    return;
  }
  if (host.address === undefined || host.address === "") add(`${field}.address`, "missing");
  else if (typeof host.address !== "string" || !ADDRESS.test(host.address)) {
    add(`${field}.address`, `${shown(host.address)} is not an IP address or DNS name`);
  }
  if (host.user === undefined || host.user === "")
    add(`${field}.user`, "missing; root, or a user with passwordless sudo");
  else if (typeof host.user !== "string" || !USER_NAME.test(host.user)) {
    add(`${field}.user`, `${shown(host.user)} is not a user name`);
  }
  const port = host.port;
  if (port !== undefined && (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535)) {
    add(`${field}.port`, `${shown(port)} is not a port (1-65535); default 22`);
  }
}

function pathProblems(paths: unknown, add: AddProblem): void {
  if (paths === undefined) return;
  if (!isObject(paths)) {
    add("paths", "must be an object with installDir, configPath, dataDir and/or pidFile");
    return;
  }
  for (const [key, value] of Object.entries(paths)) {
    if (!(key in DEFAULT_HOST_PATHS))
      add(`paths.${key}`, `unknown; the paths are ${Object.keys(DEFAULT_HOST_PATHS).join(", ")}`);
    else if (typeof value !== "string" || !PLAIN_PATH.test(value)) {
      add(`paths.${key}`, `${shown(value)} must be an absolute path of letters, digits, "_", ".", "-" and "/"`);
    } else if (key === "pidFile" && !/^(?:\/var)?\/run\/[A-Za-z0-9_.-]+\/[^/]+$/.test(value)) {
      add("paths.pidFile", `${shown(value)} must be /run/<dir>/<file> (a systemd RuntimeDirectory)`);
    }
  }
}

/** Settings live in Pulumi state in plain text: a private key or password there is refused, naming where it is. */
function secretsInSettings(value: unknown, field: string, add: AddProblem): void {
  if (typeof value === "string") {
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value)) {
      add(field, "holds a private key: settings are stored in plain text; pass the key as the platform's secret");
    }
    return;
  }
  if (!isObject(value)) return;
  for (const [key, inner] of Object.entries(value)) {
    const path = field ? `${field}.${key}` : key;
    if (/^(privateKey|passphrase|password)$/i.test(key)) {
      add(path, "secrets do not belong in settings (stored in plain text); pass it as the platform's secret");
    } else {
      secretsInSettings(inner, path, add);
    }
  }
}
