/**
 * The ssh platform: members (and the surge server) are existing Linux VMs with systemd, reached by SSH with a pinned
 * host key. Settings are what the Pulumi layer records (./settings.ts: hosts, hostKeys, surge, sudo, arch,
 * releaseBaseUrl, stopTimeoutSeconds, paths); the private key comes from the platform's secrets (`privateKey`, and
 * `passphrase` when it has one), in memory only.
 */
import { VM_LISTEN_HOST } from "../../defaults";
import { assertSettings, HostDriver, HostDriverContext, HostPlatform } from "../driver";
import { SshHostDriver } from "./driver";
import { parsePinnedHostKey } from "./host-key";
import { hostPathsOf, pinnedKeyFor, sshSettingsProblems, SshSettings, usesSudo } from "./settings";
import { privateKeyProblem, Ssh2Transport, SshEndpoint, SshTransport } from "./transport";

export { SshHostDriver, type SshHostDriverOptions } from "./driver";
export { type SshSettings, type SshHostSettings } from "./settings";
export { SshCommandError, type SshEndpoint, type SshTransport, Ssh2Transport } from "./transport";

export const settingsProblems: HostPlatform["settingsProblems"] = (settings) => sshSettingsProblems(settings);

/** The endpoint of every host in the settings (already validated). */
export function endpointsOf(settings: SshSettings): Record<string, SshEndpoint> {
  const endpoints: Record<string, SshEndpoint> = {};
  for (const [server, host] of Object.entries(settings.hosts)) {
    endpoints[server] = {
      server,
      address: host.address,
      port: host.port ?? 22,
      user: host.user,
      sudo: usesSudo(settings, host),
      hostKey: parsePinnedHostKey(pinnedKeyFor(settings, server)!),
    };
  }
  return endpoints;
}

/**
 * Builds the driver. Throws naming the bad setting, or a private key that cannot be used (never quoting it). A
 * missing key is reported at the first connection instead, so code that only renders configs needs no secret.
 * `transport` replaces the SSH transport (tests).
 */
export function createHostDriver(
  settings: Readonly<Record<string, unknown>>,
  context: HostDriverContext = {},
  transport?: SshTransport,
): HostDriver {
  assertSettings("ssh", settingsProblems(settings));
  const s = settings as unknown as SshSettings;
  const privateKey = context.secrets?.privateKey;
  const passphrase = context.secrets?.passphrase;
  if (!transport && privateKey) {
    const problem = privateKeyProblem(privateKey, passphrase);
    if (problem) throw new Error(`ssh platform secret privateKey: ${problem}`);
  }
  return new SshHostDriver({
    endpoints: endpointsOf(s),
    transport: transport ?? new Ssh2Transport({ privateKey, passphrase, log: context.log }),
    surge: s.surge,
    arch: s.arch,
    releaseBaseUrl: s.releaseBaseUrl,
    releaseSha256: s.releaseSha256,
    stopTimeoutSeconds: s.stopTimeoutSeconds,
    paths: hostPathsOf(s),
    ...(s.exporter ? { exporter: s.exporter } : {}),
  });
}

export const listenHost = VM_LISTEN_HOST;
