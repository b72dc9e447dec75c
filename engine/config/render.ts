import { AuthSpec } from "../spec";
import { LeafRemote, ServerConfig, TlsFiles } from "./server-config";

/**
 * Turns a ServerConfig into nats-server config file text.
 *
 * The output is deterministic (same input, same text, extra settings sorted by key) because the engine compares
 * rendered text to decide whether a server needs a restart. Every string is double-quoted and escaped, so no value
 * (a password with `$`, `#` or `}` in it) can be read as a variable, a comment or syntax; control characters are
 * refused instead of escaped, since no setting legitimately holds one. Checked with `nats-server -t` of every pinned
 * version in test/config/render.test.ts.
 */

/** The account the system-account user lives in (`system_account`). */
export const SYSTEM_ACCOUNT_NAME = "SYS";

/** Top-level keys this renderer writes itself; extraSettings may not override them (nats-server would see both). */
export const RENDERED_KEYS: ReadonlySet<string> = new Set([
  "server_name",
  "listen",
  "host",
  "net",
  "port",
  "http",
  "http_port",
  "monitor_port",
  "pid_file",
  "lame_duck_duration",
  "lame_duck_grace_period",
  "cluster",
  "gateway",
  "leafnodes",
  "leaf",
  "jetstream",
  "authorization",
  "accounts",
  "system_account",
  "no_auth_user",
  "tls",
  "allow_non_tls",
]);

/** An identifier nats conf reads as a bare key. */
const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A nats conf double-quoted string: `\` and `"` escaped; `$` inside quotes is literal, not a variable. */
export function quote(value: string, what = "value"): string {
  if (CONTROL.test(value)) throw new Error(`${what} contains a control character, which a config file cannot hold`);
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

function port(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535)
    throw new Error(`${what} must be a port 1..65535, got ${value}`);
  return value;
}

/** `host:port` as Go's net.SplitHostPort reads it (IPv6 literals in brackets). */
function hostPort(host: string, p: number, what: string): string {
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return quote(`${h}:${port(p, what)}`, what);
}

function byteCount(value: number, what: string): string {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`${what} must be a whole number of bytes, got ${value}`);
  return String(value);
}

/** A duration setting of the config file (`"30s"`); throws naming `what` for a value that is not one. */
function secondsSetting(value: number, what: string): string {
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`${what} must be a non-negative number of seconds, got ${value}`);
  return quote(`${value}s`, what);
}

/** A scalar setting: strings quoted, numbers and booleans bare (exponent notation is not nats conf number syntax). */
function scalar(value: string | number | boolean, what: string): string {
  if (typeof value === "string") return quote(value, what);
  if (typeof value === "boolean") return value ? "true" : "false";
  const text = String(value);
  if (!Number.isFinite(value) || /e/i.test(text)) throw new Error(`${what} must be a plain finite number, got ${text}`);
  return text;
}

function block(name: string, lines: ReadonlyArray<string>): string[] {
  return [`${name} {`, ...lines.map((l) => `  ${l}`), "}"];
}

function list(name: string, items: ReadonlyArray<string>): string[] {
  return items.length === 0 ? [`${name}: []`] : [`${name}: [`, ...items.map((i) => `  ${i}`), "]"];
}

function userEntry(user: string, password: string, what: string): string {
  return `{ user: ${quote(user, `${what} user`)}, password: ${quote(password, `${what} password`)} }`;
}

/**
 * Client authorization and the system account.
 *
 * Layout choice (tested against 2.14.9, 2.15.1 and 2.15.2 with real clients): app clients always stay in the global
 * account `$G`, through a top-level `authorization` block, and the system user lives in its own `accounts { SYS }`
 * block. Keeping app clients in `$G` means their JetStream streams do not move to another account when a system
 * account is added or removed later; nats-server keeps JetStream enabled for `$G` when the only configured account is
 * the system account, so no `APP` account and no `no_auth_user` are needed. Three server behaviours shape this:
 * - `authorization { token }` together with `accounts` is refused ("Can not have a token and accounts" / "… and a users
 * array"), so a token
 *   cannot be combined with a system account (validate.ts reports it; this function throws).
 * - with only system-account users configured, clients without credentials are still let into `$G`, so adding a
 *   system account to an open cluster does not lock its clients out.
 * - a user name may appear only once across `authorization` and `accounts` ("Duplicate user"): validate.ts checks.
 */
