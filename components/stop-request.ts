/**
 * Ctrl-C during `pulumi up`: what the RollingUpgrade does with it.
 *
 * Pulumi runs providers in a process group of their own, so the terminal's SIGINT never reaches this process; on
 * the first Ctrl-C the CLI calls the provider's `Cancel` RPC and waits for operations in flight. The Node
 * dynamic-provider server answers `Cancel` without telling the provider, so this module watches the gRPC server's
 * handler lookup for that call (grpc-js `Server.prototype._retrieveHandler`, the one instance the dynamic-provider
 * process uses). A SIGINT or SIGTERM sent to this process (by `kill`, or by the CLI shutting plugins down) counts
 * the same. What the engine does then: finish the member in progress, stop before the next, keep the surge server
 * serving, and report how to resume (`pulumi up` again, which continues from what the servers report).
 *
 * If a future grpc-js renames the method, the watch degrades to signals only and says so once.
 */
import * as path from "node:path";

const CANCEL_PATH = "/pulumirpc.ResourceProvider/Cancel";

interface GrpcServerPrototype {
  _retrieveHandler?: (this: unknown, handlerPath: string) => unknown;
  __natsClusterCancelWatch?: boolean;
}

/**
 * Process-wide state on `globalThis`, not in module variables: Pulumi's closure serializer copies the variables a
 * function captures, so two functions of this module would each see a copy of their own.
 */
interface StopState {
  cancelRequested?: string;
  warned?: boolean;
}
function stopState(): StopState {
  const g = globalThis as { __natsClusterStop?: StopState };
  return (g.__natsClusterStop ??= {});
}

function watchCancelRpc(): boolean {
  try {
    const pulumiDir = path.dirname(
      require.resolve("@pulumi/pulumi/package.json", { paths: [process.cwd(), __dirname] }),
    );
    const grpc = require(require.resolve("@grpc/grpc-js", { paths: [pulumiDir] })) as {
      Server: { prototype: GrpcServerPrototype };
    };
    const proto = grpc.Server.prototype;
    if (proto.__natsClusterCancelWatch) return true;
    const original = proto._retrieveHandler;
    if (typeof original !== "function") return false;
    proto._retrieveHandler = function (this: unknown, handlerPath: string) {
      if (handlerPath === CANCEL_PATH) stopState().cancelRequested ??= "Ctrl-C: the Pulumi CLI cancelled the update";
      return original.call(this, handlerPath);
    };
    proto.__natsClusterCancelWatch = true;
    return true;
  } catch {
    return false;
  }
}

/** Start watching for a stop request; `requested()` says why once one came. Call `dispose()` when done. */
export function watchForStop(): { requested: () => string | undefined; dispose: () => void } {
  const state = stopState();
  if (!watchCancelRpc() && !state.warned) {
    state.warned = true;
    console.log(
      "note: Ctrl-C cannot be seen by this provider (grpc-js changed); a rollout in progress runs to its end",
    );
  }
  const onSignal = (signal: NodeJS.Signals) => {
    state.cancelRequested ??= `${signal} received`;
    console.log(`${signal}: finishing the step in progress, then stopping before the next server`);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    requested: () => state.cancelRequested,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
