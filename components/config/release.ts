/**
 * The release settings every platform shares, as stack config: `<platform>.releaseBaseUrl` (a mirror) and
 * `<platform>.releaseSha256` (pins per version and architecture). The rule they must meet lives in
 * engine/release.ts; this only reads them and names the stack config key in each problem.
 */
import { ReleasePins, releaseSettingsProblems } from "../../engine/release";
import { Obj, Problems, readString } from "./values";

/** The release settings as the platform's engine settings take them. */
export interface ReleaseSettings {
  /** Where the hosts download nats-server releases (a mirror); default the official GitHub releases. */
  readonly releaseBaseUrl?: string;
  /** Version → arch → SHA-256 of the release tarball; required for a plain-http mirror. */
  readonly releaseSha256?: ReleasePins;
}

/** The field names of {@link ReleaseSettings}, for each platform's list of known fields. */
export const RELEASE_SETTING_FIELDS = ["releaseBaseUrl", "releaseSha256"] as const;

/** Reads `obj.releaseBaseUrl` and `obj.releaseSha256` of the `prefix` config object (`ssh`, `aws`, `local`). */
export function readReleaseSettings(p: Problems, prefix: string, obj: Obj): ReleaseSettings {
  const releaseBaseUrl = readString(p, `${prefix}.releaseBaseUrl`, obj.releaseBaseUrl, "write an http(s) URL");
  const pins = obj.releaseSha256;
  const problems = releaseSettingsProblems(releaseBaseUrl, pins);
  for (const problem of problems) p.add(`${prefix}.${problem.field}`, problem.message);
  return {
    ...(releaseBaseUrl ? { releaseBaseUrl } : {}),
    ...(pins !== undefined && problems.length === 0 ? { releaseSha256: pins as ReleasePins } : {}),
  };
}
