/**
 * The host-side scripts only the ssh platform may use: they carry the config's text (secrets included) inside the
 * script and back on stdout. That is safe here because an SSH script travels on the session's stdin (`sh -s`), is
 * never a command line (`ps` shows only `sh -s`), and neither it nor its output is stored anywhere. It would not be
 * through SSM, which keeps command text and output in its history: the aws platform has its own way
 * (engine/hosts/aws/scripts.ts). Everything else is every systemd platform's (engine/hosts/systemd/scripts.ts).
 */
import { dirOf, HostPaths, NATS_USER } from "../systemd/paths";
import { shellQuote } from "../systemd/scripts";

/** The heredoc delimiter around the config's base64; base64 text can never contain it. */
const HEREDOC_END = "NATS_CONFIG_BASE64_END";

/**
 * Writes `configText` as the config file, exactly those bytes: base64 in a heredoc (a dash heredoc is a pipe, so the
 * text touches no file but the config's own temp file), into a temp file created 0600 (umask 077) beside the config,
 * owned by the nats user, then renamed over the config, so nats-server never reads half a file. Prints
 * `config_sha256=<hex>` of what is on disk now, which the driver checks against the text it sent.
 */
export function writeConfigScript(paths: HostPaths, configText: string): string {
  const conf = shellQuote(paths.configPath);
  const dir = dirOf(paths.configPath);
  const base64 = Buffer.from(configText, "utf8")
    .toString("base64")
    .replace(/(.{76})/g, "$1\n");
  return [
    "set -eu",
    "umask 077",
    `install -d -m 0750 -o root -g ${NATS_USER} ${shellQuote(dir)}`,
    `tmp="$(mktemp ${shellQuote(`${dir}/.nats.conf.XXXXXX`)})"`,
    `trap 'rm -f "$tmp"' EXIT`,
    `base64 -d > "$tmp" <<'${HEREDOC_END}'`,
    base64,
    HEREDOC_END,
    `chown ${NATS_USER}:${NATS_USER} "$tmp"`,
    `chmod 0600 "$tmp"`,
    `mv -f "$tmp" ${conf}`,
    `echo "config_sha256=$(sha256sum < ${conf} | cut -d' ' -f1)"`,
  ].join("\n");
}

/** Prints `config=absent`, or `config_base64=<the file's bytes, base64 on one line>`. */
export function readConfigScript(paths: HostPaths): string {
  const conf = shellQuote(paths.configPath);
  return [
    "set -eu",
    `if [ ! -f ${conf} ]; then echo config=absent; exit 0; fi`,
    // One line, so outputValue can take it; `base64 -w 0` prints no newline of its own.
    `printf 'config_base64='; base64 -w 0 < ${conf}; echo`,
  ].join("\n");
}
