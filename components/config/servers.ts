/**
 * The parts of one cluster as stack config writes them: members, the surge server, how routes find each other,
 * JetStream.
 * The same readers decode the single cluster of a stack (`nats-cluster:members`, …) and each cluster of a
 * supercluster (`nats-cluster:clusters[1].members`, …): `at` is the key prefix problems are reported under.
 */
import { DEFAULT_PORTS, JetStreamSpec, RouteMode } from "../../engine";
import { ClusterPlatform, ServerPlacement } from "../platforms/platform";
import {
  decodeJson,
  Obj,
  Problems,
  readBool,
  readInt,
  readList,
  readObject,
  readString,
  readStringList,
  refuseUnknownFields,
} from "./values";

/** The surge server as configured: a server, optionally running JetStream. */
export type SurgePlacement = ServerPlacement & { readonly jetstream?: boolean };

type Raw = Readonly<Record<string, unknown>>;

const ENDPOINT_FIELDS = ["name", "host", "clientPort", "clusterPort", "monitorPort"] as const;
type PortField = keyof typeof DEFAULT_PORTS;

/** The fields a server of a supercluster's cluster may set besides the endpoint's: its gateway and leafnode ports. */
export const LINK_PORT_FIELDS = ["gatewayPort", "leafnodePort"] as const;

/** A server entry: a name (where the platform places servers) or an object with name, host and ports. */
function decodeServer(
  p: Problems,
  key: string,
  value: unknown,
  platform: ClusterPlatform,
  extraFields: ReadonlyArray<string> = [],
): (ServerPlacement & Obj) | undefined {
  const v = decodeJson(value);
  const rules = platform.members;
  if (typeof v === "string" && rules.host === "assigned" && !rules.portsRequired) return { name: v, ...DEFAULT_PORTS };
  const obj = readObject(p, key, v, `write ${rules.memberExample}`);
  if (!obj) return undefined;
  refuseUnknownFields(p, key, obj, [...ENDPOINT_FIELDS, ...extraFields]);
  const name = readString(p, `${key}.name`, obj.name, "give the server a name such as nats-a") ?? "";
  if (obj.name === undefined) p.add(`${key}.name`, "missing; give the server a name such as nats-a");
  let host = readString(p, `${key}.host`, obj.host, "write an IP address or DNS name");
  if (host === undefined && rules.host === "loopback") host = "127.0.0.1";
  if (host === undefined && obj.host === undefined && rules.host === "required") {
    p.add(`${key}.host`, `missing; the ${platform.name} platform needs each server's address (${rules.memberExample})`);
  }
  const port = (field: PortField): number => {
    const n = readInt(p, `${key}.${field}`, obj[field], "write a port number such as 4222");
    if (n !== undefined) return n;
    if (obj[field] === undefined && rules.portsRequired) {
      p.add(
        `${key}.${field}`,
        `missing; every ${platform.name} server needs ports of its own (e.g. ${DEFAULT_PORTS[field]})`,
      );
    }
    return DEFAULT_PORTS[field];
  };
  const ports = { clientPort: port("clientPort"), clusterPort: port("clusterPort"), monitorPort: port("monitorPort") };
  const links: { gatewayPort?: number; leafnodePort?: number } = {};
  for (const field of LINK_PORT_FIELDS) {
    if (!extraFields.includes(field)) continue;
    const n = readInt(p, `${key}.${field}`, obj[field], "write a port number such as 7222");
    if (n !== undefined) links[field] = n;
  }
  return { ...obj, name, ...(host !== undefined ? { host } : {}), ...ports, ...links };
}

function placement(server: ServerPlacement & Obj): ServerPlacement {
  const { name, host, clientPort, clusterPort, monitorPort, gatewayPort, leafnodePort } = server;
  return {
    name,
    ...(host !== undefined ? { host } : {}),
    clientPort,
    clusterPort,
    monitorPort,
    ...(gatewayPort !== undefined ? { gatewayPort } : {}),
    ...(leafnodePort !== undefined ? { leafnodePort } : {}),
  };
}

/**
 * `members` or `memberCount` of one cluster. `at` prefixes the keys (`clusters[0].`); `extraFields` are the other
 * fields a member may set (a supercluster's gateway and leafnode ports).
 */
