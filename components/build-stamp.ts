/**
 * Whether `dist/` was built from the sources beside it. The root program runs components from source (Pulumi
 * compiles index.ts) but the providers load the engine's compiled JavaScript, so an edit without `npm run build` would
 * run the old engine without a word. The build writes a digest of the sources it compiled (`dist/build-stamp.json`,
 * scripts/build-stamp.ts); loading the engine compares it with the sources' digest now. A digest rather than mtimes:
 * a checkout or branch switch touches every mtime without changing a byte. About 0.9 MB of source hashes in a few
 * milliseconds, once per process. An installed package has no sources (only dist/), so there is nothing to compare.
 * Only Node built-ins are used here, so the dynamic-provider serializer can capture these functions by value.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/** The stamp the build writes, relative to the package root. */
export const BUILD_STAMP = path.join("dist", "build-stamp.json");

/** The source folders whose compiled output the package ships and the providers load. */
export const STAMPED_SOURCES: ReadonlyArray<string> = ["engine", "components"];

/** What the build records about the sources it compiled. */
export interface BuildStamp {
  /** SHA-256 over every `.ts` file of {@link STAMPED_SOURCES}: its path relative to the root, then its bytes. */
  readonly sources: string;
}

/** The digest of the sources under `root`, or undefined when `root` has none (an installed package). */
export function sourceDigest(root: string): string | undefined {
  const files: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) files.push(child);
    }
  };
  for (const dir of STAMPED_SOURCES) if (fs.existsSync(path.join(root, dir))) walk(dir);
  if (files.length === 0) return undefined;
  const hash = crypto.createHash("sha256");
  for (const file of files.sort()) {
    hash.update(`${file.split(path.sep).join("/")}\0`);
    hash.update(fs.readFileSync(path.join(root, file)));
    hash.update("\0");
  }
  return hash.digest("hex");
}

/**
 * Why `dist/` under `root` does not match the sources there (a message naming the command that fixes it), or
 * undefined when it does or there are no sources to compare.
 */
export function staleBuildProblem(root: string): string | undefined {
  const now = sourceDigest(root);
  if (now === undefined) return undefined;
  let stamp: Partial<BuildStamp> = {};
  try {
    stamp = JSON.parse(fs.readFileSync(path.join(root, BUILD_STAMP), "utf8")) as Partial<BuildStamp>;
  } catch {
    /* no stamp: built before stamps, or by a bare `tsc`; treated as stale */
  }
  if (stamp.sources === now) return undefined;
  return (
    `the compiled engine in ${path.join(root, "dist")} was not built from the sources beside it ` +
    `(${STAMPED_SOURCES.map((d) => `${d}/`).join(", ")} changed since, or it was built without \`npm run build\`); ` +
    `run \`npm run build\` in ${root}, then retry`
  );
}
