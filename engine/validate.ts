import * as nkeys from "@nats-io/nkeys";
import { RENDERED_KEYS } from "./config/render";
import { gatewayPortOf, leafnodePortOf } from "./config/for-server";
import { DEFAULT_LEAF_ACCOUNT, DEFAULT_POLICY, MIN_LAME_DUCK_SECONDS } from "./defaults";
import { AddProblem, Problem } from "./problem";
import { AuthSpec, clientTlsMode, ClusterSpec, RolloutPolicy, ServerEndpoint } from "./spec";
import { checkGatewayTrust, checkTls, gatewayTlsWarnings, tlsWarnings } from "./tls/material-check";
import { versionProblem } from "./versions";

/**
 * Validation of a ClusterSpec before anything touches a host (the RollingUpgrade resource's `check`).
 * Every message names the field and says how to fix it. Problems that nats-server itself would refuse at start (a
 * short lame duck duration, a token next to accounts, a duplicate user) are caught here, with the server's own
 * wording where it has one, so a rollout never stops a member only to find its new config cannot start.
 * Specs come from stack config, so the checks do not trust the static types: a missing list is a problem, not a crash.
 */

/** Thrown by {@link assertValidClusterSpec}; its message lists every problem as `field: message`. */
export class SpecError extends Error {
  constructor(readonly problems: ReadonlyArray<Problem>) {
    super(
      `invalid cluster spec (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.map((p) => `  ${p.field}: ${p.message}`).join("\n")}`,
    );
    this.name = "SpecError";
  }
}

const NAME = /^[A-Za-z0-9_-]+$/;
const HOST = /^[A-Za-z0-9.:-]+$/;
const SETTING_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
/** A user public nkey: `U` and 55 more base32 characters (56 in all). */
const USER_NKEY = /^U[A-Z2-7]{55}$/;
/** A user seed: `SU` and 56 more base32 characters (58 in all). */
const USER_SEED = /^SU[A-Z2-7]{56}$/;
const PORT_FIELDS = ["clientPort", "clusterPort", "monitorPort"] as const;
type PortField = (typeof PORT_FIELDS)[number] | "gatewayPort" | "leafnodePort";

/** A labelled server: members as `members[i]`, the surge server as `surge`. */
interface Labelled {
  readonly label: string;
  readonly server: ServerEndpoint;
}

function labelledServers(spec: ClusterSpec): Labelled[] {
  const members = Array.isArray(spec.members)
    ? spec.members.map((server, i) => ({ label: `members[${i}]`, server }))
    : [];
  return spec.surge ? [...members, { label: "surge", server: spec.surge }] : members;
}

/** A required string: present, non-empty, no control characters (it is rendered into a config file). */
function checkText(add: AddProblem, field: string, value: unknown, what: string): boolean {
  if (typeof value !== "string" || value.length === 0) {
    add(field, `${what} must be a non-empty string`);
    return false;
  }
  if (CONTROL.test(value)) {
    add(field, `${what} contains a control character (newline, tab, …); a config file cannot hold it, remove it`);
    return false;
  }
  return true;
}

function checkClusterName(add: AddProblem, spec: ClusterSpec): void {
  if (typeof spec.name !== "string" || spec.name.length === 0)
    add("name", 'cluster name is empty; set a name such as "nats-prod"');
  else if (!NAME.test(spec.name))
    add("name", `cluster name "${spec.name}" may use only letters, digits, "_" and "-"; rename it`);
}

function checkVersion(add: AddProblem, spec: ClusterSpec): void {
  const problem = versionProblem(spec.version);
  if (problem) add("version", problem);
}

