/**
 * A change of the credentials a leaf connects to its hub with, against the supercluster as last applied: refused when
 * the hub does not accept the new ones yet (the leaf rolls first and would be refused), accepted when the hub already
 * knows them (the second step of a two-step rotation), when nothing changed, and when there is no earlier state.
 * Pure, milliseconds.
 */
import { DEFAULT_LAME_DUCK } from "../../engine/defaults";
import { ClusterSpec, ServerEndpoint } from "../../engine/spec";
import { hubCredentialsChangeProblems } from "../../engine/supercluster/credentials-change";

const ep = (name: string, host: string): ServerEndpoint => ({
  name,
  host,
  clientPort: 4222,
  clusterPort: 6222,
  monitorPort: 8222,
});
type Users = ReadonlyArray<{ readonly user: string; readonly password: string }>;
const SYS = { user: "sys", password: "sys-pw" };

/** The hub `east` (leafnodes on 7422) with these client users. */
function hub(users: Users): ClusterSpec {
  return {
    name: "east",
    version: "2.15.2",
    members: [ep("east1", "10.1.0.1"), ep("east2", "10.1.0.2"), ep("east3", "10.1.0.3")],
    surge: ep("east-surge", "10.1.0.9"),
    routes: { kind: "explicit" },
    jetstream: { enabled: false },
    lameDuck: DEFAULT_LAME_DUCK,
    leafnodes: { expected: [{ name: "edge1" }] },
    auth: { users, systemAccount: SYS },
  };
}

/** The leaf cluster `edge` of east, connecting as `user`, with these client users (the stack's, shared). */
function leaf(user: string, users: Users): ClusterSpec {
  return {
    name: "edge",
    version: "2.15.2",
    members: [ep("edge1", "10.4.0.1")],
    surge: ep("edge-surge", "10.4.0.9"),
    routes: { kind: "explicit" },
    jetstream: { enabled: false },
    lameDuck: DEFAULT_LAME_DUCK,
    hub: { urls: ["nats-leaf://10.1.0.1:7422"], user },
    auth: { users, systemAccount: SYS },
  };
}

const OLD = [
  { user: "app", password: "app-pw" },
  { user: "leaf", password: "old-pw" },
];
const NEW_PASSWORD = [
  { user: "app", password: "app-pw" },
  { user: "leaf", password: "new-pw" },
];
const WITH_LEAF2 = [...OLD, { user: "leaf2", password: "leaf2-pw" }];

describe("hubCredentialsChangeProblems", () => {
  it("refuses a password changed in place: the leaf would restart with one its hub does not know yet", () => {
    const problems = hubCredentialsChangeProblems(
      [hub(OLD), leaf("leaf", OLD)],
      [hub(NEW_PASSWORD), leaf("leaf", NEW_PASSWORD)],
    );
    expect(problems).toHaveLength(1);
    expect(problems[0].field).toBe("clusters[1].hub.user");
    expect(problems[0].message).toMatch(/the password of "leaf" changes, which east does not accept yet/);
    expect(problems[0].message).toMatch(/two steps: add the new user .* then switch the leaf to it/);
    // The passwords themselves are never quoted.
    expect(problems[0].message).not.toMatch(/old-pw|new-pw/);
  });

  it("refuses a switch to a user added in the same apply, and accepts it once the hub has it", () => {
    const together = hubCredentialsChangeProblems(
      [hub(OLD), leaf("leaf", OLD)],
      [hub(WITH_LEAF2), leaf("leaf2", WITH_LEAF2)],
    );
    expect(together.map((p) => p.message)).toEqual([expect.stringMatching(/switches to user "leaf2", which east/)]);
    // Step one (add leaf2) was applied: the hub knows leaf2, so switching to it is safe.
    expect(
      hubCredentialsChangeProblems(
        [hub(WITH_LEAF2), leaf("leaf", WITH_LEAF2)],
        [hub(WITH_LEAF2), leaf("leaf2", WITH_LEAF2)],
      ),
    ).toEqual([]);
  });

  it("passes when nothing changed, on a first deployment, and for a hub that had no client users", () => {
    expect(hubCredentialsChangeProblems([hub(OLD), leaf("leaf", OLD)], [hub(OLD), leaf("leaf", OLD)])).toEqual([]);
    expect(hubCredentialsChangeProblems([], [hub(NEW_PASSWORD), leaf("leaf", NEW_PASSWORD)])).toEqual([]);
    const open = { ...hub([]), auth: { systemAccount: SYS } };
    const openLeaf = { ...leaf("leaf", OLD), hub: { urls: ["nats-leaf://10.1.0.1:7422"] } };
    expect(hubCredentialsChangeProblems([open, openLeaf], [hub(OLD), leaf("leaf", OLD)])).toEqual([]);
  });
});
