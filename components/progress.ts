/**
 * Progress lines of the RollingUpgrade provider, shown as they happen in `pulumi up` without being repeated in the
 * "Diagnostics:" summary at the end.
 *
 * A provider's stdout reaches the CLI as info diagnostics, which the CLI prints live AND again in the summary (62
 * lines twice for one 3-member rollout). The engine's `Log` RPC takes an `ephemeral` flag: such a message is the
 * resource row's live status, not a diagnostic kept for the summary. The dynamic-provider process gets the engine's
 * address as its first argument, so progress goes there, attached to the stack's root resource. Anything an
 * operator must find after the run (the plan, the final report, a halt) stays on stdout. When the engine cannot be
 * reached (tests driving the provider directly), progress falls back to stdout.
 */
import * as path from "node:path";

interface EngineLog {
  send(line: string): void;
  /** Resolves once every line sent so far has reached the engine. */
  flushed(): Promise<unknown>;
}

type GrpcModule = { credentials: { createInsecure(): unknown } };
type EngineClient = {
  log(req: unknown, cb: (err: unknown) => void): void;
  getRootResource(req: unknown, cb: (err: unknown, res?: { getUrn(): string }) => void): void;
};

/** Process-wide (see stop-request.ts for why not a module variable). */
function state(): { engine?: EngineLog | null } {
  const g = globalThis as { __natsClusterProgress?: { engine?: EngineLog | null } };
  return (g.__natsClusterProgress ??= {});
}

function connect(): EngineLog | null {
  const address = process.argv[2];
  if (!address || !/^[\w.-]+:\d+$/.test(address)) return null;
  try {
    const pulumiDir = path.dirname(
      require.resolve("@pulumi/pulumi/package.json", { paths: [process.cwd(), __dirname] }),
    );
    const from = (m: string) => require(require.resolve(m, { paths: [pulumiDir] }));
    const grpc = from("@grpc/grpc-js") as GrpcModule;
    const engineGrpc = from("@pulumi/pulumi/proto/engine_grpc_pb") as {
      EngineClient: new (a: string, c: unknown) => EngineClient;
    };
    const engineProto = from("@pulumi/pulumi/proto/engine_pb") as {
      LogRequest: new () => {
        setSeverity(s: number): void;
        setMessage(m: string): void;
        setUrn(u: string): void;
        setEphemeral(e: boolean): void;
      };
      LogSeverity: { INFO: number };
      GetRootResourceRequest: new () => unknown;
    };
    const client = new engineGrpc.EngineClient(address, grpc.credentials.createInsecure());
    // One call at a time, in order: concurrent unary calls may arrive in any order.
    let queue = new Promise<string>((resolve) =>
      client.getRootResource(new engineProto.GetRootResourceRequest(), (err, res) =>
        resolve(!err && res ? res.getUrn() : ""),
      ),
    );
    return {
      send(line: string) {
        queue = queue.then(
          (urn) =>
            new Promise<string>((resolve) => {
              const req = new engineProto.LogRequest();
              req.setSeverity(engineProto.LogSeverity.INFO);
              req.setMessage(line);
              req.setUrn(urn);
              req.setEphemeral(true);
              // A lost progress line is not worth failing a rollout over: print it instead.
              client.log(req, (err) => {
                if (err) console.log(line);
                resolve(urn);
              });
            }),
        );
      },
      flushed: () => queue,
    };
  } catch {
    return null;
  }
}

/** Print a progress line live (not kept for the summary). */
export function progress(line: string): void {
  const s = state();
  if (s.engine === undefined) s.engine = connect();
  if (s.engine) s.engine.send(line);
  else console.log(line);
}

/**
 * Wait until the progress lines sent so far are shown (before printing what must come after them), at most 10 s: an
 * engine that takes no lines (pulumi killed) must not hold the provider forever.
 */
export async function progressShown(): Promise<void> {
  const flushed = state().engine?.flushed();
  if (!flushed) return;
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, 10_000)));
  await Promise.race([flushed, bound]);
  clearTimeout(timer);
}