function checkServers(add: AddProblem, spec: ClusterSpec): void {
  if (!Array.isArray(spec.members) || spec.members.length === 0)
    add("members", "the cluster has no members; list at least one (3 or 5 recommended)");
  if (!spec.surge)
    add("surge", "no surge server; describe one (a name and ports of its own) to carry clients during restarts");

  const names = new Map<string, string>();
  const listeners = new Map<string, string>();
  for (const { label, server } of labelledServers(spec)) {
    if (!server || typeof server !== "object") {
      add(label, "not a server; give it a name, host, clientPort, clusterPort and monitorPort");
      continue;
    }
    if (typeof server.name !== "string" || server.name.length === 0)
      add(`${label}.name`, "server name is empty; give every server a name of its own");
    else if (!NAME.test(server.name)) {
      add(
        `${label}.name`,
        `server name "${server.name}" may use only letters, digits, "_" and "-" (it becomes server_name, the JetStream peer id and a directory name); rename it`,
      );
    } else {
      const owner = names.get(server.name);
      if (owner !== undefined) {
        add(
          `${label}.name`,
          `server name "${server.name}" is already ${owner}.name; every server (the surge server too) needs a name of its own, since the JetStream peer id is derived from it`,
        );
      } else names.set(server.name, label);
    }

    const hostOk = checkText(add, `${label}.host`, server.host, "host");
    if (hostOk && !HOST.test(server.host))
      add(
        `${label}.host`,
        `host "${server.host}" is not an IP address or DNS name; use one such as 10.0.0.5 or nats-1.internal`,
      );

    // The gateway and leafnode ports join the others only where they are listened on (the leafnode port: members).
    const fields: ReadonlyArray<PortField> = [
      ...PORT_FIELDS,
      ...(spec.gateways ? ["gatewayPort" as const] : []),
      ...(spec.leafnodes && label !== "surge" ? ["leafnodePort" as const] : []),
    ];
    for (const field of fields) {
      const port: unknown =
        field === "gatewayPort"
          ? gatewayPortOf(spec, server)
          : field === "leafnodePort"
            ? leafnodePortOf(spec, server)
            : server[field];
      if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
        add(`${label}.${field}`, `port ${String(port)} is not an integer in 1..65535; pick another port`);
        continue;
      }
      if (!hostOk) continue;
      const key = `${server.host.toLowerCase()}:${port}`;
      const owner = listeners.get(key);
      if (owner !== undefined)
        add(`${label}.${field}`, `port ${port} on ${server.host} is already ${owner}; pick another port`);
      else listeners.set(key, `${label}.${field}`);
    }
  }
}

function checkLameDuck(add: AddProblem, spec: ClusterSpec): void {
  if (!spec.lameDuck) {
    add(
      "lameDuck",
      "no lame duck settings; set durationSeconds (30 or more) and gracePeriodSeconds (below it, e.g. 10)",
    );
    return;
  }
  const { durationSeconds: d, gracePeriodSeconds: g } = spec.lameDuck;
  const dOk = typeof d === "number" && Number.isInteger(d);
  if (!dOk)
    add("lameDuck.durationSeconds", `lame duck duration ${String(d)} is not a whole number of seconds; use e.g. 30`);
  else if (d < MIN_LAME_DUCK_SECONDS) {
    add(
      "lameDuck.durationSeconds",
      `invalid lame_duck_duration of ${d}s, minimum is ${MIN_LAME_DUCK_SECONDS} seconds; set it to ${MIN_LAME_DUCK_SECONDS} or more`,
    );
  }
  if (typeof g !== "number" || !Number.isInteger(g) || g < 0) {
    add(
      "lameDuck.gracePeriodSeconds",
      `grace period ${String(g)} is not a whole number of seconds (0 or more); use e.g. 10`,
    );
  } else if (dOk && g >= d) {
    add(
      "lameDuck.gracePeriodSeconds",
      `grace period of ${g}s must be shorter than lame_duck_duration of ${d}s; lower it (10 is the usual value)`,
    );
  }
}

