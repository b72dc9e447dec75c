/**
 * A server's monitoring data over NATS instead of its HTTP port, the way `nats server check` reads it: as the
 * system-account user, request `$SYS.REQ.SERVER.<id>.<VARZ|ROUTEZ|JSZ|CONNZ|HEALTHZ>` of the server whose id the
 * connection's INFO carries. Every server answers these for its own id (nats-server events.go, `monSrvc`) with
 * `{"server":{…},"data":<what the HTTP endpoint returns>,"error":{"code":…,"description":…}}`, so `data` is decoded by
 * the same decoders as the HTTP answer and the gates read the same facts. Nothing but the client port has to be
 * reachable from the engine: the monitoring port (which serves `/connz` to anyone) can stay on the host.
 */
import { errors, NatsConnection } from "@nats-io/nats-core";
import { connectSystemTo } from "../nats-client";
import { ClusterSpec, clientUrl, ServerEndpoint } from "../spec";
import { decodeConnz, decodeGatewayz, decodeHealthz, decodeJsz, decodeLeafz, decodeRoutez, decodeVarz } from "./decode";
import { MonitorError } from "./errors";
import { HealthzOptions, JszOptions, PLACEMENT_JSZ, ServerMonitor } from "./monitor";
import { Connz, Gatewayz, HealthzResult, Jsz, Leafz, Routez, Varz } from "./types";

type Endpoint = "VARZ" | "ROUTEZ" | "GATEWAYZ" | "LEAFZ" | "JSZ" | "CONNZ" | "HEALTHZ";

/** The reply envelope of a `$SYS.REQ.SERVER.*` request (nats-server's ServerAPIResponse). */
interface ServerApiResponse {
  readonly server?: { readonly id?: string; readonly name?: string };
  readonly data?: unknown;
  readonly error?: { readonly code?: number; readonly description?: string };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The JSON body nats-server's JSzOptions reads (`consumer`, singular; `accounts`, `streams` as HTTP). */
export function jszRequestBody(options: JszOptions): Record<string, boolean> {
  const body: Record<string, boolean> = {};
  if (options.accounts) body.accounts = true;
  if (options.streams) body.streams = true;
  if (options.consumers) body.consumer = true;
  return body;
}

/** The JSON body nats-server's HealthzOptions reads (the HTTP query parameters' names). */
export function healthzRequestBody(options: HealthzOptions): Record<string, boolean> {
  const body: Record<string, boolean> = {};
  if (options.jsEnabledOnly) body["js-enabled-only"] = true;
  if (options.jsServerOnly) body["js-server-only"] = true;
  if (options.details) body.details = true;
  return body;
}

/**
 * Monitoring of one server through the system account. One NATS connection to that server only (no gossip, no
 * reconnect), opened at the first call; when it closes (the server restarted or went away) the next call opens a new
 * one and targets the new server id. Every call has a deadline: a server that refuses the connection or does not
 * answer is a {@link MonitorError} with the reason, as the HTTP client's "unreachable". A request that timed out also
 * drops the connection, so a connection left half-open by a host that vanished is not reused.
 *
 * Known limit (nats.js 3.4, as in 2.29): when a server accepts the TCP connection but sends no INFO before the connect
 * timeout (a frozen process), nats.js rejects the connect but leaves that socket open until the peer closes it
 * (@nats-io/transport-node's `_closed()` returns at once for a transport that never completed: `if
 * (!this.connected) return`). A nats-server that wakes up closes it at
 * its auth timeout; one that never does keeps it, and with it the event loop, until the process exits (the command
 * line exits explicitly). Seen in test/monitor/system-client.test.ts.
 */
export class SystemAccountMonitor implements ServerMonitor {
  readonly label: string;
  private connection?: Promise<NatsConnection>;
  private closed = false;

  constructor(
    private readonly spec: ClusterSpec,
    private readonly server: ServerEndpoint,
    private readonly timeoutMs = 3000,
  ) {
    this.label = `${clientUrl(server)} (system account)`;
  }

