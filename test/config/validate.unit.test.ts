import * as nkeys from "@nats-io/nkeys";
import { ClusterSpec, MemberSpec } from "../../engine/spec";
import { assertValidClusterSpec, clusterSpecWarnings, SpecError, validateClusterSpec } from "../../engine/validate";
import { sampleServer } from "../support/sample-spec";
import { errorAt, spec, warningAt } from "../support/spec-problems";

// The tls.pem checks, whose certificates openssl makes, are in validate-tls-pem.test.ts (not a unit test: it starts
// processes).

const member = (i: number): MemberSpec => sampleServer("loopback", `n${i}`, i);

const pair = nkeys.createUser();
const publicKey = pair.getPublicKey();
const seed = new TextDecoder().decode(pair.getSeed());
const otherSeed = new TextDecoder().decode(nkeys.createUser().getSeed());

describe("validateClusterSpec", () => {
  test("a valid spec has no problems and no warnings", () => {
    const full = spec({
      routes: { kind: "seed", seeds: ["n1", "n2"] },
      auth: { users: [{ user: "app", password: "pw" }], systemAccount: { user: "sys", password: "spw" } },
      tls: {
        certFile: "/etc/nats/cert.pem",
        keyFile: "/etc/nats/key.pem",
        caFile: "/etc/nats/ca.pem",
        verify: true,
        probeCertFile: "/etc/nats/probe.pem",
        probeKeyFile: "/etc/nats/probe.key",
      },
      surge: { ...spec().surge, jetstream: true },
      extraSettings: { max_payload: 2097152, write_deadline: "10s", debug: false },
    });
    expect(validateClusterSpec(full)).toEqual([]);
    expect(clusterSpecWarnings(full)).toEqual([]);
    expect(validateClusterSpec(spec({ auth: { nkeys: [publicKey], probeNkeySeed: seed } }))).toEqual([]);
    expect(() => assertValidClusterSpec(full)).not.toThrow();
  });

  test("cluster name", () => {
    expect(errorAt(spec({ name: "" }), "name")).toMatch(/empty/);
    expect(errorAt(spec({ name: "my cluster" }), "name")).toMatch(/letters, digits/);
  });

  test("version: semver without a v", () => {
    expect(errorAt(spec({ version: "v2.15.2" }), "version")).toBe('"v2.15.2" is not a version; write 2.15.2');
    expect(errorAt(spec({ version: "2.15" }), "version")).toMatch(/MAJOR\.MINOR\.PATCH/);
    expect(errorAt(spec({ version: "" }), "version")).toMatch(/2\.15\.2/);
  });

  test("at least one member", () => {
    expect(errorAt(spec({ members: [] }), "members")).toMatch(/at least one/);
  });

  test("server names: valid characters, unique across members and the surge server", () => {
    expect(
      errorAt(spec({ members: [member(1), { ...member(2), name: "n 2" }, member(3)] }), "members[1].name"),
    ).toMatch(/letters, digits/);
    expect(errorAt(spec({ members: [member(1), member(2), { ...member(3), name: "n1" }] }), "members[2].name")).toMatch(
      /"n1" is already members\[0\]\.name/,
    );
    expect(errorAt(spec({ surge: { ...spec().surge, name: "n2" } }), "surge.name")).toMatch(
      /already members\[1\]\.name.*name of its own/,
    );
  });

  test("ports are integers in 1..65535", () => {
    for (const bad of [0, 65536, 42.5, Number.NaN]) {
      expect(
        errorAt(spec({ members: [member(1), { ...member(2), clientPort: bad }, member(3)] }), "members[1].clientPort"),
      ).toMatch(/pick another port/);
    }
  });

  test("no two listeners share a port on one host, naming both owners", () => {
    const clash = spec({ members: [member(1), member(2), { ...member(3), monitorPort: 8221 }] });
    expect(errorAt(clash, "members[2].monitorPort")).toBe(
      "port 8221 on 127.0.0.1 is already members[0].monitorPort; pick another port",
    );
    expect(
      errorAt(spec({ members: [member(1), member(2), { ...member(3), monitorPort: 4223 }] }), "members[2].monitorPort"),
    ).toMatch(/already members\[2\]\.clientPort/);
    expect(errorAt(spec({ surge: { ...spec().surge, clusterPort: 6222 } }), "surge.clusterPort")).toMatch(
      /already members\[1\]\.clusterPort/,
    );
    // The same port on different hosts is fine (one VM each).
    const vms = [1, 2, 3].map((i) => ({
      ...member(i),
      host: `10.0.0.${i}`,
      clientPort: 4222,
      clusterPort: 6222,
      monitorPort: 8222,
    }));
    expect(validateClusterSpec(spec({ members: vms, surge: { ...vms[0], name: "surge", host: "10.0.0.9" } }))).toEqual(
      [],
    );
  });

  test("hosts must be addresses", () => {
    expect(errorAt(spec({ members: [{ ...member(1), host: "" }, member(2), member(3)] }), "members[0].host")).toMatch(
      /non-empty/,
    );
    expect(
      errorAt(spec({ members: [{ ...member(1), host: "a b" }, member(2), member(3)] }), "members[0].host"),
    ).toMatch(/IP address or DNS name/);
  });

  test("lame duck: duration >= 30 s as nats-server says, grace below it", () => {
    expect(
      errorAt(spec({ lameDuck: { durationSeconds: 3, gracePeriodSeconds: 1 } }), "lameDuck.durationSeconds"),
    ).toMatch(/^invalid lame_duck_duration of 3s, minimum is 30 seconds/);
    expect(
      errorAt(spec({ lameDuck: { durationSeconds: 30, gracePeriodSeconds: 30 } }), "lameDuck.gracePeriodSeconds"),
    ).toMatch(/shorter than lame_duck_duration of 30s/);
    expect(
      errorAt(spec({ lameDuck: { durationSeconds: 30, gracePeriodSeconds: -1 } }), "lameDuck.gracePeriodSeconds"),
    ).toMatch(/whole number/);
  });

  test("seed routes name members", () => {
    expect(errorAt(spec({ routes: { kind: "seed", seeds: [] } }), "routes.seeds")).toMatch(/at least one seed/);
    expect(errorAt(spec({ routes: { kind: "seed", seeds: ["n1", "n9"] } }), "routes.seeds[1]")).toMatch(
      /"n9" is not a member.*n1, n2, n3/,
    );
    expect(errorAt(spec({ routes: { kind: "seed", seeds: ["n-surge"] } }), "routes.seeds[0]")).toMatch(/surge server/);
    expect(errorAt(spec({ routes: { kind: "seed", seeds: ["n1", "n1"] } }), "routes.seeds[1]")).toMatch(
      /list each seed once/,
    );
  });

  test("JetStream limits are byte counts", () => {
    expect(errorAt(spec({ jetstream: { enabled: true, maxMemoryBytes: -1 } }), "jetstream.maxMemoryBytes")).toMatch(
      /whole number of bytes/,
    );
    expect(errorAt(spec({ jetstream: { enabled: true, maxFileBytes: 1.5 } }), "jetstream.maxFileBytes")).toMatch(
      /whole number of bytes/,
    );
  });

  test("a JetStream surge server needs the system account", () => {
    expect(errorAt(spec({ surge: { ...spec().surge, jetstream: true } }), "surge.jetstream")).toMatch(
      /set auth\.systemAccount/,
    );
  });

  test("monitoring through the system account needs the system account; only http or system-account", () => {
    const sys = { users: [{ user: "app", password: "pw" }], systemAccount: { user: "sys", password: "spw" } };
    expect(validateClusterSpec(spec({ monitoring: "system-account", auth: sys }))).toEqual([]);
    expect(validateClusterSpec(spec({ monitoring: "http" }))).toEqual([]);
    expect(errorAt(spec({ monitoring: "system-account" }), "monitoring")).toMatch(/set auth\.systemAccount/);
    const typo = { monitoring: "sys" } as unknown as Partial<ClusterSpec>;
    expect(errorAt(spec(typo), "monitoring")).toMatch(/use "http" \(the default\) or "system-account"/);
  });

  test("a single JetStream member is an error (it never becomes healthy in cluster mode)", () => {
    expect(errorAt(spec({ members: [member(1)] }), "members")).toMatch(/never becomes healthy.*use 3 members/);
  });

  describe("auth", () => {
    test("at most one of token, users, nkeys", () => {
      expect(errorAt(spec({ auth: { token: "t", users: [{ user: "a", password: "b" }] } }), "auth")).toMatch(
        /only one of token, users, nkeys \(found token and users\)/,
      );
    });
    test("non-empty values", () => {
      expect(errorAt(spec({ auth: { token: "" } }), "auth.token")).toMatch(/non-empty/);
      expect(errorAt(spec({ auth: { users: [] } }), "auth.users")).toMatch(/at least one/);
      expect(errorAt(spec({ auth: { users: [{ user: "a", password: "" }] } }), "auth.users[0].password")).toMatch(
        /non-empty/,
      );
      expect(errorAt(spec({ auth: { nkeys: [] } }), "auth.nkeys")).toMatch(/at least one/);
      expect(errorAt(spec({ auth: { token: "a\nb" } }), "auth.token")).toMatch(/control character/);
    });
    test("user names are unique, the system user included", () => {
      const users = [
        { user: "app", password: "a" },
        { user: "app", password: "b" },
      ];
      expect(errorAt(spec({ auth: { users } }), "auth.users[1].user")).toMatch(/already auth\.users\[0\]\.user/);
      expect(
        errorAt(
          spec({ auth: { users: [users[0]], systemAccount: { user: "app", password: "s" } } }),
          "auth.systemAccount.user",
        ),
      ).toMatch(/Duplicate user/);
    });
    test("nkeys are user public keys; the probe seed is a user seed of a listed key", () => {
      expect(errorAt(spec({ auth: { nkeys: ["UABC"] } }), "auth.nkeys[0]")).toMatch(/not a user public nkey/);
      const badChecksum = publicKey.slice(0, -1) + (publicKey.endsWith("A") ? "B" : "A");
      expect(errorAt(spec({ auth: { nkeys: [badChecksum] } }), "auth.nkeys[0]")).toMatch(/checksum/);
      expect(errorAt(spec({ auth: { nkeys: [seed] } }), "auth.nkeys[0]")).toMatch(/seed \(a secret\)/);
      expect(
        errorAt(spec({ auth: { nkeys: [publicKey], probeNkeySeed: "SXNOTASEED" } }), "auth.probeNkeySeed"),
      ).toMatch(/SU/);
      expect(errorAt(spec({ auth: { nkeys: [publicKey], probeNkeySeed: otherSeed } }), "auth.probeNkeySeed")).toMatch(
        /not in auth\.nkeys/,
      );
    });
    test("a token cannot be combined with a system account", () => {
      expect(
        errorAt(spec({ auth: { token: "t", systemAccount: { user: "s", password: "p" } } }), "auth.token"),
      ).toMatch(/Can not have a token and accounts.*use auth\.users/);
    });
  });

  test("TLS needs certificate and key files", () => {
    expect(errorAt(spec({ tls: { certFile: "", keyFile: "/k" } }), "tls.certFile")).toMatch(/needs a path.*tls\.pem/);
    expect(errorAt(spec({ tls: { certFile: "/c", keyFile: "" } }), "tls.keyFile")).toMatch(/needs a path/);
  });

  test("extra settings: plain keys, not the engine's own, plain values", () => {
    expect(errorAt(spec({ extraSettings: { server_name: "x" } }), "extraSettings.server_name")).toMatch(
      /written by the engine/,
    );
    expect(errorAt(spec({ extraSettings: { "bad key": 1 } }), "extraSettings.bad key")).toMatch(/setting name/);
    expect(errorAt(spec({ extraSettings: { max_payload: 1e21 } }), "extraSettings.max_payload")).toMatch(/exponent/);
    expect(errorAt(spec({ extraSettings: { tag: "a\nb" } }), "extraSettings.tag")).toMatch(/control character/);
  });

  test("loose input from stack config is reported, not thrown", () => {
    const loose = { name: "x", version: "2.15.2" } as unknown as ClusterSpec;
    const fields = validateClusterSpec(loose).map((p) => p.field);
    expect(fields).toEqual(expect.arrayContaining(["members", "surge", "lameDuck", "routes", "jetstream.enabled"]));
  });

  test("SpecError lists every problem as field: message", () => {
    const bad = spec({ version: "v2.15.2", lameDuck: { durationSeconds: 3, gracePeriodSeconds: 1 } });
    let caught: unknown;
    try {
      assertValidClusterSpec(bad);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SpecError);
    const err = caught as SpecError;
    expect(err.problems).toHaveLength(2);
    expect(err.message).toContain('version: "v2.15.2" is not a version; write 2.15.2');
    expect(err.message).toContain("lameDuck.durationSeconds: invalid lame_duck_duration of 3s, minimum is 30 seconds");
  });
});

