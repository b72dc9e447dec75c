/**
 * Where nats-server binaries come from.
 *
 * `BinaryStore` gives the local engine (and the tests) an executable nats-server for a version: from the cache that
 * scripts/provision.sh fills (`<cacheDir>/v<version>/nats-server`), otherwise from the official GitHub release,
 * verified against the release's SHA256SUMS before anything touches the disk.
 * `installScriptFor` is the same procedure as a POSIX shell snippet, for hosts the engine reaches only through a
 * shell (EC2 user data, SSM commands).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { access, chmod, lstat, mkdir, mkdtemp, rename, rm, rmdir, stat, writeFile } from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import { promisify } from "node:util";
import { NATS_USER } from "./hosts/systemd/paths";
import {
  DEFAULT_RELEASE_BASE_URL,
  pinnedSha256,
  ReleasePins,
  ReleaseSource,
  releaseSource,
  unpinnedDownloadProblem,
} from "./release";
import { versionProblem } from "./versions";

export { DEFAULT_RELEASE_BASE_URL } from "./release";

const execFileAsync = promisify(execFile);

/** The CPU architectures nats-server publishes linux release tarballs for that this project deploys to. */
export type ReleaseArch = "amd64" | "arm64";

/** GitHub answers an asset download with one redirect (to its object storage); a few more is still sane. */
const MAX_REDIRECTS = 5;

/** Options of {@link BinaryStore}. */
export interface BinaryStoreOptions {
  /** The cache directory: binaries live at `<cacheDir>/v<version>/nats-server` (the layout provision.sh builds). */
  readonly cacheDir: string;
  /** Release download base URL; default {@link DEFAULT_RELEASE_BASE_URL}. Tests point it at a local server. */
  readonly releaseBaseUrl?: string;
  /** Pinned SHA-256s per version and arch (release.ts): required for every download from a plain-http mirror. */
  readonly releaseSha256?: ReleasePins;
  /** The CA (PEM) of an https mirror under a private CA; default the system's trusted CAs. */
  readonly trustedCaPem?: string;
  /** Which release tarball to fetch; default derived from `process.arch`. */
  readonly arch?: ReleaseArch;
  /** Progress lines (download started, verified, installed). Never carries secrets. */
  readonly onProgress?: (line: string) => void;
  /** Deadline for each download (redirects included); default 120000 ms. */
  readonly downloadTimeoutMs?: number;
}

/**
 * Whether a version can be had: cached here, listed by its release, not released, not known (no network), or not
 * to be downloaded from this mirror (plain http without a pinned SHA-256: release.ts).
 */
export interface VersionAvailability {
  readonly state: "cached" | "released" | "missing" | "unknown" | "untrusted";
  /** The cache path, the release URL asked, why it could not be asked, or what to pin. */
  readonly detail: string;
}

/** A failure to provide a nats-server binary; the message names the version, the URL and the problem. */
export class BinaryDownloadError extends Error {
  constructor(
    readonly version: string,
    readonly url: string,
    problem: string,
  ) {
    super(`nats-server v${version}: ${problem}`);
    this.name = "BinaryDownloadError";
  }
}

/** Throws unless `version` is a nats-server version (versions.ts owns the grammar): it goes into paths and URLs. */
export function assertVersion(version: string): void {
  const problem = versionProblem(version);
  if (problem) throw new Error(`invalid nats-server version: ${problem}`);
}

/** The release tarball's file name, e.g. `nats-server-v2.15.2-linux-amd64.tar.gz`. */
export function releaseAssetName(version: string, arch: string): string {
  assertVersion(version);
  assertArch(arch);
  return `nats-server-v${version}-linux-${arch}.tar.gz`;
}

/** The directory inside the release tarball that holds the binary. */
function releaseDirName(version: string, arch: string): string {
  return `nats-server-v${version}-linux-${arch}`;
}

function assertArch(arch: string): void {
  // The arch ends up in file names, URLs and shell text: allow only what a Go GOARCH can look like.
  if (!/^[a-z0-9_]+$/.test(arch))
    throw new Error(`invalid architecture ${JSON.stringify(arch)}: expected a GOARCH such as amd64 or arm64`);
}

