/**
 * A metrics exporter the stack installs beside each nats-server (every member and the surge server): any release
 * that is one binary, started with fixed arguments, serving Prometheus text on one port. The anchor is
 * prometheus-nats-exporter (args `-varz -connz -routez -subz -jsz=all http://localhost:8222`); the lab proves the
 * mechanism with node_exporter, built from the Go module proxy and served by the lab's release server.
 *
 * Unlike nats-server's releases (engine/release.ts), exporter releases share no checksum file convention, so the
 * stack always pins the download's SHA-256, per architecture: nothing is installed without a pin, whatever the URL.
 * Plain data and checks; the host side is engine/hosts/systemd/exporter-scripts.ts.
 */
import { AddProblem, Problem } from "./problem";

/** One exporter release, as a platform's settings give it (`ssh.exporter`, `aws.exporter`). */
export interface ExporterRelease {
  /** The binary's file name inside the download (or of the download itself): `prometheus-nats-exporter`. */
  readonly name: string;
  /** The release version, substituted for `{version}` in `url` and part of the installed file's name. */
  readonly version: string;
  /**
   * Where the hosts download it, with `{version}` and `{arch}` placeholders: a `.tar.gz`/`.tgz` (the binary is the
   * one file called `name` inside it) or the bare binary. A map by architecture where the release names its
   * architectures otherwise (prometheus-nats-exporter's `linux-x86_64`).
   */
  readonly url: string | Readonly<Record<string, string>>;
  /** Architecture → lower-case hex SHA-256 of the download for this version: always required. */
  readonly sha256: Readonly<Record<string, string>>;
  /** The TCP port the exporter serves `/metrics` on: opened in the firewall, checked after each install. */
  readonly port: number;
  /** The exporter's arguments; they must make it listen on `port`. Letters, digits and `_.,:=/@+-` only. */
  readonly args?: ReadonlyArray<string>;
}

