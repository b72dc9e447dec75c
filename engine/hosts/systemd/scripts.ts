/**
 * The host-side shell scripts of every systemd platform, one per HostDriver operation: the SSM driver sends them as
 * `AWS-RunShellScript` commands, the SSH driver pipes them to `sh -s`. Plain functions of paths and names: no
 * secrets ever go in, because SSM stores command text (history, CloudTrail) and shows it in the console.
 *
 * Results come back on stdout as `key=value` lines the drivers parse, and every script exits 0 unless the
 * operation itself failed, so a failed command always means "the step failed", never "the answer is no".
 */
import { isVersion } from "../../versions";
import { dirOf, HostPaths, NATS_UNIT, NATS_USER, storeDirOf, tlsDirOf } from "./paths";
import {
  STOP_TIMEOUT_DROP_IN_PATH,
  STOP_TIMEOUT_MARGIN_SECONDS,
  stopTimeoutDropIn,
  systemdUnitFor,
  UNIT_PATH,
  UnitOptions,
} from "./unit";

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
export function startScript(paths: HostPaths): string {
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
export function reloadScript(paths: HostPaths): string {
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

/**
 * Prints `store_path=`, `store_total=` and `store_free=` (bytes) of the file system holding the JetStream store, or of
 * its nearest existing parent before the first start.
 */
export function storeUsageScript(paths: HostPaths): string {
  return [
    "set -eu",
    `d=${shellQuote(storeDirOf(paths))}`,
    'while [ ! -d "$d" ] && [ "$d" != / ]; do d="$(dirname "$d")"; done',
    'echo "store_path=$d"',
    `df -P -B1 "$d" | awk 'NR == 2 { print "store_total=" $2; print "store_free=" $4 }'`,
  ].join("\n");
}

/** Prints `link=<target of the nats-server symlink>` (empty when nothing is installed). */
export function installedVersionScript(paths: HostPaths): string {
  return `echo "link=$(readlink ${shellQuote(`${paths.installDir}/nats-server`)} 2>/dev/null || true)"`;
}

/** The value of a `key=value` line in a script's output, or undefined. */
export function outputValue(stdout: string, key: string): string | undefined {
  for (const line of stdout.split(/\r?\n/)) {
    if (line.startsWith(`${key}=`)) return line.slice(key.length + 1).trim();
  }
  return undefined;
}

/** The version a `nats-server` link points at (`/opt/nats/nats-server-2.15.2` → `2.15.2`), when it is one. */
export function versionFromLink(link: string): string | undefined {
  const candidate = /\/nats-server-([^/]+)$/.exec(link.trim())?.[1];
  return isVersion(candidate) ? candidate : undefined;
}

/**
 * Waits on the host (one command, not one per poll) until nats-server has exited or `timeoutSeconds` passed;
 * prints `exited=yes` or `exited=no`.
 */
export function waitForExitScript(timeoutSeconds: number): string {
  const tries = Math.max(1, Math.ceil(timeoutSeconds));
  return [
    "set -u",
    `i=0; while [ "$(systemctl show -p MainPID --value ${unit})" != "0" ] && [ "$i" -lt ${tries} ]; do sleep 1; i=$((i + 1)); done`,
    `if [ "$(systemctl show -p MainPID --value ${unit})" = "0" ]; then echo exited=yes; else echo exited=no; fi`,
  ].join("\n");
}

/**
 * Makes the unit's stop timeout at least lame duck's needs (a drop-in, rewritten only when it differs, then
 * `daemon-reload`): the unit written at first boot keeps whatever timeout it had then.
 */
export function stopTimeoutScript(stopTimeoutSeconds: number): string {
  const text = stopTimeoutDropIn(stopTimeoutSeconds);
  const file = shellQuote(STOP_TIMEOUT_DROP_IN_PATH);
  return [
    "set -eu",
    `want=${shellQuote(text)}`,
    `if [ "$(cat ${file} 2>/dev/null || true)" != "$(printf '%s' "$want")" ]; then`,
    `  mkdir -p ${shellQuote(dirOf(STOP_TIMEOUT_DROP_IN_PATH))}`,
    `  printf '%s' "$want" > ${file}`,
    "  systemctl daemon-reload",
    "  echo stop_timeout=updated",
    "else",
    "  echo stop_timeout=unchanged",
    "fi",
  ].join("\n");
}

/**
 * The user nats-server runs as and its directories (idempotent): what a fresh host needs before a binary, a config
 * and the unit go on it. `configDir` is root-owned and readable by the nats group only.
 */
export function prepareHostScript(paths: HostPaths): string {
  const data = paths.dataDir;
  return [
    "set -eu",
    `id -u ${NATS_USER} >/dev/null 2>&1 || useradd --system --no-create-home --home-dir ${shellQuote(data)} --shell /usr/sbin/nologin ${NATS_USER}`,
    `install -d -m 0750 -o root -g ${NATS_USER} ${shellQuote(dirOf(paths.configPath))}`,
    `install -d -m 0755 ${shellQuote(paths.installDir)}`,
    `install -d -m 0750 -o ${NATS_USER} -g ${NATS_USER} ${shellQuote(data)}`,
    "echo prepared=yes",
  ].join("\n");
}

/**
 * Before lame duck: makes the unit's stop timeout at least `floorSeconds` and at least the config's
 * `lame_duck_duration` plus {@link STOP_TIMEOUT_MARGIN_SECONDS}, read from the config file on the host, so systemd
 * never SIGKILLs a server that is still handing clients over (a lame duck raised after the unit was written, or a
 * floor lowered by mistake). The drop-in is rewritten, and `daemon-reload` run, only when it changes.
 * Prints `stop_timeout=<seconds>`.
 */
export function lameDuckStopTimeoutScript(paths: HostPaths, floorSeconds: number): string {
  stopTimeoutDropIn(floorSeconds); // throws on a bad floor
  // The drop-in's text comes from unit.ts with the number left to printf, so the two can never disagree.
  const template = stopTimeoutDropIn(1).replace("TimeoutStopSec=1\n", "TimeoutStopSec=%s\n");
  const file = shellQuote(STOP_TIMEOUT_DROP_IN_PATH);
  return [
    "set -eu",
    `need=${floorSeconds}`,
    // engine/config/render.ts writes `lame_duck_duration: "30s"`; anything else leaves the floor alone.
    `ldm="$(sed -n 's/^lame_duck_duration: *"\\{0,1\\}\\([0-9][0-9]*\\)s"\\{0,1\\} *$/\\1/p' ${shellQuote(paths.configPath)} 2>/dev/null | head -n 1)"`,
    `if [ -n "$ldm" ] && [ $((ldm + ${STOP_TIMEOUT_MARGIN_SECONDS})) -gt "$need" ]; then need=$((ldm + ${STOP_TIMEOUT_MARGIN_SECONDS})); fi`,
    `want="$(printf ${shellQuote(template)} "$need")"`,
    `if [ "$(cat ${file} 2>/dev/null || true)" != "$want" ]; then`,
    `  mkdir -p ${shellQuote(dirOf(STOP_TIMEOUT_DROP_IN_PATH))}`,
    `  printf '%s\\n' "$want" > ${file}`,
    "  systemctl daemon-reload",
    "fi",
    'echo "stop_timeout=$need"',
  ].join("\n");
}

/**
 * Installs the unit ({@link systemdUnitFor}) and its stop-timeout drop-in, reloads systemd when either changed and
 * enables the unit, so the server comes back after a reboot (idempotent: an unchanged host is left alone). The unit
 * starts nothing before a config exists (`ConditionPathExists`). Prints `unit=installed` or `unit=unchanged`.
 */
export function installUnitScript(paths: HostPaths, options: UnitOptions & { stopTimeoutSeconds: number }): string {
  const files: Array<[string, string]> = [
    [UNIT_PATH, systemdUnitFor(paths, options)],
    [STOP_TIMEOUT_DROP_IN_PATH, stopTimeoutDropIn(options.stopTimeoutSeconds)],
  ];
  return [
    "set -eu",
    "umask 022",
    "changed=no",
    ...files.flatMap(([file, text]) => [
      `want=${shellQuote(text)}`,
      `if [ "$(cat ${shellQuote(file)} 2>/dev/null || true)" != "$(printf '%s' "$want")" ]; then`,
      `  mkdir -p ${shellQuote(dirOf(file))}`,
      // A temp file and a rename: systemd never reads half a unit.
      `  printf '%s' "$want" > ${shellQuote(`${file}.tmp`)}`,
      `  mv -f ${shellQuote(`${file}.tmp`)} ${shellQuote(file)}`,
      "  changed=yes",
      "fi",
    ]),
    `if [ "$changed" = yes ]; then systemctl daemon-reload; fi`,
    `systemctl enable --quiet ${unit}`,
    `if [ "$changed" = yes ]; then echo unit=installed; else echo unit=unchanged; fi`,
  ].join("\n");
}

/** The commands the host-side scripts of every systemd platform call, beyond a POSIX shell's builtins. */
export const HOST_TOOLS = [
  "systemctl",
  "journalctl",
  "curl",
  "tar",
  "sha256sum",
  "awk",
  "sed",
  "base64",
  "mktemp",
  "install",
  "useradd",
  "timeout",
] as const;

/**
 * Fails naming every tool the scripts need that the host lacks, and a host not booted with systemd; otherwise prints
 * `machine=<uname -m>` so the driver can check the release architecture it is about to download.
 */
export function hostCheckScript(): string {
  return [
    "set -eu",
    'missing=""',
    `for t in ${HOST_TOOLS.join(" ")}; do command -v "$t" >/dev/null 2>&1 || missing="$missing $t"; done`,
    `if [ -n "$missing" ]; then echo "missing on this host:$missing (install them with its package manager)" >&2; exit 1; fi`,
    `[ -d /run/systemd/system ] || { echo "this host was not booted with systemd (no /run/systemd/system)" >&2; exit 1; }`,
    'echo "machine=$(uname -m)"',
  ].join("\n");
}

/** What {@link removeServerScript} takes away besides the config file. */
export interface RemoveServerOptions {
  /**
   * Disable and delete the unit and its drop-in, and the `nats-server` link to the active binary (a host that stops
   * being a nats host: the surge VM). The planner takes an installed version on the surge host for a surge server
   * left over by an interrupted rollout, so the link goes last: a removal cut short is planned again.
   */
  readonly unit: boolean;
  /** Delete the JetStream store (a surge server must come back clean next time, never as a stale peer). */
  readonly data: boolean;
}

/** How long {@link removeServerScript} gives a running server to leave. */
export interface RemoveServerWaits {
  /** After the lame-duck stop, before SIGKILL. */
  readonly drainSeconds: number;
  /** After SIGKILL, before the script fails. */
  readonly killSeconds: number;
}

/**
 * Deprovision: a server still running (normally the engine drained it already) gets the lame-duck stop and up to
 * `drainSeconds` to leave, then SIGKILL; then its config and the TLS material delivered with it (the key: a VM that
 * no longer serves must not keep it) go and, as asked, its unit and its JetStream store.
 * Versioned binaries stay (small, and a later stage reuses them). Idempotent. Prints `removed=yes`.
 */
export function removeServerScript(paths: HostPaths, options: RemoveServerOptions, waits: RemoveServerWaits): string {
  const drain = Math.max(1, Math.ceil(waits.drainSeconds));
  const kill = Math.max(1, Math.ceil(waits.killSeconds));
  const running = `[ "$(systemctl show -p MainPID --value ${unit})" != "0" ]`;
  return [
    "set -u",
    `if ${running}; then`,
    `  systemctl stop --no-block ${unit} 2>/dev/null || true`,
    `  i=0; while ${running} && [ "$i" -lt ${drain} ]; do sleep 1; i=$((i + 1)); done`,
    "fi",
    `if ${running}; then`,
    `  echo "nats-server still running ${drain}s after the lame-duck stop: SIGKILL" >&2`,
    `  systemctl kill -s SIGKILL ${unit} 2>/dev/null || true`,
    `  i=0; while ${running} && [ "$i" -lt ${kill} ]; do sleep 1; i=$((i + 1)); done`,
    `  if ${running}; then echo "nats-server still running ${kill}s after SIGKILL" >&2; exit 1; fi`,
    "fi",
    // A stop job may still be queued (the process is gone): make sure the unit is stopped, not restarting.
    `systemctl stop --no-block ${unit} 2>/dev/null || true`,
    "set -e",
    // The TLS material delivered with the config (tls.pem) goes with it: a VM that stops serving keeps no key.
    `rm -rf ${shellQuote(tlsDirOf(paths))}`,
    `rm -f ${shellQuote(paths.configPath)}`,
    ...(options.unit
      ? [
          `systemctl disable --quiet ${unit} 2>/dev/null || true`,
          `rm -f ${shellQuote(UNIT_PATH)} ${shellQuote(STOP_TIMEOUT_DROP_IN_PATH)}`,
          `rmdir ${shellQuote(dirOf(STOP_TIMEOUT_DROP_IN_PATH))} 2>/dev/null || true`,
          "systemctl daemon-reload",
          `systemctl reset-failed ${unit} 2>/dev/null || true`,
        ]
      : []),
    ...(options.data ? [`rm -rf ${shellQuote(storeDirOf(paths))}`] : []),
    ...(options.unit ? [`rm -f ${shellQuote(`${paths.installDir}/nats-server`)}`] : []),
    "echo removed=yes",
  ].join("\n");
}
