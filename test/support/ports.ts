import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { isFetchBlockedPort } from "../../engine/util/fetch-ports";
import { startTimeOf } from "./owned-pids";

/** Tests pick ports here: above the well-known ones, below the usual Linux ephemeral range (32768+). */
const LOW = 10000;
const HIGH = 32000;
/** Random draws before giving up: a busy CI machine may hold some ports, never thousands. */
const ATTEMPTS = 200;

/** Whether nothing listens on 127.0.0.1:port right now (we can bind it, then let go at once). */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Ports already handed out by this process, so two suites in one Jest worker never get the same one. */
const handedOut = new Set<number>();

/**
 * Claims across the Jest workers of this machine: one file per port, made with O_EXCL, holding the claimant's pid and
 * start time. Free-then-bind alone let two workers pick the same port while neither had started its server yet (a CI
 * run's `nats-rollout` bootstrap halted within 2 s of its start, exit 2); a claim lasts as long as the process that
 * made it (its pid with the same start time: ./owned-pids.ts), so a killed run's claims lapse by themselves.
 */
const CLAIMS_DIR = path.join(os.tmpdir(), "nats-cluster-test-ports");

function claimAcrossWorkers(port: number): boolean {
  const file = path.join(CLAIMS_DIR, String(port));
  const me = `${process.pid} ${startTimeOf(process.pid)}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, me, { flag: "wx" });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        fs.mkdirSync(CLAIMS_DIR, { recursive: true });
        continue;
      }
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const [pid, start] = (readOrEmpty(file) || "0 0").split(" ").map(Number);
      if (pid === process.pid || (pid > 0 && startTimeOf(pid) === start)) return false; // held
      fs.rmSync(file, { force: true }); // its process is gone: the claim lapsed
    }
  }
  return false;
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

async function tryClaim(port: number): Promise<boolean> {
  // A port fetch refuses (10080 is in this range) would make a server's monitoring port unreadable: never hand it out.
  if (handedOut.has(port) || port > HIGH || isFetchBlockedPort(port)) return false;
  if (!claimAcrossWorkers(port)) return false;
  if (!(await isFree(port))) return false; // claimed by us now, but taken by something else: keep it off the list
  handedOut.add(port);
  return true;
}

/**
 * `count` distinct loopback ports that were free a moment ago, chosen at random in 10000–32000 so parallel Jest
 * workers rarely collide. A consecutive block is tried first (readable logs), then single random ports.
 * Free-then-bind is inherently racy; the random spread is what keeps the race rare.
 */
export async function freePorts(count: number): Promise<number[]> {
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`freePorts: count must be a positive integer, got ${count}`);
  const random = () => LOW + Math.floor(Math.random() * (HIGH - LOW - count));

  for (let attempt = 0; attempt < 20; attempt++) {
    const start = random();
    const block: number[] = [];
    for (let p = start; p < start + count; p++) {
      if (!(await tryClaim(p))) break;
      block.push(p);
    }
    if (block.length === count) return block;
    block.forEach((p) => handedOut.delete(p));
  }

  const ports: number[] = [];
  for (let attempt = 0; attempt < ATTEMPTS && ports.length < count; attempt++) {
    const p = random();
    if (await tryClaim(p)) ports.push(p);
  }
  if (ports.length < count) {
    ports.forEach((p) => handedOut.delete(p));
    throw new Error(`freePorts: found only ${ports.length} of ${count} free ports in ${LOW}-${HIGH}`);
  }
  return ports;
}
