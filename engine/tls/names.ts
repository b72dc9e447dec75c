/**
 * Host names and addresses as a certificate's subject alternative names (SANs): which hosts go to IP SANs and which
 * to DNS SANs, their canonical spelling, and whether a certificate covers a host. Pure functions, Node built-ins
 * only.
 */
import * as net from "node:net";

/**
 * What every cluster certificate names besides the operator's hosts: the engine, its gates and local tools reach a
 * server on loopback, and nats.js presents a loopback address to TLS as `localhost`.
 */
export const LOOPBACK_HOSTS: ReadonlyArray<string> = ["localhost", "127.0.0.1"];

/** The canonical text of an IPv4 or IPv6 address (`::1`, `fd00::a`; lower case, zeros compressed), else undefined. */
export function canonicalIp(text: string): string | undefined {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const family = net.isIP(bare);
  if (family === 4) return bare;
  // The URL parser is WHATWG's IPv6 serializer: the RFC 5952 form (lower case, the longest zero run compressed).
  if (family === 6) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  return undefined;
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * Why `host` cannot be a SAN, or undefined when it can: an IP address, or a DNS name of letters, digits and hyphens
 * (at most 253 characters, labels of at most 63, optionally `*.` in front).
 */
export function hostProblem(host: unknown): string | undefined {
  if (typeof host !== "string" || host.trim() === "") return `${JSON.stringify(host)} is not a host name or address`;
  if (canonicalIp(host) !== undefined) return undefined;
  const name = host.toLowerCase().replace(/\.$/, "");
  const labels = (name.startsWith("*.") ? name.slice(2) : name).split(".");
  if (name.length > 253 || !labels.every((l) => LABEL.test(l)))
    return (
      `${JSON.stringify(host)} is neither an IP address nor a DNS name (letters, digits and hyphens in dot-separated ` +
      "labels of at most 63 characters, optionally `*.` in front)"
    );
  return undefined;
}

/** The SANs for these hosts: IP addresses (canonical) and DNS names (lower case), each once, in the order given. */
export function subjectAltNamesFor(hosts: ReadonlyArray<string>): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const host of hosts) {
    const problem = hostProblem(host);
    if (problem) throw new Error(problem);
    const ip = canonicalIp(host);
    if (ip !== undefined) {
      if (!ipAddresses.includes(ip)) ipAddresses.push(ip);
    } else {
      const name = host.toLowerCase().replace(/\.$/, "");
      if (!dnsNames.includes(name)) dnsNames.push(name);
    }
  }
  return { dnsNames, ipAddresses };
}

/** The operator's hosts and the loopback ones, each once: what a cluster's server certificate names. */
export function clusterCertificateHosts(hosts: ReadonlyArray<string>): string[] {
  const all: string[] = [];
  for (const host of [...hosts, ...LOOPBACK_HOSTS]) {
    const key = canonicalIp(host) ?? host.toLowerCase().replace(/\.$/, "");
    if (!all.some((h) => (canonicalIp(h) ?? h.toLowerCase().replace(/\.$/, "")) === key)) all.push(host);
  }
  return all;
}

/**
 * Whether a certificate with these SANs is valid for `host`, as a TLS client checks it: an address against the IP
 * SANs only, a name against the DNS SANs (case-insensitive; `*.example.com` matches exactly one label in front).
 */
export function sansCover(
  sans: { readonly dnsNames: ReadonlyArray<string>; readonly ipAddresses: ReadonlyArray<string> },
  host: string,
): boolean {
  const ip = canonicalIp(host);
  if (ip !== undefined) return sans.ipAddresses.some((a) => canonicalIp(a) === ip);
  const name = host.toLowerCase().replace(/\.$/, "");
  return sans.dnsNames.some((pattern) => {
    const p = pattern.toLowerCase();
    if (!p.startsWith("*.")) return p === name;
    const dot = name.indexOf(".");
    return dot > 0 && name.slice(dot) === p.slice(1);
  });
}