  varz(): Promise<Varz> {
    return this.request("VARZ", undefined, decodeVarz);
  }
  routez(): Promise<Routez> {
    return this.request("ROUTEZ", undefined, decodeRoutez);
  }
  gatewayz(): Promise<Gatewayz> {
    return this.request("GATEWAYZ", undefined, decodeGatewayz);
  }
  leafz(): Promise<Leafz> {
    return this.request("LEAFZ", undefined, decodeLeafz);
  }
  jsz(options: JszOptions = {}): Promise<Jsz> {
    return this.request("JSZ", jszRequestBody(options), decodeJsz);
  }
  jszPlacement(): Promise<Jsz> {
    return this.jsz(PLACEMENT_JSZ);
  }
  connz(): Promise<Connz> {
    return this.request("CONNZ", { limit: 1 }, decodeConnz);
  }

  /**
   * HEALTHZ answers with the status code in the body (`status_code`; HTTP sends it as the response's status and
   * leaves it out of the body): it becomes `httpStatus`, 200 when the server says ok, so the gates read one shape.
   */
  async healthz(options: HealthzOptions = {}): Promise<HealthzResult> {
    const where = this.where("HEALTHZ");
    const data = await this.ask("HEALTHZ", healthzRequestBody(options));
    const body = decodeHealthz(where, data);
    const code = body.status_code;
    const httpStatus = typeof code === "number" && code > 0 ? code : body.status === "ok" ? 200 : 503;
    const rest: Record<string, unknown> = { ...body };
    delete rest.status_code;
    return { httpStatus, body: rest as unknown as HealthzResult["body"] };
  }

  /** Close the connection now; the next call opens a new one (a server about to enter lame duck must not count it). */
  async disconnect(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    const nc = await connection?.catch(() => undefined);
    await nc?.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.disconnect();
  }

  private where(endpoint: Endpoint): string {
    return `${clientUrl(this.server)} $SYS ${endpoint}`;
  }

  private async request<T>(
    endpoint: Endpoint,
    body: Record<string, unknown> | undefined,
    decode: (where: string, value: unknown) => T,
  ): Promise<T> {
    return decode(this.where(endpoint), await this.ask(endpoint, body));
  }

  /** The `data` of one request's answer, or a MonitorError saying where it asked and why there is none. */
  private async ask(endpoint: Endpoint, body: Record<string, unknown> | undefined): Promise<unknown> {
    const where = this.where(endpoint);
    if (this.closed) throw new MonitorError(where, "the monitor was closed");
    const nc = await this.connect(where);
    const id = nc.info?.server_id;
    if (!id) {
      await this.drop(nc);
      throw new MonitorError(where, "the server's INFO carried no server_id");
    }
    const subject = `$SYS.REQ.SERVER.${id}.${endpoint}`;
    let raw: Uint8Array;
    const sent = Date.now();
    try {
      const reply = await nc.request(subject, body ? encoder.encode(JSON.stringify(body)) : undefined, {
        timeout: this.timeoutMs,
      });
      raw = reply.data;
    } catch (err) {
      const failure = requestFailure(err);
      // A timeout before the deadline, or with the connection closed, is the connection that went, not a server that
      // kept silent.
      const early = Date.now() - sent < this.timeoutMs * 0.9;
      if (failure === "connection-gone" || nc.isClosed() || (failure === "timeout" && early)) {
        await this.drop(nc);
        throw new MonitorError(where, "the connection closed (the server stopped or restarted)");
      }
      if (failure === "timeout") {
        await this.drop(nc);
        throw new MonitorError(where, `no answer within ${this.timeoutMs} ms`);
      }
      if (failure === "no-responders") {
        throw new MonitorError(
          where,
          `no responder for ${subject} (the server's system account is not enabled, or the user is not in it)`,
        );
      }
      throw new MonitorError(where, describe(err));
    }
    let answer: ServerApiResponse;
    try {
      answer = JSON.parse(decoder.decode(raw)) as ServerApiResponse;
    } catch {
      throw new MonitorError(where, `not JSON: ${decoder.decode(raw).slice(0, 200)}`);
    }
    if (!answer || typeof answer !== "object") throw new MonitorError(where, "the answer is not an object");
    if (answer.error) {
      throw new MonitorError(where, `error ${answer.error.code ?? "?"}: ${answer.error.description ?? "(none)"}`);
    }
    if (answer.data === undefined) throw new MonitorError(where, "the answer has no data");
    return answer.data;
  }