function checkRoutes(add: AddProblem, spec: ClusterSpec): void {
  const routes = spec.routes;
  if (!routes) {
    add("routes", 'no route mode; set routes to { kind: "explicit" } or { kind: "seed", seeds: [...] }');
    return;
  }
  if (routes.kind === "explicit") return;
  if (routes.kind !== "seed") {
    add("routes.kind", `unknown route mode "${String((routes as { kind: unknown }).kind)}"; use "explicit" or "seed"`);
    return;
  }
  if (!Array.isArray(routes.seeds) || routes.seeds.length === 0) {
    add(
      "routes.seeds",
      'seed mode needs at least one seed; list one or more member names, or use { kind: "explicit" }',
    );
    return;
  }
  const members = Array.isArray(spec.members) ? spec.members.map((m) => m.name) : [];
  const seen = new Map<string, number>();
  routes.seeds.forEach((seed, i) => {
    const field = `routes.seeds[${i}]`;
    if (seen.has(seed)) add(field, `seed "${seed}" is already routes.seeds[${seen.get(seed)}]; list each seed once`);
    else seen.set(seed, i);
    if (members.includes(seed)) return;
    if (spec.surge && seed === spec.surge.name)
      add(
        field,
        `seed "${seed}" is the surge server, which leaves after every rollout; seeds must be members (${members.join(", ")})`,
      );
    else add(field, `seed "${seed}" is not a member; seeds must be member names (${members.join(", ")})`);
  });
}

function checkByteLimit(add: AddProblem, field: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    add(
      field,
      `${String(value)} is not a whole number of bytes; use an integer such as 1073741824 (1 GiB), or leave it out for the server default`,
    );
  }
}

/**
 * How a spec is validated: alone (a stack of one cluster), or as one cluster of a supercluster whose other clusters
 * are validated and rolled with it (engine/supercluster/validate.ts adds the rules across them).
 */
export interface SpecContext {
  /** The spec is one cluster of a supercluster described whole (every cluster its gateways join is in it). */
  readonly inSupercluster?: boolean;
}

/** `gateway {}`: other clusters by a name each, none this cluster's own, each with nats:// URLs of some servers. */
function checkGateways(add: AddProblem, spec: ClusterSpec, context: SpecContext): void {
  const gw = spec.gateways;
  if (gw === undefined) return;
  if (spec.jetstream?.enabled && !context.inSupercluster) {
    // One meta group then spans every cluster: the gates, the batch planner and the ghost-peer check must know the
    // other clusters' JetStream servers, which a stack of one cluster cannot. Refused before anything is touched.
    add(
      "gateways",
      "gateways with JetStream need every cluster of the supercluster in one stack (one JetStream meta group spans " +
        "them all, and a stack of one cluster cannot know the other clusters' peers): describe all the clusters " +
        "in one stack (a supercluster: engine reconcileSupercluster), or turn jetstream off, or drop gateways",
    );
  }
  if ((spec.leafnodes !== undefined || spec.hub !== undefined) && !spec.auth?.systemAccount) {
    // Seen with 2.14.9 at start: nats-server exits with this, so a rollout would stop a member only to find its new
    // config cannot start.
    add(
      "auth.systemAccount",
      'nats-server refuses to start a server with both gateways and leaf nodes without a system account ("leaf ' +
        'nodes and gateways (both being defined) require a system account to also be configured"); set ' +
        "auth.systemAccount, or drop leafnodes/hub or gateways",
    );
  }
  if (!Array.isArray(gw.remotes) || gw.remotes.length === 0) {
    add("gateways.remotes", 'no other cluster; list each as { name, urls: ["nats://host:7222"] }, or drop gateways');
    return;
  }
  const seen = new Map<string, number>();
  gw.remotes.forEach((remote, i) => {
    const field = `gateways.remotes[${i}]`;
    if (!checkText(add, `${field}.name`, remote?.name, "cluster name")) return;
    if (remote.name === spec.name)
      add(`${field}.name`, `"${remote.name}" is this cluster's own name; list only the other clusters`);
    else if (seen.has(remote.name))
      add(
        `${field}.name`,
        `"${remote.name}" is already gateways.remotes[${seen.get(remote.name)}]; list each cluster once`,
      );
    seen.set(remote.name, i);
    if (!Array.isArray(remote.urls) || remote.urls.length === 0) {
      add(
        `${field}.urls`,
        `no URL for cluster "${remote.name}"; give its servers' gateway URLs, e.g. nats://10.1.0.11:7222`,
      );
      return;
    }
    (remote.urls as ReadonlyArray<unknown>).forEach((url: unknown, j: number) => {
      if (!checkText(add, `${field}.urls[${j}]`, url, "gateway URL")) return;
      const text = url as string;
      if (!/^(nats|tls):\/\/([^\s/:[\]]+|\[[0-9a-fA-F:]+\])(:\d{1,5})?$/.test(text))
        add(
          `${field}.urls[${j}]`,
          `"${text}" is not a gateway URL; write nats://host:port, e.g. nats://10.1.0.11:7222`,
        );
    });
  });
}

