/**
 * The Cancel watch (components/stop-request.ts) rests on a private grpc-js method, because @pulumi/pulumi gives a
 * dynamic provider no Cancel hook. These tests fail loudly when either fact changes with an SDK or grpc-js update:
 * the private method is gone (Ctrl-C would no longer stop a rollout), or the SDK's dynamic-provider server answers
 * Cancel differently (a supported hook may have come: use it and drop the patch). The real Cancel RPC sent to a real
 * dynamic-provider process is in provider.test.ts.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CANCEL_PATH, pulumiGrpcServer, watchForStop } from "../../components/stop-request";

const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));

describe("the Cancel watch on the grpc-js that @pulumi/pulumi loads", () => {
  it("Server.prototype._retrieveHandler still exists", () => {
    const proto = pulumiGrpcServer().prototype;
    if (typeof proto._retrieveHandler !== "function") {
      throw new Error(
        "grpc-js Server.prototype._retrieveHandler is gone: Ctrl-C (the Cancel RPC) can no longer stop a rollout " +
          "run by `pulumi up`; find the new handler lookup in @grpc/grpc-js build/src/server.js and update " +
          "components/stop-request.ts",
      );
    }
  });

  it("a Cancel call looked up on a real grpc-js Server becomes the stop request, other calls do not", () => {
    const stop = watchForStop();
    try {
      const Server = pulumiGrpcServer() as unknown as new () => { _retrieveHandler(handlerPath: string): unknown };
      const server = new Server();
      server._retrieveHandler("/pulumirpc.ResourceProvider/Check");
      expect(stop.requested()).toBeUndefined();
      server._retrieveHandler(CANCEL_PATH);
      expect(stop.requested()).toBe("Ctrl-C: the Pulumi CLI cancelled the update");
    } finally {
      stop.dispose();
    }
  });
});

describe("@pulumi/pulumi still gives a dynamic provider no Cancel hook (else use it and drop the patch)", () => {
  it("cmd/dynamic-provider/index.js answers Cancel with Empty and calls nothing", () => {
    const server = fs.readFileSync(path.join(pulumiDir, "cmd", "dynamic-provider", "index.js"), "utf8");
    expect(server).toMatch(
      /\n {4}cancel\(call, callback\) \{\n {8}callback\(undefined, new emptyproto\.Empty\(\)\);\n {4}\}/,
    );
  });

  it("dynamic/index.d.ts's ResourceProvider has no cancel method", () => {
    const types = fs.readFileSync(path.join(pulumiDir, "dynamic", "index.d.ts"), "utf8");
    const start = types.indexOf("export interface ResourceProvider<");
    expect(start).toBeGreaterThan(-1);
    const body = types.slice(start, types.indexOf("\n}", start));
    expect(body).toMatch(/\bcreate: /);
    expect(body).not.toMatch(/\bcancel\??:/);
  });
});
