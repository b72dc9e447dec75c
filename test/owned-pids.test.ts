/**
 * The teardown's kill by remembered pid (test/support/owned-pids.ts) kills a process only while that pid is still
 * one the test started: a pid the kernel has handed to somebody else's process is left alone. Two real processes
 * (`sleep`), one started under the test's directory and one not; both stopped by pid at the end.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { isOurs, OwnedPids } from "./support/owned-pids";

describe("OwnedPids", () => {
  let dir: string;
  const children: ChildProcess[] = [];

  /** A `sleep` whose command line names `where` (a symlink to sleep inside it), as a server's names its state dir. */
  function sleeper(where: string): ChildProcess {
    const link = path.join(where, "sleep");
    if (!fs.existsSync(link)) fs.symlinkSync("/bin/sleep", link);
    const child = spawn(link, ["60"], { stdio: "ignore" });
    children.push(child);
    return child;
  }
  const exited = (child: ChildProcess) =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.once("exit", () => resolve()));

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-owned-pids-"));
    fs.mkdirSync(path.join(dir, "ours"));
    fs.mkdirSync(path.join(dir, "theirs"));
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await Promise.all(children.map(exited));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("kills the remembered pid that is still ours and leaves one that now belongs to another process", async () => {
    const ours = sleeper(path.join(dir, "ours"));
    // Stands for a pid the kernel gave to another test's process after our server with that pid exited.
    const theirs = sleeper(path.join(dir, "theirs"));
    const pids = new OwnedPids(path.join(dir, "ours"));
    pids.add(ours.pid);
    pids.add(theirs.pid);
    pids.add(undefined); // a server that never started: nothing to remember
    expect(pids.size).toBe(2);
    expect(pids.alive()).toEqual([ours.pid]);

    expect(await pids.killAndWait()).toEqual([]);
    await exited(ours);
    expect(ours.signalCode).toBe("SIGKILL");
    expect(theirs.exitCode).toBeNull();
    expect(theirs.signalCode).toBeNull();
    expect(isOurs(theirs.pid!, path.join(dir, "theirs"))).toBe(true);
  });

  it("the pid of a process that exited is not ours", async () => {
    const gone = sleeper(path.join(dir, "ours"));
    gone.kill("SIGKILL");
    await exited(gone);
    expect(isOurs(gone.pid!, path.join(dir, "ours"))).toBe(false);
  });
});
