/**
 * One roller at a time: the lease a rollout holds in the cluster's hosts themselves, so it covers every way to roll
 * the cluster (`pulumi up` from any checkout and backend, `nats-rollout`), which Pulumi's stack lock does not.
 *
 * The roller takes the lease file on the members' hosts in name order (two rollers meet on the same first host,
 * whatever order their stack files list the members in) and must hold it on a majority of them (leaseQuorum). The
 * first live lease of another roller ends the attempt: what was taken is released and nothing else is touched. While
 * `fn` runs, a heartbeat rewrites the files (their mtime is the heartbeat); at the end, also after a halt or an
 * error, they are released. The decisions are lease-decision.ts's; the writes are the HostDriver's `lease`.
 */
import * as crypto from "node:crypto";
import * as os from "node:os";
import { LEASE_HEARTBEAT_MS, LEASE_STALE_MS } from "../defaults";
import { HostDriver, LeaseOnHost, leaseIdOf, LeaseRequest } from "../hosts/driver";
import { ClusterSpec, ServerEndpoint } from "../spec";
import { describeError } from "../util/async";
import {
  BreakLease,
  decideLease,
  describeHolder,
  LeaseDecision,
  leaseQuorum,
  LeaseRecord,
  leaseText,
  refusalMessage,
} from "./lease-decision";

export interface LeaseOptions {
  readonly spec: ClusterSpec;
  readonly driver: HostDriver;
  /** Break a stale lease: see BreakLease. Never a live one. */
  readonly breakLease?: BreakLease;
  /** Progress lines (taken, broken, released, a heartbeat that failed). */
  readonly log?: (line: string) => void;
  /** Default LEASE_HEARTBEAT_MS. */
  readonly heartbeatMs?: number;
  /** Default LEASE_STALE_MS. */
  readonly staleAfterMs?: number;
}

/** Who the roller is, as the lease names it. */
export interface LeaseOwner {
  /** The Pulumi stack (`project/stack`), or `cli`. */
  readonly stack: string;
}

/** What `fn` gets while it holds the lease. */
export interface HeldLease {
  /** Why the lease was lost (another roller broke it), or undefined: feed it to the rollout's stopRequested. */
  lost(): string | undefined;
}

/** Why a roller did not get the lease; nothing was touched. */
export interface LeaseRefusal {
  /** held: another roller's live lease; stale: an old one, not broken without leave; no-majority: too few hosts. */
  readonly code: "held" | "stale" | "no-majority";
  readonly message: string;
}

export type LeaseOutcome<T> =
  { readonly status: "ran"; readonly result: T } | { readonly status: "refused"; readonly refusal: LeaseRefusal };

/** A fresh record for this process: `user@host`, pid, stack, now, and a random id. */
export function leaseRecordFor(owner: LeaseOwner): LeaseRecord {
  let user = "unknown";
  try {
    user = os.userInfo().username;
  } catch {
    // A uid with no passwd entry (some containers): the pid and host still name the roller.
  }
  return {
    id: crypto.randomBytes(8).toString("hex"),
    owner: `${user}@${os.hostname()}`,
    pid: process.pid,
    stack: owner.stack,
    startedAt: new Date().toISOString(),
  };
}

