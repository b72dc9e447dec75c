/**
 * The ssh platform: members and the surge server are existing Linux VMs with systemd, reached by SSH as root or as
 * a user with passwordless sudo, each host key pinned. Each server's VM is an SshNatsHost (prepared over SSH at
 * create, its server stopped at delete); the engine's ssh driver (engine/hosts/ssh) does every in-place step.
 *
 * Stack config: members and the surge server each give their `host` (the VM's address; ports default to 4222,
 * 6222, 8222), and
 *   nats-cluster:ssh: { user, hostKeys: { <server or address>: "ssh-ed25519 AAAA…" }, port?, sudo?, arch?,
 *                       releaseBaseUrl?, releaseSha256?, hosts?: { <server>: { address?, port?, user? } },
 *                       exporter?: { name, version, url, sha256, port, args? } (engine/exporter.ts) }
 *   nats-cluster:sshPrivateKey (secret; `pulumi config set --secret nats-cluster:sshPrivateKey -- "$(cat key)"`)
 *   nats-cluster:sshKeyPassphrase (secret, optional)
 */
import * as pulumi from "@pulumi/pulumi";
import { ExporterRelease } from "../../../engine/exporter";
import { ReleasePins } from "../../../engine/release";
import { readExporterSetting } from "../../config/exporter";
import { readReleaseSettings, RELEASE_SETTING_FIELDS } from "../../config/release";
import { Obj, Problems, readBool, readInt, readObject, readString, refuseUnknownFields } from "../../config/values";
import { ClusterPlatform, ConfiguredServers, ServerPlacement } from "../platform";
import { SshNatsHost } from "./host";

/** The decoded `nats-cluster:ssh` block. */
export interface SshPlatformSettings {
  /** The login user of every VM unless `hosts` says otherwise: root, or a user with passwordless sudo. */
  readonly user: string;
  /** sshd's port on every VM unless `hosts` says otherwise. Default 22. */
  readonly port?: number;
  /** Pinned host public keys, by server name or address. */
  readonly hostKeys: Readonly<Record<string, string>>;
  /** Run host scripts through sudo; default: when the user is not root. */
  readonly sudo?: boolean;
  /** Release tarball architecture of the VMs. Default amd64. */
  readonly arch?: "amd64" | "arm64";
  /** Where the VMs download nats-server releases (a mirror); default the official GitHub releases. */
  readonly releaseBaseUrl?: string;
  /** Version → arch → SHA-256 of the release tarball; required when releaseBaseUrl is plain http. */
  readonly releaseSha256?: ReleasePins;
  /** A metrics exporter installed beside every server (engine/exporter.ts). */
  readonly exporter?: ExporterRelease;
  /** Per-server overrides of the address to SSH to, the port and the user. */
  readonly hosts?: Readonly<
    Record<string, { readonly address?: string; readonly port?: number; readonly user?: string }>
  >;
}

const FIELDS = ["user", "port", "hostKeys", "sudo", "arch", ...RELEASE_SETTING_FIELDS, "hosts", "exporter"];
const HOST_FIELDS = ["address", "port", "user"];

function decode(raw: unknown, p: Problems): SshPlatformSettings {
  const empty: SshPlatformSettings = { user: "", hostKeys: {} };
  if (raw === undefined) {
    p.add("ssh", 'missing; the ssh platform needs { user, hostKeys: { <server>: "ssh-ed25519 AAAA…" } }');
    return empty;
  }
  const obj: Obj | undefined = readObject(p, "ssh", raw, `write { ${FIELDS.join(", ")} }`);
  if (!obj) return empty;
  refuseUnknownFields(p, "ssh", obj, FIELDS);
  const user = readString(p, "ssh.user", obj.user, "write the login user: root, or one with passwordless sudo");
  if (obj.user === undefined) p.add("ssh.user", "missing; write the login user: root, or one with passwordless sudo");
  const hostKeys = readObject(p, "ssh.hostKeys", obj.hostKeys, 'write { <server or address>: "ssh-ed25519 AAAA…" }');
  if (obj.hostKeys === undefined) {
    p.add("ssh.hostKeys", "missing; pin every VM's host key (`ssh-keyscan -t ed25519 <address>`, checked out of band)");
  }
  const arch = readString(p, "ssh.arch", obj.arch, 'write "amd64" or "arm64"');
  if (arch !== undefined && arch !== "amd64" && arch !== "arm64")
    p.add("ssh.arch", `${p.show("ssh.arch", arch)} is not "amd64" or "arm64"`);
  const hosts = readObject(p, "ssh.hosts", obj.hosts, "write { <server>: { address?, port?, user? } }");
  const overrides: Record<string, { address?: string; port?: number; user?: string }> = {};
  for (const [name, value] of Object.entries(hosts ?? {})) {
    const h = readObject(p, `ssh.hosts.${name}`, value, "write { address?, port?, user? }");
    if (!h) continue;
    refuseUnknownFields(p, `ssh.hosts.${name}`, h, HOST_FIELDS);
    const address = readString(p, `ssh.hosts.${name}.address`, h.address, "write the address to SSH to");
    const port = readInt(p, `ssh.hosts.${name}.port`, h.port, "write sshd's port, e.g. 22");
    const hostUser = readString(p, `ssh.hosts.${name}.user`, h.user, "write the login user");
    overrides[name] = {
      ...(address ? { address } : {}),
      ...(port ? { port } : {}),
      ...(hostUser ? { user: hostUser } : {}),
    };
  }
  const port = readInt(p, "ssh.port", obj.port, "write sshd's port, e.g. 22");
  const sudo = readBool(p, "ssh.sudo", obj.sudo);
  const release = readReleaseSettings(p, "ssh", obj);
  const exporter = readExporterSetting(p, "ssh", obj, arch === "arm64" ? "arm64" : "amd64");
  return {
    user: user ?? "",
    hostKeys: (hostKeys ?? {}) as Record<string, string>,
    ...(port !== undefined ? { port } : {}),
    ...(sudo !== undefined ? { sudo } : {}),
    ...(arch === "amd64" || arch === "arm64" ? { arch } : {}),
    ...release,
    ...(hosts ? { hosts: overrides } : {}),
    ...(exporter ? { exporter } : {}),
  };
}

