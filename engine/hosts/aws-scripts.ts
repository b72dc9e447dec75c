/**
 * The shell scripts the SSM host driver runs on an EC2 host (one per HostDriver method), as `AWS-RunShellScript`
 * commands. Plain functions of paths and names: no secrets ever go in, because the script text is stored by SSM
 * (command history, CloudTrail) and shown in the console.
 *
 * Results come back on stdout as `key=value` lines the driver parses, and every script exits 0 unless the operation
 * itself failed, so an SSM `Failed` status always means "the step failed", never "the answer is no".
 *
 * AWS parts of this project are verified only with mocks; the scripts' shell is checked by `sh -n` in the tests.
 */
import { AwsHostPaths, NATS_UNIT, NATS_USER } from "./aws-paths";

/** Quotes a value for POSIX sh: single quotes, embedded single quotes spliced in. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const unit = shellQuote(NATS_UNIT);

/**
 * Prints `main_pid=<n>` and `active_state=<state>`.
 * MainPID, not `systemctl is-active`: during lame duck the unit is `deactivating`, which is-active reports as not
 * active although the process is still draining clients; MainPID stays set until the process has really exited.
 */
export function statusScript(): string {
  return [
    "set -eu",
    `echo "main_pid=$(systemctl show -p MainPID --value ${unit})"`,
    `echo "active_state=$(systemctl show -p ActiveState --value ${unit})"`,
  ].join("\n");
}

/**
 * `systemctl start`, then a short check that the process is still up, so a config nats-server refuses fails the
 * step with the journal's reason instead of looking like a slow start. `reset-failed` first: a unit that hit its
 * start limit earlier would otherwise refuse to start at all.
 */
export function startScript(paths: AwsHostPaths): string {
  const conf = shellQuote(paths.configPath);
  return [
    "set -eu",
    `[ -f ${conf} ] || { echo "no config at ${paths.configPath}: write it before starting" >&2; exit 1; }`,
    `[ -x ${shellQuote(`${paths.installDir}/nats-server`)} ] || { echo "no nats-server installed at ${paths.installDir}/nats-server" >&2; exit 1; }`,
    `systemctl reset-failed ${unit} 2>/dev/null || true`,
    `systemctl start ${unit}`,
    "sleep 2",
    `if [ "$(systemctl show -p MainPID --value ${unit})" = "0" ]; then`,
    `  echo "nats-server exited right after start; last journal lines:" >&2`,
    `  journalctl -u ${unit} -n 20 --no-pager >&2 || true`,
    "  exit 1",
    "fi",
    `echo "main_pid=$(systemctl show -p MainPID --value ${unit})"`,
  ].join("\n");
}

/**
 * Lame duck through systemd: `systemctl stop --no-block` runs the unit's `ExecStop=/bin/kill -s SIGUSR2 $MAINPID`
 * (the same signal as `nats-server --signal ldm=<pidfile>`) and returns at once; the engine then waits for the exit.
 * Going through systemd rather than signalling the process directly matters: systemd then knows the stop is
 * intended, so `Restart=on-failure` never restarts the server behind the engine's back, and a later SIGKILL (kill)
 * ends a stop job instead of counting as a crash.
 */
export function lameDuckScript(): string {
  return [
    "set -eu",
    `if [ "$(systemctl show -p MainPID --value ${unit})" = "0" ]; then echo "nats-server is not running: no lame duck to start" >&2; exit 1; fi`,
    `systemctl stop --no-block ${unit}`,
    "echo lame_duck=requested",
  ].join("\n");
}

/** `nats-server --signal reload=<pidfile>` (SIGHUP): the server re-reads its config and keeps running. */
export function reloadScript(paths: AwsHostPaths): string {
  return [
    "set -eu",
    `${shellQuote(`${paths.installDir}/nats-server`)} --signal reload=${shellQuote(paths.pidFile)}`,
    "echo reload=sent",
  ].join("\n");
}

/**
 * Last resort: queue a stop (so `Restart=on-failure` does not bring it back), SIGKILL the process, and wait up to
 * `waitSeconds` for systemd to see it gone.
 */
export function killScript(waitSeconds: number): string {
  const tries = Math.max(1, Math.ceil(waitSeconds));
  return [
    "set -u",
    `systemctl stop --no-block ${unit} 2>/dev/null || true`,
    `systemctl kill -s SIGKILL ${unit} 2>/dev/null || true`,
    `i=0; while [ "$(systemctl show -p MainPID --value ${unit})" != "0" ] && [ "$i" -lt ${tries} ]; do sleep 1; i=$((i + 1)); done`,
    `if [ "$(systemctl show -p MainPID --value ${unit})" != "0" ]; then echo "nats-server still running ${tries}s after SIGKILL" >&2; exit 1; fi`,
    "echo killed=yes",
  ].join("\n");
}

/** The last lines of the unit's journal. Never the config: nats-server does not log its secrets. */
export function logScript(maxLines: number): string {
  const n = Math.max(1, Math.floor(maxLines));
  return `journalctl -u ${unit} -n ${n} --no-pager -o short-iso 2>&1 || true`;
}

/** Prints `link=<target of the nats-server symlink>` (empty when nothing is installed). */
export function installedVersionScript(paths: AwsHostPaths): string {
  return `echo "link=$(readlink ${shellQuote(`${paths.installDir}/nats-server`)} 2>/dev/null || true)"`;
}

/** The root-only sidecar file recording which parameter version the config file was written from, and its digest. */
export function configMetaPath(paths: AwsHostPaths): string {
  return paths.configPath.replace(/\/([^/]*)$/, "/.$1.meta");
}

/**
 * Prints `config=absent`, `config=unknown` (a file this driver did not write or someone edited since), or
 * `config_version=<n>`: the Parameter Store version the file was written from, checked on the host against the
 * digest recorded at write time. Neither the text nor its digest leaves the host: command output is kept in SSM's
 * command history, and a digest of a mostly known file would let anyone guess a weak password offline.
 */
export function readConfigScript(paths: AwsHostPaths): string {
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
  readonly paths: AwsHostPaths;
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
export function removeConfigScript(paths: AwsHostPaths): string {
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

/** The value of a `key=value` line in a script's output, or undefined. */
export function outputValue(stdout: string, key: string): string | undefined {
  for (const line of stdout.split(/\r?\n/)) {
    if (line.startsWith(`${key}=`)) return line.slice(key.length + 1).trim();
  }
  return undefined;
}
