import { decodeConnz, decodeGatewayz, decodeHealthz, decodeJsz, decodeLeafz, decodeRoutez, decodeVarz } from "./decode";
import { MonitorError } from "./errors";
import { HealthzOptions, JszOptions, PLACEMENT_JSZ, ServerMonitor } from "./monitor";
import { Connz, Gatewayz, HealthzResult, Jsz, Leafz, Routez, Varz } from "./types";

export { MonitorError } from "./errors";

/** `?a=true&b=true` for the options that are set, in the order given ("" when none is). */
function query(flags: ReadonlyArray<[string, boolean | undefined]>): string {
  const set = flags.filter(([, on]) => on).map(([name]) => `${name}=true`);
  return set.length ? `?${set.join("&")}` : "";
}

/**
 * Reads one server's monitoring port. Every request has its own timeout (a hung server must not hang a gate).
 * `/healthz` is special: a 503 is an answer, not an error, so it returns the status with the body.
 */
export class MonitorClient implements ServerMonitor {
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 3000,
  ) {}

  get label(): string {
    return this.baseUrl;
  }

  varz(): Promise<Varz> {
    return this.json("/varz", decodeVarz);
  }
  routez(): Promise<Routez> {
    return this.json("/routez", decodeRoutez);
  }
  gatewayz(): Promise<Gatewayz> {
    return this.json("/gatewayz", decodeGatewayz);
  }
  leafz(): Promise<Leafz> {
    return this.json("/leafz", decodeLeafz);
  }
  jsz(options: JszOptions = {}): Promise<Jsz> {
    const q = query([
      ["accounts", options.accounts],
      ["streams", options.streams],
      ["consumers", options.consumers],
    ]);
    return this.json(`/jsz${q}`, decodeJsz);
  }
  jszPlacement(): Promise<Jsz> {
    return this.jsz(PLACEMENT_JSZ);
  }
  connz(): Promise<Connz> {
    return this.json("/connz?limit=1", decodeConnz);
  }

  /** `/healthz`, e.g. `{ jsServerOnly: true }` (`?js-server-only=true`) or `{ details: true }`. */
  async healthz(options: HealthzOptions = {}): Promise<HealthzResult> {
    const path = `/healthz${query([
      ["js-enabled-only", options.jsEnabledOnly],
      ["js-server-only", options.jsServerOnly],
      ["details", options.details],
    ])}`;
    const { status, body } = await this.get(path);
    return { httpStatus: status, body: decodeHealthz(this.baseUrl + path, this.parse(path, body)) };
  }

  /** Nothing to let go of: every request is its own. */
  disconnect(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
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