/** Maps Node's `process.arch` to the release naming. */
function defaultArch(): ReleaseArch {
  if (process.arch === "x64") return "amd64";
  if (process.arch === "arm64") return "arm64";
  throw new Error(`no nats-server linux release for process.arch ${process.arch}: pass the arch option explicitly`);
}

/**
 * Resolves nats-server versions to executable files, downloading and verifying release tarballs on a cache miss.
 * A failed download leaves the cache directory exactly as it was: everything is fetched and checked in memory first,
 * then unpacked in a temporary directory inside the cache and renamed into place.
 */
export class BinaryStore {
  private readonly cacheDir: string;
  private readonly source: ReleaseSource;
  private readonly trustedCaPem?: string;
  private readonly arch: ReleaseArch;
  private readonly onProgress: (line: string) => void;
  private readonly downloadTimeoutMs: number;
  /** One resolution per version at a time, so concurrent callers share a single download. */
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(options: BinaryStoreOptions) {
    this.cacheDir = path.resolve(options.cacheDir);
    this.source = releaseSource(options.releaseBaseUrl, options.releaseSha256);
    this.trustedCaPem = options.trustedCaPem;
    this.arch = options.arch ?? defaultArch();
    assertArch(this.arch);
    this.onProgress = options.onProgress ?? (() => undefined);
    this.downloadTimeoutMs = options.downloadTimeoutMs ?? 120_000;
  }

  /** Where the binary for `version` lives in the cache (whether or not it is there yet). */
  binaryPath(version: string): string {
    assertVersion(version);
    return path.join(this.cacheDir, `v${version}`, "nats-server");
  }

