/**
 * The host side of the metrics exporter beside nats-server (engine/exporter.ts), as POSIX sh: install (download,
 * verify against the pinned SHA-256, install the versioned binary, write the `nats-exporter` unit, enable and
 * (re)start it, then check that it answers on its port) and remove. Both idempotent: the ssh driver runs install at
 * every provision, EC2 user data at first boot. The exporter never touches nats-server: a failed download, or an
 * exporter that does not come up, fails the step that asked for it and leaves nats-server as it was.
 */
import { ExporterRelease, exporterUrl } from "../../exporter";
import { EXPORTER_UNIT, exporterDirOf, HostPaths } from "./paths";
import { shellQuote } from "./scripts";

/** Where the exporter's unit file goes. */
export const EXPORTER_UNIT_PATH = `/etc/systemd/system/${EXPORTER_UNIT}.service`;

/** How long install waits for the exporter to answer on its port. */
const ANSWER_WAIT_SECONDS = 20;

/** The path of the installed binary of `exporter`'s version. */
export function exporterBinaryPath(paths: HostPaths, exporter: ExporterRelease): string {
  return `${exporterDirOf(paths)}/${exporter.name}-${exporter.version}`;
}

/**
 * The unit: the versioned binary with its arguments (plain words: engine/exporter.ts refuses anything a unit or a
 * shell would read differently), under a dynamic user of its own, never the `nats` user that can read the config's
 * secrets. After nats-server, but not bound to it: an exporter reports a stopped server, it does not stop with it.
 */
