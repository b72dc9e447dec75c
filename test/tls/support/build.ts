/**
 * The compiled engine (dist/engine/index.js) that dynamic providers require() at run time, rebuilt when any engine
 * source is newer than it: a provider test against a dist/ from before engine/tls existed would test old code.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const REPO = path.join(__dirname, "..", "..", "..");
export const ENGINE = path.join(REPO, "dist", "engine", "index.js");

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(full));
    else if (entry.name.endsWith(".ts")) newest = Math.max(newest, fs.statSync(full).mtimeMs);
  }
  return newest;
}

/** Build the project with `tsc` when dist/engine is missing or older than engine/**.ts. */
export function ensureEngineBuilt(): void {
  const built = fs.existsSync(ENGINE) ? fs.statSync(ENGINE).mtimeMs : 0;
  if (built >= newestSource(path.join(REPO, "engine"))) return;
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.json"], {
    cwd: REPO,
    stdio: "pipe",
  });
}
