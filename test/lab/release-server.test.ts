/**
 * The lab's release server (scripts/lab/release-server.js) on loopback: every download is in its log, with the
 * fetcher's address, even when the client closes as soon as it has every byte. The lab tests read that log to tell
 * which VM fetched what (lab-exporter: the surge VM's exporter download); a line lost to that race failed CI twice.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { freePorts } from "../support/ports";

const SERVER = path.resolve(__dirname, "..", "..", "scripts", "lab", "release-server.js");
const FILE = "/v9.9.9/nats-server-v9.9.9-linux-amd64.tar.gz";
const SIZE = 8 * 1024 * 1024;
const FETCHES = 40;

let dir: string;
let server: ChildProcess | undefined;
let port: number;

/** GET `url`; the socket is destroyed the moment the body's last byte has arrived, as a fast client's exit does. */
function fetchAndLeave(url: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      const length = Number(res.headers["content-length"] ?? -1);
      let bytes = 0;
      res.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes >= length) {
          res.socket.destroy();
          resolve({ status: res.statusCode ?? 0, bytes });
        }
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes }));
    });
    req.on("error", reject);
  });
}

function logLines(): string[] {
  return fs
    .readFileSync(path.join(dir, "log"), "utf8")
    .split("\n")
    .filter((l) => / (GET|HEAD) /.test(l));
}

/**
 * The log's request lines that `match`, once there are `count` of them or 5 s have passed. The server logs when it
 * sees a response close, a moment after the client has gone, so a line may come after the client's last byte.
 */
async function loggedLines(match: (line: string) => boolean, count: number): Promise<string[]> {
  let lines: string[] = [];
  for (let i = 0; i < 50; i++) {
    lines = logLines().filter(match);
    if (lines.length >= count) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return lines;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "release-server-"));
  fs.mkdirSync(path.join(dir, "www", "v9.9.9"), { recursive: true });
  fs.writeFileSync(path.join(dir, "www", FILE), crypto.randomBytes(SIZE));
  const log = fs.openSync(path.join(dir, "log"), "a");
  const pidFile = path.join(dir, "pid");
  // The server listens where it is told (as scripts/lab.sh tells it): a port claimed across jest workers.
  [port] = await freePorts(1);
  server = spawn(
    process.execPath,
    [
      SERVER,
      "--lab",
      "rstest",
      "--root",
      path.join(dir, "www"),
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--pid-file",
      pidFile,
    ],
    { stdio: ["ignore", log, log] },
  );
  fs.closeSync(log);
  for (let i = 0; i < 100 && !fs.existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
  if (!fs.existsSync(pidFile))
    throw new Error(`release server did not start: ${fs.readFileSync(path.join(dir, "log"), "utf8")}`);
});

afterAll(() => {
  if (server?.pid !== undefined && server.exitCode === null) process.kill(server.pid, "SIGKILL");
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

it("logs every download with the fetcher's address, even when the client leaves with the last byte", async () => {
  const results = [];
  for (let i = 0; i < FETCHES; i++) results.push(await fetchAndLeave(`http://127.0.0.1:${port}${FILE}`));
  expect(results.filter((r) => r.status === 200 && r.bytes === SIZE)).toHaveLength(FETCHES);
  const lines = await loggedLines((l) => l.includes(` GET ${FILE} `), FETCHES);
  expect(lines.map((l) => l.split(" ").slice(1, 6).join(" "))).toEqual(
    Array(FETCHES).fill(`127.0.0.1 GET ${FILE} 200 ${SIZE}`),
  );
});

it("answers 404 for what is not a file below its root, and logs it", async () => {
  for (const rel of ["/v9.9.9/nothing.tar.gz", "/v9.9.9", "/%2e%2e/log"]) {
    expect((await fetchAndLeave(`http://127.0.0.1:${port}${rel}`)).status).toBe(404);
  }
  // Waited for as the downloads' lines are: a CI run read the log before the last 404's line was written.
  expect(await loggedLines((l) => / 404 0 /.test(l), 3)).toHaveLength(3);
});