describe("clusterSpecWarnings", () => {
  test("an even JetStream member count", () => {
    const four = spec({ members: [member(1), member(2), member(3), member(4)] });
    expect(warningAt(four, "members")).toMatch(/4 JetStream members tolerate 1 member down, the same as 3 members do/);
    const forty = spec({ members: Array.from({ length: 40 }, (_, i) => member(i + 1)) });
    // 40 members: quorum 21, so 19 may be down, the same as 39 members tolerate.
    expect(warningAt(forty, "members")).toMatch(
      /40 JetStream members tolerate 19 members down, the same as 39 members do/,
    );
    expect(warningAt(spec({ members: [member(1), member(2)] }), "members")).toMatch(/lose quorum/);
    expect(validateClusterSpec(four)).toEqual([]);
    expect(clusterSpecWarnings(spec({ members: [member(1), member(2)], jetstream: { enabled: false } }))).toEqual([]);
  });

  test("a single member without JetStream", () => {
    expect(warningAt(spec({ members: [member(1)], jetstream: { enabled: false } }), "members")).toMatch(
      /3 or 5 members/,
    );
  });

  test("nkeys without a probe seed, and a JetStream surge in a cluster without JetStream", () => {
    expect(warningAt(spec({ auth: { nkeys: [publicKey] } }), "auth.probeNkeySeed")).toMatch(/client probe/);
    const s = spec({
      jetstream: { enabled: false },
      surge: { ...spec().surge, jetstream: true },
      auth: { users: [{ user: "a", password: "b" }], systemAccount: { user: "s", password: "p" } },
    });
    expect(warningAt(s, "surge.jetstream")).toMatch(/no effect/);
  });
});

