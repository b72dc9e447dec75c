/**
 * The rollout lease's decisions (engine/rollout/lease-decision.ts) from what a host's lease file reads back, the
 * majority a roller must hold, and the words of a refusal; and withRolloutLease (engine/rollout/lease.ts) over
 * in-memory hosts: the same file semantics as the real drivers, none of their I/O.
 */
import { HostDriver, LeaseOnHost, leaseIdOf, LeaseRequest } from "../../engine/hosts/driver";
import { withRolloutLease } from "../../engine/rollout/lease";
import { decideLease, leaseQuorum, LeaseRecord, leaseText, refusalMessage } from "../../engine/rollout/lease-decision";
import { ClusterSpec, ServerEndpoint } from "../../engine/spec";

const alice: LeaseRecord = {
  id: "a1a1a1a1",
  owner: "alice@ops-1",
  pid: 4242,
  stack: "nats/prod",
  startedAt: "2026-12-06T06:10:00.000Z",
};
const held = (ageSeconds: number) => ({ text: leaseText(alice), ageSeconds });

describe("decideLease", () => {
  it("takes a host with no lease, and knows its own", () => {
    expect(decideLease("nats-a", {}, "b2b2", 120, undefined)).toEqual({ kind: "take" });
    expect(decideLease("nats-a", held(5), alice.id, 120, undefined)).toEqual({ kind: "ours" });
  });

  it("refuses another roller's live lease, naming it, even when asked to break", () => {
    for (const breakLease of [undefined, true, alice.id] as const) {
      const d = decideLease("nats-a", held(119), "b2b2", 120, breakLease);
      expect(d).toEqual({ kind: "held", holder: { id: alice.id, record: alice, ageSeconds: 119, host: "nats-a" } });
    }
  });

  it("calls an old heartbeat stale, and breaks it only when asked (true, or that lease's id)", () => {
    expect(decideLease("nats-a", held(121), "b2b2", 120, undefined).kind).toBe("stale");
    expect(decideLease("nats-a", held(121), "b2b2", 120, "c3c3").kind).toBe("stale");
    expect(decideLease("nats-a", held(121), "b2b2", 120, alice.id).kind).toBe("break");
    expect(decideLease("nats-a", held(121), "b2b2", 120, true).kind).toBe("break");
  });

  it("treats a file with no age as fresh, and an unreadable one by its id alone", () => {
    expect(decideLease("nats-a", { text: leaseText(alice) }, "b2b2", 120, true).kind).toBe("held");
    const d = decideLease("nats-a", { text: "garbage", ageSeconds: 3 }, "b2b2", 120, undefined);
    expect(d).toEqual({ kind: "held", holder: { id: "unknown", record: undefined, ageSeconds: 3, host: "nats-a" } });
  });
});

describe("the majority and the refusal", () => {
  it("needs a majority of the members", () => {
    expect([1, 2, 3, 4, 5, 7].map(leaseQuorum)).toEqual([1, 2, 2, 3, 3, 4]);
  });

  it("names the holder, and says how to break a stale lease", () => {
    const live = decideLease("nats-a", held(4), "b2b2", 120, undefined);
    expect(refusalMessage("prod", live, 120)).toBe(
      "another rollout holds the lease of cluster prod: alice@ops-1 pid 4242, stack nats/prod, started " +
        "2026-12-06T06:10:00.000Z; last heartbeat 4s ago (lease on nats-a). Nothing was touched: wait for it to " +
        "finish (it renews its lease while it runs), then retry.",
    );
    const stale = refusalMessage("prod", decideLease("nats-a", held(600), "b2b2", 120, undefined), 120);
    expect(stale).toContain("last heartbeat 600s ago (lease on nats-a), older than the 120s stale limit");
    expect(stale).toContain("check on ops-1 that pid 4242 is gone");
    expect(stale).toContain("--break-lease");
    expect(stale).toContain(`NATS_ROLLOUT_BREAK_LEASE=${alice.id} pulumi up`);
  });
});

/** Hosts in memory with the lease file semantics of lease-file.ts and lease-script.ts. */
function memoryHosts(unreachable: string[] = []) {
  const files = new Map<string, { text: string; writtenAt: number }>();
  const calls: string[] = [];
  let now = 0;
  const lease = async (server: ServerEndpoint, request: LeaseRequest): Promise<LeaseOnHost> => {
    calls.push(`${request.op} ${server.name}`);
    if (unreachable.includes(server.name)) throw new Error("connection refused");
    const file = files.get(server.name);
    let done = false;
    if (request.op === "create" && !file) {
      files.set(server.name, { text: request.text, writtenAt: now });
      done = true;
    } else if (request.op === "replace" && leaseIdOf(file?.text) === request.expectId) {
      files.set(server.name, { text: request.text, writtenAt: now });
      done = true;
    } else if (request.op === "release" && leaseIdOf(file?.text) === request.expectId) {
      files.delete(server.name);
      done = true;
    }
    const after = files.get(server.name);
    return after ? { done, text: after.text, ageSeconds: now - after.writtenAt } : { done };
  };
  const driver = { platform: "memory", lease } as unknown as HostDriver;
  return { driver, files, calls, advance: (s: number) => (now += s) };
}

