/**
 * The rollout lease's decisions, as values: what a roller does on one host given the lease file read back from it,
 * and the words of a refusal. Pure functions (no I/O, no clock: the caller passes ages), so every case is a unit
 * test; engine/rollout/lease.ts does the reading and writing.
 */
import { leaseIdOf } from "../hosts/driver";

/** Who holds a lease: written by the roller into the file on each host it holds. */
export interface LeaseRecord {
  /** Random hex, one per roller run: the only thing compared (a user may run two rollers from one pid). */
  readonly id: string;
  /** `user@host` of the machine that runs the roller. */
  readonly owner: string;
  readonly pid: number;
  /** The Pulumi stack (`project/stack`) or `cli`. */
  readonly stack: string;
  /** When the roller took the lease, by its own clock (ISO 8601): for people; staleness goes by the host's clock. */
  readonly startedAt: string;
}

/** The file's text: JSON with `id` first, which the host-side script finds with a plain pattern (leaseIdOf). */
export function leaseText(record: LeaseRecord): string {
  const { id, owner, pid, stack, startedAt } = record;
  return `${JSON.stringify({ id, owner, pid, stack, startedAt })}\n`;
}

/** The record in a lease file, or undefined when it is not one (hand-edited, cut short). */
export function parseLeaseRecord(text: string | undefined): LeaseRecord | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as Partial<LeaseRecord>;
    if (
      typeof value.id === "string" &&
      typeof value.owner === "string" &&
      typeof value.pid === "number" &&
      typeof value.stack === "string" &&
      typeof value.startedAt === "string"
    )
      return value as LeaseRecord;
  } catch {
    // Not JSON: the holder is named by its id alone (below).
  }
  return undefined;
}

/**
 * Whether a stale lease may be broken: `true` (the command line's `--break-lease`: the operator just read the
 * refusal), or the id of the one lease to break (NATS_ROLLOUT_BREAK_LEASE for `pulumi up`), which can never break
 * another roller's lease taken after the refusal was read.
 */
export type BreakLease = true | string | undefined;

/** What a roller does on one host, from the lease file read back there. */
export type LeaseDecision =
  /** No lease: create one. */
  | { readonly kind: "take" }
  /** The lease is this roller's already (a retry after a lost answer). */
  | { readonly kind: "ours" }
  /** Another roller's live lease: refuse, naming it. */
  | { readonly kind: "held"; readonly holder: LeaseHolder }
  /** Another roller's lease with an old heartbeat, and no leave to break it: refuse, naming it and the flag. */
  | { readonly kind: "stale"; readonly holder: LeaseHolder }
  /** A stale lease the operator asked to break: replace it (only if it still holds holder.id). */
  | { readonly kind: "break"; readonly holder: LeaseHolder };

/** The holder of a lease file as read back from a host. */
export interface LeaseHolder {
  /** The id in the file (the script compares it); "unknown" when the file names none. */
  readonly id: string;
  /** The record, when the file is a readable one. */
  readonly record?: LeaseRecord;
  /** Seconds since its last heartbeat, by the host's clock. */
  readonly ageSeconds: number;
  /** The member whose host it was read from. */
  readonly host: string;
}

export interface ReadBack {
  readonly text?: string;
  readonly ageSeconds?: number;
}

/** The decision on one host: take, ours, held (refuse), stale (refuse, say how to break) or break. */
export function decideLease(
  host: string,
  readBack: ReadBack,
  myId: string,
  staleAfterSeconds: number,
  breakLease: BreakLease,
): LeaseDecision {
  if (readBack.text === undefined) return { kind: "take" };
  const id = leaseIdOf(readBack.text) ?? "unknown";
  if (id === myId) return { kind: "ours" };
  // A file with no age is treated as fresh: refusing wrongly costs a retry, breaking wrongly costs a cluster.
  const ageSeconds = readBack.ageSeconds ?? 0;
  const holder: LeaseHolder = { id, record: parseLeaseRecord(readBack.text), ageSeconds, host };
  if (ageSeconds <= staleAfterSeconds) return { kind: "held", holder };
  const mayBreak = breakLease === true || (typeof breakLease === "string" && breakLease === id);
  return mayBreak ? { kind: "break", holder } : { kind: "stale", holder };
}

/**
 * How many members a roller must hold: a majority, so two rollers can never both hold enough (two majorities of
 * one member list always share a host, and a host's file has one holder), while a minority of hosts that cannot be
 * reached (the member a rollout is about to recover, a VM being replaced) does not block every rollout.
 */
export function leaseQuorum(members: number): number {
  return Math.floor(members / 2) + 1;
}

/** `alice@box pid 4242, stack dev/dev, started 2026-12-06T06:10:00.000Z` (or the bare id of an unreadable file). */
export function describeHolder(holder: LeaseHolder): string {
  const r = holder.record;
  return r
    ? `${r.owner} pid ${r.pid}, stack ${r.stack}, started ${r.startedAt}`
    : `an unreadable lease file (id ${holder.id})`;
}

/** The words of a refusal: who holds the lease, since when, and what the operator can do. */
export function refusalMessage(cluster: string, decision: LeaseDecision, staleAfterSeconds: number): string {
  if (decision.kind !== "held" && decision.kind !== "stale") return "";
  const h = decision.holder;
  const head =
    `another rollout holds the lease of cluster ${cluster}: ${describeHolder(h)}; ` +
    `last heartbeat ${h.ageSeconds}s ago (lease on ${h.host})`;
  if (decision.kind === "held")
    return `${head}. Nothing was touched: wait for it to finish (it renews its lease while it runs), then retry.`;
  const where = h.record ? ` (check on ${h.record.owner.replace(/^[^@]*@/, "")} that pid ${h.record.pid} is gone)` : "";
  return (
    `${head}, older than the ${staleAfterSeconds}s stale limit: its roller is probably dead. Nothing was touched. ` +
    `If no rollout of this cluster runs${where}, break the lease: \`nats-rollout rollout … --break-lease\`, ` +
    `or \`NATS_ROLLOUT_BREAK_LEASE=${h.id} pulumi up\`.`
  );
}
