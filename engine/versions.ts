/**
 * nats-server version arithmetic and the downgrade rules the rollout enforces.
 * The storage-format boundaries come from the nats-server release notes (see shared/reference/nats-facts.md,
 * "Downgrade caveats"); the one-minor-line limit comes from the NATS support policy (current release and one prior).
 */

import * as semver from "semver";

/** A parsed nats-server version. */
export interface Version {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** Pre-release tag (`2.12.0-RC.1` → `RC.1`), as release candidates and dev builds report; undefined for releases. */
  readonly prerelease?: string;
}

/**
 * The one grammar of a nats-server version in this project: `MAJOR.MINOR.PATCH` with an optional pre-release tag
 * (`2.12.0-RC.1`), no leading "v" (paths and release URLs add it) and no build metadata.
 */
const VERSION = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

/** Why `text` is not a version, in words that say how to write it; undefined when it is one. */
export function versionProblem(text: unknown): string | undefined {
  if (typeof text !== "string" || text.length === 0) return "no nats-server version; set one such as 2.15.2";
  if (VERSION.test(text)) return undefined;
  if (/^v/.test(text) && VERSION.test(text.slice(1))) return `"${text}" is not a version; write ${text.slice(1)}`;
  return `"${text}" is not a version; write MAJOR.MINOR.PATCH such as 2.15.2`;
}

/** Whether `text` is a version (see {@link versionProblem}). */
export function isVersion(text: unknown): text is string {
  return versionProblem(text) === undefined;
}

/** Parse `2.15.2` (or `2.12.0-RC.1`). Throws with {@link versionProblem}'s words on anything else. */
export function parseVersion(text: string): Version {
  const m = VERSION.exec(text);
  if (!m) throw new Error(`not a nats-server version: ${versionProblem(text)}`);
  const [major, minor, patch] = [m[1], m[2], m[3]].map(Number);
  return m[4] === undefined ? { major, minor, patch } : { major, minor, patch, prerelease: m[4] };
}

/**
 * Negative when a < b, 0 when equal, positive when a > b, by semver precedence: a pre-release sorts before its
 * release, and numeric identifiers compare as numbers (`2.12.0-RC.9` < `2.12.0-RC.10`).
 */
export function compareVersions(a: string, b: string): number {
  parseVersion(a);
  parseVersion(b);
  return semver.compare(a, b);
}

/**
 * A storage-format boundary between minor lines of major version 2: it applies to a downgrade from a version in line
 * `fromMinor` or newer to one in line `toMinor` or older.
 */
interface Boundary {
  readonly fromMinor: number;
  readonly toMinor: number;
  /** The oldest target that reads the newer format; undefined when no target below the boundary is safe. */
  readonly minTarget?: string;
  readonly reason: string;
}

const BOUNDARIES: ReadonlyArray<Boundary> = [
  {
    fromMinor: 10,
    toMinor: 9,
    minTarget: "2.9.22",
    reason: "2.9 reads the stream state 2.10 writes only from 2.9.22 on; downgrade to 2.9.22 or later",
  },
  {
    fromMinor: 11,
    toMinor: 10,
    reason:
      "2.10 cannot read the stream state 2.11 writes and rebuilds every stream from its message blocks on first start " +
      "(slow, and a replica rebuilding is not current); stay on 2.11 or restore 2.10 data from a backup",
  },
  {
    fromMinor: 12,
    toMinor: 11,
    minTarget: "2.11.9",
    reason: "2.11 reads the stream state 2.12 writes only from 2.11.9 on; downgrade to 2.11.9 or later",
  },
  {
    fromMinor: 14,
    toMinor: 12,
    reason:
      "a downgrade from 2.14 to 2.12 or older skips 2.13 and breaks assets that use 2.14 features: remove " +
      "feature_flags first and check `nats server report downgrade <api level>`, then downgrade one line at a time",
  },
];

/**
 * Why the downgrade `from` → `to` is unsafe, or undefined when it is fine (an upgrade, a patch downgrade within one
 * minor line, or a one-line downgrade that crosses no known storage-format boundary, e.g. 2.15.2 → 2.14.9).
 * Several reasons are joined with "; ".
 */
export function downgradeProblem(from: string, to: string): string | undefined {
  if (compareVersions(to, from) >= 0) return undefined;
  const a = parseVersion(from);
  const b = parseVersion(to);
  if (a.major !== b.major) {
    return `downgrade ${from} → ${to} crosses major versions (${a.major} → ${b.major}); nats-server supports no such downgrade`;
  }
  if (a.minor === b.minor) return undefined;

  const reasons: string[] = [];
  if (a.major === 2) {
    for (const boundary of BOUNDARIES) {
      const crosses = a.minor >= boundary.fromMinor && b.minor <= boundary.toMinor;
      const targetTooOld = boundary.minTarget === undefined || compareVersions(to, boundary.minTarget) < 0;
      if (crosses && targetTooOld) reasons.push(boundary.reason);
    }
  }
  if (a.minor - b.minor > 1) {
    reasons.push(
      `it goes back ${a.minor - b.minor} minor lines, and the NATS support policy covers only the current release ` +
        `and one prior; downgrade one minor line at a time (to ${a.major}.${a.minor - 1}.x first)`,
    );
  }
  return reasons.length === 0 ? undefined : `downgrade ${from} → ${to} is unsafe: ${reasons.join("; ")}`;
}
