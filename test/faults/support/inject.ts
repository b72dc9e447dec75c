/**
 * Fault injection with the lab's own tools, each fault undoable and each named after the lab, so that whatever a
 * run leaves is removed by name (undo(), and again by {@link removeAllFaults} in a finally):
 *
 * - a partition: an nftables table `inet faults_<lab>` inside a VM's network namespace that drops (silently, as a
 *   broken link does) every packet between it and the other VMs; the host (operator) still reaches it;
 * - a dead VM: `scripts/lab.sh poweroff` (SIGKILL to its systemd: every process dies at once) and, for a cloud-like
 *   silence instead of the TCP resets an empty namespace sends, a drop-all table in its namespace;
 * - a full volume: the JetStream store's file system filled with fallocate;
 * - the operator's machine cut off: a table `inet faults_<lab>` in the host namespace's forward hook (priority
 *   before the lab's own table) dropping everything to and from the operator namespace's address;
 * - a gateway cut: the same table in each VM of one cluster of a supercluster, dropping every packet to or from the
 *   gateway port (both ends: the cluster's own gateways, in and out, and its connections to the other clusters'),
 *   routes, clients and monitoring untouched;
 * - latency and loss between the VMs: see ./netdelay.ts.
 */
import { spawnSync } from "node:child_process";
import { Lab, LabVm } from "../../support/lab";

export function faultTable(lab: Lab): string {
  return `faults_${lab.name}`;
}

/** `nft -f -` in a network namespace (undefined: the host's). */
export function nft(netns: string | undefined, script: string, allowFailure = false): void {
  const argv = netns ? ["ip", "netns", "exec", netns, "nft", "-f", "-"] : ["nft", "-f", "-"];
  const r = spawnSync(argv[0], argv.slice(1), { input: script, encoding: "utf8" });
  if (r.status !== 0 && !allowFailure) throw new Error(`${argv.join(" ")}: ${r.stderr.trim()}\n${script}`);
}

