/**
 * A local stand-in for the nats-server GitHub release downloads: serves `<base>/v<version>/<asset>` and
 * `<base>/v<version>/SHA256SUMS` for release-shaped tarballs built at test time. The "binary" inside is a tiny shell
 * script answering `--version` like nats-server, which is all the install snippet runs; no real binary is copied.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";

export const sha256Hex = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");

/** `nats-server-v<version>-linux-<arch>.tar.gz` holding `nats-server-v<version>-linux-<arch>/nats-server`. */
export function buildFakeReleaseTarball(version: string, arch = "amd64"): { name: string; body: Buffer } {
  const work = mkdtempSync(path.join(tmpdir(), "fake-release-"));
  try {
    const dirName = `nats-server-v${version}-linux-${arch}`;
    mkdirSync(path.join(work, dirName));
    const binary = path.join(work, dirName, "nats-server");
    writeFileSync(binary, `#!/bin/sh\necho "nats-server: v${version}"\n`);
    chmodSync(binary, 0o755);
    const name = `${dirName}.tar.gz`;
    execFileSync("tar", ["-czf", path.join(work, name), "-C", work, dirName]);
    return { name, body: readFileSync(path.join(work, name)) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export class FakeReleaseServer {
  readonly requests: string[] = [];
  /**
   * What a stack's `releaseSha256` would pin for the published releases (the hash their SHA256SUMS lists): this
   * server is plain http, and only pinned versions are downloaded from such a mirror (engine/release.ts).
   */
  readonly pins: Record<string, Record<string, string>> = {};
  private readonly files = new Map<string, Buffer>();
  private readonly server = http.createServer((req, res) => {
    const url = req.url ?? "";
    this.requests.push(url);
    const body = this.files.get(url);
    if (body) res.writeHead(200, { "content-length": body.length }).end(body);
    else res.writeHead(404).end("Not Found");
  });

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
  }

  /** What `releaseBaseUrl` should be: `<base>/v<version>/<asset>` is served below it. */
  get base(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/releases/download`;
  }

  /**
   * Publishes a release. `checksum: "wrong"` lists a hash that does not match the tarball (a tampered download or a
   * tampered SHA256SUMS: either way the check must fail).
   */
  publish(version: string, options: { arch?: string; checksum?: "right" | "wrong" } = {}): void {
    const tarball = buildFakeReleaseTarball(version, options.arch);
    const hash = options.checksum === "wrong" ? sha256Hex(`not ${tarball.name}`) : sha256Hex(tarball.body);
    const prefix = `/releases/download/v${version}`;
    (this.pins[version] ??= {})[options.arch ?? "amd64"] = hash;
    this.files.set(`${prefix}/${tarball.name}`, tarball.body);
    this.files.set(`${prefix}/SHA256SUMS`, Buffer.from(`${hash}  ${tarball.name}\n`));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