/**
 * `leafnodes {}`: the leaf servers expected, each by a server name and an account, listed once; and a TLS posture
 * the leafnode port can take without accepting plaintext leaves the clients could not make.
 */
function checkLeafNodes(add: AddProblem, spec: ClusterSpec): void {
  const leaf = spec.leafnodes;
  if (leaf === undefined) return;
  if (!leaf || typeof leaf !== "object") {
    add("leafnodes", "not an object; write { port?, expected?: [{ name, account? }] }, or leave leafnodes out");
    return;
  }
  if (spec.tls && clientTlsMode(spec) === "optional") {
    // Plaintext leaves next to TLS clients would be a way around the TLS the clients are moving to; and TLS-only
    // leaves while clients may still be plaintext is a second posture to explain. Refused until the move is done.
    add(
      "leafnodes",
      'tls.clients "optional" with leafnodes is not supported: the leafnode port has no allow_non_tls, so it would ' +
        'be either plaintext (weaker than the clients) or TLS-only; finish the move to TLS (tls.clients: "required"), ' +
        "then add leafnodes",
    );
  }
  if (leaf.expected === undefined) return;
  if (!Array.isArray(leaf.expected)) {
    add("leafnodes.expected", 'not a list; write [{ name: "leaf-1" }, { name: "leaf-2", account: "APP" }]');
    return;
  }
  const seen = new Map<string, number>();
  leaf.expected.forEach((e: unknown, i: number) => {
    const field = `leafnodes.expected[${i}]`;
    const entry = e as { name?: unknown; account?: unknown } | null;
    if (!entry || typeof entry !== "object") {
      add(field, 'not a leaf; write { name: "<the leaf server\'s server_name>", account?: "$G" }');
      return;
    }
    if (!checkText(add, `${field}.name`, entry.name, "leaf server name")) return;
    if (entry.account !== undefined && !checkText(add, `${field}.account`, entry.account, "account name")) return;
    const key = `${entry.name as string}\u0000${(entry.account as string | undefined) ?? DEFAULT_LEAF_ACCOUNT}`;
    const first = seen.get(key);
    if (first !== undefined)
      add(
        `${field}.name`,
        `leaf "${entry.name as string}" is already leafnodes.expected[${first}]; list each leaf once`,
      );
    else seen.set(key, i);
  });
}

/**
 * `hub`: this cluster as a leaf of a hub. Only what this engine can render safely: URLs without credentials (a
 * password in a URL would sit in plain text in the config and in every log that quotes it) and without TLS to the hub
 * (its CA is not part of this spec yet), and no JetStream (a leaf with JetStream needs a JetStream domain of its own,
 * or its meta group and the hub's would be one; not supported yet).
 */