describe("validateClusterSpec on broken input", () => {
  it("reports a member that is not an object instead of throwing", () => {
    const broken = spec({ members: [member(1), undefined as unknown as MemberSpec, member(3)] });
    expect(validateClusterSpec(broken)).toEqual([expect.objectContaining({ field: "members[1]" })]);
  });
});

describe("TLS with client verification", () => {
  const tls = {
    certFile: "/etc/nats/server.pem",
    keyFile: "/etc/nats/server.key",
    caFile: "/etc/nats/ca.pem",
    verify: true,
  };
  it("warns that the engine's probe needs a client certificate", () => {
    expect(clusterSpecWarnings(spec({ tls }))).toEqual([expect.objectContaining({ field: "tls.probeCertFile" })]);
    expect(clusterSpecWarnings(spec({ tls: { ...tls, probeCertFile: "/c.pem", probeKeyFile: "/c.key" } }))).toEqual([]);
  });
  it("refuses half a client certificate", () => {
    expect(validateClusterSpec(spec({ tls: { ...tls, probeCertFile: "/c.pem" } }))).toEqual([
      expect.objectContaining({ field: "tls.probeKeyFile" }),
    ]);
  });
});

describe("gateways to the other clusters of a supercluster", () => {
  const jsOff = { jetstream: { enabled: false } };
  /** Loopback servers share a host: each gets a gateway port of its own (7222 for all would clash, rightly). */
  const gateways = (remotes: unknown) => {
    const s = spec({ ...jsOff, gateways: { remotes } as ClusterSpec["gateways"] });
    return {
      ...s,
      members: s.members.map((m, i) => ({ ...m, gatewayPort: 17_000 + i })),
      surge: { ...s.surge, gatewayPort: 17_099 },
    };
  };
  it("accepts other clusters by name with nats:// URLs", () => {
    expect(
      validateClusterSpec(gateways([{ name: "west", urls: ["nats://10.1.0.11:7222", "nats://[::1]:7222"] }])),
    ).toEqual([]);
  });
  it("names each bad remote: its own name, a repeat, no URL, a URL that is not one", () => {
    const own = spec().name;
    expect(errorAt(gateways([{ name: own, urls: ["nats://a:7222"] }]), "gateways.remotes[0].name")).toMatch(
      /is this cluster's own name/,
    );
    const twice = [
      { name: "west", urls: ["nats://a:7222"] },
      { name: "west", urls: ["nats://b:7222"] },
    ];
    expect(errorAt(gateways(twice), "gateways.remotes[1].name")).toMatch(/already gateways\.remotes\[0\]/);
    expect(errorAt(gateways([{ name: "west", urls: [] }]), "gateways.remotes[0].urls")).toMatch(/no URL for cluster/);
    expect(errorAt(gateways([{ name: "west", urls: ["http://a:7222"] }]), "gateways.remotes[0].urls[0]")).toMatch(
      /is not a gateway URL; write nats:\/\/host:port/,
    );
    expect(errorAt(gateways([]), "gateways.remotes")).toMatch(/no other cluster/);
  });
  it("a gateway port taken by another listener of the same host is named", () => {
    const s = gateways([{ name: "west", urls: ["nats://a:7222"] }]);
    const clash = { ...s, members: [{ ...s.members[0], gatewayPort: s.members[0].clientPort }, ...s.members.slice(1)] };
    expect(errorAt(clash, "members[0].gatewayPort")).toMatch(/is already members\[0\]\.clientPort/);
  });
  it("gateways with leaf nodes need a system account (nats-server refuses to start without one)", () => {
    const s = gateways([{ name: "west", urls: ["nats://a:7222"] }]);
    const hub = { ...s, leafnodes: {} };
    expect(errorAt(hub, "auth.systemAccount")).toMatch(/leaf nodes and gateways \(both being defined\) require/);
    const sys = { systemAccount: { user: "sys", password: "a-long-enough-password" } };
    expect(validateClusterSpec({ ...hub, auth: sys }).filter((p) => p.field === "auth.systemAccount")).toEqual([]);
  });
  it("refuses gateways with JetStream in a lone cluster, and says to describe the supercluster in one stack", () => {
    const s = spec({
      jetstream: { enabled: true },
      gateways: { remotes: [{ name: "west", urls: ["nats://a:7222"] }] },
    });
    expect(errorAt(s, "gateways")).toMatch(/need every cluster of the supercluster in one stack/);
    // As one cluster of a supercluster described whole, the rule across clusters is engine/supercluster's.
    expect(validateClusterSpec(s, { inSupercluster: true }).filter((p) => p.field === "gateways")).toEqual([]);
  });
});

