/**
 * Where nats-server binaries come from.
 *
 * `BinaryStore` gives the local engine (and the tests) an executable nats-server for a version: from the cache that
 * scripts/provision.sh fills (`<cacheDir>/v<version>/nats-server`), otherwise from the official GitHub release,
 * verified (engine/release.ts: its pin, or the release's SHA256SUMS over https) before anything touches the disk.
 * The same procedure for remote hosts, as shell snippets, is engine/hosts/systemd/install-scripts.ts.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { access, chmod, lstat, mkdir, mkdtemp, rename, rm, rmdir, stat, writeFile } from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import { promisify } from "node:util";
import {
  assertArch,
  assertVersion,
  checksumFor,
  pinnedSha256,
  ReleaseArch,
  releaseAssetName,
  releaseDirName,
  ReleasePins,
  ReleaseSource,
  releaseSource,
  unpinnedDownloadProblem,
} from "./release";
import { describeError } from "./util/async";

const execFileAsync = promisify(execFile);

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

/** {@link describeError}, with a failed command's stderr after the first line of its message (tar, curl). */
function errorText(error: unknown): string {
  const stderr = error instanceof Error ? (error as { stderr?: unknown }).stderr : undefined;
  return typeof stderr === "string" && stderr.trim() !== ""
    ? `${(error as Error).message.split("\n")[0]}: ${stderr.trim()}`
    : describeError(error);
}
