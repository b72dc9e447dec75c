/**
 * The host side of installing nats-server on a systemd host, as POSIX shell snippets: stage (download and verify a
 * version beside the active binary, while the server still serves) and activate (switch the link the unit runs).
 * The SSH driver pipes them to `sh -s`, the SSM driver sends them as commands, EC2 user data runs install (both) at
 * first boot. Which tarball and which checksum to trust is engine/release.ts's rule.
 */
import * as path from "node:path";
import {
  assertVersion,
  DEFAULT_RELEASE_BASE_URL,
  pinnedSha256,
  releaseAssetName,
  releaseDirName,
  ReleasePins,
  ReleaseSource,
  releaseSource,
  unpinnedDownloadProblem,
} from "../../release";
import { NATS_USER } from "./paths";
import { shellQuote } from "./scripts";

/** What a systemd platform's driver knows of its hosts' releases: their arch, the mirror and the stack's pins. */
export interface HostReleaseOptions {
  /** Release tarball architecture of the hosts. Default "amd64". */
  readonly arch?: "amd64" | "arm64";
  /** Release download base URL, reached from the hosts. Default the official GitHub releases. */
  readonly releaseBaseUrl?: string;
  /** Pinned SHA-256s per version and arch; required for every version staged from a plain-http mirror. */
  readonly releaseSha256?: ReleasePins;
}

/** The hosts' release source, for a driver's `stageBinary` and `releaseProblem`: one place for both platforms. */
export class HostReleases {
  private readonly arch: string;
  private readonly source: ReleaseSource;

  constructor(options: HostReleaseOptions) {
    this.arch = options.arch ?? "amd64";
    this.source = releaseSource(options.releaseBaseUrl, options.releaseSha256);
  }

  /** Why `version` must not be downloaded onto the hosts (HostDriver.releaseProblem), or undefined. */
  problem(version: string): string | undefined {
    return unpinnedDownloadProblem(this.source, version, this.arch);
  }

  /** The stage snippet for `version` into `installDir` (throws where {@link problem} says no). */
  stageScript(version: string, installDir: string): string {
    return stageScriptFor(version, this.arch, installDir, this.source);
  }
}

/**
 * A POSIX shell snippet that downloads nats-server `version` for linux-`arch` from the release, verifies it against
 * the stack's pinned SHA-256 or else the release's SHA256SUMS (only over https: release.ts) and leaves it as
 * `<installDir>/nats-server-<version>`, without touching the `nats-server` link a running or restarting server uses.
 * The slow part of an upgrade, done while the member still serves clients; a failure leaves the host as it was (the
 * versioned file appears only by a rename after verification, so its presence means verified). Needs `curl`,
 * `sha256sum`, `tar`, `awk`; exits non-zero naming the URL and the problem. Throws, writing no script, for a
 * plain-http mirror without a pin for this version and arch.
 */