  /** The open connection, or a new one to this server (a MonitorError when it cannot be had). */
  private async connect(where: string): Promise<NatsConnection> {
    // Calls made together share one connection (or one attempt at it); a closed one is replaced.
    for (let current = this.connection; current; current = this.connection) {
      let nc: NatsConnection;
      try {
        nc = await current;
      } catch (err) {
        if (this.connection === current) this.connection = undefined;
        throw new MonitorError(where, connectFailure(err, this.timeoutMs));
      }
      if (!nc.isClosed()) return nc;
      if (this.connection === current) this.connection = undefined;
    }
    const opening = connectSystemTo(this.spec, this.server, {
      timeout: this.timeoutMs,
      name: "nats-cluster-rollout-monitor",
    });
    this.connection = opening;
    let nc: NatsConnection;
    try {
      nc = await opening;
    } catch (err) {
      if (this.connection === opening) this.connection = undefined;
      throw new MonitorError(where, connectFailure(err, this.timeoutMs));
    }
    // Closed by close() while it was opening: let it go at once, never leave it holding the process.
    if (this.closed) {
      await nc.close().catch(() => undefined);
      throw new MonitorError(where, "the monitor was closed");
    }
    void nc.closed().then(() => {
      if (this.connection === opening) this.connection = undefined;
    });
    return nc;
  }

  private async drop(nc: NatsConnection): Promise<void> {
    const current = this.connection;
    if (current && (await current.catch(() => undefined)) === nc) this.connection = undefined;
    await nc.close().catch(() => undefined);
  }
}

/** What became of a request that failed, from the error nats.js 3.x rejects it with. */
export type RequestFailure = "timeout" | "no-responders" | "connection-gone" | "other";

/**
 * nats.js 3.x rejects a request with a `TimeoutError` at its deadline; with a `RequestError` whose cause is a
 * `NoRespondersError` when nobody subscribes; with a `RequestError` "connection closed" (its cause the same) when the
 * connection closes with the request in flight (MuxSubscription.close); with `ClosedConnectionError` when it was
 * already closed; and with a `RequestError` caused by a `PermissionViolationError` when the user may not publish there.
 */
export function requestFailure(err: unknown): RequestFailure {
  if (err instanceof errors.TimeoutError) return "timeout";
  if (err instanceof errors.NoRespondersError) return "no-responders";
  if (err instanceof errors.ClosedConnectionError || err instanceof errors.DrainingConnectionError) {
    return "connection-gone";
  }
  if (err instanceof errors.RequestError) {
    if (err.isNoResponders()) return "no-responders";
    let root: unknown = err;
    while (root instanceof Error && root.cause instanceof Error) root = root.cause;
    return root instanceof errors.RequestError || root instanceof errors.ClosedConnectionError
      ? "connection-gone"
      : "other";
  }
  return "other";
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error && err.cause.message !== err.message ? ` (${err.cause.message})` : "";
  return err.name && err.name !== "Error" && !err.message.startsWith(err.name)
    ? `${err.name}: ${err.message}${cause}`
    : `${err.message}${cause}`;
}

/** Why a connection could not be opened, in the HTTP client's words where they mean the same. */
function connectFailure(err: unknown, timeoutMs: number): string {
  if (err instanceof errors.ConnectionError && err.message === "connection refused") {
    return "unreachable (CONNECTION_REFUSED)";
  }
  if (err instanceof errors.TimeoutError) return `no answer within ${timeoutMs} ms (connecting)`;
  if (err instanceof errors.AuthorizationError || err instanceof errors.UserAuthenticationExpiredError) {
    return `the system-account credentials were refused (${describe(err)}): check auth.systemAccount`;
  }
  return `unreachable (${describe(err)})`;
}
