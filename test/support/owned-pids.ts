/**
 * The pids of processes a test started, remembered so that its teardown can kill them even after it lost track of
 * them, and acted on only while each pid is still that same process.
 *
 * Why the check: pids wrap. kernel.pid_max is 32768 on this machine and on CI, and a full run starts tens of
 * thousands of processes (every Pulumi run, every lab VM's systemd): measured here, the pid counter wrapped twice in
 * the first 8 minutes of a full run. The pid of a server that exited minutes ago can belong to another test's process
 * by the time a teardown runs. A CI run lost a whole test file to that: a SIGKILL to a remembered pid killed another
 * jest worker's dynamic-provider process in the middle of an RPC ("Connection dropped", then ECONNREFUSED for every
 * later test of that file).
 *
 * A process is the pair (pid, start time): the kernel's start time of a pid (field 22 of /proc/<pid>/stat, clock ticks
 * after boot) changes when the pid is reused. It is recorded when the pid is remembered, and compared before a kill.
 */
import * as fs from "node:fs";

/** When the process with this pid started (clock ticks after boot); undefined when there is none, or a zombie. */
export function startTimeOf(pid: number): number | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined; // no such process
  }
  // After "pid (comm) ": the state is field 3, the start time field 22 (comm may hold spaces and parentheses).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return undefined; // exited, not yet reaped
  return Number(fields[19]);
}

export class OwnedPids {
  /** Each remembered process, keyed `pid@start` (a pid reused within the test is a second process). */
  private readonly processes = new Map<string, { pid: number; start: number }>();

  /**
   * Remember a running process (nothing when `pid` is undefined or runs no longer). `start` is for the test of this
   * class: the start time of the process that had the pid when it was seen, if not the one that has it now.
   */
  add(pid: number | undefined, start = pid === undefined ? undefined : startTimeOf(pid)): void {
    if (pid !== undefined && start !== undefined) this.processes.set(`${pid}@${start}`, { pid, start });
  }

  /** How many processes were remembered. */
  get size(): number {
    return this.processes.size;
  }

  /** The remembered processes that still run (the same process: same pid, same start time). */
  alive(): number[] {
    return [...this.processes.values()].filter((p) => startTimeOf(p.pid) === p.start).map((p) => p.pid);
  }

  /** SIGKILL every remembered process that still runs (a teardown must not wait out lame duck). */
  killAll(): void {
    for (const pid of this.alive()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* exited between the check and the kill */
      }
    }
  }

  /** Kill what still runs, then wait up to `timeoutMs` for it to be gone; those that still run after that. */
  async killAndWait(timeoutMs = 5000): Promise<number[]> {
    this.killAll();
    const deadline = Date.now() + timeoutMs;
    while (this.alive().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    return this.alive();
  }
}