function checkHub(add: AddProblem, spec: ClusterSpec): void {
  const hub = spec.hub;
  if (hub === undefined) return;
  if (!hub || typeof hub !== "object" || !Array.isArray(hub.urls) || hub.urls.length === 0) {
    add("hub.urls", 'no hub URL; give some of the hub\'s leafnode URLs, e.g. ["nats-leaf://10.2.0.11:7422"]');
    return;
  }
  if (spec.jetstream?.enabled) {
    // Without a `jetstream { domain }` of its own, a leaf's JetStream servers would join the hub's meta group over
    // the leaf connection (or, with one, run a second meta group the engine would have to gate apart): neither is
    // rendered nor gated here yet. A leaf without JetStream still reaches the hub's streams through the hub.
    add(
      "hub",
      "a leaf cluster with JetStream is not supported yet (it needs a JetStream domain of its own, or its meta group " +
        "and the hub's become one); turn jetstream off for this cluster, or drop hub",
    );
  }
  (hub.urls as ReadonlyArray<unknown>).forEach((url: unknown, i: number) => {
    const field = `hub.urls[${i}]`;
    if (!checkText(add, field, url, "hub URL")) return;
    const text = url as string;
    if (/^[a-z-]+:\/\/[^/]*@/i.test(text)) {
      add(
        field,
        "credentials in a hub URL are not supported (they would be plain text in the config and in logs); let the hub " +
          "accept this cluster's leaves without them, or leave hub out",
      );
    } else if (/^(tls|wss?):/i.test(text)) {
      add(
        field,
        `"${text}": TLS to the hub is not supported yet (the hub's CA is not part of this spec); use nats-leaf://`,
      );
    } else if (!/^(nats-leaf|nats):\/\/([^\s/:[\]@]+|\[[0-9a-fA-F:]+\])(:\d{1,5})?$/.test(text)) {
      add(field, `"${text}" is not a leafnode URL; write nats-leaf://host:port, e.g. nats-leaf://10.2.0.11:7422`);
    }
  });
}

function checkJetStream(add: AddProblem, spec: ClusterSpec): void {
  if (!spec.jetstream || typeof spec.jetstream.enabled !== "boolean") {
    add("jetstream.enabled", "say whether JetStream runs: set jetstream.enabled to true or false");
    return;
  }
  if (spec.jetstream.enabled && Array.isArray(spec.members) && spec.members.length === 1) {
    // Seen with 2.14.9-2.15.2: with a route only to itself the server waits for peers forever, and with no routes
    // it refuses to start ("JetStream cluster requires configured routes").
    add(
      "members",
      'a single JetStream member never becomes healthy in cluster mode (nats-server waits for peers forever: "JetStream is still recovering meta layer"); use 3 members, or set jetstream.enabled to false',
    );
  }
  checkByteLimit(add, "jetstream.maxMemoryBytes", spec.jetstream.maxMemoryBytes);
  checkByteLimit(add, "jetstream.maxFileBytes", spec.jetstream.maxFileBytes);
  if (spec.surge?.jetstream === true && !spec.auth?.systemAccount) {
    add(
      "surge.jetstream",
      "a JetStream surge server joins the meta group and must be peer-removed when it leaves, which needs a system-account user; set auth.systemAccount, or leave surge.jetstream off (the default)",
    );
  }
}

function checkMonitoring(add: AddProblem, spec: ClusterSpec): void {
  const how: unknown = spec.monitoring;
  if (how === undefined || how === "http") return;
  if (how !== "system-account") {
    add(
      "monitoring",
      `${JSON.stringify(how)} is not a way to read the servers; use "http" (the default) or "system-account"`,
    );
  } else if (!spec.auth?.systemAccount) {
    add(
      "monitoring",
      '"system-account" reads every server as the system-account user, and there is none; set auth.systemAccount, or use "http" (the default)',
    );
  }
}

function checkNkey(add: AddProblem, field: string, key: unknown): void {
  if (typeof key === "string" && USER_SEED.test(key)) {
    add(
      field,
      "this is a seed (a secret), not a public key; list the public key (U…) here and keep the seed in auth.probeNkeySeed",
    );
    return;
  }
  let valid = typeof key === "string" && USER_NKEY.test(key);
  if (valid) {
    try {
      nkeys.fromPublic(key as string);
    } catch {
      valid = false;
    }
  }
  if (!valid)
    add(
      field,
      `${JSON.stringify(key)} is not a user public nkey ("U" and 55 base32 characters with a valid checksum); generate one with \`nk -gen user -pubout\``,
    );
}