describe("leaf-node connections (this cluster as a hub)", () => {
  /** Loopback members share a host: each gets a leafnode port of its own (7422 for all would clash, rightly). */
  const hub = (leafnodes: unknown, overrides: Partial<ClusterSpec> = {}): ClusterSpec => {
    const s = spec({ leafnodes: leafnodes as ClusterSpec["leafnodes"], ...overrides });
    return { ...s, members: s.members.map((m, i) => ({ ...m, leafnodePort: 17_400 + i })) };
  };
  it("accepts expected leaves by server name, with or without an account", () => {
    expect(validateClusterSpec(hub({ expected: [{ name: "leaf-1" }, { name: "leaf-1", account: "APP" }] }))).toEqual(
      [],
    );
    expect(validateClusterSpec(hub({}))).toEqual([]);
  });
  it("names each bad leaf: no name, a repeat (same account), not a list", () => {
    expect(errorAt(hub({ expected: [{ name: "" }] }), "leafnodes.expected[0].name")).toMatch(/non-empty string/);
    expect(
      errorAt(hub({ expected: [{ name: "l" }, { name: "l", account: "$G" }] }), "leafnodes.expected[1].name"),
    ).toMatch(/already leafnodes\.expected\[0\]; list each leaf once/);
    expect(errorAt(hub({ expected: "leaf-1" }), "leafnodes.expected")).toMatch(/not a list/);
  });
  it("the members' default 7422 clashes on one host, and a port taken by another listener is named", () => {
    const s = spec({ leafnodes: {} });
    expect(errorAt(s, "members[1].leafnodePort")).toMatch(/port 7422 on 127\.0\.0\.1 is already members\[0\]/);
    const h = hub({});
    const clash = {
      ...h,
      members: [{ ...h.members[0], leafnodePort: h.members[0].monitorPort }, ...h.members.slice(1)],
    };
    expect(errorAt(clash, "members[0].leafnodePort")).toMatch(/is already members\[0\]\.monitorPort/);
  });
  it("refuses tls.clients optional: the leafnode port has no allow_non_tls", () => {
    const tls = { certFile: "/c.pem", keyFile: "/k.pem", caFile: "/ca.pem", clients: "optional" as const };
    expect(errorAt(hub({}, { tls }), "leafnodes")).toMatch(/tls\.clients "optional" with leafnodes is not supported/);
    expect(validateClusterSpec(hub({}, { tls: { ...tls, clients: "required" } }))).toEqual([]);
  });
});

