/**
 * The leafnodes gate's decision and the `/leafz` decoding, from answers shaped as nats-server 2.14/2.15 send them
 * (server/monitor.go Leafz, LeafInfo). The gate on real servers: test/rollout/leafnodes.test.ts.
 */
import { leafnodesDecision, LeafzAnswer } from "../../engine/gates/leafnodes";
import { decodeLeafz } from "../../engine/monitor/decode";
import { MonitorError } from "../../engine/monitor/errors";

/** A hub member's `/leafz` with the given leaves (name, account), as the server sends it. */
const leafz = (leaves: ReadonlyArray<[string, string]>) => ({
  server_id: "NABC",
  now: "2026-12-06T23:00:00Z",
  leafnodes: leaves.length,
  leafs: leaves.map(([name, account], i) => ({
    id: i + 7,
    name,
    is_spoke: false,
    account,
    ip: "127.0.0.1",
    port: 50_000 + i,
    rtt: "312µs",
    in_msgs: 0,
    out_msgs: 12,
    in_bytes: 0,
    out_bytes: 480,
    subscriptions: 3,
  })),
});

const answer = (server: string, leaves: ReadonlyArray<[string, string]>): LeafzAnswer => ({
  server,
  leafz: decodeLeafz(`http://${server}/leafz`, leafz(leaves)),
});

describe("decodeLeafz", () => {
  it("reads each leaf's name and account; no leaf is an empty list (nats-server sends [] or null)", () => {
    const l = decodeLeafz("u", leafz([["leaf-1", "$G"]]));
    expect(l.leafs?.map((x) => [x.name, x.account, x.subscriptions])).toEqual([["leaf-1", "$G", 3]]);
    expect(decodeLeafz("u", { server_id: "N", leafnodes: 0, leafs: null }).leafs).toBeNull();
  });
  it("refuses an answer that is not a /leafz, naming the field", () => {
    expect(() => decodeLeafz("u", { server_id: "N" })).toThrow(MonitorError);
    expect(() => decodeLeafz("u", { server_id: "N" })).toThrow(/field leafnodes is missing/);
    expect(() => decodeLeafz("u", { server_id: "N", leafnodes: 1, leafs: [{ name: "l" }] })).toThrow(
      /field account is missing/,
    );
    expect(() => decodeLeafz("u", { server_id: "N", leafnodes: 1, leafs: {} })).toThrow(/leafs is not a list/);
  });
});

describe("leafnodesDecision: the expected leaves connected to some member of the hub", () => {
  const expected = [{ name: "leaf-1" }, { name: "leaf-2", account: "APP" }];
  it("passes when every expected leaf is on some member, whichever", () => {
    const seen = leafnodesDecision(expected, [
      answer("h1", []),
      answer("h2", [["leaf-1", "$G"]]),
      answer("h3", [["leaf-2", "APP"]]),
    ]);
    expect(seen).toEqual({ ok: true, observation: "/leafz of h1, h2, h3: leaf-1 ($G) on h2; leaf-2 (APP) on h3" });
  });
  it("fails while one is missing, naming it; a member that does not answer is quoted, not a failure by itself", () => {
    const seen = leafnodesDecision(expected, [
      { server: "h1", error: "http://h1/leafz: unreachable (ECONNREFUSED)" },
      answer("h2", [["leaf-1", "$G"]]),
      answer("h3", []),
    ]);
    expect(seen.ok).toBe(false);
    expect(seen.observation).toBe(
      "/leafz of h1, h2, h3: leaf-1 ($G) on h2; not connected: leaf-2 (APP); " +
        "h1 did not answer (http://h1/leafz: unreachable (ECONNREFUSED))",
    );
    // The same with the down member's leaf back elsewhere: it passes.
    const back = leafnodesDecision(expected, [
      { server: "h1", error: "down" },
      answer("h2", [["leaf-1", "$G"]]),
      answer("h3", [["leaf-2", "APP"]]),
    ]);
    expect(back.ok).toBe(true);
  });
  it("a leaf bound to another account is not the expected one; it is quoted as also connected", () => {
    const seen = leafnodesDecision([{ name: "leaf-1" }], [answer("h1", [["leaf-1", "SYS"]])]);
    expect(seen).toEqual({
      ok: false,
      observation: "/leafz of h1: no expected leaf; not connected: leaf-1 ($G); also connected: leaf-1 (SYS)",
    });
  });
  it("a leaf seen on two members at once (moving) counts once, both quoted", () => {
    const seen = leafnodesDecision(
      [{ name: "leaf-1" }],
      [answer("h1", [["leaf-1", "$G"]]), answer("h2", [["leaf-1", "$G"]])],
    );
    expect(seen).toEqual({ ok: true, observation: "/leafz of h1, h2: leaf-1 ($G) on h1, h2" });
  });
});
