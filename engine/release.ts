/**
 * Where nats-server releases come from, and the one rule for trusting them: a tarball is checked against a SHA-256
 * before anything unpacks or runs it, and that SHA-256 must not come over the same forgeable channel as the tarball.
 * Over https (the official GitHub releases, or a mirror with a real certificate) the release's own SHA256SUMS will
 * do. Over plain http anyone on the path can swap the tarball and its SHA256SUMS together, and the binary then runs
 * on every host: there, the stack must pin each version's SHA-256 per architecture (`releaseSha256`), and nothing
 * is downloaded without one.
 */
import { Problem } from "./problem";
import { isVersion, versionProblem } from "./versions";

/** Where GitHub serves nats-server release assets (`<base>/v<version>/<asset>`). */
export const DEFAULT_RELEASE_BASE_URL = "https://github.com/nats-io/nats-server/releases/download";

/** Version → architecture → the lower-case hex SHA-256 of `nats-server-v<version>-linux-<arch>.tar.gz`. */
export type ReleasePins = Readonly<Record<string, Readonly<Record<string, string>>>>;

/** A release mirror and the checksums the stack pins for it. */
export interface ReleaseSource {
  /** `<base>/v<version>/<asset>` and `<base>/v<version>/SHA256SUMS` are served below it; no trailing slash. */
  readonly baseUrl: string;
  /** Pinned SHA-256s; a pinned version is checked against its pin (never against a downloaded SHA256SUMS). */
  readonly sha256?: ReleasePins;
}

/** A platform's settings fields, as they name them (`releaseBaseUrl`, `releaseSha256`). */
export const RELEASE_FIELDS = { baseUrl: "releaseBaseUrl", sha256: "releaseSha256" } as const;

const SHA256_HEX = /^[0-9a-f]{64}$/;
const ARCH = /^[a-z0-9_]+$/;

/** The source in effect: the official releases unless a mirror is set; trailing slashes dropped. */
export function releaseSource(baseUrl?: string, sha256?: ReleasePins): ReleaseSource {
  return { baseUrl: (baseUrl ?? DEFAULT_RELEASE_BASE_URL).replace(/\/+$/, ""), ...(sha256 ? { sha256 } : {}) };
}

/** The pinned SHA-256 of `version`'s linux-`arch` tarball, if the stack pins one. */
export function pinnedSha256(source: ReleaseSource, version: string, arch: string): string | undefined {
  return source.sha256?.[version]?.[arch];
}

/** Whether the mirror is reached over plain http (its SHA256SUMS proves nothing then). */
export function isPlainHttp(source: ReleaseSource): boolean {
  return /^http:\/\//i.test(source.baseUrl);
}

/**
 * Why `version` for linux-`arch` must not be downloaded from `source`: a plain-http mirror without a pin for it.
 * Undefined when it may (https, or pinned).
 */
export function unpinnedDownloadProblem(source: ReleaseSource, version: string, arch: string): string | undefined {
  if (!isPlainHttp(source) || pinnedSha256(source, version, arch) !== undefined) return undefined;
  return (
    `${RELEASE_FIELDS.baseUrl} ${source.baseUrl} is plain http and ${RELEASE_FIELDS.sha256} pins no SHA-256 for ` +
    `nats-server ${version} linux-${arch}: over http a tarball and its SHA256SUMS can be swapped together, so ` +
    `serve the mirror over https, or pin it: ${RELEASE_FIELDS.sha256}: { "${version}": { "${arch}": ` +
    `"<sha256sum of nats-server-v${version}-linux-${arch}.tar.gz>" } }`
  );
}

/** Every problem with a platform's `releaseBaseUrl` and `releaseSha256` settings, each naming its field. */
export function releaseSettingsProblems(baseUrl: unknown, sha256: unknown): Problem[] {
  const problems: Problem[] = [];
  if (baseUrl !== undefined && (typeof baseUrl !== "string" || !/^https?:\/\/[^\s'"]+$/i.test(baseUrl))) {
    problems.push({
      field: RELEASE_FIELDS.baseUrl,
      message:
        `${JSON.stringify(baseUrl)} is not an http(s) URL; write one such as https://mirror.example.com/nats-server ` +
        "(serving <base>/v<version>/<asset> and SHA256SUMS)",
    });
  }
  if (sha256 === undefined) return problems;
  const field = RELEASE_FIELDS.sha256;
  if (typeof sha256 !== "object" || sha256 === null || Array.isArray(sha256)) {
    problems.push({ field, message: 'must be a map { "<version>": { "<arch>": "<sha256 hex>" } }' });
    return problems;
  }
  for (const [version, byArch] of Object.entries(sha256)) {
    if (!isVersion(version)) {
      problems.push({
        field: `${field}.${version}`,
        message: `"${version}" is not a nats-server version such as 2.14.9`,
      });
      continue;
    }
    if (typeof byArch !== "object" || byArch === null || Array.isArray(byArch)) {
      problems.push({ field: `${field}.${version}`, message: 'must be a map { "amd64": "<sha256 hex>", … }' });
      continue;
    }
    for (const [arch, hex] of Object.entries(byArch as Record<string, unknown>)) {
      if (!ARCH.test(arch)) {
        problems.push({
          field: `${field}.${version}.${arch}`,
          message: `"${arch}" is not an architecture (amd64, arm64)`,
        });
      } else if (typeof hex !== "string" || !SHA256_HEX.test(hex)) {
        problems.push({
          field: `${field}.${version}.${arch}`,
          message: "is not a SHA-256: write the 64 lower-case hex digits sha256sum prints for the tarball",
        });
      }
    }
  }
  return problems;
}

/** The CPU architectures nats-server publishes linux release tarballs for that this project deploys to. */
export type ReleaseArch = "amd64" | "arm64";

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
export function releaseDirName(version: string, arch: string): string {
  return `nats-server-v${version}-linux-${arch}`;
}

export function assertArch(arch: string): void {
  // The arch ends up in file names, URLs and shell text: allow only what a Go GOARCH can look like.
  if (!/^[a-z0-9_]+$/.test(arch))
    throw new Error(`invalid architecture ${JSON.stringify(arch)}: expected a GOARCH such as amd64 or arm64`);
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
