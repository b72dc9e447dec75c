/**
 * Latency and loss between the lab's VMs. This kernel has no netem qdisc, so:
 * - loss: nftables `numgen random mod 100 < N drop` in the host's forward hook (bridged VM-to-VM packets pass it,
 *   br_netfilter being loaded), only for packets whose source and destination are both VMs;
 * - latency: see startNetDelay below.
 */
import { Lab } from "../../support/lab";
import { Fault, faultTable, nft } from "./inject";

export interface NetDelayOptions {
  readonly delayMs: number;
  readonly lossPercent: number;
}

export async function startNetDelay(lab: Lab, options: NetDelayOptions): Promise<Fault> {
  const table = `${faultTable(lab)}_net`;
  const vms = `{ ${lab.vms.map((v) => v.ip).join(", ")} }`;
  nft(
    undefined,
    `table inet ${table} {
  chain forward {
    type filter hook forward priority -20; policy accept;
    ip saddr ${vms} ip daddr ${vms} numgen random mod 100 < ${options.lossPercent} counter drop
  }
}
`,
  );
  return {
    what: `${options.lossPercent} % loss between VMs (delay: not implemented yet)`,
    undo: async () => nft(undefined, `delete table inet ${table}\n`, true),
  };
}