export function stageScriptFor(
  version: string,
  arch: string,
  installDir: string,
  release: string | ReleaseSource = DEFAULT_RELEASE_BASE_URL,
): string {
  const asset = releaseAssetName(version, arch);
  const dir = installDirOf(installDir);
  const source = typeof release === "string" ? releaseSource(release) : releaseSource(release.baseUrl, release.sha256);
  const untrusted = unpinnedDownloadProblem(source, version, arch);
  if (untrusted) throw new Error(`cannot stage nats-server v${version}: ${untrusted}`);
  const pinned = pinnedSha256(source, version, arch);
  const releaseUrl = `${source.baseUrl}/v${version}`;
  const inner = `${releaseDirName(version, arch)}/nats-server`;
  // Exact file-name match (awk, not grep): a substring match would also pick `<asset>.sig`-style lines.
  const expected = pinned
    ? [
        `  # Pinned by the stack (releaseSha256): the mirror's own SHA256SUMS is not asked.`,
        `  printf '%s  %s\\n' ${shellQuote(pinned)} "$nats_asset" > "$nats_tmp/SHA256SUMS.asset"`,
      ]
    : [
        `  curl -fsSL --retry 3 --connect-timeout 10 --max-time 60 -o "$nats_tmp/SHA256SUMS" "$nats_url/SHA256SUMS" || nats_fail "download of $nats_url/SHA256SUMS failed"`,
        `  awk -v f="$nats_asset" '$2 == f || $2 == "*" f' "$nats_tmp/SHA256SUMS" > "$nats_tmp/SHA256SUMS.asset"`,
        `  [ -s "$nats_tmp/SHA256SUMS.asset" ] || nats_fail "no line for $nats_asset in $nats_url/SHA256SUMS"`,
      ];
  const per = pinned ? "the pinned SHA-256" : "$nats_url/SHA256SUMS";
  return [
    "set -eu",
    `# Stage nats-server v${version} (linux-${arch}) in ${dir}: verified against ${pinned ? "its pinned SHA-256" : "SHA256SUMS"}, not yet the active binary.`,
    `nats_ver=${shellQuote(version)}`,
    `nats_asset=${shellQuote(asset)}`,
    `nats_url=${shellQuote(releaseUrl)}`,
    `nats_dir=${shellQuote(dir)}`,
    `nats_fail() { echo "stage nats-server v$nats_ver: $*" >&2; exit 1; }`,
    `if [ ! -x "$nats_dir/nats-server-$nats_ver" ]; then`,
    `  nats_tmp="$(mktemp -d)"`,
    `  trap 'rm -rf "$nats_tmp"' EXIT`,
    `  curl -fsSL --retry 3 --connect-timeout 10 --max-time 300 -o "$nats_tmp/$nats_asset" "$nats_url/$nats_asset" || nats_fail "download of $nats_url/$nats_asset failed"`,
    ...expected,
    `  (cd "$nats_tmp" && sha256sum -c SHA256SUMS.asset) >&2 || nats_fail "checksum mismatch for $nats_url/$nats_asset (per ${per})"`,
    `  tar -xzf "$nats_tmp/$nats_asset" -C "$nats_tmp" || nats_fail "cannot extract $nats_asset"`,
    `  [ -f "$nats_tmp/${inner}" ] || nats_fail "$nats_asset does not contain ${inner}"`,
    `  mkdir -p "$nats_dir"`,
    `  nats_new="$nats_dir/.nats-server-$nats_ver.partial.$$"`,
    `  cp "$nats_tmp/${inner}" "$nats_new"`,
    `  chmod 0755 "$nats_new"`,
    // Run only after the checksum matched, and never as root: as the server's own user when there is one.
    `  if [ "$(id -u)" = 0 ] && id ${NATS_USER} >/dev/null 2>&1 && command -v runuser >/dev/null 2>&1; then nats_as="runuser -u ${NATS_USER} --"; else nats_as=""; fi`,
    `  $nats_as "$nats_new" --version >/dev/null 2>&1 || { rm -f "$nats_new"; nats_fail "the downloaded binary does not run on this host"; }`,
    `  mv -f "$nats_new" "$nats_dir/nats-server-$nats_ver"`,
    `fi`,
    `echo "staged=$nats_dir/nats-server-$nats_ver"`,
    "",
  ].join("\n");
}

/**
 * A POSIX shell snippet that makes a staged `version` the one `<installDir>/nats-server` points at: one rename(2)
 * over the old link, so readers see the old or the new target, never a missing file. No download: it fails at once
 * when the version was not staged.
 */
export function activateScriptFor(version: string, installDir: string): string {
  assertVersion(version);
  const dir = installDirOf(installDir);
  return [
    "set -eu",
    `nats_ver=${shellQuote(version)}`,
    `nats_dir=${shellQuote(dir)}`,
    `[ -x "$nats_dir/nats-server-$nats_ver" ] || { echo "nats-server v$nats_ver is not staged in $nats_dir: stage it first" >&2; exit 1; }`,
    `ln -sfn "$nats_dir/nats-server-$nats_ver" "$nats_dir/.nats-server.link.$$"`,
    `mv -f "$nats_dir/.nats-server.link.$$" "$nats_dir/nats-server"`,
    `echo "nats-server v$nats_ver installed: $nats_dir/nats-server -> $nats_dir/nats-server-$nats_ver"`,
    "",
  ].join("\n");
}

/** Stage and activate in one snippet: a first install (EC2 user data), where nothing runs yet. */
export function installScriptFor(
  version: string,
  arch: string,
  installDir: string,
  release: string | ReleaseSource = DEFAULT_RELEASE_BASE_URL,
): string {
  return [stageScriptFor(version, arch, installDir, release), activateScriptFor(version, installDir)].join("\n");
}

function installDirOf(installDir: string): string {
  if (!path.posix.isAbsolute(installDir)) {
    throw new Error(`installDir must be an absolute path, got ${JSON.stringify(installDir)}`);
  }
  return installDir.length > 1 ? installDir.replace(/\/+$/, "") : installDir;
}
