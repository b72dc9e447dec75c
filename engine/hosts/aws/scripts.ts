/**
 * The host-side scripts only the SSM driver needs: the config travels through a Parameter Store SecureString (the
 * host fetches it; its text is never in a command), and a new EC2 host must finish cloud-init first. The rest are
 * every systemd platform's (engine/hosts/systemd/scripts.ts).
 *
 * AWS parts of this project are verified only with mocks; the scripts' shell is checked by `sh -n` in the tests.
 */
import { HostPaths, NATS_USER } from "../systemd/paths";
import { shellQuote } from "../systemd/scripts";

/** The root-only sidecar file recording which parameter version the config file was written from, and its digest. */
export function configMetaPath(paths: HostPaths): string {
  return paths.configPath.replace(/\/([^/]*)$/, "/.$1.meta");
}

/**
 * Prints `config=absent`, `config=unknown` (a file this driver did not write or someone edited since), or
 * `config_version=<n>`: the Parameter Store version the file was written from, checked on the host against the
 * digest recorded at write time. Neither the text nor its digest leaves the host: command output is kept in SSM's
 * command history, and a digest of a mostly known file would let anyone guess a weak password offline.
 */
export function readConfigScript(paths: HostPaths): string {
  const conf = shellQuote(paths.configPath);
  const meta = shellQuote(configMetaPath(paths));
  return [
    "set -eu",
    `if [ ! -f ${conf} ]; then echo config=absent; exit 0; fi`,
    `if [ ! -f ${meta} ]; then echo config=unknown; exit 0; fi`,
    `want="$(sed -n 's/^sha256=//p' ${meta})"`,
    `have="$(sha256sum < ${conf} | cut -d' ' -f1)"`,
    `if [ -n "$want" ] && [ "$want" = "$have" ]; then echo "config_version=$(sed -n 's/^version=//p' ${meta})"; else echo config=unknown; fi`,
  ].join("\n");
}

/** What {@link writeConfigScript} needs: where the config waits and where it goes. */
export interface WriteConfigScriptArgs {
  readonly region: string;
  /** The SecureString parameter holding the base64 of the config. */
  readonly parameterName: string;
  /** The parameter version to fetch: exactly the one this write stored, even if another writer raced us. */
  readonly parameterVersion: number;
  readonly paths: HostPaths;
}

/**
 * Fetches the config from Parameter Store with the instance role's credentials and moves it into place atomically
 * with mode 0600 for the nats user, then records (root-only) which parameter version it came from and its digest,
 * which is how readConfig answers without printing the text. The config's text is in neither the script nor its
 * output. The value is base64 so the bytes on disk are exactly the bytes stored (the CLI's text output adds a
 * newline, and the engine compares configs byte for byte). No pipes: POSIX sh has no pipefail, and a failed
 * download must fail the step rather than write an empty config.
 */
export function writeConfigScript(args: WriteConfigScriptArgs): string {
  const conf = args.paths.configPath;
  const dir = conf.replace(/\/[^/]*$/, "") || "/";
  const meta = shellQuote(configMetaPath(args.paths));
  if (!Number.isInteger(args.parameterVersion) || args.parameterVersion < 1) {
    throw new Error(`parameter version must be a positive integer, got ${args.parameterVersion}`);
  }
  return [
    "set -eu",
    "umask 077",
    `mkdir -p ${shellQuote(dir)}`,
    `tmp="$(mktemp ${shellQuote(`${dir}/.nats.conf.XXXXXX`)})"`,
    `b64="$(mktemp ${shellQuote(`${dir}/.nats.conf.b64.XXXXXX`)})"`,
    `trap 'rm -f "$tmp" "$b64"' EXIT`,
    `aws ssm get-parameter --region ${shellQuote(args.region)} --name ${shellQuote(`${args.parameterName}:${args.parameterVersion}`)} --with-decryption --query Parameter.Value --output text > "$b64"`,
    `base64 -d "$b64" > "$tmp"`,
    `chown ${NATS_USER}:${NATS_USER} "$tmp"`,
    `chmod 0600 "$tmp"`,
    `mv -f "$tmp" ${shellQuote(conf)}`,
    `printf 'version=%s\\nsha256=%s\\n' ${args.parameterVersion} "$(sha256sum < ${shellQuote(conf)} | cut -d' ' -f1)" > ${meta}`,
    `echo config_version=${args.parameterVersion}`,
  ].join("\n");
}

/** Removes the config file (deprovision of a member whose instance Pulumi owns). */
export function removeConfigScript(paths: HostPaths): string {
  return `rm -f ${shellQuote(paths.configPath)} ${shellQuote(configMetaPath(paths))} && echo config=removed`;
}

/**
 * Waits for cloud-init (the user data: user, volume, binary, unit) to finish, so the first SSM step never races
 * it. cloud-init exits 2 for "done with warnings" (deprecated keys and the like): that still counts as done.
 */
export function bootDoneScript(): string {
  return [
    "set -u",
    "if ! command -v cloud-init >/dev/null 2>&1; then echo boot=no-cloud-init; exit 0; fi",
    "cloud-init status --wait >/dev/null 2>&1; rc=$?",
    "cloud-init status --long 2>&1 || true",
    `if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then echo "cloud-init failed (exit $rc); see /var/log/cloud-init-output.log" >&2; tail -n 20 /var/log/cloud-init-output.log >&2 2>/dev/null || true; exit 1; fi`,
    "echo boot=done",
  ].join("\n");
}
