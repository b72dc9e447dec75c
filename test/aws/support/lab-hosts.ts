/**
 * Lab VMs standing in for EC2 hosts: a lab whose VMs boot with the AWS component's user data (cloud-init NoCloud),
 * the release URL pointed at the lab's release server, a loop device as each member's EBS volume.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { createLab, Lab, LabOptions, LabVm } from "../../support/lab";

/** The lab's release server, as a VM sees it (`http://<subnet>.1:<port>`; lab.sh's default port). */
export function labReleaseBaseUrl(subnet: string): string {
  return `http://${subnet}.1:8081`;
}

/**
 * Starts a lab whose VMs boot with `userDataFor(subnet)` as their cloud-init user data. The subnet is chosen here
 * (the user data must know the release URL before the lab exists); a taken one is replaced by another.
 */
export async function startLabWithUserData(
  options: Omit<LabOptions, "subnet" | "userDataFile">,
  userDataFor: (subnet: string) => string,
  onLab: (lab: Lab) => void,
): Promise<Lab> {
  const dir = mkdtempSync(path.join(tmpdir(), "lab-user-data-"));
  try {
    for (let attempt = 1; ; attempt++) {
      const subnet = `10.213.${100 + Math.floor(Math.random() * 100)}`;
      const file = path.join(dir, `user-data-${attempt}`);
      writeFileSync(file, userDataFor(subnet));
      const lab = createLab({ ...options, subnet, userDataFile: file });
      onLab(lab);
      try {
        return await lab.start();
      } catch (error) {
        if (attempt < 4 && /overlaps what this machine already has/.test(String(error))) continue;
        throw error;
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs a script in the VM as root (sh on stdin); rejects on a non-zero exit. */
export async function sh(lab: Lab, vm: LabVm | string, script: string, timeoutMs = 60_000): Promise<string> {
  return (await lab.exec(vm, ["sh", "-s"], { input: script, timeoutMs })).stdout;
}

/** `key=value` lines of a script's output. */
export function keyValues(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const m = /^([a-z_]+)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** Polls `probe` until it returns a value, or throws with the last error after the deadline. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not after ${timeoutMs} ms${last ? ` (last: ${String(last)})` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** The JSON of a monitoring endpoint, or undefined when the server does not answer. */
export async function monitorJson<T>(vm: LabVm, endpoint: string, port = 8222): Promise<T | undefined> {
  try {
    const response = await fetch(`http://${vm.ip}:${port}/${endpoint}`, { signal: AbortSignal.timeout(2000) });
    return response.ok ? ((await response.json()) as T) : undefined;
  } catch {
    return undefined;
  }
}
