/**
 * The host-side scripts only the SSM driver needs: the config travels through a Parameter Store SecureString (the
 * host fetches it; its text is never in a command), and a new EC2 host must finish cloud-init first. The rest are
 * every systemd platform's (engine/hosts/systemd/scripts.ts).
 *
 * The scripts' shell is checked by `sh -n`, and the scripts run on lab VMs (real systemd, cloud-init) through a
 * fake SSM in test/aws/lab-ssm-rollout.test.ts; never against a real AWS account.
 */
import { BOOT_STATUS_PATH } from "../systemd/host-prep";
import { GATEWAY_CA_FILE_NAME, TLS_FILE_NAMES } from "../../config/for-server";
import { HostPaths, NATS_USER, tlsDirOf } from "../systemd/paths";
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
  /**
   * Delivered TLS material to write first, into the TLS directory: each file from its own SecureString version
   * (file name as in TLS_FILE_NAMES). Only names and versions: the PEM is never in the script.
   */
  readonly tlsFiles?: ReadonlyArray<{ readonly fileName: string; readonly name: string; readonly version: number }>;
}

function checkVersion(version: number): void {
  if (!Number.isInteger(version) || version < 1) {
    throw new Error(`parameter version must be a positive integer, got ${version}`);
  }
}

/** `aws ssm get-parameter` of one exact version, its decrypted value (base64) into `target`. */
function fetchLine(region: string, name: string, version: number, target: string): string {
  checkVersion(version);
  return `aws ssm get-parameter --region ${shellQuote(region)} --name ${shellQuote(`${name}:${version}`)} --with-decryption --query Parameter.Value --output text > ${target}`;
}

/**
 * The TLS files into their directory (0700, owned by the nats user), each fetched from its parameter version,
 * decoded, 0600 for the nats user and renamed into place; as the ssh platform writes them, before the config that
 * names them. Prints `tls_cert_sha256=` of the certificate now on disk (never anything of the key).
 */
function tlsFilesLines(args: WriteConfigScriptArgs): string[] {
  const files = args.tlsFiles ?? [];
  if (files.length === 0) return [];
  const known: string[] = [...Object.values(TLS_FILE_NAMES), GATEWAY_CA_FILE_NAME];
  const dir = tlsDirOf(args.paths);
  const lines = [`install -d -m 0700 -o ${NATS_USER} -g ${NATS_USER} ${shellQuote(dir)}`];
  for (const file of files) {
    if (!known.includes(file.fileName)) throw new Error(`unknown TLS file ${JSON.stringify(file.fileName)}`);
    lines.push(
      `t="$(mktemp ${shellQuote(`${dir}/.${file.fileName}.XXXXXX`)})"`,
      fetchLine(args.region, file.name, file.version, '"$b64"'),
      `base64 -d "$b64" > "$t"`,
      `chown ${NATS_USER}:${NATS_USER} "$t"`,
      `chmod 0600 "$t"`,
      `mv -f "$t" ${shellQuote(`${dir}/${file.fileName}`)}`,
      `: > "$b64"`,
    );
  }
  lines.push(`echo "tls_cert_sha256=$(sha256sum < ${shellQuote(`${dir}/${TLS_FILE_NAMES.cert}`)} | cut -d' ' -f1)"`);
  return lines;
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
  checkVersion(args.parameterVersion);
  return [
    "set -eu",
    "umask 077",
    `mkdir -p ${shellQuote(dir)}`,
    `tmp="$(mktemp ${shellQuote(`${dir}/.nats.conf.XXXXXX`)})"`,
    `b64="$(mktemp ${shellQuote(`${dir}/.nats.conf.b64.XXXXXX`)})"`,
    // `t` is a TLS file being written: removed too if a fetch fails half-way.
    `t=""`,
    `trap 'rm -f "$tmp" "$b64" $t' EXIT`,
    ...tlsFilesLines(args),
    fetchLine(args.region, args.parameterName, args.parameterVersion, '"$b64"'),
    `base64 -d "$b64" > "$tmp"`,
    `chown ${NATS_USER}:${NATS_USER} "$tmp"`,
    `chmod 0600 "$tmp"`,
    `mv -f "$tmp" ${shellQuote(conf)}`,
    `printf 'version=%s\\nsha256=%s\\n' ${args.parameterVersion} "$(sha256sum < ${shellQuote(conf)} | cut -d' ' -f1)" > ${meta}`,
    `echo config_version=${args.parameterVersion}`,
  ].join("\n");
}

/** Removes the config file and the delivered TLS material (deprovision of a member whose instance Pulumi owns). */
export function removeConfigScript(paths: HostPaths): string {
  return `rm -rf ${shellQuote(tlsDirOf(paths))} && rm -f ${shellQuote(paths.configPath)} ${shellQuote(configMetaPath(paths))} && echo config=removed`;
}

