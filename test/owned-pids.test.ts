/**
 * The teardown's kill by remembered pid (test/support/owned-pids.ts) kills a process only while that pid is still the
 * process the test remembered: a pid the kernel has handed to another process since is left alone. Real processes
 * (`sleep`), each stopped by its ChildProcess at the end.
 */
import { ChildProcess, spawn } from "node:child_process";
import { OwnedPids, startTimeOf } from "./support/owned-pids";

describe("OwnedPids", () => {
  const children: ChildProcess[] = [];

  function sleeper(): ChildProcess {
    const child = spawn("sleep", ["60"], { stdio: "ignore" });
    children.push(child);
    return child;
  }
  const exited = (child: ChildProcess) =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.once("exit", () => resolve()));

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await Promise.all(children.map(exited));
  });

  it("kills the remembered process and leaves a pid that another process has taken since", async () => {
    const ours = sleeper();
    const theirs = sleeper();
    const pids = new OwnedPids();
    pids.add(ours.pid);
    // Stands for a pid the kernel gave to another test's process after the one remembered under it exited: the
    // remembered process started earlier than the one that has the pid now.
    pids.add(theirs.pid, startTimeOf(theirs.pid!)! - 1);
    pids.add(undefined); // a server that never started: nothing to remember
    expect(pids.size).toBe(2);
    expect(pids.alive()).toEqual([ours.pid]);

    expect(await pids.killAndWait()).toEqual([]);
    await exited(ours);
    expect(ours.signalCode).toBe("SIGKILL");
    expect(theirs.exitCode).toBeNull();
    expect(theirs.signalCode).toBeNull();
    expect(startTimeOf(theirs.pid!)).toBeDefined();
  });

  it("a process that exited is neither remembered nor alive", async () => {
    const gone = sleeper();
    const pids = new OwnedPids();
    pids.add(gone.pid);
    gone.kill("SIGKILL");
    await exited(gone);
    expect(startTimeOf(gone.pid!)).toBeUndefined();
    expect(pids.alive()).toEqual([]);
    pids.add(gone.pid);
    expect(pids.size).toBe(1); // only the one seen while it ran
  });
});
