/** A monitoring endpoint did not answer, or answered something the engine cannot read. */
export class MonitorError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`${url}: ${reason}`);
    this.name = "MonitorError";
  }
}
