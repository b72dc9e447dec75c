/**
 * BinaryStore and installScriptFor against local release mirrors that serve release-shaped assets built at test time
 * from a real cached nats-server binary (renamed to the fake version 9.9.9, so nothing can come from a real cache):
 * an https mirror under a test CA (its SHA256SUMS is trusted) and the same files over plain http (trusted only with
 * the stack's pinned SHA-256s: engine/release.ts).
 *
 * Fake versions, one scenario each:
 *   9.9.9 good release (tarball and SHA256SUMS both behind redirects)   9.9.3 good release, served directly
 *   9.9.8 SHA256SUMS with the wrong hash          9.9.7 SHA256SUMS without a line for the asset
 *   9.9.6 nothing (404)                            9.9.5 SHA256SUMS never answers (timeout)
 *   9.9.2 SHA256SUMS sends headers and a few bytes, then stalls (timeout mid-body)
 *   9.9.4 correct checksum, but the tarball holds 9.9.9's directory, not 9.9.4's
 */
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { lstat, mkdtemp, readdir, readlink, rm } from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import { AddressInfo } from "node:net";
import { homedir, tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { BinaryDownloadError, BinaryStore } from "../engine/binaries";
import { installScriptFor, stageScriptFor } from "../engine/hosts/systemd/install-scripts";
import { checksumFor, releaseAssetName, ReleasePins, releaseSettingsProblems } from "../engine/release";
import { makeTestCa, TestCa } from "./support/certificates";

const execFileAsync = promisify(execFile);

/** The pinned nats-server versions from versions.env (the single source of truth for tool versions). */
function pinnedVersions(): string[] {
  const text = readFileSync(path.join(__dirname, "..", "versions.env"), "utf8");
  const match = /^NATS_SERVER_VERSIONS="([^"]*)"/m.exec(text);
  if (!match) throw new Error("versions.env has no NATS_SERVER_VERSIONS line");
  return match[1].trim().split(/\s+/);
}

const REAL_CACHE = process.env.NATS_SERVER_BIN_CACHE ?? path.join(homedir(), ".cache", "nats-cluster", "nats-server");
const PINNED = pinnedVersions();
const REAL_VERSION = PINNED[PINNED.length - 1];
const sha256 = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");

type Route =
  | { readonly kind: "body"; readonly body: Buffer }
  | { readonly kind: "redirect"; readonly status: number; readonly to: string }
  | { readonly kind: "hang" }
  | { readonly kind: "stall" };

/** The fake release server (https with `tls`, else http): fixed routes, everything else 404; records requests. */
class ReleaseServer {
  readonly requests: string[] = [];
  readonly routes = new Map<string, Route>();
  private server!: http.Server;

  async start(tls?: { certPem: string; keyPem: string }): Promise<void> {
    const answer = (req: http.IncomingMessage, res: http.ServerResponse) => this.answer(req, res);
    this.server = tls ? https.createServer({ cert: tls.certPem, key: tls.keyPem }, answer) : http.createServer(answer);
    this.scheme = tls ? "https" : "http";
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
  }

  private scheme = "http";