/** Take the lease, run `fn` holding it (heartbeat), release it; or refuse without running `fn`. */
export async function withRolloutLease<T>(
  options: LeaseOptions,
  owner: LeaseOwner,
  fn: (lease: HeldLease) => Promise<T>,
): Promise<LeaseOutcome<T>> {
  const log = options.log ?? (() => undefined);
  const lease = options.driver.lease?.bind(options.driver);
  if (!lease) {
    log(`lease: the ${options.driver.platform} platform keeps no rollout lease; rolling without one`);
    return { status: "ran", result: await fn({ lost: () => undefined }) };
  }
  const record = leaseRecordFor(owner);
  const text = leaseText(record);
  const staleAfterSeconds = Math.round((options.staleAfterMs ?? LEASE_STALE_MS) / 1000);
  const members = [...options.spec.members].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const quorum = leaseQuorum(members.length);

  const held: ServerEndpoint[] = [];
  const release = async () => {
    for (const server of held.splice(0)) {
      await lease(server, { op: "release", expectId: record.id }).catch((err: unknown) =>
        log(`lease: could not release it on ${server.name} (${describeError(err)}); it goes stale by itself`),
      );
    }
  };

  const unreachable: string[] = [];
  for (const server of members) {
    let decision: LeaseDecision;
    try {
      decision = await takeOn(server, (request) => lease(server, request), text, record.id, staleAfterSeconds, options);
    } catch (err) {
      unreachable.push(`${server.name} (${describeError(err)})`);
      continue;
    }
    if (decision.kind === "held" || decision.kind === "stale") {
      await release();
      return {
        status: "refused",
        refusal: { code: decision.kind, message: refusalMessage(options.spec.name, decision, staleAfterSeconds) },
      };
    }
    if (decision.kind === "break")
      log(`lease: broke the stale lease of ${describeHolder(decision.holder)} on ${server.name}`);
    held.push(server);
  }
  if (held.length < quorum) {
    await release();
    return {
      status: "refused",
      refusal: {
        code: "no-majority",
        message:
          `the lease of cluster ${options.spec.name} needs a majority of its members (${quorum} of ` +
          `${members.length}), but only ${held.length} could be reached: ${unreachable.join("; ")}. Nothing was touched.`,
      },
    };
  }
  log(
    `lease: held on ${held.map((s) => s.name).join(", ")} by ${record.owner} pid ${record.pid} (stack ${record.stack})`,
  );

  let lost: string | undefined;
  let beating = false;
  const beat = async () => {
    if (beating) return;
    beating = true;
    try {
      for (const server of held) {
        try {
          const after = await lease(server, { op: "replace", text, expectId: record.id });
          if (!after.done && !lost) {
            lost = `the rollout lease on ${server.name} is no longer this roller's (${after.text ? `now ${leaseIdOf(after.text) ?? "unreadable"}` : "removed"}): another roller broke it`;
            log(`lease: ${lost}`);
          }
        } catch (err) {
          log(`lease: heartbeat on ${server.name} failed (${describeError(err)}); retrying at the next one`);
        }
      }
    } finally {
      beating = false;
    }
  };
  const timer = setInterval(() => void beat(), options.heartbeatMs ?? LEASE_HEARTBEAT_MS);
  timer.unref();
  try {
    return { status: "ran", result: await fn({ lost: () => lost }) };
  } finally {
    clearInterval(timer);
    // A heartbeat in flight must not rewrite a file after its release.
    while (beating) await new Promise((resolve) => setTimeout(resolve, 50));
    await release();
    log("lease: released");
  }
}

/**
 * Take the lease on one host: create it, and if there is one already, decide from what was read back. A file that
 * changed between the read and the write (another roller won the race) is read and decided again.
 */
async function takeOn(
  server: ServerEndpoint,
  lease: (request: LeaseRequest) => Promise<LeaseOnHost>,
  text: string,
  myId: string,
  staleAfterSeconds: number,
  options: LeaseOptions,
): Promise<LeaseDecision> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const created = await lease({ op: "create", text });
    if (created.done) return { kind: "take" };
    const decision = decideLease(server.name, created, myId, staleAfterSeconds, options.breakLease);
    if (decision.kind === "take") continue; // released between our create and its read-back
    if (decision.kind === "held" || decision.kind === "stale") return decision;
    const expectId = decision.kind === "ours" ? myId : decision.holder.id;
    const replaced = await lease({ op: "replace", text, expectId });
    if (replaced.done) return decision;
  }
  throw new Error(`the lease file on ${server.name} kept changing under three attempts to take it`);
}
