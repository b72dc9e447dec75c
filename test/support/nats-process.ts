import { ChildProcess, spawn } from "node:child_process";
import { natsServerBinary } from "./versions";

/**
 * Start nats-server on a config and wait for "Server is ready"; the caller stops it by PID. `onOutput` sees every
 * line it prints from its first (a test that reads the whole log, the start included).
 */
export async function startServer(
  version: string,
  file: string,
  onOutput?: (chunk: string) => void,
): Promise<ChildProcess> {
  const child = spawn(natsServerBinary(version), ["-c", file], { stdio: ["ignore", "pipe", "pipe"] });
  if (onOutput) {
    child.stdout?.on("data", (c: Buffer) => onOutput(c.toString()));
    child.stderr?.on("data", (c: Buffer) => onOutput(c.toString()));
  }
  let log = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server v${version} not ready in 15s:\n${log}`)), 15000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes("Server is ready")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server v${version} exited with ${code}:\n${log}`));
    });
  });
  return child;
}

/** Stop by PID: SIGTERM, then SIGKILL if it is still there after 5 s. */
export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  process.kill(child.pid, "SIGTERM");
  const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, "SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}