/** The engine driver's settings (engine/hosts/ssh/settings.ts) for these servers. */
function driverSettings(settings: SshPlatformSettings, servers: ConfiguredServers): Record<string, unknown> {
  const hostOf = (s: ServerPlacement) => {
    const o = settings.hosts?.[s.name] ?? {};
    return { address: o.address ?? s.host ?? "", port: o.port ?? settings.port ?? 22, user: o.user ?? settings.user };
  };
  return {
    hosts: Object.fromEntries([...servers.members, servers.surge].map((s) => [s.name, hostOf(s)])),
    hostKeys: settings.hostKeys,
    surge: servers.surge.name,
    stopTimeoutSeconds: servers.stopTimeoutSeconds,
    ...(settings.sudo !== undefined ? { sudo: settings.sudo } : {}),
    ...(settings.arch ? { arch: settings.arch } : {}),
    ...(settings.releaseBaseUrl ? { releaseBaseUrl: settings.releaseBaseUrl } : {}),
    ...(settings.releaseSha256 ? { releaseSha256: settings.releaseSha256 } : {}),
    ...(settings.exporter ? { exporter: settings.exporter } : {}),
  };
}

/** The driver's secrets from the stack's secret keys. */
function driverSecrets(secrets: Readonly<Record<string, string>>): Record<string, string> {
  return {
    ...(secrets.sshPrivateKey ? { privateKey: secrets.sshPrivateKey } : {}),
    ...(secrets.sshKeyPassphrase ? { passphrase: secrets.sshKeyPassphrase } : {}),
  };
}

/** What every server's host shares: the driver's settings and secrets. */
interface SshShared {
  readonly settings: Record<string, unknown>;
  readonly secrets: pulumi.Output<Record<string, string>>;
}

export const platform: ClusterPlatform<SshPlatformSettings, SshShared> = {
  name: "ssh",
  members: {
    host: "required",
    portsRequired: false,
    countAllowed: false,
    memberExample: "{ name, host, clientPort?, clusterPort?, monitorPort? } (host: the VM's address)",
    surgeExample: "{ name, host, clientPort?, clusterPort?, monitorPort?, jetstream? } (host: the surge VM's address)",
  },
  secretKeys: ["sshPrivateKey", "sshKeyPassphrase"],
  requiredSecrets: () => [
    {
      field: "sshPrivateKey",
      message:
        'missing; set the SSH private key as a secret: pulumi config set --secret nats-cluster:sshPrivateKey -- "$(cat key)"',
    },
  ],

  decodeSettings: (raw, p) => decode(raw, p),

  createShared(_name, facts, settings, secrets) {
    return {
      settings: driverSettings(settings, facts),
      secrets: pulumi.secret((secrets ?? pulumi.output({})).apply((s) => driverSecrets(s))),
    };
  },

  createMemberHost(name, member, _index, { shared }, parent) {
    const host = new SshNatsHost(
      `${name}-vm`,
      { endpoint: { ...member, host: member.host ?? "" }, settings: shared.settings, secrets: shared.secrets },
      { parent },
    );
    return { endpoint: host.endpoint };
  },

  driverSettingsFromConfig: (settings, servers) => driverSettings(settings, servers),

  driverInputs: (_facts, _settings, shared) => ({ settings: shared.settings, secrets: shared.secrets }),
};