export function decodeMembers(
  p: Problems,
  raw: Raw,
  platform: ClusterPlatform,
  clusterName: string,
  at = "",
  extraFields: ReadonlyArray<string> = [],
): ServerPlacement[] {
  const count = readInt(p, `${at}memberCount`, raw.memberCount, "write the number of members, 3 or 5");
  if (raw.members !== undefined && raw.memberCount !== undefined) {
    p.add(`${at}memberCount`, "set either members or memberCount, not both; remove one");
    return [];
  }
  if (raw.members === undefined && count === undefined) {
    p.add(
      `${at}members`,
      platform.members.countAllowed
        ? "missing; set memberCount (3 or 5) or list member names"
        : `missing; list the members as ${platform.members.memberExample}`,
    );
    return [];
  }
  if (count !== undefined) {
    if (!platform.members.countAllowed) {
      p.add(
        `${at}memberCount`,
        `the ${platform.name} platform needs each member described; list them under members instead`,
      );
      return [];
    }
    if (count < 1 || count > 15) {
      p.add(`${at}memberCount`, `${count} members is not a cluster size this supports; use 3 or 5`);
      return [];
    }
    return Array.from({ length: count }, (_, i) => ({ name: `${clusterName}-${i + 1}`, ...DEFAULT_PORTS }));
  }
  const list = readList(p, `${at}members`, raw.members, "list the members") ?? [];
  return list
    .map((m, i) => decodeServer(p, `${at}members[${i}]`, m, platform, extraFields))
    .filter((m): m is ServerPlacement & Obj => m !== undefined)
    .map(placement);
}

/** `surge` of one cluster (see {@link decodeMembers} for `at` and `extraFields`). */
export function decodeSurge(
  p: Problems,
  raw: Raw,
  platform: ClusterPlatform,
  clusterName: string,
  at = "",
  extraFields: ReadonlyArray<string> = [],
): SurgePlacement {
  const fallback = { name: `${clusterName}-surge`, ...DEFAULT_PORTS };
  if (raw.surge === undefined) {
    p.add(`${at}surge`, `missing; describe the temporary surge server: ${platform.members.surgeExample}`);
    return fallback;
  }
  const obj = readObject(p, `${at}surge`, raw.surge, `write ${platform.members.surgeExample}`);
  if (!obj) return fallback;
  const server = decodeServer(p, `${at}surge`, { name: fallback.name, ...obj }, platform, [
    "jetstream",
    ...extraFields,
  ]);
  if (!server) return fallback;
  const jetstream = readBool(p, `${at}surge.jetstream`, obj.jetstream);
  return { ...placement(server), ...(jetstream !== undefined ? { jetstream } : {}) };
}

/** `routeMode` and `seeds` of one cluster (see {@link decodeMembers} for `at`). */
export function decodeRoutes(p: Problems, raw: Raw, members: ReadonlyArray<ServerPlacement>, at = ""): RouteMode {
  const mode = readString(p, `${at}routeMode`, raw.routeMode, 'write "explicit" or "seed"') ?? "explicit";
  const seeds = readStringList(p, `${at}seeds`, raw.seeds, "list member names");
  if (mode === "explicit") {
    if (seeds !== undefined)
      p.add(`${at}seeds`, 'seeds are used only with routeMode "seed"; remove seeds or set routeMode to seed');
    return { kind: "explicit" };
  }
  if (mode !== "seed") {
    p.add(
      `${at}routeMode`,
      `${p.show(`${at}routeMode`, mode)} is not a route mode; write "explicit" (every member lists every member) ` +
        'or "seed" (members list the seeds)',
    );
    return { kind: "explicit" };
  }
  return { kind: "seed", seeds: seeds ?? (members[0] ? [members[0].name] : []) };
}

/** `jetstream`: a boolean, or `{ enabled, maxMemoryBytes?, maxFileBytes? }`; absent is `fallback` (default on). */
export function decodeJetStream(p: Problems, key: string, value: unknown, fallback = true): JetStreamSpec {
  const v = decodeJson(value);
  if (v === undefined) return { enabled: fallback };
  if (typeof v === "boolean" || typeof v === "string") return { enabled: readBool(p, key, v) ?? fallback };
  const obj = readObject(p, key, v, "write true, false, or { enabled, maxMemoryBytes?, maxFileBytes? }");
  if (!obj) return { enabled: fallback };
  refuseUnknownFields(p, key, obj, ["enabled", "maxMemoryBytes", "maxFileBytes"]);
  const maxMemoryBytes = readInt(p, `${key}.maxMemoryBytes`, obj.maxMemoryBytes, "write a number of bytes");
  const maxFileBytes = readInt(p, `${key}.maxFileBytes`, obj.maxFileBytes, "write a number of bytes");
  return {
    enabled: readBool(p, `${key}.enabled`, obj.enabled) ?? true,
    ...(maxMemoryBytes !== undefined ? { maxMemoryBytes } : {}),
    ...(maxFileBytes !== undefined ? { maxFileBytes } : {}),
  };
}
