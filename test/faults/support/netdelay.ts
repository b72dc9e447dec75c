/**
 * Latency and loss between the lab's VMs. This kernel has no netem qdisc (and no nftables `queue`), so:
 * - loss: nftables `numgen random mod 100 < N drop` in the host's forward hook (bridged VM-to-VM packets pass it,
 *   br_netfilter being loaded), only for packets whose source and destination are both VMs;
 * - latency: an iptables-legacy chain in FORWARD sends those packets to an NFQUEUE, and ../netdelay (a small Go
 *   program, standard library only, built here with `go build`) accepts each one `delayMs` after it arrived, in
 *   arrival order. Every packet between two VMs is held once: `delayMs` one way, twice that per round trip.
 *   `--queue-bypass`: should the program die, packets pass undelayed rather than not at all.
 * Measured on two namespaces on a bridge: TCP echo round trip 0.1-4 ms without, 201-206 ms with 100 ms.
 */
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Lab } from "../../support/lab";
import { Fault, faultTable, nft, run } from "./inject";

export interface NetDelayOptions {
  readonly delayMs: number;
  readonly lossPercent: number;
}

const SOURCE_DIR = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "test", "faults", "netdelay", "main.go")) && path.dirname(dir) !== dir) {
    dir = path.dirname(dir);
  }
  return path.join(dir, "test", "faults", "netdelay");
})();
const CACHE = path.join(process.env.NATS_CLUSTER_CACHE ?? path.join(os.homedir(), ".cache", "nats-cluster"), "faults");

/** The netdelay binary, built once per source into the cache (outside the repo). */
export function netdelayBinary(): string {
  const source = fs.readFileSync(path.join(SOURCE_DIR, "main.go"));
  const bin = path.join(CACHE, `netdelay-${createHash("sha256").update(source).digest("hex").slice(0, 12)}`);
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(CACHE, { recursive: true });
  const go = fs.existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : "go";
  const built = spawnSync(go, ["build", "-o", `${bin}.tmp`, "."], {
    cwd: SOURCE_DIR,
    encoding: "utf8",
    env: { ...process.env, GOFLAGS: "-buildvcs=false", GOTOOLCHAIN: "local" },
  });
  if (built.status !== 0) throw new Error(`go build of ${SOURCE_DIR} failed: ${built.stderr}`);
  fs.renameSync(`${bin}.tmp`, bin);
  return bin;
}

/** iptables-legacy (Debian's iptables package), installed when missing: NFQUEUE needs its xt target. */
export function ensureIptables(): string {
  const found = spawnSync("sh", ["-c", "command -v iptables-legacy"], { encoding: "utf8" }).stdout.trim();
  if (found) return found;
  const install = spawnSync(
    "sh",
    ["-c", "apt-get install -y iptables || (apt-get update && apt-get install -y iptables)"],
    {
      encoding: "utf8",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    },
  );
  if (install.status !== 0) throw new Error(`apt-get install iptables failed: ${install.stderr.slice(-500)}`);
  return "iptables-legacy";
}

const PID_FILE = "faults-netdelay.pid";

/** Kills the delayer a run recorded in `stateDir` (checked to be a netdelay on that queue), if it still runs. */
export function killRecordedNetDelay(stateDir: string): void {
  try {
    const [pid, queue] = fs.readFileSync(path.join(stateDir, PID_FILE), "utf8").trim().split(" ").map(Number);
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    if (path.basename(argv[0]).startsWith("netdelay") && argv.includes(String(queue))) process.kill(pid, "SIGKILL");
  } catch {
    /* none recorded, or gone */
  }
}

const chainOf = (lab: Lab) => `NETDELAY_${lab.name}`;
const queueOf = (lab: Lab) => 1000 + Number(lab.info.subnet.split(".")[2]);
const running = new Map<string, ChildProcess>();

export async function startNetDelay(lab: Lab, options: NetDelayOptions): Promise<Fault> {
  const iptables = ensureIptables();
  const bin = netdelayBinary();
  const table = `${faultTable(lab)}_net`;
  const ips = lab.vms.map((v) => v.ip);
  const chain = chainOf(lab);
  const queue = queueOf(lab);
  // The delayer first, so no packet waits in a queue nobody reads.
  const child = spawn(bin, ["-queue", String(queue), "-delay", `${options.delayMs}ms`], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.set(lab.name, child);
  // Recorded in the lab's state directory, so a later run can kill it should this process die before undoing it.
  fs.writeFileSync(path.join(lab.stateDir, PID_FILE), `${child.pid} ${queue}\n`);
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  for (let i = 0; i < 50 && !/ready/.test(output) && child.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!/ready/.test(output)) {
    child.kill("SIGKILL");
    throw new Error(`netdelay did not start: ${output}`);
  }
  removeNetDelayRules(lab);
  run([iptables, "-N", chain]);
  for (const src of ips) {
    for (const dst of ips.filter((d) => d !== src)) {
      run([
        iptables,
        "-A",
        chain,
        "-s",
        src,
        "-d",
        dst,
        "-j",
        "NFQUEUE",
        "--queue-num",
        String(queue),
        "--queue-bypass",
      ]);
    }
  }
  run([iptables, "-I", "FORWARD", "-j", chain]);
  const set = `{ ${ips.join(", ")} }`;
  nft(
    undefined,
    `table inet ${table} {
  chain forward {
    type filter hook forward priority -20; policy accept;
    ip saddr ${set} ip daddr ${set} numgen random mod 100 < ${options.lossPercent} counter drop
  }
}
`,
  );
  return {
    what: `${options.delayMs} ms one way (NFQUEUE ${queue}, netdelay pid ${child.pid}) and ${options.lossPercent} % loss between VMs`,
    undo: async () => {
      nft(undefined, `delete table inet ${table}\n`, true);
      removeNetDelayRules(lab);
      stopNetDelay(lab);
    },
  };
}

/** Removes the lab's iptables chain and the delayer (by the pid this process started), if any. */
export function removeNetDelayRules(lab: Lab): void {
  const iptables = spawnSync("sh", ["-c", "command -v iptables-legacy"], { encoding: "utf8" }).stdout.trim();
  if (!iptables) return;
  const chain = chainOf(lab);
  while (spawnSync(iptables, ["-D", "FORWARD", "-j", chain]).status === 0) {
    /* every jump to it */
  }
  spawnSync(iptables, ["-F", chain]);
  spawnSync(iptables, ["-X", chain]);
}

export function stopNetDelay(lab: Lab): void {
  const child = running.get(lab.name);
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill("SIGTERM");
    const pid = child.pid;
    // By its pid, should SIGTERM not be enough.
    setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null && pid) process.kill(pid, "SIGKILL");
    }, 2000).unref();
  }
  running.delete(lab.name);
}