/** The stack config fields of {@link ExporterRelease}, for messages and unknown-field checks. */
export const EXPORTER_FIELDS = ["name", "version", "url", "sha256", "port", "args"] as const;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const VERSION = /^v?[0-9][A-Za-z0-9_.+-]{0,63}$/;
const URL_TEXT = /^https?:\/\/[A-Za-z0-9._~:/?#[\]@!&()*+,;=%{}-]+$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const ARCH = /^[a-z0-9_]+$/;
/** What an argument may hold: spliced into a systemd `ExecStart=` and a shell, it must need no quoting at all. */
const ARG = /^[A-Za-z0-9_.,:=/@+-]+$/;

/** The prometheus-nats-exporter example every message points at. */
export const EXPORTER_EXAMPLE =
  '{ name: "prometheus-nats-exporter", version: "0.16.0", url: { amd64: "https://github.com/nats-io/prometheus-nats-' +
  'exporter/releases/download/v{version}/prometheus-nats-exporter-v{version}-linux-x86_64.tar.gz" }, sha256: { amd64: ' +
  '"<sha256sum of the tarball>" }, ' +
  'port: 7777, args: ["-port=7777", "-varz", "-connz", "-routez", "-subz", "-jsz=all", "http://localhost:8222"] }';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Every problem of an `exporter` setting, each under `field` (`exporter`, `ssh.exporter`, …) and naming the fix.
 * `arch` is the hosts' architecture: its pin must be there. `takenPorts` are the servers' own ports.
 */
export function exporterProblems(
  value: unknown,
  field: string,
  arch: string,
  takenPorts: ReadonlyArray<number> = [],
): Problem[] {
  const problems: Problem[] = [];
  const add: AddProblem = (f, message) => problems.push({ field: f, message });
  if (value === undefined) return problems;
  if (!isObject(value)) {
    add(field, `must be an object such as ${EXPORTER_EXAMPLE}`);
    return problems;
  }
  for (const key of Object.keys(value)) {
    if (!(EXPORTER_FIELDS as readonly string[]).includes(key)) {
      add(`${field}.${key}`, `unknown; an exporter has ${EXPORTER_FIELDS.join(", ")}`);
    }
  }
  const { name, version, url, sha256, port, args } = value;
  if (typeof name !== "string" || !NAME.test(name)) {
    add(`${field}.name`, `${shown(name)} is not a binary's file name; write one such as "prometheus-nats-exporter"`);
  }
  if (typeof version !== "string" || !VERSION.test(version)) {
    add(`${field}.version`, `${shown(version)} is not a release version; write one such as "0.16.0"`);
  }
  if (isObject(url)) {
    for (const [a, u] of Object.entries(url)) urlProblem(`${field}.url.${a}`, u, add);
    if (url[arch] === undefined) add(`${field}.url.${arch}`, `missing; the hosts are ${arch}: give its download URL`);
  } else urlProblem(`${field}.url`, url, add);
  if (!isObject(sha256)) {
    add(
      `${field}.sha256`,
      `missing; pin the download's SHA-256 for each architecture, e.g. { "${arch}": "<sha256sum of the download>" }: ` +
        "exporter releases share no checksum file, so nothing is installed unpinned",
    );
  } else {
    for (const [a, hex] of Object.entries(sha256)) {
      if (!ARCH.test(a)) add(`${field}.sha256.${a}`, `"${a}" is not an architecture (amd64, arm64)`);
      else if (typeof hex !== "string" || !SHA256_HEX.test(hex)) {
        add(`${field}.sha256.${a}`, "is not a SHA-256: write the 64 lower-case hex digits sha256sum prints");
      }
    }
    if (sha256[arch] === undefined) {
      add(`${field}.sha256.${arch}`, `missing; the hosts are ${arch}: pin the SHA-256 of the ${arch} download`);
    }
  }
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    add(`${field}.port`, `${shown(port)} is not a TCP port (1-65535); write the port the exporter serves /metrics on`);
  } else if (takenPorts.includes(port)) {
    add(`${field}.port`, `${port} is one of nats-server's own ports; give the exporter a port of its own (e.g. 7777)`);
  }
  if (args !== undefined) {
    if (!Array.isArray(args)) add(`${field}.args`, 'must be a list of arguments, e.g. ["-port=7777", "-varz"]');
    else {
      args.forEach((arg: unknown, i) => {
        if (typeof arg !== "string" || !ARG.test(arg)) {
          add(
            `${field}.args[${i}]`,
            `${shown(arg)} may hold only letters, digits and _.,:=/@+- (no spaces or quotes): one argument per entry`,
          );
        }
      });
    }
  }
  return problems;
}

function urlProblem(field: string, url: unknown, add: AddProblem): void {
  if (typeof url !== "string" || !URL_TEXT.test(url)) {
    add(field, `${shown(url)} is not an http(s) URL; write the release's download URL, with {version} and {arch}`);
    return;
  }
  const unknown = [...url.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]).filter((k) => k !== "version" && k !== "arch");
  if (unknown.length) add(field, `{${unknown[0]}} is not a placeholder; use {version} and {arch}`);
}

/** Throws one error naming every problem (a driver built from unchecked settings). */
export function assertExporter(value: unknown, field: string, arch: string): asserts value is ExporterRelease {
  const problems = exporterProblems(value, field, arch);
  if (problems.length) throw new Error(problems.map((p) => `${p.field}: ${p.message}`).join("; "));
}

/** The download URL for `arch`: the placeholders filled in. */
export function exporterUrl(exporter: ExporterRelease, arch: string): string {
  const template = typeof exporter.url === "string" ? exporter.url : exporter.url[arch];
  if (template === undefined) throw new Error(`exporter.url: no download URL for ${arch}`);
  return template.replace(/\{version\}/g, exporter.version).replace(/\{arch\}/g, arch);
}

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