/**
 * Waits for cloud-init (the user data: user, volume, unit, binary) to finish, so the first SSM step never races it,
 * and reports how the host preparation ended (always exit 0: this is a report, the driver decides):
 * `boot=done`, or `boot=failed` with `boot_error=<the step that failed, its command and first line of output>`
 * (from {@link BOOT_STATUS_PATH}; cloud-init's own summary when the user data never recorded anything).
 */
export function bootDoneScript(): string {
  const status = shellQuote(BOOT_STATUS_PATH);
  return [
    "set -u",
    "if command -v cloud-init >/dev/null 2>&1; then",
    "  cloud-init status --wait >/dev/null 2>&1; rc=$?",
    '  echo "cloud_init_exit=$rc"',
    "fi",
    `st="$(cat ${status} 2>/dev/null || true)"`,
    'case "$st" in',
    "  done) echo boot=done ;;",
    '  failed*) echo boot=failed; echo "boot_error=${st#failed: }" ;;',
    "  running) echo boot=failed; echo 'boot_error=the host preparation never finished (stopped while it ran)' ;;",
    "  *)",
    "    echo boot=failed",
    // cloud-init prints `detail:` (22.x) or `errors:` (23.x) with the reason on the same or the next line.
    `    detail="$(cloud-init status --long 2>/dev/null | awk 'f && NF { sub(/^[[:space:]-]+/, ""); print; exit } /^(detail|errors):/ { sub(/^[a-z]+:[[:space:]]*/, ""); if (NF) { print; exit } f = 1 }')"`,
    '    echo "boot_error=no nats-cluster host preparation recorded on this host${detail:+ (cloud-init: $detail)}"',
    "    ;;",
    "esac",
  ].join("\n");
}

/**
 * Where an EBS volume shows up on the instance, most specific first: the `/dev/disk/by-id` link every udev makes
 * from the NVMe serial (`vol0123…`, Nitro instances, any distribution), then the attachment's device name (Amazon
 * Linux's udev rules add it on Nitro, Xen instances have it as `/dev/xvdX`).
 */
export function ebsDeviceCandidates(deviceName: string, volumeId?: string): string[] {
  const byId = volumeId ? [`/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace(/-/g, "")}`] : [];
  return [...byId, deviceName, deviceName.replace(/^\/dev\/sd/, "/dev/xvd")];
}

/** How long a start waits for a grown data volume to show its size on the host before it refuses. */
export const VOLUME_SIZE_WAIT_SECONDS = 120;

/**
 * Put in front of a start: when the config about to be started records a data volume size
 * (`# nats-cluster data-volume: N GiB`, engine/config/text.ts), wait until the volume mounted at the data directory
 * shows at least that size, and refuse to start (naming both sizes) if it does not within `waitSeconds`. EBS makes a
 * grown size usable once the volume's modification is `optimizing`; the unit's `ExecStartPre` grows the file system
 * only to what the device shows then, and JetStream sizes its store at start: a start on the old size would record
 * a growth that never happened. The limit is read from the config on the host, so a rollback to the previous config
 * waits for the previous size (there already). Prints `data_volume_bytes=`; nothing when the config names no size
 * or the volume is not mounted (the unit refuses that itself).
 */
export function volumeSizeWaitScript(paths: HostPaths, waitSeconds = VOLUME_SIZE_WAIT_SECONDS): string {
  const conf = shellQuote(paths.configPath);
  const data = shellQuote(paths.dataDir);
  const wait = Math.max(1, Math.ceil(waitSeconds));
  return [
    "set -eu",
    `nats_want_gib="$(sed -n 's/^# nats-cluster data-volume: \\([0-9][0-9]*\\) GiB$/\\1/p' ${conf} 2>/dev/null | head -n 1)"`,
    `if [ -n "$nats_want_gib" ] && nats_dev="$(findmnt -n -o SOURCE -M ${data})"; then`,
    "  nats_want=$((nats_want_gib * 1073741824))",
    "  nats_have=0",
    "  i=0",
    '  while nats_have="$(blockdev --getsize64 "$nats_dev")" && [ "$nats_have" -lt "$nats_want" ]; do',
    `    if [ "$i" -ge ${wait} ]; then`,
    `      echo "the data volume $nats_dev shows $((nats_have / 1073741824)) GiB, not the $nats_want_gib GiB its config records (aws.volumeSizeGb), after ${wait}s: its EBS modification is not usable yet (aws ec2 describe-volumes-modifications); not starting on the old size" >&2`,
    "      exit 1",
    "    fi",
    "    sleep 1",
    "    i=$((i + 1))",
    "  done",
    '  echo "data_volume_bytes=$nats_have"',
    "fi",
  ].join("\n");
}