describe("this cluster as a leaf of a hub", () => {
  const leaf = (urls: unknown, overrides: Partial<ClusterSpec> = {}): ClusterSpec =>
    spec({ jetstream: { enabled: false }, hub: { urls } as ClusterSpec["hub"], ...overrides });
  it("accepts the hub's leafnode URLs", () => {
    expect(validateClusterSpec(leaf(["nats-leaf://10.2.0.11:7422", "nats://[::1]:7422"]))).toEqual([]);
  });
  it("names each bad URL: none, credentials in it, TLS, not a URL", () => {
    expect(errorAt(leaf([]), "hub.urls")).toMatch(/no hub URL/);
    expect(errorAt(leaf(["nats-leaf://u:secret@10.2.0.11:7422"]), "hub.urls[0]")).toMatch(
      /credentials in a hub URL are not supported/,
    );
    expect(errorAt(leaf(["tls://10.2.0.11:7422"]), "hub.urls[0]")).toMatch(/TLS to the hub is not supported yet/);
    expect(errorAt(leaf(["http://10.2.0.11:7422"]), "hub.urls[0]")).toMatch(/is not a leafnode URL/);
  });
  it("refuses JetStream on a leaf cluster until JetStream domains are supported", () => {
    expect(errorAt(leaf(["nats-leaf://a:7422"], { jetstream: { enabled: true } }), "hub")).toMatch(
      /a leaf cluster with JetStream is not supported yet/,
    );
  });
});