  get origin(): string {
    return `${this.scheme}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get base(): string {
    return `${this.origin}/releases/download`;
  }

  count(predicate: (requestPath: string) => boolean = () => true): number {
    return this.requests.filter(predicate).length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const requestPath = req.url ?? "";
    this.requests.push(requestPath);
    const route = this.routes.get(requestPath);
    if (!route) {
      res.writeHead(404, { "content-type": "text/plain" }).end("Not Found");
    } else if (route.kind === "redirect") {
      res.writeHead(route.status, { location: route.to }).end();
    } else if (route.kind === "body") {
      res
        .writeHead(200, { "content-type": "application/octet-stream", "content-length": route.body.length })
        .end(route.body);
    } else if (route.kind === "stall") {
      // Promise 1000 bytes, send 10: the client has the headers and then waits forever.
      res.writeHead(200, { "content-length": 1000 });
      res.write("0123456789");
    }
    // "hang": never answer; the client's timeout has to end it (closeAllConnections cleans up).
  }
}

/** The https mirror (SHA256SUMS trusted) and the plain-http one with the same releases (pins needed). */
const releases = new ReleaseServer();
const plain = new ReleaseServer();
let ca: TestCa;
/** The test CA's certificate as a file, for curl (CURL_CA_BUNDLE). */
let caFile: string;
let fixtureDir: string;
/** 9.9.9's tarball; the failing fake versions serve it too (only its checksum or directory name matters there). */
let tarball: Buffer;
/** Temp dirs the tests create, removed in afterAll (each holds copies of a ~20 MB binary). */
const scratch: string[] = [];
const asset = (version: string): string => releaseAssetName(version, "amd64");

/** Builds a release-shaped tarball for a fake version around a copy of the real newest pinned binary. */
function buildTarball(version: string): Buffer {
  const name = `nats-server-v${version}-linux-amd64`;
  const dir = path.join(fixtureDir, name);
  mkdirSync(dir, { recursive: true });
  copyFileSync(path.join(REAL_CACHE, `v${REAL_VERSION}`, "nats-server"), path.join(dir, "nats-server"));
  writeFileSync(path.join(dir, "README.md"), "test fixture\n");
  const out = path.join(fixtureDir, asset(version));
  execFileSync("tar", ["-czf", out, "-C", fixtureDir, name]);
  return readFileSync(out);
}

function serveRelease(version: string, sums: string, via: "direct" | "redirect", body: Buffer = tarball): void {
  for (const mirror of [releases, plain]) serveReleaseOn(mirror, version, sums, via, body);
}

function serveReleaseOn(
  releases: ReleaseServer,
  version: string,
  sums: string,
  via: "direct" | "redirect",
  body: Buffer,
): void {
  const prefix = `/releases/download/v${version}`;
  releases.routes.set(`/objects/v${version}/${asset(version)}`, { kind: "body", body });
  releases.routes.set(`/objects/v${version}/SHA256SUMS`, { kind: "body", body: Buffer.from(sums) });
  if (via === "redirect") {
    // GitHub redirects release assets to its object storage: one absolute and one relative Location header.
    releases.routes.set(`${prefix}/${asset(version)}`, {
      kind: "redirect",
      status: 302,
      to: `${releases.origin}/objects/v${version}/${asset(version)}`,
    });
    releases.routes.set(`${prefix}/SHA256SUMS`, {
      kind: "redirect",
      status: 301,
      to: `/objects/v${version}/SHA256SUMS`,
    });
  } else {
    releases.routes.set(`${prefix}/${asset(version)}`, { kind: "body", body });
    releases.routes.set(`${prefix}/SHA256SUMS`, { kind: "body", body: Buffer.from(sums) });
  }
}

beforeAll(async () => {
  fixtureDir = mkdtempSync(path.join(tmpdir(), "binaries-fixture-"));
  tarball = buildTarball("9.9.9");
  const tarball993 = buildTarball("9.9.3");
  ca = makeTestCa("release-mirror-ca");
  caFile = path.join(fixtureDir, "mirror-ca.pem");
  writeFileSync(caFile, ca.caPem);
  await releases.start(ca.issue({ hosts: ["127.0.0.1"] }));
  await plain.start();
  const good = sha256(tarball);
  const other = sha256("something else");
  serveRelease("9.9.9", `${other}  ${releaseAssetName("9.9.9", "arm64")}\n${good}  ${asset("9.9.9")}\n`, "redirect");
  serveRelease("9.9.3", `${sha256(tarball993)}  ${asset("9.9.3")}\n`, "direct", tarball993);
  serveRelease("9.9.8", `${other}  ${asset("9.9.8")}\n`, "direct");
  // Near-miss names must not count as the asset's line.
  serveRelease("9.9.7", `${good}  ${releaseAssetName("9.9.7", "arm64")}\n${good}  ${asset("9.9.7")}.sbom\n`, "direct");
  releases.routes.set("/releases/download/v9.9.5/SHA256SUMS", { kind: "hang" });
  releases.routes.set("/releases/download/v9.9.2/SHA256SUMS", { kind: "stall" });
  pins = { "9.9.9": { amd64: good, arm64: other }, "9.9.3": { amd64: sha256(tarball993) }, "9.9.8": { amd64: other } };
  serveRelease("9.9.4", `${good} *${asset("9.9.4")}\n`, "direct");
});

afterAll(async () => {
  await releases.close();
  await plain.close();
  ca?.dispose();
  await rm(fixtureDir, { recursive: true, force: true });
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Every path under `dir` (relative, sorted), to prove a failure changed nothing. */
async function snapshot(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map(String).sort();
}

async function freshCache(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "binaries-cache-"));
  scratch.push(dir);
  return dir;
}

function store(cacheDir: string, extra: Partial<ConstructorParameters<typeof BinaryStore>[0]> = {}): BinaryStore {
  return new BinaryStore({ cacheDir, releaseBaseUrl: releases.base, trustedCaPem: ca.caPem, arch: "amd64", ...extra });
}

/** SHA-256 pins of the good fake releases (9.9.8's is wrong on purpose), as a stack's releaseSha256 would be. */
let pins: ReleasePins;

describe("releaseAssetName and checksumFor", () => {
  it("names the linux tarball per version and arch", () => {
    expect(releaseAssetName("2.15.2", "amd64")).toBe("nats-server-v2.15.2-linux-amd64.tar.gz");
    expect(releaseAssetName("2.14.9", "arm64")).toBe("nats-server-v2.14.9-linux-arm64.tar.gz");
  });

  it("finds only the exact file name, in text or binary mode", () => {
    const hash = "a".repeat(64);
    expect(checksumFor(`${hash}  x.tar.gz.sig\n${hash.toUpperCase()} *x.tar.gz\n`, "x.tar.gz")).toBe(hash);
    expect(checksumFor(`${hash}  x.tar.gz.sig\n`, "x.tar.gz")).toBeUndefined();
  });
});

describe("BinaryStore", () => {
  it("downloads through redirects, verifies, caches, and the binary runs", async () => {
    const cacheDir = await freshCache();
    const progress: string[] = [];
    const before = releases.count();
    const binary = await store(cacheDir, { onProgress: (line) => progress.push(line) }).resolve("9.9.9");

    expect(binary).toBe(path.join(cacheDir, "v9.9.9", "nats-server"));
    expect(path.isAbsolute(binary)).toBe(true);
    const { stdout } = await execFileAsync(binary, ["--version"]);
    expect(stdout).toContain(`v${REAL_VERSION}`);
    // Both assets went through their redirect: 2 redirects + 2 bodies.
    expect(releases.requests.slice(before)).toEqual([
      "/releases/download/v9.9.9/SHA256SUMS",
      "/objects/v9.9.9/SHA256SUMS",
      `/releases/download/v9.9.9/${asset("9.9.9")}`,
      `/objects/v9.9.9/${asset("9.9.9")}`,
    ]);
    expect(await snapshot(cacheDir)).toEqual(["v9.9.9", path.join("v9.9.9", "nats-server")]);
    expect(progress.some((line) => line.includes("verified"))).toBe(true);

    // A second store on the same cache (a new process, in effect) makes no request.
    const afterFirst = releases.count();
    const second = store(cacheDir);
    expect(await second.has("9.9.9")).toBe(true);
    expect(await second.resolve("9.9.9")).toBe(binary);
    expect(releases.count()).toBe(afterFirst);
  });

  it("replaces a non-executable leftover in the version's directory", async () => {
    const cacheDir = await freshCache();
    mkdirSync(path.join(cacheDir, "v9.9.9"));
    writeFileSync(path.join(cacheDir, "v9.9.9", "nats-server"), "not a binary", { mode: 0o644 });
    const binaries = store(cacheDir);
    expect(await binaries.has("9.9.9")).toBe(false);
    const binary = await binaries.resolve("9.9.9");
    const { stdout } = await execFileAsync(binary, ["--version"]);
    expect(stdout).toContain(`v${REAL_VERSION}`);
    expect(await snapshot(cacheDir)).toEqual(["v9.9.9", path.join("v9.9.9", "nats-server")]);
  });

  it("shares one download between concurrent resolves of a version", async () => {
    const cacheDir = await freshCache();
    const binaries = store(cacheDir);
    const tarballRequests = (): number => releases.count((p) => p === `/objects/v9.9.9/${asset("9.9.9")}`);
    const before = tarballRequests();
    const [a, b, c] = await Promise.all([
      binaries.resolve("9.9.9"),
      binaries.resolve("9.9.9"),
      binaries.resolve("9.9.9"),
    ]);
    expect(new Set([a, b, c]).size).toBe(1);
    expect(tarballRequests() - before).toBe(1);
  });

  it("rejects a checksum mismatch, naming version, URL and both hashes, and leaves the cache untouched", async () => {
    const cacheDir = await freshCache();
    const binaries = store(cacheDir);
    const before = await snapshot(cacheDir);
    const error = await binaries.resolve("9.9.8").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BinaryDownloadError);
    const message = (error as Error).message;
    expect(message).toContain("v9.9.8");
    expect(message).toContain(`${releases.base}/v9.9.8/${asset("9.9.8")}`);
    expect(message).toContain(`expected ${sha256("something else")}, got ${sha256(tarball)}`);
    expect(await snapshot(cacheDir)).toEqual(before);
    expect(await binaries.has("9.9.8")).toBe(false);
  });

  it("rejects a SHA256SUMS without a line for the tarball", async () => {
    const cacheDir = await freshCache();
    const error = await store(cacheDir)
      .resolve("9.9.7")
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      `nats-server v9.9.7: ${releases.base}/v9.9.7/SHA256SUMS has no line for ${asset("9.9.7")}`,
    );
    expect(await snapshot(cacheDir)).toEqual([]);
    // It stopped before the tarball download.
    expect(releases.count((p) => p === `/releases/download/v9.9.7/${asset("9.9.7")}`)).toBe(0);
  });

  it("reports an HTTP 404 with the URL", async () => {
    const cacheDir = await freshCache();
    await expect(store(cacheDir).resolve("9.9.6")).rejects.toThrow(
      `nats-server v9.9.6: GET ${releases.base}/v9.9.6/SHA256SUMS failed: HTTP 404 Not Found`,
    );
    expect(await snapshot(cacheDir)).toEqual([]);
  });

  it("times out a server that never answers", async () => {
    const cacheDir = await freshCache();
    await expect(store(cacheDir, { downloadTimeoutMs: 300 }).resolve("9.9.5")).rejects.toThrow(
      `nats-server v9.9.5: GET ${releases.base}/v9.9.5/SHA256SUMS failed: timed out after 300ms`,
    );
    expect(await snapshot(cacheDir)).toEqual([]);
  });

  it("times out a download that stalls mid-body", async () => {
    const cacheDir = await freshCache();
    await expect(store(cacheDir, { downloadTimeoutMs: 300 }).resolve("9.9.2")).rejects.toThrow(
      `nats-server v9.9.2: GET ${releases.base}/v9.9.2/SHA256SUMS failed: timed out after 300ms`,
    );
    expect(await snapshot(cacheDir)).toEqual([]);
  });

  it("rejects a verified tarball without the expected binary, removing its temp dir and the cache dir it created", async () => {
    const parent = await freshCache();
    const cacheDir = path.join(parent, "not", "yet");
    await expect(store(cacheDir).resolve("9.9.4")).rejects.toThrow(
      `nats-server v9.9.4: ${asset("9.9.4")} from ${releases.base}/v9.9.4/${asset("9.9.4")} does not contain nats-server-v9.9.4-linux-amd64/nats-server`,
    );
    expect(await snapshot(parent)).toEqual([]);
  });

  it("rejects malformed versions before any request", async () => {
    const cacheDir = await freshCache();
    const before = releases.count();
    // A pre-release (2.12.0-RC.1) is a version (release candidates are published the same way); these are not.
    for (const bad of ["v2.15.2", "2.15", "2.15.2+build.1", "02.15.2", "../2.15.2", ""]) {
      await expect(store(cacheDir).resolve(bad)).rejects.toThrow(/invalid nats-server version/);
    }
    await expect(store(cacheDir).has("latest")).rejects.toThrow(/invalid nats-server version/);
    expect(() => releaseAssetName("2.15", "amd64")).toThrow(/invalid nats-server version/);
    expect(releases.count()).toBe(before);
  });

  it("resolves the real pinned versions from the provisioned cache without downloading", async () => {
    const before = releases.count();
    const binaries = store(REAL_CACHE);
    for (const version of PINNED) {
      const binary = await binaries.resolve(version);
      expect(binary).toBe(path.join(path.resolve(REAL_CACHE), `v${version}`, "nats-server"));
      const { stdout } = await execFileAsync(binary, ["--version"]);
      expect(stdout.trim()).toBe(`nats-server: v${version}`);
    }
    expect(releases.count()).toBe(before);
  });
});

describe("BinaryStore from a plain-http mirror", () => {
  const plainStore = (cacheDir: string, sha256?: ReleasePins) =>
    new BinaryStore({ cacheDir, releaseBaseUrl: plain.base, releaseSha256: sha256, arch: "amd64" });

  it("refuses a version without a pinned SHA-256 before any request, naming what to pin", async () => {
    const cacheDir = await freshCache();
    const before = plain.count();
    const error = await plainStore(cacheDir, pins)
      .resolve("9.9.7")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BinaryDownloadError);
    expect((error as Error).message).toContain(
      `releaseBaseUrl ${plain.base} is plain http and releaseSha256 pins no SHA-256 for nats-server 9.9.7 linux-amd64`,
    );
    expect((error as Error).message).toContain('releaseSha256: { "9.9.7": { "amd64": "<sha256sum of');
    const availability = await plainStore(cacheDir).availability("9.9.9");
    expect(availability.state).toBe("untrusted");
    expect(plain.count()).toBe(before);
    expect(await snapshot(cacheDir)).toEqual([]);
  });

  it("downloads a pinned version and checks it against the pin, never asking the mirror's SHA256SUMS", async () => {
    const cacheDir = await freshCache();
    const progress: string[] = [];
    const binaries = new BinaryStore({
      cacheDir,
      releaseBaseUrl: plain.base,
      releaseSha256: pins,
      arch: "amd64",
      onProgress: (line) => progress.push(line),
    });
    const before = plain.count();
    const binary = await binaries.resolve("9.9.9");
    const { stdout } = await execFileAsync(binary, ["--version"]);
    expect(stdout).toContain(`v${REAL_VERSION}`);
    expect(plain.requests.slice(before)).toEqual([
      `/releases/download/v9.9.9/${asset("9.9.9")}`,
      `/objects/v9.9.9/${asset("9.9.9")}`,
    ]);
    expect(progress.some((line) => line.includes("verified against the stack's releaseSha256 pin"))).toBe(true);
  });

  it("rejects a tarball that does not match its pin, and caches nothing", async () => {
    const cacheDir = await freshCache();
    const error = await plainStore(cacheDir, pins)
      .resolve("9.9.8")
      .catch((e: unknown) => e);
    expect((error as Error).message).toContain(
      `expected ${sha256("something else")}, got ${sha256(tarball)} (per the stack's releaseSha256 pin)`,
    );
    expect(await snapshot(cacheDir)).toEqual([]);
  });

  it("validates the pins' shape, naming the field", () => {
    expect(releaseSettingsProblems("http://mirror/nats", { "9.9.9": { amd64: sha256("x") } })).toEqual([]);
    expect(releaseSettingsProblems("ftp://mirror", undefined).map((p) => p.field)).toEqual(["releaseBaseUrl"]);
    expect(
      releaseSettingsProblems(undefined, {
        "2.15": { amd64: sha256("x") },
        "9.9.9": { amd64: "abc", "x86-64": sha256("x") },
        "9.9.8": "deadbeef",
      }).map((p) => `${p.field}: ${p.message}`),
    ).toEqual([
      'releaseSha256.2.15: "2.15" is not a nats-server version such as 2.14.9',
      "releaseSha256.9.9.9.amd64: is not a SHA-256: write the 64 lower-case hex digits sha256sum prints for the tarball",
      'releaseSha256.9.9.9.x86-64: "x86-64" is not an architecture (amd64, arm64)',
      'releaseSha256.9.9.8: must be a map { "amd64": "<sha256 hex>", … }',
    ]);
    const pinned = stageScriptFor("9.9.9", "amd64", "/opt/nats", { baseUrl: "http://m", sha256: pins });
    expect(pinned).not.toContain('"$nats_url/SHA256SUMS"');
    expect(pinned).toContain(`printf '%s  %s\\n' '${pins["9.9.9"].amd64}' "$nats_asset"`);
  });
});