/** The public key of a user seed, or undefined when it is not a valid user seed. */
function seedPublicKey(seed: string): string | undefined {
  if (!USER_SEED.test(seed)) return undefined;
  try {
    return nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  } catch {
    return undefined;
  }
}

function checkAuth(add: AddProblem, auth: AuthSpec): void {
  const kinds = (["token", "users", "nkeys"] as const).filter((k) => auth[k] !== undefined);
  if (kinds.length > 1)
    add(
      "auth",
      `set only one of token, users, nkeys (found ${kinds.join(" and ")}); nats-server accepts one client auth method here`,
    );

  if (auth.token !== undefined) {
    checkText(add, "auth.token", auth.token, "token");
    if (auth.systemAccount) {
      add(
        "auth.token",
        'nats-server refuses a token together with accounts ("Can not have a token and accounts"), and auth.systemAccount defines one; use auth.users instead of a token, or drop auth.systemAccount',
      );
    }
  }

  const userOwners = new Map<string, string>();
  if (auth.users !== undefined) {
    if (!Array.isArray(auth.users) || auth.users.length === 0)
      add("auth.users", "no users listed; list at least one { user, password }, or leave users out");
    else {
      auth.users.forEach((u, i) => {
        if (checkText(add, `auth.users[${i}].user`, u.user, "user name")) {
          const owner = userOwners.get(u.user);
          if (owner !== undefined)
            add(
              `auth.users[${i}].user`,
              `user "${u.user}" is already ${owner}; nats-server refuses a duplicate user, rename one`,
            );
          else userOwners.set(u.user, `auth.users[${i}].user`);
        }
        checkText(add, `auth.users[${i}].password`, u.password, "password");
      });
    }
  }

  if (auth.nkeys !== undefined) {
    if (!Array.isArray(auth.nkeys) || auth.nkeys.length === 0)
      add("auth.nkeys", "no nkeys listed; list at least one user public key (U…), or leave nkeys out");
    else auth.nkeys.forEach((k, i) => checkNkey(add, `auth.nkeys[${i}]`, k));
  }

  if (auth.probeNkeySeed !== undefined) {
    const pub = typeof auth.probeNkeySeed === "string" ? seedPublicKey(auth.probeNkeySeed) : undefined;
    if (pub === undefined)
      add(
        "auth.probeNkeySeed",
        'not a user nkey seed ("SU" and 56 base32 characters with a valid checksum); use the seed printed by `nk -gen user`',
      );
    else if (!Array.isArray(auth.nkeys) || !auth.nkeys.includes(pub)) {
      add(
        "auth.probeNkeySeed",
        `the seed's public key ${pub} is not in auth.nkeys; add it there, or use the seed of a listed key`,
      );
    }
  }

  const sys = auth.systemAccount;
  if (sys !== undefined) {
    if (checkText(add, "auth.systemAccount.user", sys.user, "system-account user name")) {
      const owner = userOwners.get(sys.user);
      if (owner !== undefined)
        add(
          "auth.systemAccount.user",
          `user "${sys.user}" is already ${owner}; nats-server refuses a duplicate user ("Duplicate user"), pick another name`,
        );
    }
    checkText(add, "auth.systemAccount.password", sys.password, "system-account password");
  }
}

function checkEngineProbeCertificate(add: AddProblem, spec: ClusterSpec): void {
  const tls = spec.tls;
  if (tls === undefined) return;
  if ((tls.probeCertFile === undefined) !== (tls.probeKeyFile === undefined)) {
    add(
      tls.probeCertFile === undefined ? "tls.probeCertFile" : "tls.probeKeyFile",
      "the engine's client certificate needs both probeCertFile and probeKeyFile; set both or neither",
    );
  }
}

