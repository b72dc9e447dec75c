/**
 * The pids of the nats-server processes a test started, remembered so that its teardown can kill them even after it
 * lost track of them, and acted on only while each pid is still that process.
 *
 * Why the check: pids wrap. kernel.pid_max is 32768 on this machine and on CI, and a full run starts tens of
 * thousands of processes (every Pulumi run, every lab VM's systemd), so the pid of a server that exited minutes ago
 * can belong to another test's process by the time a teardown runs. A CI run lost a whole test file to that: a
 * teardown's SIGKILL to a remembered pid killed another jest worker's dynamic-provider process in the middle of an
 * RPC ("Connection dropped", then ECONNREFUSED for every later test of that file).
 *
 * A pid is ours while its command line names the directory the servers were started under (a local server runs as
 * `<stateDir>/<name>/nats-server -c <stateDir>/<name>/nats.conf`) and it is not a zombie.
 */
import * as fs from "node:fs";

/** Whether `pid` is a live (not zombie) process whose command line names `dir`. */
export function isOurs(pid: number, dir: string): boolean {
  try {
    if (/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))) return false;
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir);
  } catch {
    return false; // no such process
  }
}

export class OwnedPids {
  private readonly pids = new Set<number>();

  /** @param dir the directory every process remembered here was started under (its state dir). */
  constructor(readonly dir: string) {}

  add(pid: number | undefined): void {
    if (pid !== undefined) this.pids.add(pid);
  }

  /** How many pids were ever remembered. */
  get size(): number {
    return this.pids.size;
  }

  /** The remembered pids that still run as ours. */
  alive(): number[] {
    return [...this.pids].filter((pid) => isOurs(pid, this.dir));
  }

  /** SIGKILL every remembered pid that is still ours (a teardown must not wait out lame duck). */
  killAll(): void {
    for (const pid of this.alive()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* exited between the check and the kill */
      }
    }
  }

  /** Kill what is left, then wait up to `timeoutMs` for it to be gone; the pids still ours after that. */
  async killAndWait(timeoutMs = 5000): Promise<number[]> {
    this.killAll();
    const deadline = Date.now() + timeoutMs;
    while (this.alive().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    return this.alive();
  }
}
