import { DEFAULT_LEAF_ACCOUNT } from "../defaults";
import { ServerMonitor } from "../monitor/monitor";
import { Leafz } from "../monitor/types";
import { ExpectedLeaf } from "../spec";
import { describeError, Gate, GateObservation } from "./gate";

/** What one hub member's `/leafz` said, or why it said nothing. */
export interface LeafzAnswer {
  readonly server: string;
  readonly leafz?: Leafz;
  readonly error?: string;
}

const label = (name: string, account: string) => `${name} (${account})`;

/**
 * Whether every expected leaf is connected to the hub cluster, from every member's `/leafz`: a leaf connects to ONE
 * member (and moves to another when that one restarts), so it is looked for over all of them, not on the member the
 * gate runs for. A member that does not answer (it is down) holds no leaf; that is quoted, not a failure by itself.
 * Leaves connected but not expected are quoted for the record.
 */
export function leafnodesDecision(
  expected: ReadonlyArray<ExpectedLeaf>,
  answers: ReadonlyArray<LeafzAnswer>,
): GateObservation {
  const where = new Map<string, string[]>();
  for (const a of answers) {
    for (const leaf of a.leafz?.leafs ?? []) {
      const key = label(leaf.name, leaf.account);
      where.set(key, [...(where.get(key) ?? []), a.server]);
    }
  }
  const wanted = expected.map((e) => label(e.name, e.account ?? DEFAULT_LEAF_ACCOUNT));
  const found = wanted.filter((w) => where.has(w)).map((w) => `${w} on ${where.get(w)!.join(", ")}`);
  const missing = wanted.filter((w) => !where.has(w));
  const others = [...where.keys()].filter((k) => !wanted.includes(k));
  const silent = answers.filter((a) => a.leafz === undefined).map((a) => `${a.server} did not answer (${a.error})`);
  const parts = [
    `/leafz of ${answers.map((a) => a.server).join(", ")}: ${found.length ? found.join("; ") : "no expected leaf"}`,
    missing.length ? `not connected: ${missing.join(", ")}` : "",
    others.length ? `also connected: ${others.join(", ")}` : "",
    ...silent,
  ].filter(Boolean);
  return { ok: missing.length === 0, observation: parts.join("; ") };
}

/**
 * The expected leaf servers are connected to the hub cluster again (`/leafz` of every member), whichever member the
 * gate runs for. Cluster-wide, like the gateways' inbound side: when the member holding a leaf restarts, the leaf
 * comes back through another member (the members gossip their leafnode URLs to it), so asking only the restarted
 * member would wait for a leaf that is already back elsewhere, and asking only one other would miss it.
 */
export function leafnodesGate(
  expected: ReadonlyArray<ExpectedLeaf>,
  hub: () => ReadonlyArray<{ readonly name: string; readonly monitor: ServerMonitor }>,
): Gate {
  return {
    name: "leafnodes",
    async check() {
      const answers = await Promise.all(
        hub().map(({ name, monitor }) =>
          monitor.leafz().then(
            (leafz): LeafzAnswer => ({ server: name, leafz }),
            (err: unknown): LeafzAnswer => ({ server: name, error: describeError(err) }),
          ),
        ),
      );
      return leafnodesDecision(expected, answers);
    },
  };
}

/**
 * This server, a leaf of a hub cluster, has its own connection out to the hub again (`/leafz`: a connection it
 * solicited, `is_spoke`). Per server, unlike {@link leafnodesGate}: each leaf server makes its own connection.
 */
export const hubGate: Gate = {
  name: "hub",
  async check({ monitor }) {
    try {
      const leafz = await monitor.leafz();
      const out = (leafz.leafs ?? []).filter((l) => l.is_spoke === true);
      return out.length > 0
        ? {
            ok: true,
            observation: `/leafz: connected to the hub through ${out.map((l) => label(l.name, l.account)).join(", ")}`,
          }
        : {
            ok: false,
            observation: `/leafz: no connection to the hub (${leafz.leafs?.length ?? 0} leaf connection(s) accepted)`,
          };
    } catch (err) {
      return { ok: false, observation: describeError(err) };
    }
  },
};
