import * as net from "node:net";
import { isFetchBlockedPort } from "../../engine/util/fetch-ports";

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

async function tryClaim(port: number): Promise<boolean> {
  // A port fetch refuses (10080 is in this range) would make a server's monitoring port unreadable: never hand it out.
  if (handedOut.has(port) || port > HIGH || isFetchBlockedPort(port)) return false;
  if (!(await isFree(port))) return false;
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
