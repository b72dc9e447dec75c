/**
 * How the system-account monitor reads a failed request: the error shapes nats.js 3.x rejects a request with
 * (@nats-io/nats-core request.js, muxsubscription.js, nats.js), built here as the library builds them. The real
 * timeouts, closed connections and refusals are in system-client.test.ts, against nats-server.
 */
import { errors } from "@nats-io/nats-core";
import { requestFailure } from "../../engine/monitor/system-client";

describe("requestFailure", () => {
  it("a deadline that passed is a timeout", () => {
    expect(requestFailure(new errors.TimeoutError())).toBe("timeout");
  });

  it("no subscriber is no-responders, bare or as the cause of a RequestError", () => {
    const noResponders = new errors.NoRespondersError("$SYS.REQ.SERVER.X.VARZ");
    expect(requestFailure(noResponders)).toBe("no-responders");
    expect(requestFailure(new errors.RequestError(noResponders.message, { cause: noResponders }))).toBe(
      "no-responders",
    );
  });

  it("a connection that closed with the request in flight, or was closed before, is connection-gone", () => {
    // MuxSubscription.close() resolves every request with RequestError("connection closed"); RequestOne wraps it.
    const closed = new errors.RequestError("connection closed");
    expect(requestFailure(new errors.RequestError(closed.message, { cause: closed }))).toBe("connection-gone");
    expect(requestFailure(closed)).toBe("connection-gone");
    expect(requestFailure(new errors.ClosedConnectionError())).toBe("connection-gone");
    expect(requestFailure(new errors.DrainingConnectionError())).toBe("connection-gone");
  });

  it("a refused publish and anything else are other (reported with their message)", () => {
    const denied = new errors.PermissionViolationError(
      "Permissions Violation for Publish to x",
      "publish",
      "$SYS.REQ.SERVER.X.VARZ",
    );
    expect(requestFailure(new errors.RequestError(denied.message, { cause: denied }))).toBe("other");
    expect(requestFailure(new Error("boom"))).toBe("other");
    expect(requestFailure("not an error")).toBe("other");
  });
});