function authLines(auth: AuthSpec): string[] {
  const kinds = [auth.token !== undefined, auth.users !== undefined, auth.nkeys !== undefined].filter(Boolean).length;
  if (kinds > 1) throw new Error("auth: set only one of token, users, nkeys");
  if (auth.token !== undefined && auth.systemAccount) {
    throw new Error(
      'auth: nats-server refuses a token together with accounts ("Can not have a token and accounts"); use users with a system account',
    );
  }

  const lines: string[] = [];
  if (auth.token !== undefined) {
    lines.push(...block("authorization", [`token: ${quote(auth.token, "auth.token")}`]));
  } else if (auth.users !== undefined) {
    const users = auth.users.map((u, i) => userEntry(u.user, u.password, `auth.users[${i}]`));
    lines.push(...block("authorization", list("users", users)));
  } else if (auth.nkeys !== undefined) {
    const users = auth.nkeys.map((k, i) => `{ nkey: ${quote(k, `auth.nkeys[${i}]`)} }`);
    lines.push(...block("authorization", list("users", users)));
  }

  if (auth.systemAccount) {
    const sys = userEntry(auth.systemAccount.user, auth.systemAccount.password, "auth.systemAccount");
    lines.push(...block("accounts", block(SYSTEM_ACCOUNT_NAME, list("users", [sys]))));
    lines.push(`system_account: ${quote(SYSTEM_ACCOUNT_NAME)}`);
  }
  return lines;
}

function tlsFileLines(files: TlsFiles, what: string): string[] {
  const lines = [
    `cert_file: ${quote(files.certFile, `${what}.certFile`)}`,
    `key_file: ${quote(files.keyFile, `${what}.keyFile`)}`,
  ];
  if (files.caFile !== undefined) lines.push(`ca_file: ${quote(files.caFile, `${what}.caFile`)}`);
  return lines;
}

function clientTlsLines(tls: NonNullable<ServerConfig["tls"]>): string[] {
  const lines = tlsFileLines(tls, "tls");
  if (tls.verify !== undefined) lines.push(`verify: ${tls.verify ? "true" : "false"}`);
  const out = block("tls", lines);
  // Top level, and only at a start: nats-server sets tls_available when it starts (see engine/config/text.ts).
  if (tls.allowNonTls) out.push("allow_non_tls: true");
  return out;
}

/**
 * Route TLS. nats-server makes cluster TLS mutual whatever `verify` says (RequireAndVerifyClientCert with the CA
 * pool); `verify: true` is written to say so plainly. The CA is the route's only trust: a server without a
 * certificate of it fails the handshake and never becomes a route.
 */
function routeTlsLines(files: TlsFiles): string[] {
  return block("tls", [...tlsFileLines(files, "cluster.tls"), "verify: true"]);
}

/**
 * Gateway TLS. nats-server makes it mutual whatever `verify` says (server/opts.go getTLSConfig: "For
 * clusters/gateways, we will force strict verification", RequireAndVerifyClientCert, and the CA pool as the roots of
 * its own outbound connections too), so the CA file decides both which servers may connect in and which it connects
 * out to. The trust digest is a comment: a new set of trusted CAs at the same path changes the text.
 */
function gatewayTlsLines(tls: NonNullable<NonNullable<ServerConfig["gateway"]>["tls"]>): string[] {
  return [
    ...block("tls", [...tlsFileLines(tls, "gateway.tls"), "verify: true"]),
    ...(tls.trust ? [`# gateway trusted CAs: ${tls.trust}`] : []),
  ];
}

/**
 * A leaf remote's user info in each URL (`nats-leaf://user:pass@host:7422`, user and password percent-encoded: Go's
 * url.Parse decodes them, and nats-server sends them in the leaf's CONNECT). nats-server's remotes have no user or
 * password field (server/opts.go parseRemoteLeafNodes: urls, credentials, nkey seed, tls, …); the URL is the way, and
 * nats-server redacts the password when it logs a remote URL (`nats-leaf://user:xxxxx@host:7422`).
 */
export function leafRemoteUrl(url: string, credentials: LeafRemote["credentials"]): string {
  if (!credentials) return url;
  const at = url.indexOf("://");
  if (at < 0) throw new Error("hub.urls: a hub URL has no scheme (write nats-leaf://host:port)");
  const info = `${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@`;
  return `${url.slice(0, at + 3)}${info}${url.slice(at + 3)}`;
}

/** One `remotes` entry: the URLs (with the leaf's credentials), and TLS to the hub (the CA verifies the hub). */
function remoteEntry(r: LeafRemote): string {
  const urls = r.urls.map((u, j) => quote(leafRemoteUrl(u, r.credentials), `hub.urls[${j}]`));
  const tls = r.tls ? `, tls: { ${tlsFileLines(r.tls, "hub.tls").join(", ")} }` : "";
  return `{ urls: [${urls.join(", ")}]${tls} }`;
}