function checkExtraSettings(add: AddProblem, spec: ClusterSpec): void {
  const extra = spec.extraSettings;
  if (extra === undefined) return;
  for (const [key, value] of Object.entries(extra)) {
    const field = `extraSettings.${key}`;
    if (!SETTING_KEY.test(key))
      add(field, `"${key}" is not a plain nats-server setting name (letters, digits, "_"); fix the key`);
    else if (RENDERED_KEYS.has(key))
      add(field, `${key} is written by the engine from the cluster spec; set the matching spec field instead`);
    if (typeof value === "string") {
      if (CONTROL.test(value))
        add(field, "value contains a control character (newline, tab, …); a config file cannot hold it, remove it");
    } else if (typeof value === "number") {
      if (!Number.isFinite(value) || /e/i.test(String(value)))
        add(field, `${String(value)} is not a plain number a config file can hold; write it without an exponent`);
    } else if (typeof value !== "boolean") add(field, `value must be a string, number or boolean, got ${typeof value}`);
  }
}

/** Every error in the spec (empty when it is valid). Warnings are separate: {@link clusterSpecWarnings}. */
export function validateClusterSpec(spec: ClusterSpec, context: SpecContext = {}): Problem[] {
  const problems: Problem[] = [];
  const add: AddProblem = (field, message) => problems.push({ field, message });
  checkClusterName(add, spec);
  checkVersion(add, spec);
  checkServers(add, spec);
  checkLameDuck(add, spec);
  checkRoutes(add, spec);
  checkGateways(add, spec, context);
  checkLeafNodes(add, spec);
  checkHub(add, spec);
  checkJetStream(add, spec);
  if (spec.auth) checkAuth(add, spec.auth);
  checkTls(add, spec, labelledServers(spec));
  checkGatewayTrust(add, spec);
  checkEngineProbeCertificate(add, spec);
  checkExtraSettings(add, spec);
  checkMonitoring(add, spec);
  return problems;
}

/** Legal but risky choices: the rollout proceeds, and the warnings are shown in preview. */
export function clusterSpecWarnings(spec: ClusterSpec): Problem[] {
  const warnings: Problem[] = [];
  const add: AddProblem = (field, message) => warnings.push({ field, message });
  const count = Array.isArray(spec.members) ? spec.members.length : 0;
  const jetstream = spec.jetstream?.enabled === true;

  if (count === 1 && !jetstream) {
    // A single JetStream member is an error (validateClusterSpec), so only the plain case is a warning.
    add(
      "members",
      "a single member: clients depend on the surge server while it restarts; use 3 or 5 members for a cluster that keeps serving",
    );
  } else if (jetstream && count % 2 === 0) {
    add(
      "members",
      count === 2
        ? "2 JetStream members lose quorum whenever one is down, so every member restart stops JetStream; use an odd member count (3 or 5) so a quorum survives one member down"
        : `${count} JetStream members tolerate ${count / 2 - 1} member${count / 2 - 1 === 1 ? "" : "s"} down, ` +
            `the same as ${count - 1} members do; use an odd member count (${count - 1} or ${count + 1}) so every ` +
            `member adds to the failures the quorum survives`,
    );
  }
  if (spec.surge?.jetstream === true && !jetstream)
    add("surge.jetstream", "has no effect while jetstream.enabled is false; leave it off");
  const auth = spec.auth;
  if (
    auth?.nkeys !== undefined &&
    auth.users === undefined &&
    auth.token === undefined &&
    auth.probeNkeySeed === undefined
  ) {
    add(
      "auth.probeNkeySeed",
      "with only nkeys configured the engine's client probe cannot connect; set the seed of one of auth.nkeys, or turn the client probe off",
    );
  }
  tlsWarnings(add, spec);
  gatewayTlsWarnings(add, spec);
  if (spec.tls?.verify === true && spec.tls.probeCertFile === undefined) {
    add(
      "tls.probeCertFile",
      "tls.verify requires client certificates, and the engine's client probe has none: pre-flight would refuse; set tls.probeCertFile and tls.probeKeyFile, or turn the client probe off",
    );
  }
  return warnings;
}

