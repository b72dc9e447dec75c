/** Temp directories and files for the TLS tests: every file that may hold a key is written with mode 0600. */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A fresh temp directory of mode 0700. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o700);
  return dir;
}

/** Write `text` to `dir/name` with mode 0600 (also when the file existed with another mode); its path. */
export function writePrivate(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return file;
}

/** `openssl args…`: its stdout and stderr, and its exit code (0 when it succeeded). */
export async function openssl(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run("openssl", args);
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}