export function exporterUnitFor(paths: HostPaths, exporter: ExporterRelease): string {
  return [
    "[Unit]",
    `Description=Metrics exporter beside nats-server (${exporter.name} ${exporter.version}, port ${exporter.port})`,
    "After=network-online.target nats-server.service",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    "DynamicUser=yes",
    `ExecStart=${[exporterBinaryPath(paths, exporter), ...(exporter.args ?? [])].join(" ")}`,
    "Restart=always",
    "RestartSec=5",
    "NoNewPrivileges=true",
    "ProtectSystem=strict",
    "ProtectHome=true",
    "PrivateTmp=true",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/**
 * Installs `exporter` for linux-`arch`: the download is checked against its pinned SHA-256 before anything unpacks or
 * runs it; the binary appears under its versioned name only by a rename after that, so its presence means verified.
 * The unit is rewritten (and the exporter restarted) only when it changed: a version or argument change. Then the
 * port must answer HTTP within {@link ANSWER_WAIT_SECONDS} (any status: an exporter may answer 5xx while the server
 * it reports on is not up yet), else the step fails with the unit's last journal lines. Prints `exporter=installed`
 * or `exporter=unchanged`.
 */
export function installExporterScript(paths: HostPaths, exporter: ExporterRelease, arch: string): string {
  const url = exporterUrl(exporter, arch);
  const sha = exporter.sha256[arch];
  if (sha === undefined) throw new Error(`exporter.sha256.${arch}: no pinned SHA-256 for the ${arch} download`);
  const bin = exporterBinaryPath(paths, exporter);
  const tarball = /\.(tar\.gz|tgz)$/.test(new URL(url).pathname);
  const unit = shellQuote(EXPORTER_UNIT);
  const unitPath = shellQuote(EXPORTER_UNIT_PATH);
  return [
    "set -eu",
    `# The metrics exporter: ${exporter.name} ${exporter.version} (linux-${arch}), port ${exporter.port}.`,
    `exp_url=${shellQuote(url)}`,
    `exp_bin=${shellQuote(bin)}`,
    `exp_fail() { echo "install ${exporter.name} ${exporter.version}: $*" >&2; exit 1; }`,
    'if [ ! -x "$exp_bin" ]; then',
    '  exp_tmp="$(mktemp -d)"',
    `  trap 'rm -rf "$exp_tmp"' EXIT`,
    '  curl -fsSL --retry 3 --connect-timeout 10 --max-time 300 -o "$exp_tmp/download" "$exp_url" || exp_fail "download of $exp_url failed"',
    `  printf '%s  %s\\n' ${shellQuote(sha)} "$exp_tmp/download" | sha256sum -c - >/dev/null 2>&1 || exp_fail "checksum mismatch for $exp_url: it is $(sha256sum < "$exp_tmp/download" | cut -d' ' -f1), the stack pins ${sha} (exporter.sha256.${arch})"`,
    ...(tarball
      ? [
          '  mkdir "$exp_tmp/x"',
          '  tar -xzf "$exp_tmp/download" -C "$exp_tmp/x" || exp_fail "cannot extract $exp_url"',
          `  exp_found="$(find "$exp_tmp/x" -type f -name ${shellQuote(exporter.name)})"`,
          `  [ -n "$exp_found" ] && [ "$(printf '%s\\n' "$exp_found" | wc -l)" -eq 1 ] || exp_fail "$exp_url holds no single file named ${exporter.name}"`,
        ]
      : ['  exp_found="$exp_tmp/download"']),
    `  install -d -m 0755 ${shellQuote(exporterDirOf(paths))}`,
    '  cp "$exp_found" "$exp_bin.partial.$$"',
    '  chmod 0755 "$exp_bin.partial.$$"',
    '  mv -f "$exp_bin.partial.$$" "$exp_bin"',
    "fi",
    `exp_want=${shellQuote(exporterUnitFor(paths, exporter))}`,
    "exp_changed=no",
    `if [ "$(cat ${unitPath} 2>/dev/null || true)" != "$(printf '%s' "$exp_want")" ]; then`,
    `  printf '%s' "$exp_want" > ${shellQuote(`${EXPORTER_UNIT_PATH}.tmp`)}`,
    `  mv -f ${shellQuote(`${EXPORTER_UNIT_PATH}.tmp`)} ${unitPath}`,
    "  systemctl daemon-reload",
    "  exp_changed=yes",
    "fi",
    `systemctl enable --quiet ${unit}`,
    `if [ "$exp_changed" = yes ]; then systemctl restart ${unit}; else systemctl start ${unit}; fi`,
    // Any HTTP answer counts; curl prints 000 when nothing answered at all.
    "i=0",
    `while [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:${exporter.port}/metrics || true)" = 000 ] && [ "$i" -lt ${ANSWER_WAIT_SECONDS} ]; do sleep 1; i=$((i + 1)); done`,
    `if [ "$i" -ge ${ANSWER_WAIT_SECONDS} ]; then`,
    `  journalctl -u ${unit} -n 10 --no-pager >&2 || true`,
    `  exp_fail "nothing answers on port ${exporter.port} after ${ANSWER_WAIT_SECONDS}s: exporter.args must make it listen there (journal above)"`,
    "fi",
    'if [ "$exp_changed" = yes ]; then echo exporter=installed; else echo exporter=unchanged; fi',
    "",
  ].join("\n");
}

/**
 * Stops and removes the exporter (its unit and binaries), whichever it was: a host that stops serving nats, or a
 * stack that no longer names one. Nothing there: nothing done. Prints `exporter=removed` or `exporter=none`.
 */
export function removeExporterScript(paths: HostPaths): string {
  const unit = shellQuote(EXPORTER_UNIT);
  const unitPath = shellQuote(EXPORTER_UNIT_PATH);
  return [
    "set -eu",
    `if [ -f ${unitPath} ] || [ -d ${shellQuote(exporterDirOf(paths))} ]; then`,
    `  systemctl disable --now --quiet ${unit} 2>/dev/null || true`,
    `  rm -f ${unitPath}`,
    "  systemctl daemon-reload",
    `  systemctl reset-failed ${unit} 2>/dev/null || true`,
    `  rm -rf ${shellQuote(exporterDirOf(paths))}`,
    "  echo exporter=removed",
    "else",
    "  echo exporter=none",
    "fi",
    "",
  ].join("\n");
}
