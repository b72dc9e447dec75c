/**
 * The rollout lease of the local platform: a file in the server's own directory, written the way the systemd
 * platforms' script writes theirs (engine/hosts/systemd/lease-script.ts): create by link(2) of a complete temp file
 * (fails when a lease exists, so two rollers can never both create it, and nobody ever reads half a file), replace
 * and release only when the file holds the expected id. The heartbeat is the file's mtime.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { LeaseOnHost, leaseIdOf, LeaseRequest } from "../driver";

/** The lease file's name in a server's directory. */
export const LEASE_FILE_NAME = "rollout.lease";

export function leaseOp(dir: string, request: LeaseRequest): LeaseOnHost {
  const file = path.join(dir, LEASE_FILE_NAME);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  let done = false;
  if (request.op === "create") {
    const tmp = writeTemp(file, request.text);
    try {
      fs.linkSync(tmp, file);
      done = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  } else if (request.op === "replace" || request.op === "release") {
    if (leaseIdOf(readIfExists(file)) === request.expectId) {
      if (request.op === "replace") fs.renameSync(writeTemp(file, request.text), file);
      else fs.rmSync(file, { force: true });
      done = true;
    }
  }
  const text = readIfExists(file);
  if (text === undefined) return { done };
  const ageSeconds = Math.max(0, Math.floor((Date.now() - fs.statSync(file).mtimeMs) / 1000));
  return { done, text, ageSeconds };
}

function writeTemp(file: string, text: string): string {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600, flag: "wx" });
  return tmp;
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
