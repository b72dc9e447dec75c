/**
 * The lab (test/support/lab.ts) as the ssh platform sees it: a lab of this test's own (name `ssht<digits>`, a /24
 * in 10.213.200-249, away from the lab tests' 100-199), the platform settings for its VMs (pinned keys read from
 * the lab's known_hosts) and a transport that times every command.
 */
import * as fs from "node:fs";
import { SshSettings } from "../../../engine/hosts/ssh";
import { SshCommand, SshEndpoint, SshResult, SshTransport } from "../../../engine/hosts/ssh/transport";
import { createLab, Lab, LabVm } from "../../support/lab";

/** Where a test's lab lives: its name's prefix, and the /24s it picks from (10.213.<from> to <from + count - 1>). */
export interface LabPlace {
  /** Followed by 5 random digits, fewer where a lab name's 10 characters leave less room. Default `ssht`. */
  readonly prefix?: string;
  /** Default 200 and 50: 10.213.200-249, away from the lab tests' 100-199. */
  readonly subnetFrom?: number;
  readonly subnetCount?: number;
  /** Deadline for `up`; default lab.ts's. */
  readonly upTimeoutMs?: number;
}

/**
 * Starts a lab of its own; `track` learns each lab created, so afterAll can stop it even if start() failed. A /24
 * another lab holds is tried again elsewhere in the range.
 */
export async function startSshLab(vms: number, track: (lab: Lab) => void, place: LabPlace = {}): Promise<Lab> {
  const { prefix = "ssht", subnetFrom = 200, subnetCount = 50, upTimeoutMs } = place;
  const digits = Math.min(5, 10 - prefix.length);
  let last: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const lab = createLab({
      name: `${prefix}${10 ** (digits - 1) + Math.floor(Math.random() * 9 * 10 ** (digits - 1))}`,
      vms,
      subnet: `10.213.${subnetFrom + Math.floor(Math.random() * subnetCount)}`,
      ...(upTimeoutMs !== undefined ? { upTimeoutMs } : {}),
    });
    track(lab);
    try {
      return await lab.start();
    } catch (err) {
      last = err;
      // Another lab holds the subnet: try another. Anything else is a real failure.
      if (!/overlaps what this machine already has/.test(String(err))) throw err;
    }
  }
  throw last;
}

/** The VM's ed25519 host key, as lab.sh recorded it in known_hosts (`ip,name ssh-ed25519 AAAA…`). */
export function hostKeyOf(lab: Lab, vm: LabVm): string {
  const line = fs
    .readFileSync(lab.knownHostsPath, "utf8")
    .split("\n")
    .find((l) => l.split(" ")[0].split(",").includes(vm.ip) && l.split(" ")[1] === "ssh-ed25519");
  if (!line) throw new Error(`no ed25519 key for ${vm.ip} in ${lab.knownHostsPath}`);
  return line.split(" ").slice(1, 3).join(" ");
}

/**
 * The stack's `nats-cluster:ssh` settings for servers named `names[i]` on the lab's VM i+1: the `ops` user, the
 * lab's release server with its pins, each VM's host key.
 */
export function labStackSsh(lab: Lab, names: ReadonlyArray<string>) {
  return {
    user: "ops",
    releaseBaseUrl: lab.releaseBaseUrl,
    releaseSha256: lab.releaseSha256,
    hostKeys: Object.fromEntries(names.map((n, i) => [n, hostKeyOf(lab, lab.vms[i])])),
  };
}

/** Settings for servers named `names[i]` on the lab's VM i+1, as the non-root `ops` user with sudo. */
export function sshSettingsFor(lab: Lab, names: ReadonlyArray<string>, extra: Partial<SshSettings> = {}): SshSettings {
  const hosts: Record<string, { address: string; user: string }> = {};
  const hostKeys: Record<string, string> = {};
  names.forEach((name, i) => {
    const vm = lab.vms[i];
    hosts[name] = { address: vm.ip, user: "ops" };
    hostKeys[name] = hostKeyOf(lab, vm);
  });
  return { hosts, hostKeys, releaseBaseUrl: lab.releaseBaseUrl, releaseSha256: lab.releaseSha256, ...extra };
}

/** One command as the timing transport saw it. */
export interface TimedCommand {
  readonly server: string;
  readonly what: string;
  readonly ms: number;
}

/** Wraps a transport and records how long every command took. */
export class TimingTransport implements SshTransport {
  readonly timings: TimedCommand[] = [];
  constructor(private readonly inner: SshTransport) {}

  async run(endpoint: SshEndpoint, command: SshCommand): Promise<SshResult> {
    const started = performance.now();
    try {
      return await this.inner.run(endpoint, command);
    } finally {
      this.timings.push({ server: endpoint.server, what: command.what, ms: performance.now() - started });
    }
  }

  close(): void {
    this.inner.close();
  }

  /** Median, 95th percentile and count of the commands whose `what` matches. */
  stats(match: RegExp): { n: number; medianMs: number; p95Ms: number } {
    const ms = this.timings
      .filter((t) => match.test(t.what))
      .map((t) => t.ms)
      .sort((a, b) => a - b);
    const at = (q: number) => (ms.length ? ms[Math.min(ms.length - 1, Math.floor(ms.length * q))] : NaN);
    return { n: ms.length, medianMs: at(0.5), p95Ms: at(0.95) };
  }
}
