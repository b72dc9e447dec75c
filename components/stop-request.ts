/**
 * Ctrl-C during `pulumi up`: what the RollingUpgrade does with it.
 *
 * Pulumi runs providers in a process group of their own, so the terminal's SIGINT never reaches this process; on
 * the first Ctrl-C the CLI calls the provider's `Cancel` RPC and waits for operations in flight. A dynamic provider
 * has no supported way to learn of it (read in @pulumi/pulumi 3.260.0):
 * - `cmd/dynamic-provider/index.js` lines 93-95, the server every dynamic provider runs in: `cancel(call, callback)
 *   { callback(undefined, new emptyproto.Empty()); }`, answered without telling the provider;
 * - `dynamic/index.d.ts` line 136, `interface ResourceProvider`: configure, check, diff, create, read, update,
 *   delete, and no cancel;
 * - `provider/server.js` lines 63-65 does call `provider.cancel()`, but that server is `pulumi.provider.main`'s, for a
 *   provider plugin of its own (`provider/provider.d.ts` line 272), not for a dynamic resource like this one.
 * So this module watches the gRPC server's handler lookup for that call: grpc-js `Server.prototype._retrieveHandler`
 * (private; grpc-js 1.14.7 `build/src/server.js` line 919, called for every incoming call at lines 959 and 1020),
 * on the grpc-js that @pulumi/pulumi itself loads. test/pulumi/stop-request.unit.test.ts fails when that method is
 * gone or the SDK's Cancel answer changes (a hook may then exist: use it instead), and test/pulumi/provider.test.ts
 * sends a real Cancel to a real dynamic-provider process. A SIGINT or SIGTERM sent to this process (by `kill`, or by
 * the CLI shutting plugins down) counts the same. What the engine does then: finish the member in progress, stop
 * before the next, keep the surge server serving, and report how to resume (`pulumi up` again, which continues from
 * what the servers report). The same when the pulumi process that started this provider dies (SIGKILL): see the
 * orphan watch below.
 *
 * If a future grpc-js renames the method, the watch degrades to signals only and says so once.
 */
import * as path from "node:path";

export const CANCEL_PATH = "/pulumirpc.ResourceProvider/Cancel";

export interface GrpcServerPrototype {
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
  /** The pulumi process that started this provider is gone (killed): nobody will ever read what we answer. */
  orphaned?: boolean;
}
function stopState(): StopState {
  const g = globalThis as { __natsClusterStop?: StopState };
  return (g.__natsClusterStop ??= {});
}

/** The grpc-js that @pulumi/pulumi loads (its dependency, not ours): the one the dynamic-provider server runs on. */
export function pulumiGrpcServer(): { prototype: GrpcServerPrototype } {
  const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [process.cwd(), __dirname] }));
  const grpc = require(require.resolve("@grpc/grpc-js", { paths: [pulumiDir] })) as {
    Server: { prototype: GrpcServerPrototype };
  };
  return grpc.Server;
}

/** Watch the Cancel RPC's handler lookup; false when grpc-js has no such private method any more. */
export function watchCancelRpc(): boolean {
  try {
    const proto = pulumiGrpcServer().prototype;
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
    // A second signal means "now", as a second Ctrl-C does for the CLI.
    if (state.cancelRequested?.endsWith(" received")) process.exit(130);
    state.cancelRequested ??= `${signal} received`;
    console.log(`${signal}: finishing the step in progress, then stopping before the next server`);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // `pulumi up` killed with SIGKILL (or by the OOM killer) cancels nothing: its plugins run on, in process groups
  // of their own (measured on the lab: the dynamic provider, reparented to pid 1, still ran 75 s later with SSH
  // connections to two VMs, beside the next `pulumi up`). Worse, every line it prints then fails with EPIPE, and
  // the dynamic-provider's uncaughtException handler prints each error again: a loop at ~60% CPU that starved the
  // rollout (a member it had taken down stayed down). So: EPIPE on stdout/stderr is handled here, and the signs that
  // pulumi is gone (this process's parent changed, or our output pipe is closed) stop the rollout like Ctrl-C; the
  // provider exits once it stopped.
  const orphaned = (why: string) => {
    if (state.orphaned) return;
    state.orphaned = true;
    state.cancelRequested ??= `the pulumi process that ran this update is gone (${why})`;
  };
  const onPipeError = (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE" || err.code === "ERR_STREAM_DESTROYED") orphaned("its output pipe is closed");
  };
  process.stdout.on("error", onPipeError);
  process.stderr.on("error", onPipeError);
  const parent = process.ppid;
  const orphanWatch = setInterval(() => {
    if (process.ppid !== parent) orphaned(`this provider's parent, pid ${parent}, exited`);
  }, 1000);
  orphanWatch.unref();
  return {
    requested: () => state.cancelRequested,
    dispose: () => {
      clearInterval(orphanWatch);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      process.stdout.off("error", onPipeError);
      process.stderr.off("error", onPipeError);
      // Orphaned: no engine will ever call this process again; leave instead of lingering as a stray gRPC server.
      if (state.orphaned) setTimeout(() => process.exit(1), 500).unref();
    },
  };
}