export function run(argv: string[], allowFailure = false): string {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0 && !allowFailure) throw new Error(`${argv.join(" ")}: exit ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

function dropTable(netns: string | undefined, table: string): void {
  nft(netns, `delete table inet ${table}\n`, true);
}

/** Something injected that can be taken back. */
export interface Fault {
  readonly what: string;
  undo(): Promise<void>;
}

/** Cut `vm` off from every other VM of the lab (both directions, silent drops); the host still reaches it. */
export function partition(lab: Lab, vm: LabVm): Fault {
  const table = faultTable(lab);
  const others = lab.vms.filter((v) => v.name !== vm.name).map((v) => v.ip);
  const set = `{ ${others.join(", ")} }`;
  nft(
    vm.netns,
    `table inet ${table} {
  chain input { type filter hook input priority -10; policy accept; ip saddr ${set} drop; }
  chain output { type filter hook output priority -10; policy accept; ip daddr ${set} drop; }
}
`,
  );
  return {
    what: `partition of ${vm.name} from ${others.join(", ")}`,
    undo: async () => dropTable(vm.netns, table),
  };
}

/**
 * Cut one cluster of a supercluster off from the others at the gateways: in each of `vms` (that cluster's servers),
 * every TCP packet to or from `port` is dropped silently, both directions, so neither its gateways to the other
 * clusters nor theirs to it carry anything, while routes inside the cluster, clients and monitoring go on. Existing
 * gateway connections go quiet rather than closing (nats-server finds them stale by its pings, minutes later); a
 * server started while the cut holds cannot make any.
 */
export function cutGateways(lab: Lab, vms: ReadonlyArray<LabVm>, port = 7222): Fault {
  const table = faultTable(lab);
  for (const vm of vms) {
    nft(
      vm.netns,
      `table inet ${table} {
  chain input { type filter hook input priority -10; policy accept; tcp dport ${port} drop; tcp sport ${port} drop; }
  chain output { type filter hook output priority -10; policy accept; tcp dport ${port} drop; tcp sport ${port} drop; }
}
`,
    );
  }
  return {
    what: `gateway port ${port} cut on ${vms.map((v) => v.name).join(", ")}`,
    undo: async () => {
      for (const vm of vms) dropTable(vm.netns, table);
    },
  };
}

/** Power the VM off (everything in it killed at once); `silent`: its address then drops packets, not resets. */
export async function killVm(lab: Lab, vm: LabVm, silent: boolean): Promise<Fault> {
  await lab.poweroff(vm);
  const table = faultTable(lab);
  if (silent) {
    nft(
      vm.netns,
      `table inet ${table} {
  chain input { type filter hook input priority -10; policy drop; }
  chain output { type filter hook output priority -10; policy drop; }
}
`,
    );
  }
  return {
    what: `${vm.name} powered off${silent ? " (silent: its address drops packets)" : ""}`,
    undo: async () => {
      dropTable(vm.netns, table);
      await lab.boot(vm);
    },
  };
}

/**
 * Fill the file system of `dir` inside the VM (as root) to the last block: fallocate of all but 8 MiB (XFS refuses
 * a single allocation of everything free: it needs room for its own metadata), then zeros until ENOSPC. Fails
 * unless the file system then has less than 1 MiB left.
 */
export async function fillVolume(lab: Lab, vm: LabVm, dir: string): Promise<Fault> {
  const file = `${dir}/.fault-fill`;
  const out = await lab.exec(
    vm,
    `free=$(df -P -B1 ${dir} | awk 'NR == 2 { print $4 }'); ` +
      `if [ "$free" -gt 16777216 ]; then fallocate -l $((free - 8388608)) ${file}; fi; ` +
      `dd if=/dev/zero of=${file}-2 bs=64k 2>/dev/null; sync; ` +
      `left=$(df -P -B1 ${dir} | awk 'NR == 2 { print $4 }'); echo "left=$left"; [ "$left" -lt 1048576 ]`,
  );
  return {
    what: `${dir} on ${vm.name} filled (${out.stdout.trim()} bytes free)`,
    undo: async () => {
      await lab.exec(vm, `rm -f ${file} ${file}-2`, { allowFailure: true });
    },
  };
}

/** Drop every packet to and from `ip` (the operator's namespace) on the lab's bridge: silent, like a dead VPN. */
export function cutOff(lab: Lab, ip: string): Fault {
  const table = faultTable(lab);
  nft(
    undefined,
    `table inet ${table} {
  chain forward { type filter hook forward priority -10; policy accept; ip saddr ${ip} drop; ip daddr ${ip} drop; }
}
`,
  );
  return { what: `${ip} cut off from the lab`, undo: async () => dropTable(undefined, table) };
}

/** Removes every table this module (and ./netdelay.ts) may have made for the lab (host and every VM namespace). */
export function removeAllFaults(lab: Lab): void {
  const table = faultTable(lab);
  dropTable(undefined, table);
  dropTable(undefined, `${table}_net`);
  for (const ns of run(["ip", "netns", "list"], true).split("\n")) {
    const name = ns.split(" ")[0];
    if (name.startsWith(`${lab.name}-`)) dropTable(name, table);
  }
}

/**
 * The operator's machine as a namespace of its own on the lab's bridge (`<lab>-op`, address .5): the engine runs
 * there when a fault must cut the operator off without cutting off the clients (which stay on the host).
 */
export function makeOperatorNamespace(lab: Lab): { netns: string; ip: string; remove(): void } {
  const netns = `${lab.name}-op`;
  const veth = `${lab.name}-op`;
  const ip = `${lab.info.subnet}.5`;
  removeOperatorNamespace(lab);
  run(["ip", "netns", "add", netns]);
  run(["ip", "-n", netns, "link", "set", "lo", "up"]);
  run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns]);
  run(["ip", "link", "set", veth, "master", lab.info.bridge, "up"]);
  run(["ip", "-n", netns, "addr", "add", `${ip}/24`, "dev", "eth0"]);
  run(["ip", "-n", netns, "link", "set", "eth0", "up"]);
  return { netns, ip, remove: () => removeOperatorNamespace(lab) };
}

export function removeOperatorNamespace(lab: Lab): void {
  const netns = `${lab.name}-op`;
  if (
    run(["ip", "netns", "list"], true)
      .split("\n")
      .some((l) => l.split(" ")[0] === netns)
  ) {
    for (const pid of run(["ip", "netns", "pids", netns], true).split("\n").filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        /* gone */
      }
    }
    run(["ip", "netns", "del", netns], true);
  }
  run(["ip", "link", "del", `${lab.name}-op`], true);
}
