import { decodeConnz, decodeHealthz, decodeJsz, decodeRoutez, decodeVarz } from "./decode";
import { MonitorError } from "./errors";
import { Connz, HealthzResult, Jsz, Routez, Varz } from "./types";

export { MonitorError } from "./errors";

/**
 * Reads one server's monitoring port. Every request has its own timeout (a hung server must not hang a gate).
 * `/healthz` is special: a 503 is an answer, not an error, so it returns the status with the body.
 */
export class MonitorClient {
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 3000,
  ) {}

  varz(): Promise<Varz> {
    return this.json("/varz", decodeVarz);
  }
  routez(): Promise<Routez> {
    return this.json("/routez", decodeRoutez);
  }
  jsz(query = ""): Promise<Jsz> {
    return this.json(`/jsz${query}`, decodeJsz);
  }
  /**
   * Where every Raft group with a replica on this server lives: `/jsz` with every account's streams and their
   * consumers (`streams=true` implies the accounts). Only the quorum-aware batching reads it.
   */
  jszPlacement(): Promise<Jsz> {
    return this.jsz("?accounts=true&streams=true&consumers=true");
  }
  connz(): Promise<Connz> {
    return this.json("/connz?limit=1", decodeConnz);
  }

  /** `/healthz` with options such as `{ "js-server-only": "true" }` or `{ details: "true" }`. */
  async healthz(options: Record<string, string> = {}): Promise<HealthzResult> {
    const query = new URLSearchParams(options).toString();
    const path = `/healthz${query ? `?${query}` : ""}`;
    const { status, body } = await this.get(path);
    return { httpStatus: status, body: decodeHealthz(this.baseUrl + path, this.parse(path, body)) };
  }

  private async json<T>(path: string, decode: (url: string, value: unknown) => T): Promise<T> {
    const { status, body } = await this.get(path);
    if (status !== 200) throw new MonitorError(this.baseUrl + path, `HTTP ${status}: ${body.slice(0, 200)}`);
    return decode(this.baseUrl + path, this.parse(path, body));
  }

  private parse(path: string, body: string): unknown {
    try {
      return JSON.parse(body) as unknown;
    } catch {
      throw new MonitorError(this.baseUrl + path, `not JSON: ${body.slice(0, 200)}`);
    }
  }

  private async get(path: string): Promise<{ status: number; body: string }> {
    const url = this.baseUrl + path;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
      return { status: response.status, body: await response.text() };
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      const reason = cause?.code
        ? `unreachable (${cause.code})`
        : (err as Error).name === "TimeoutError"
          ? `no answer within ${this.timeoutMs} ms`
          : (err as Error).message;
      throw new MonitorError(url, reason);
    }
  }
}
