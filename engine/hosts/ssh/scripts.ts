/**
 * The host-side scripts only the ssh platform may use: they carry the config's text (secrets included) inside the
 * script and back on stdout. That is safe here because an SSH script travels on the session's stdin (`sh -s`), is
 * never a command line (`ps` shows only `sh -s`), and neither it nor its output is stored anywhere. It would not be
 * through SSM, which keeps command text and output in its history: the aws platform has its own way
 * (engine/hosts/aws/scripts.ts). Everything else is every systemd platform's (engine/hosts/systemd/scripts.ts).
 */
import { GATEWAY_CA_FILE_NAME, TLS_FILE_NAMES } from "../../config/for-server";
import { DeliveredTls } from "../../spec";
import { dirOf, HostPaths, NATS_USER, tlsDirOf } from "../systemd/paths";
import { shellQuote } from "../systemd/scripts";

/** The heredoc delimiter around the config's base64; base64 text can never contain it. */
const HEREDOC_END = "NATS_CONFIG_BASE64_END";

/**
 * Writes `configText` as the config file, exactly those bytes: base64 in a heredoc (a dash heredoc is a pipe, so the
 * text touches no file but the config's own temp file), into a temp file created 0600 (umask 077) beside the config,
 * owned by the nats user, then renamed over the config, so nats-server never reads half a file. Prints
 * `config_sha256=<hex>` of what is on disk now, which the driver checks against the text it sent.
 */
export function writeConfigScript(paths: HostPaths, configText: string, tls?: DeliveredTls): string {
  const conf = shellQuote(paths.configPath);
  const dir = dirOf(paths.configPath);
  return [
    "set -eu",
    "umask 077",
    `install -d -m 0750 -o root -g ${NATS_USER} ${shellQuote(dir)}`,
    ...(tls ? tlsFilesLines(tlsDirOf(paths), tls) : []),
    `tmp="$(mktemp ${shellQuote(`${dir}/.nats.conf.XXXXXX`)})"`,
    `trap 'rm -f "$tmp"' EXIT`,
    ...base64Heredoc('"$tmp"', configText),
    `chown ${NATS_USER}:${NATS_USER} "$tmp"`,
    `chmod 0600 "$tmp"`,
    `mv -f "$tmp" ${conf}`,
    `echo "config_sha256=$(sha256sum < ${conf} | cut -d' ' -f1)"`,
  ].join("\n");
}

/** `base64 -d` of `text` into `target` through a quoted heredoc: the bytes travel in the script (stdin), never argv. */
function base64Heredoc(target: string, text: string): string[] {
  const base64 = Buffer.from(text, "utf8")
    .toString("base64")
    .replace(/(.{76})/g, "$1\n");
  return [`base64 -d > ${target} <<'${HEREDOC_END}'`, base64, HEREDOC_END];
}

/**
 * The TLS material into its directory (0700, owned by the nats user), each file 0600 and renamed into place, written
 * before the config that refers to it. Prints `tls_cert_sha256=` of the certificate now on disk.
 */
function tlsFilesLines(tlsDir: string, tls: DeliveredTls): string[] {
  const files: Array<[string, string]> = [
    [TLS_FILE_NAMES.cert, tls.certPem],
    [TLS_FILE_NAMES.key, tls.keyPem],
    [TLS_FILE_NAMES.ca, tls.caPem],
    ...(tls.gatewayCaPem !== undefined ? [[GATEWAY_CA_FILE_NAME, tls.gatewayCaPem] as [string, string]] : []),
  ];
  const lines = [`install -d -m 0700 -o ${NATS_USER} -g ${NATS_USER} ${shellQuote(tlsDir)}`];
  for (const [name, text] of files) {
    const target = shellQuote(`${tlsDir}/${name}`);
    lines.push(
      `t="$(mktemp ${shellQuote(`${tlsDir}/.${name}.XXXXXX`)})"`,
      ...base64Heredoc('"$t"', text),
      `chown ${NATS_USER}:${NATS_USER} "$t"`,
      `chmod 0600 "$t"`,
      `mv -f "$t" ${target}`,
    );
  }
  lines.push(`echo "tls_cert_sha256=$(sha256sum < ${shellQuote(`${tlsDir}/${TLS_FILE_NAMES.cert}`)} | cut -d' ' -f1)"`);
  return lines;
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