describe("installScriptFor", () => {
  // curl must reach 127.0.0.1 directly even where a proxy is configured, and trust the test mirror's CA.
  const env = () => ({
    ...process.env,
    no_proxy: "127.0.0.1,localhost",
    NO_PROXY: "127.0.0.1,localhost",
    CURL_CA_BUNDLE: caFile,
  });
  const run = (script: string): Promise<{ stdout: string; stderr: string }> =>
    execFileAsync("sh", ["-c", script], { env: env() });
  const failure = (script: string): Promise<{ code: number; stderr: string }> =>
    run(script).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );

  it("installs, verifies and switches the symlink; a tampered or incomplete SHA256SUMS fails and keeps it", async () => {
    const installDir = path.join(await freshCache(), "opt", "nats");
    const link = path.join(installDir, "nats-server");

    await run(installScriptFor("9.9.9", "amd64", installDir, releases.base));
    expect(await readlink(link)).toBe(path.join(installDir, "nats-server-9.9.9"));
    const { stdout } = await execFileAsync(link, ["--version"]);
    expect(stdout).toContain(`v${REAL_VERSION}`);

    // An upgrade: the link moves to the new version, the old binary stays for a rollback.
    await run(installScriptFor("9.9.3", "amd64", installDir, releases.base));
    expect(await readlink(link)).toBe(path.join(installDir, "nats-server-9.9.3"));
    await run(installScriptFor("9.9.9", "amd64", installDir, releases.base));
    expect(await readlink(link)).toBe(path.join(installDir, "nats-server-9.9.9"));

    const tampered = await failure(installScriptFor("9.9.8", "amd64", installDir, releases.base));
    expect(tampered.code).not.toBe(0);
    expect(tampered.stderr).toContain(
      `stage nats-server v9.9.8: checksum mismatch for ${releases.base}/v9.9.8/${asset("9.9.8")}`,
    );

    const noLine = await failure(installScriptFor("9.9.7", "amd64", installDir, releases.base));
    expect(noLine.code).not.toBe(0);
    expect(noLine.stderr).toContain(`no line for ${asset("9.9.7")}`);

    const missing = await failure(installScriptFor("9.9.6", "amd64", installDir, releases.base));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("download of");

    // The link still points at the verified version and nothing half-written is left.
    expect(await readlink(link)).toBe(path.join(installDir, "nats-server-9.9.9"));
    expect((await readdir(installDir)).sort()).toEqual(["nats-server", "nats-server-9.9.3", "nats-server-9.9.9"]);

    // A re-run for the installed version downloads nothing and leaves the link as it is.
    const before = releases.count();
    await run(installScriptFor("9.9.9", "amd64", installDir, releases.base));
    expect(releases.count()).toBe(before);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe(path.join(installDir, "nats-server-9.9.9"));
  });

  it("from a plain-http mirror: verifies against the pinned SHA-256 (never the mirror's SHA256SUMS), else refuses", async () => {
    const installDir = path.join(await freshCache(), "opt", "nats");
    const link = path.join(installDir, "nats-server");
    const source = { baseUrl: plain.base, sha256: pins };

    // No pin for this version: no script at all, and the message says what to pin.
    expect(() => installScriptFor("9.9.7", "amd64", installDir, source)).toThrow(
      `cannot stage nats-server v9.9.7: releaseBaseUrl ${plain.base} is plain http and releaseSha256 pins no ` +
        "SHA-256 for nats-server 9.9.7 linux-amd64",
    );
    expect(() => installScriptFor("9.9.9", "amd64", installDir, plain.base)).toThrow(/pins no SHA-256/);

    const before = plain.count();
    await run(installScriptFor("9.9.9", "amd64", installDir, source));
    expect(await readlink(link)).toBe(path.join(installDir, "nats-server-9.9.9"));
    expect(plain.requests.slice(before)).toEqual([
      `/releases/download/v9.9.9/${asset("9.9.9")}`,
      `/objects/v9.9.9/${asset("9.9.9")}`,
    ]);

    // 9.9.8's mirror SHA256SUMS and its pin are both wrong: the pin decides, and the link stays.
    const tampered = await failure(installScriptFor("9.9.8", "amd64", installDir, source));
    expect(tampered.code).not.toBe(0);
    expect(tampered.stderr).toContain(`checksum mismatch for ${plain.base}/v9.9.8/${asset("9.9.8")} (per the pinned`);
    expect(await readlink(link)).toBe(path.join(installDir, "nats-server-9.9.9"));
    expect(plain.count((p) => p.endsWith("SHA256SUMS"))).toBe(0);
  });

  it("quotes its inputs and refuses a relative install dir", () => {
    const script = installScriptFor("2.15.2", "arm64", "/opt/it's here/");
    expect(script.startsWith("set -eu\n")).toBe(true);
    expect(script).toContain(`nats_dir='/opt/it'\\''s here'`);
    expect(script).toContain("nats_url='https://github.com/nats-io/nats-server/releases/download/v2.15.2'");
    expect(() => installScriptFor("2.15.2", "amd64", "opt/nats")).toThrow(/absolute/);
    expect(() => installScriptFor("2.15.2", "amd64;rm", "/opt")).toThrow(/invalid architecture/);
  });
});
