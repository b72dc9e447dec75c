import { Connz, HealthzResult, Jsz, Routez, Varz, Healthz } from "./types";

/** A monitoring endpoint did not answer, or answered something that is not JSON. */
export class MonitorError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`${url}: ${reason}`);
    this.name = "MonitorError";
  }
}

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
    return this.json<Varz>("/varz");
  }
  routez(): Promise<Routez> {
    return this.json<Routez>("/routez");
  }
  jsz(): Promise<Jsz> {
    return this.json<Jsz>("/jsz");
  }
  connz(): Promise<Connz> {
    return this.json<Connz>("/connz?limit=1");
  }

  /** `/healthz` with options such as `{ "js-server-only": "true" }` or `{ details: "true" }`. */
  async healthz(options: Record<string, string> = {}): Promise<HealthzResult> {
    const query = new URLSearchParams(options).toString();
    const { status, body } = await this.get(`/healthz${query ? `?${query}` : ""}`);
    return { httpStatus: status, body: this.parse<Healthz>(`/healthz`, body) };
  }

  private async json<T>(path: string): Promise<T> {
    const { status, body } = await this.get(path);
    if (status !== 200) throw new MonitorError(this.baseUrl + path, `HTTP ${status}: ${body.slice(0, 200)}`);
    return this.parse<T>(path, body);
  }

  private parse<T>(path: string, body: string): T {
    try {
      return JSON.parse(body) as T;
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
