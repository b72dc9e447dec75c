import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The plug-in folders under `dir`: subfolders with an index (compiled or source), sorted. How the engine finds its
 * host platforms and the Pulumi layer its platforms: a new one is a new folder, listed nowhere else.
 */
export function pluginFolders(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && ["index.js", "index.ts"].some((f) => fs.existsSync(path.join(dir, d.name, f))))
    .map((d) => d.name)
    .sort();
}
