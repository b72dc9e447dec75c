/**
 * A change of the credentials a leaf cluster connects to its hub with, judged against the supercluster as it was last
 * applied: leaves roll before their hub (order.ts), so a leaf restarted with a user or password its hub does not
 * accept yet would be refused, fail its `hub` gate and be rolled back, and the run would halt with the rotation never
 * done. Refused at preview instead, with the way that works: two steps (add the new user, then switch the leaf to it).
 * Pure: the caller passes the specs it last applied (the Pulumi provider: the old inputs), with their auth.
 */
import type { Problem } from "../problem";
import type { ClusterSpec } from "../spec";
import { hubOf } from "./validate";

/** The password `user` has in a cluster's client users, undefined when it has none by that name. */
function passwordOf(spec: ClusterSpec, user: string): string | undefined {
  return spec.auth?.users?.find((u) => u.user === user)?.password;
}

/** Whether a hub as `hub` describes it accepts a leaf that connects as `user` with `password`. */
function accepts(hub: ClusterSpec, user: string, password: string | undefined): boolean {
  // A hub without client users accepts any leaf (nats-server checks no credentials it was not given).
  if (!hub.auth?.users?.length) return true;
  return password !== undefined && passwordOf(hub, user) === password;
}

/**
 * For each leaf cluster of `after` whose hub credentials (`hub.user` and its password) differ from those it had in
 * `before`: a problem at `clusters[i].hub.user` unless the hub, as last applied, already accepts the new ones.
 * Clusters new in `after`, or whose hub is new, have nothing to compare with and pass.
 */
export function hubCredentialsChangeProblems(
  before: ReadonlyArray<ClusterSpec>,
  after: ReadonlyArray<ClusterSpec>,
): Problem[] {
  const problems: Problem[] = [];
  after.forEach((leaf, i) => {
    const user = leaf.hub?.user;
    const was = before.find((s) => s.name === leaf.name);
    if (user === undefined || was?.hub === undefined) return;
    const password = passwordOf(leaf, user);
    if (was.hub.user === user && passwordOf(was, user) === password) return;
    const hubName = hubOf(leaf, after);
    const hubWas = before.find((s) => s.name === hubName);
    if (!hubWas || accepts(hubWas, user, password)) return;
    const what = was.hub.user === user ? `the password of "${user}" changes` : `it switches to user "${user}"`;
    problems.push({
      field: `clusters[${i}].hub.user`,
      message:
        `leaf cluster ${leaf.name} connects to its hub ${hubName} as "${user}", and ${what}, which ${hubName} does ` +
        "not accept yet: leaves roll before their hub, so its servers would restart with credentials the hub " +
        "refuses and be rolled back. Do it in two steps: add the new user (or password, as a new user) to the " +
        "auth and apply it (the hub learns it, the leaf is untouched), then switch the leaf to it and apply again; " +
        "remove the old user last",
    });
  });
  return problems;
}
