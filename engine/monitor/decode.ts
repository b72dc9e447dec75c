/**
 * Small decode guards for what the gates read from the monitoring endpoints: a server that answers something
 * else (a proxy's error page, another product on the port, a future format) fails the gate with the field named,
 * instead of a gate reading `undefined` and deciding from it. Only the fields the engine reads are checked; the rest
 * of each answer passes through as nats-server sent it.
 */
import { MonitorError } from "./errors";
import { Connz, Gatewayz, Healthz, Jsz, Leafz, MetaClusterInfo, Routez, Varz } from "./types";

type Json = Record<string, unknown>;

function object(url: string, value: unknown, what: string): Json {
  if (!value || typeof value !== "object" || Array.isArray(value))
    throw new MonitorError(url, `${what} is not an object`);
  return value as Json;
}

function expect(url: string, obj: Json, field: string, type: "string" | "number" | "boolean", optional = false): void {
  const value = obj[field];
  if (value === undefined && optional) return;
  if (typeof value !== type)
    throw new MonitorError(
      url,
      `field ${field} is ${value === undefined ? "missing" : typeof value}, expected a ${type}`,
    );
}

function meta(url: string, value: unknown, where: string): void {
  if (value === undefined || value === null) return;
  const m = object(url, value, where);
  expect(url, m, "leader", "string", true);
  if (m.replicas !== undefined && m.replicas !== null) {
    if (!Array.isArray(m.replicas)) throw new MonitorError(url, `${where}.replicas is not a list`);
    m.replicas.forEach((r, i) => {
      const replica = object(url, r, `${where}.replicas[${i}]`);
      expect(url, replica, "name", "string");
      expect(url, replica, "current", "boolean", true);
    });
  }
}

export function decodeVarz(url: string, value: unknown): Varz {
  const v = object(url, value, "/varz");
  expect(url, v, "version", "string");
  expect(url, v, "server_name", "string", true);
  expect(url, v, "config_load_time", "string", true);
  expect(url, v, "connections", "number", true);
  expect(url, v, "max_connections", "number", true);
  expect(url, v, "tls_required", "boolean", true);
  expect(url, v, "tls_cert_not_after", "string", true);
  if (v.cluster !== undefined) expect(url, object(url, v.cluster, "cluster"), "tls_cert_not_after", "string", true);
  if (v.jetstream !== undefined) meta(url, object(url, v.jetstream, "jetstream").meta, "jetstream.meta");
  return v as unknown as Varz;
}

/** A list field: absent or null is an empty list; anything else but a list is refused. */
function list(url: string, value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new MonitorError(url, `${where} is not a list`);
  return value;
}

/** ClusterInfo of a stream or consumer: where its Raft group lives (names are what the planner reads). */
function raftCluster(url: string, value: unknown, where: string): void {
  if (value === undefined || value === null) return;
  const c = object(url, value, where);
  expect(url, c, "leader", "string", true);
  expect(url, c, "raft_group", "string", true);
  list(url, c.replicas, `${where}.replicas`).forEach((r, i) => {
    expect(url, object(url, r, `${where}.replicas[${i}]`), "name", "string");
  });
}

export function decodeJsz(url: string, value: unknown): Jsz {
  const j = object(url, value, "/jsz");
  meta(url, j.meta_cluster, "meta_cluster");
  list(url, j.account_details, "account_details").forEach((a, i) => {
    const account = object(url, a, `account_details[${i}]`);
    expect(url, account, "name", "string");
    list(url, account.stream_detail, `account_details[${i}].stream_detail`).forEach((s, k) => {
      const where = `account_details[${i}].stream_detail[${k}]`;
      const stream = object(url, s, where);
      expect(url, stream, "name", "string");
      raftCluster(url, stream.cluster, `${where}.cluster`);
      list(url, stream.consumer_detail, `${where}.consumer_detail`).forEach((c, n) => {
        const consumer = object(url, c, `${where}.consumer_detail[${n}]`);
        expect(url, consumer, "name", "string");
        raftCluster(url, consumer.cluster, `${where}.consumer_detail[${n}].cluster`);
      });
    });
  });
  return j as unknown as Jsz;
}

export function decodeRoutez(url: string, value: unknown): Routez {
  const r = object(url, value, "/routez");
  if (r.routes !== null && r.routes !== undefined && !Array.isArray(r.routes))
    throw new MonitorError(url, "routes is not a list");
  ((r.routes as unknown[] | null) ?? []).forEach((route, i) => {
    const entry = object(url, route, `routes[${i}]`);
    expect(url, entry, "remote_id", "string");
    expect(url, entry, "remote_name", "string", true);
  });
  return r as unknown as Routez;
}

export function decodeGatewayz(url: string, value: unknown): Gatewayz {
  const g = object(url, value, "/gatewayz");
  expect(url, g, "server_id", "string");
  expect(url, g, "name", "string", true);
  for (const key of ["outbound_gateways", "inbound_gateways"]) {
    const v = g[key];
    if (v !== undefined && v !== null && (typeof v !== "object" || Array.isArray(v)))
      throw new MonitorError(url, `${key} is not an object`);
  }
  return g as unknown as Gatewayz;
}

/** `/leafz`: the leaf connections, each with the remote server's name and the account it is bound to. */
export function decodeLeafz(url: string, value: unknown): Leafz {
  const l = object(url, value, "/leafz");
  expect(url, l, "server_id", "string");
  expect(url, l, "leafnodes", "number");
  list(url, l.leafs, "leafs").forEach((leaf, i) => {
    const entry = object(url, leaf, `leafs[${i}]`);
    expect(url, entry, "name", "string");
    expect(url, entry, "account", "string");
    expect(url, entry, "is_spoke", "boolean", true);
    expect(url, entry, "subscriptions", "number", true);
  });
  return l as unknown as Leafz;
}

export function decodeHealthz(url: string, value: unknown): Healthz {
  const h = object(url, value, "/healthz");
  expect(url, h, "status", "string");
  if (h.errors !== undefined && h.errors !== null && !Array.isArray(h.errors))
    throw new MonitorError(url, "errors is not a list");
  return h as unknown as Healthz;
}

export function decodeConnz(url: string, value: unknown): Connz {
  const c = object(url, value, "/connz");
  expect(url, c, "num_connections", "number");
  expect(url, c, "total", "number");
  return c as unknown as Connz;
}

export type { MetaClusterInfo };