const member = (name: string): ServerEndpoint => ({
  name,
  host: "127.0.0.1",
  clientPort: 1,
  clusterPort: 2,
  monitorPort: 3,
});
// Listed out of name order on purpose: the lease is taken in name order.
const spec = { name: "prod", members: ["nats-c", "nats-a", "nats-b"].map(member) } as unknown as ClusterSpec;

describe("withRolloutLease", () => {
  it("holds the lease on the members while fn runs, and releases it after, also when fn throws", async () => {
    const hosts = memoryHosts();
    const outcome = await withRolloutLease({ spec, driver: hosts.driver }, { stack: "cli" }, async () => {
      expect([...hosts.files.keys()]).toEqual(["nats-a", "nats-b", "nats-c"]);
      return 7;
    });
    expect(outcome).toEqual({ status: "ran", result: 7 });
    expect(hosts.files.size).toBe(0);
    await expect(
      withRolloutLease({ spec, driver: hosts.driver }, { stack: "cli" }, async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(hosts.files.size).toBe(0);
  });

  it("refuses a second roller at the first host, naming the first, and leaves the first's lease alone", async () => {
    const hosts = memoryHosts();
    let second: unknown;
    let calls: string[] = [];
    await withRolloutLease({ spec, driver: hosts.driver }, { stack: "nats/dev" }, async () => {
      hosts.calls.length = 0;
      second = await withRolloutLease({ spec, driver: hosts.driver }, { stack: "cli" }, async () => "ran");
      calls = [...hosts.calls];
    });
    expect(second).toMatchObject({ status: "refused", refusal: { code: "held" } });
    expect((second as { refusal: { message: string } }).refusal.message).toMatch(
      /^another rollout holds the lease of cluster prod: \S+@\S+ pid \d+, stack nats\/dev, started .*\(lease on nats-a\)/,
    );
    // It asked the first host only, and wrote nothing.
    expect(calls).toEqual(["create nats-a"]);
  });

  it("holds a majority when a minority cannot be reached, and refuses without one", async () => {
    const minority = memoryHosts(["nats-b"]);
    const ok = await withRolloutLease({ spec, driver: minority.driver }, { stack: "cli" }, async () => "ran");
    expect(ok).toEqual({ status: "ran", result: "ran" });
    const majority = memoryHosts(["nats-a", "nats-c"]);
    const refused = await withRolloutLease({ spec, driver: majority.driver }, { stack: "cli" }, async () => "ran");
    expect(refused).toMatchObject({ status: "refused", refusal: { code: "no-majority" } });
    expect(majority.files.size).toBe(0);
  });

  it("refuses a stale lease without leave and breaks it with --break-lease", async () => {
    const hosts = memoryHosts();
    hosts.files.set("nats-a", { text: leaseText(alice), writtenAt: 0 });
    hosts.advance(600);
    const refused = await withRolloutLease({ spec, driver: hosts.driver }, { stack: "cli" }, async () => "ran");
    expect(refused).toMatchObject({ status: "refused", refusal: { code: "stale" } });
    expect(leaseIdOf(hosts.files.get("nats-a")?.text)).toBe(alice.id);
    expect(hosts.files.size).toBe(1);
    const broken = await withRolloutLease(
      { spec, driver: hosts.driver, breakLease: true },
      { stack: "cli" },
      async () => "ran",
    );
    expect(broken).toEqual({ status: "ran", result: "ran" });
    expect(hosts.files.size).toBe(0);
  });

  it("renews the lease while fn runs, and tells fn when another roller broke it", async () => {
    const hosts = memoryHosts();
    const outcome = await withRolloutLease(
      { spec, driver: hosts.driver, heartbeatMs: 20 },
      { stack: "cli" },
      async (lease) => {
        await new Promise((r) => setTimeout(r, 70));
        expect(hosts.calls.filter((c) => c.startsWith("replace")).length).toBeGreaterThanOrEqual(3);
        expect(lease.lost()).toBeUndefined();
        hosts.files.set("nats-b", { text: leaseText({ ...alice, id: "d4d4" }), writtenAt: 0 });
        await new Promise((r) => setTimeout(r, 70));
        return lease.lost();
      },
    );
    expect(outcome).toMatchObject({ status: "ran", result: expect.stringContaining("on nats-b is no longer this") });
    // The breaker's lease is left alone.
    expect(leaseIdOf(hosts.files.get("nats-b")?.text)).toBe("d4d4");
  });
});