function extraLines(extra: Readonly<Record<string, string | number | boolean>>): string[] {
  // Plain code-unit order, not localeCompare: the text must not depend on the machine's locale.
  const keys = Object.keys(extra).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return keys.map((key) => {
    if (!KEY.test(key))
      throw new Error(`extraSettings key "${key}" is not a plain setting name ([A-Za-z_][A-Za-z0-9_]*)`);
    if (RENDERED_KEYS.has(key))
      throw new Error(`extraSettings.${key} is written by the engine from the cluster spec; set it there`);
    return `${key}: ${scalar(extra[key], `extraSettings.${key}`)}`;
  });
}

/** The nats-server config file for one server. Throws on a value no config file could hold safely. */
export function renderServerConfig(cfg: ServerConfig): string {
  const lines: string[] = [
    `server_name: ${quote(cfg.serverName, "serverName")}`,
    `listen: ${hostPort(cfg.listenHost, cfg.clientPort, "clientPort")}`,
    `http: ${hostPort(cfg.monitorHost ?? cfg.listenHost, cfg.monitorPort, "monitorPort")}`,
    `pid_file: ${quote(cfg.pidFile, "pidFile")}`,
    `lame_duck_duration: ${secondsSetting(cfg.lameDuck.durationSeconds, "lameDuck.durationSeconds")}`,
    `lame_duck_grace_period: ${secondsSetting(cfg.lameDuck.gracePeriodSeconds, "lameDuck.gracePeriodSeconds")}`,
    "",
    ...block("cluster", [
      `name: ${quote(cfg.cluster.name, "cluster.name")}`,
      `listen: ${hostPort(cfg.cluster.listenHost, cfg.cluster.port, "clusterPort")}`,
      ...list(
        "routes",
        cfg.cluster.routes.map((r, i) => quote(r, `cluster.routes[${i}]`)),
      ),
      `no_advertise: ${cfg.cluster.noAdvertise ? "true" : "false"}`,
      ...(cfg.cluster.tls ? routeTlsLines(cfg.cluster.tls) : []),
    ]),
  ];

  const gw = cfg.gateway;
  if (gw) {
    const remotes = gw.remotes.map((r, i) => {
      const urls = r.urls.map((u, j) => quote(u, `gateways.remotes[${i}].urls[${j}]`));
      return `{ name: ${quote(r.name, `gateways.remotes[${i}].name`)}, urls: [${urls.join(", ")}] }`;
    });
    lines.push(
      "",
      ...block("gateway", [
        `name: ${quote(gw.name, "gateway.name")}`,
        `listen: ${hostPort(gw.listenHost, gw.port, "gatewayPort")}`,
        ...list("gateways", remotes),
        ...(gw.tls ? gatewayTlsLines(gw.tls) : []),
      ]),
    );
  }

  const leaf = cfg.leafnodes;
  if (leaf) {
    const listen = leaf.listen;
    const tlsLines = listen?.tls
      ? block("tls", [
          ...tlsFileLines(listen.tls, "leafnodes.tls"),
          ...(listen.tls.verify !== undefined ? [`verify: ${listen.tls.verify ? "true" : "false"}`] : []),
        ])
      : [];
    const remotes = (leaf.remotes ?? []).map(remoteEntry);
    lines.push(
      "",
      ...block("leafnodes", [
        ...(listen ? [`listen: ${hostPort(listen.listenHost, listen.port, "leafnodePort")}`, ...tlsLines] : []),
        ...(leaf.remotes ? list("remotes", remotes) : []),
      ]),
    );
  }

  const js = cfg.jetstream;
  if (js !== undefined && js.enabled) {
    const jsLines = [`store_dir: ${quote(js.storeDir, "jetstream.storeDir")}`];
    if (js.maxMemoryBytes !== undefined)
      jsLines.push(`max_memory_store: ${byteCount(js.maxMemoryBytes, "jetstream.maxMemoryBytes")}`);
    if (js.maxFileBytes !== undefined)
      jsLines.push(`max_file_store: ${byteCount(js.maxFileBytes, "jetstream.maxFileBytes")}`);
    lines.push("", ...block("jetstream", jsLines));
  }

  const auth = cfg.auth ? authLines(cfg.auth) : [];
  if (auth.length > 0) lines.push("", ...auth);
  if (cfg.tls) lines.push("", ...clientTlsLines(cfg.tls));
  // The material's digest (certificate and CA, never the key): a new certificate at the same paths changes the text.
  if (cfg.tlsMaterial) lines.push("", `# tls material: ${cfg.tlsMaterial}`);

  const extra = cfg.extraSettings ? extraLines(cfg.extraSettings) : [];
  if (extra.length > 0) lines.push("", ...extra);

  return `${lines.join("\n")}\n`;
}