/** Throws a {@link SpecError} listing every problem when the spec is invalid. */
export function assertValidClusterSpec(spec: ClusterSpec, context: SpecContext = {}): void {
  const problems = validateClusterSpec(spec, context);
  if (problems.length > 0) throw new SpecError(problems);
}

/** How each policy field is checked: booleans, or numbers with a lower bound (and whether it must be whole). */
const POLICY_RULES: {
  readonly [K in keyof RolloutPolicy]:
    { kind: "boolean" } | { kind: "number"; min: number; why: string; whole?: string };
} = {
  autoRollback: { kind: "boolean" },
  useSurge: { kind: "boolean" },
  healthyDeadlineSeconds: { kind: "number", min: 1, why: "a member needs time to pass its gates" },
  minHealthySeconds: { kind: "number", min: 0, why: "0 turns the soak off" },
  pollIntervalMs: { kind: "number", min: 50, why: "polling faster only loads the servers" },
  stopTimeoutSeconds: { kind: "number", min: 1, why: "lame duck needs time to move clients" },
  allowUnsafeDowngrade: { kind: "boolean" },
  clientProbe: { kind: "boolean" },
  maxUnavailable: {
    kind: "number",
    min: 1,
    why: "1 is one member at a time",
    whole: "a count of members; write e.g. 3",
  },
  watchPublishing: { kind: "boolean" },
};

/** The policy fields, for messages and decoders. */
export const POLICY_FIELDS = Object.keys(POLICY_RULES) as ReadonlyArray<keyof RolloutPolicy>;

/**
 * Every problem with rollout policy overrides (`policy.<field>`), the one owner of these rules: unknown fields,
 * wrong types, values below their minimum, and a stop timeout shorter than lame duck (the server would be killed
 * in the middle of moving its clients). `lameDurationSeconds` is the spec's lame duck duration when known.
 */
export function validatePolicy(policy: unknown, lameDuckDurationSeconds?: number): Problem[] {
  const problems: Problem[] = [];
  if (policy === undefined) return problems;
  if (!policy || typeof policy !== "object" || Array.isArray(policy)) {
    return [{ field: "policy", message: `must be an object of rollout settings (${POLICY_FIELDS.join(", ")})` }];
  }
  for (const [field, value] of Object.entries(policy as Record<string, unknown>)) {
    const rule = (POLICY_RULES as Record<string, (typeof POLICY_RULES)[keyof RolloutPolicy] | undefined>)[field];
    const path = `policy.${field}`;
    if (!rule) {
      problems.push({ field: path, message: `unknown setting; the known ones are ${POLICY_FIELDS.join(", ")}` });
    } else if (rule.kind === "boolean") {
      if (typeof value !== "boolean")
        problems.push({ field: path, message: `${JSON.stringify(value)} is not true or false` });
    } else if (typeof value !== "number" || !Number.isFinite(value)) {
      const example = DEFAULT_POLICY[field as keyof RolloutPolicy];
      problems.push({ field: path, message: `${JSON.stringify(value)} is not a number; write e.g. ${example}` });
    } else if (value < rule.min) {
      problems.push({ field: path, message: `${value} is below the minimum of ${rule.min} (${rule.why})` });
    } else if (rule.whole && !Number.isInteger(value)) {
      problems.push({ field: path, message: `${value} is not a whole number (${rule.whole})` });
    }
  }
  const stop = (policy as Partial<RolloutPolicy>).stopTimeoutSeconds ?? DEFAULT_POLICY.stopTimeoutSeconds;
  if (lameDuckDurationSeconds !== undefined && typeof stop === "number" && stop <= lameDuckDurationSeconds) {
    problems.push({
      field: "policy.stopTimeoutSeconds",
      message:
        `a stop timeout of ${stop}s does not outlast lame_duck_duration of ${lameDuckDurationSeconds}s: the server ` +
        `would be killed while it moves its clients; set it above the duration (the official unit uses 150)`,
    });
  }
  return problems;
}