  /** Whether the cache holds an executable binary for `version`. */
  async has(version: string): Promise<boolean> {
    const file = this.binaryPath(version);
    try {
      const info = await stat(file);
      if (!info.isFile()) return false;
      await access(file, fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Whether `version` can be had, without downloading it: in the cache, or listed in its release's SHA256SUMS
   * (a small file). `unknown` when the release server cannot be asked (no network): say so, never guess.
   */
  async availability(version: string, timeoutMs = 5000): Promise<VersionAvailability> {
    assertVersion(version);
    if (await this.has(version)) return { state: "cached", detail: this.binaryPath(version) };
    const untrusted = unpinnedDownloadProblem(this.source, version, this.arch);
    if (untrusted) return { state: "untrusted", detail: untrusted };
    const asset = releaseAssetName(version, this.arch);
    const sumsUrl = `${this.source.baseUrl}/v${version}/SHA256SUMS`;
    try {
      // Only whether the release lists the tarball: trust comes from the pin or https, never from this answer.
      const sums = await httpGet(sumsUrl, timeoutMs, this.trustedCaPem);
      return checksumFor(sums.toString("utf8"), asset) !== undefined
        ? { state: "released", detail: sumsUrl }
        : { state: "missing", detail: `${sumsUrl} lists no ${asset}` };
    } catch (error) {
      const text = errorText(error);
      return /\bHTTP 404\b/.test(text)
        ? { state: "missing", detail: `${sumsUrl}: no such release (HTTP 404)` }
        : { state: "unknown", detail: `${sumsUrl} could not be reached (${text})` };
    }
  }

  /** The absolute path of an executable nats-server for `version`, downloading it on a cache miss. */
  async resolve(version: string): Promise<string> {
    assertVersion(version);
    const pending = this.inflight.get(version);
    if (pending) return pending;
    const resolution = this.resolveUnshared(version).finally(() => this.inflight.delete(version));
    this.inflight.set(version, resolution);
    return resolution;
  }

  private async resolveUnshared(version: string): Promise<string> {
    if (await this.has(version)) return this.binaryPath(version);
    return this.download(version);
  }

  private async download(version: string): Promise<string> {
    const asset = releaseAssetName(version, this.arch);
    const releaseUrl = `${this.source.baseUrl}/v${version}`;
    const sumsUrl = `${releaseUrl}/SHA256SUMS`;
    const tarballUrl = `${releaseUrl}/${asset}`;
    const untrusted = unpinnedDownloadProblem(this.source, version, this.arch);
    if (untrusted) throw new BinaryDownloadError(version, tarballUrl, untrusted);

    const pinned = pinnedSha256(this.source, version, this.arch);
    const expected = pinned ?? (await this.checksumFromRelease(version, sumsUrl, asset));
    const per = pinned ? "the stack's releaseSha256 pin" : sumsUrl;

    this.onProgress(`nats-server v${version}: downloading ${tarballUrl}`);
    const tarball = await this.fetch(version, tarballUrl);
    const actual = createHash("sha256").update(tarball).digest("hex");
    if (actual !== expected) {
      throw new BinaryDownloadError(
        version,
        tarballUrl,
        `checksum mismatch for ${tarballUrl}: expected ${expected}, got ${actual} (per ${per})`,
      );
    }
    this.onProgress(`nats-server v${version}: ${tarball.length} bytes, sha256 ${actual} verified against ${per}`);

    const installed = await this.installVerified(version, asset, tarballUrl, tarball);
    this.onProgress(`nats-server v${version}: installed ${installed}`);
    return installed;
  }

  /** The tarball's SHA-256 from the release's SHA256SUMS (only over https: download() checked); small, so first. */
  private async checksumFromRelease(version: string, sumsUrl: string, asset: string): Promise<string> {
    this.onProgress(`nats-server v${version}: fetching ${sumsUrl}`);
    const sums = await this.fetch(version, sumsUrl);
    const expected = checksumFor(sums.toString("utf8"), asset);
    if (expected === undefined) throw new BinaryDownloadError(version, sumsUrl, `${sumsUrl} has no line for ${asset}`);
    return expected;
  }

  /** Unpacks a verified tarball next to the cache entry and renames the binary into place. */
  private async installVerified(version: string, asset: string, tarballUrl: string, tarball: Buffer): Promise<string> {
    const createdRoot = await mkdir(this.cacheDir, { recursive: true });
    // Inside cacheDir so the final rename stays on one file system (rename is only atomic there).
    const work = await mkdtemp(path.join(this.cacheDir, `.v${version}.partial-`));
    let succeeded = false;
    try {
      const tarPath = path.join(work, asset);
      await writeFile(tarPath, tarball);
      try {
        await execFileAsync("tar", ["-xzf", tarPath, "-C", work]);
      } catch (error) {
        throw new BinaryDownloadError(
          version,
          tarballUrl,
          `cannot extract ${asset} from ${tarballUrl}: ${errorText(error)}`,
        );
      }
      const inner = `${releaseDirName(version, this.arch)}/nats-server`;
      const extracted = path.join(work, inner);
      // lstat: a symlink in the tarball must not be followed out of the work directory.
      const info = await lstat(extracted).catch(() => undefined);
      if (!info?.isFile())
        throw new BinaryDownloadError(version, tarballUrl, `${asset} from ${tarballUrl} does not contain ${inner}`);
      await chmod(extracted, 0o755);

      const stage = path.join(work, "stage");
      await mkdir(stage);
      await rename(extracted, path.join(stage, "nats-server"));
      await this.moveIntoPlace(version, stage);
      succeeded = true;
      return this.binaryPath(version);
    } finally {
      await rm(work, { recursive: true, force: true });
      if (!succeeded && createdRoot !== undefined) await removeEmptyDirs(this.cacheDir, createdRoot);
    }
  }

  /** Renames the staged `v<version>` directory into the cache; if the directory already exists, renames just the file.
   * */
  private async moveIntoPlace(version: string, stage: string): Promise<void> {
    const finalDir = path.join(this.cacheDir, `v${version}`);
    try {
      await rename(stage, finalDir);
    } catch (error) {
      // The directory exists (a non-executable leftover, or another process won the race): replacing the file alone
      // is still a single atomic rename.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw error;
      await rename(path.join(stage, "nats-server"), path.join(finalDir, "nats-server"));
    }
  }

  private async fetch(version: string, url: string): Promise<Buffer> {
    try {
      return await httpGet(url, this.downloadTimeoutMs, this.trustedCaPem);
    } catch (error) {
      throw new BinaryDownloadError(version, url, `GET ${url} failed: ${errorText(error)}`);
    }
  }
}

/** The lower-case hex SHA-256 for `fileName` in a SHA256SUMS text (`<sha256>  <name>` or `<sha256> *<name>`). */
export function checksumFor(sumsText: string, fileName: string): string | undefined {
  for (const line of sumsText.split(/\r?\n/)) {
    const match = /^([0-9a-fA-F]{64})\s+\*?(?:\.\/)?(.+?)\s*$/.exec(line.trim());
    // Exact name match: a substring test would also accept `<asset>.sig` or `<asset>.sbom` lines.
    if (match && match[2] === fileName) return match[1].toLowerCase();
  }
  return undefined;
}

/** GET `url` into memory, following redirects; one deadline covers every hop. */
async function httpGet(url: string, timeoutMs: number, ca?: string): Promise<Buffer> {
  const deadline = Date.now() + timeoutMs;
  let current = new URL(url);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    let answer: HopAnswer;
    try {
      answer = await getOnce(current, deadline, timeoutMs, ca);
    } catch (error) {
      // After a redirect the failing URL is not the one the caller asked for: name both.
      if (hop === 0) throw error;
      throw new Error(`${errorText(error)} (at ${current.href}, redirected from ${url})`, { cause: error });
    }
    if (answer.kind === "body") return answer.body;
    const next = new URL(answer.location, current);
    // The checksum protects the tarball, but SHA256SUMS arrives over the same channel: never downgrade it to http.
    if (current.protocol === "https:" && next.protocol !== "https:") {
      throw new Error(`refusing redirect from ${current.href} to non-https ${next.href}`);
    }
    current = next;
  }
  throw new Error(`more than ${MAX_REDIRECTS} redirects (last to ${current.href})`);
}

type HopAnswer =
  { readonly kind: "body"; readonly body: Buffer } | { readonly kind: "redirect"; readonly location: string };

/** One HTTP(S) request: a 200 body, a redirect target, or an error naming the status or the timeout. */
function getOnce(url: URL, deadline: number, timeoutMs: number, ca?: string): Promise<HopAnswer> {
  return new Promise<HopAnswer>((resolve, reject) => {
    const client = url.protocol === "https:" ? https : url.protocol === "http:" ? http : undefined;
    if (!client) {
      reject(new Error(`unsupported protocol ${url.protocol} in ${url.href}`));
      return;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      reject(new Error(`timed out after ${timeoutMs}ms`));
      return;
    }
    // agent: false → `Connection: close`, so no pooled keep-alive socket outlives a one-off download.
    const request = client.get(
      url,
      { agent: false, ...(ca && url.protocol === "https:" ? { ca } : {}) },
      (response) => {
        const status = response.statusCode ?? 0;
        const location = response.headers.location;
        if ([301, 302, 303, 307, 308].includes(status) && location) {
          response.resume();
          settle(() => resolve({ kind: "redirect", location }));
          return;
        }
        if (status !== 200) {
          response.resume();
          settle(() => reject(new Error(`HTTP ${status} ${response.statusMessage ?? ""}`.trimEnd())));
          return;
        }
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => settle(() => resolve({ kind: "body", body: Buffer.concat(chunks) })));
        response.on("error", (error) => settle(() => reject(error)));
      },
    );
    let done = false;
    const timer = setTimeout(() => request.destroy(new Error(`timed out after ${timeoutMs}ms`)), remaining);
    request.on("error", (error) => settle(() => reject(error)));
    function settle(action: () => void): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      action();
    }
  });
}

/** After a failed first install: removes the directories `mkdir -p` created, innermost first, while they are empty. */
async function removeEmptyDirs(innermost: string, outermostCreated: string): Promise<void> {
  let dir = innermost;
  for (;;) {
    try {
      await rmdir(dir);
    } catch {
      return; // not empty (someone else uses it) or already gone: leave it
    }
    if (dir === outermostCreated) return;
    const parent = path.dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const stderr = (error as { stderr?: unknown }).stderr;
    return typeof stderr === "string" && stderr.trim() !== ""
      ? `${error.message.split("\n")[0]}: ${stderr.trim()}`
      : error.message;
  }
  return String(error);
}

/** Quotes a value for POSIX sh: single quotes, with embedded single quotes spliced in. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
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
