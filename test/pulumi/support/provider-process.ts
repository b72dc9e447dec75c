/**
 * The real dynamic-provider process, driven over gRPC the way the Pulumi engine drives it: start
 * `node node_modules/@pulumi/pulumi/cmd/dynamic-provider <engine address>`, read the port from its first stdout line,
 * and call ResourceProvider RPCs with the serialized provider in the `__provider` property (the same
 * `serializeFunction(() => provider, { allowSecrets: true })` that `pulumi.dynamic.Resource` uses).
 */
import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as pulumi from "@pulumi/pulumi";
import * as providerGrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as providerPb from "@pulumi/pulumi/proto/provider_pb";
import * as statusPb from "@pulumi/pulumi/proto/status_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";

const DYNAMIC_PROVIDER = path.join(
  __dirname,
  "..",
  "..",
  "..",
  "node_modules",
  "@pulumi",
  "pulumi",
  "cmd",
  "dynamic-provider",
);

type Props = Record<string, unknown>;
type JsonStruct = Parameters<typeof Struct.fromJavaScript>[0];

/** A failed RPC: the message the engine would print, and the partial state a resource-init failure carries. */
export interface RpcFailure {
  readonly message: string;
  readonly partial?: { readonly id: string; readonly properties: Props };
}

function struct(props: Props): Struct {
  return Struct.fromJavaScript(props as JsonStruct);
}

/** The partial state of a create/update that failed after it changed things (ErrorResourceInitFailed). */
function partialOf(err: grpc.ServiceError): RpcFailure["partial"] {
  const raw = err.metadata?.get("grpc-status-details-bin")?.[0];
  if (!raw || typeof raw === "string") return undefined;
  const status = statusPb.Status.deserializeBinary(new Uint8Array(raw));
  for (const packed of status.getDetailsList()) {
    if (!packed.getTypeUrl().endsWith("pulumirpc.ErrorResourceInitFailed")) continue;
    const detail = providerPb.ErrorResourceInitFailed.deserializeBinary(packed.getValue_asU8());
    return { id: detail.getId(), properties: (detail.getProperties()?.toJavaScript() ?? {}) as Props };
  }
  return undefined;
}

export class ProviderProcess {
  /** Everything the process printed (the provider's console.log goes to stdout, as in a real deployment). */
  output = "";
  /** When the process last printed: `call` waits for a quiet moment before it returns (see `settled`). */
  private lastOutputAt = Date.now();

  private constructor(
    private readonly child: ChildProcess,
    private readonly client: providerGrpc.ResourceProviderClient,
    private readonly providerText: string,
  ) {}

  /** Serialize `provider` and start a dynamic-provider process for it. */
  static async start(provider: object, cwd: string): Promise<ProviderProcess> {
    const serialized = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
    // The engine address is only checked for presence: nothing here calls back into an engine.
    const child = spawn(process.execPath, [DYNAMIC_PROVIDER, "127.0.0.1:1"], {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`dynamic-provider printed no port within 30s: ${output}`)),
        30_000,
      );
      child.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const m = /^(\d+)\n/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.on("exit", (code) => reject(new Error(`dynamic-provider exited (${code}): ${output}`)));
    });
    const client = new providerGrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const p = new ProviderProcess(child, client, serialized.text);
    p.output = output;
    const collect = (chunk: Buffer): void => {
      p.output += chunk.toString();
      p.lastOutputAt = Date.now();
    };
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    return p;
  }

  /** Inputs as the engine sends them: with the serialized provider. */
  withProvider(props: Props): Props {
    return { ...props, __provider: this.providerText };
  }

  /** One unary RPC; a failure rejects with an RpcFailure (message and partial state). */
  private async call<Res>(invoke: (callback: (err: grpc.ServiceError | null, res: Res) => void) => void): Promise<Res> {
    try {
      return await new Promise<Res>((resolve, reject) =>
        invoke((err, res) =>
          err
            ? reject({ message: err.details || err.message, partial: partialOf(err) } satisfies RpcFailure)
            : resolve(res),
        ),
      );
    } finally {
      await this.settled();
    }
  }

  /**
   * Wait until the process has printed nothing for a moment. What it printed before answering is already in its
   * stdout pipe, but the answer comes on another socket, and this side may read that one first: a test that looks at
   * `output` right after a call would then miss the lines (a CI run saw an empty plan after a `diff` that printed
   * it).
   */
  private async settled(quietMs = 100, capMs = 3_000): Promise<void> {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const deadline = Date.now() + capMs;
    await sleep(25); // one turn of the event loop's I/O poll reads what is already in the pipe
    while (Date.now() - this.lastOutputAt < quietMs && Date.now() < deadline) await sleep(25);
  }

  async check(
    urn: string,
    olds: Props,
    news: Props,
  ): Promise<{ inputs: Props; failures: Array<{ property: string; reason: string }> }> {
    const req = new providerPb.CheckRequest();
    req.setUrn(urn);
    req.setOlds(struct(olds));
    req.setNews(struct(this.withProvider(news)));
    const res = await this.call<providerPb.CheckResponse>((cb) => this.client.check(req, cb));
    return {
      inputs: (res.getInputs()?.toJavaScript() ?? {}) as Props,
      failures: res.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
    };
  }

  async diff(urn: string, id: string, olds: Props, news: Props): Promise<{ changes: boolean; replaces: string[] }> {
    const req = new providerPb.DiffRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setOlds(struct(olds));
    req.setNews(struct(this.withProvider(news)));
    const res = await this.call<providerPb.DiffResponse>((cb) => this.client.diff(req, cb));
    return {
      changes: res.getChanges() === providerPb.DiffResponse.DiffChanges.DIFF_SOME,
      replaces: res.getReplacesList(),
    };
  }

  async create(urn: string, props: Props): Promise<{ id: string; outs: Props }> {
    const req = new providerPb.CreateRequest();
    req.setUrn(urn);
    req.setProperties(struct(this.withProvider(props)));
    const res = await this.call<providerPb.CreateResponse>((cb) => this.client.create(req, cb));
    return { id: res.getId(), outs: (res.getProperties()?.toJavaScript() ?? {}) as Props };
  }

  /**
   * The old outputs go without their serialized provider (`__provider`, some 50 KB): an update that fails answers
   * with its partial state in one trailer, the old outputs included, and Node's HTTP/2 cannot read a header over
   * 64 KiB (nghttp2's limit; this side saw "Received RST_STREAM with code 2 … Protocol error"), where the Pulumi
   * engine (grpc-go) reads up to 16 MiB. The provider takes its code from the new inputs' `__provider` anyway; `read`
   * and `delete` give a state without one the provider's.
   */
  async update(urn: string, id: string, olds: Props, news: Props): Promise<Props> {
    const req = new providerPb.UpdateRequest();
    req.setUrn(urn);
    req.setId(id);
    const { __provider: _old, ...oldsWithoutProvider } = olds;
    req.setOlds(struct(oldsWithoutProvider));
    req.setNews(struct(this.withProvider(news)));
    const res = await this.call<providerPb.UpdateResponse>((cb) => this.client.update(req, cb));
    return (res.getProperties()?.toJavaScript() ?? {}) as Props;
  }

  async read(urn: string, id: string, props: Props): Promise<Props> {
    const req = new providerPb.ReadRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setProperties(struct(props.__provider ? props : this.withProvider(props)));
    const res = await this.call<providerPb.ReadResponse>((cb) => this.client.read(req, cb));
    return (res.getProperties()?.toJavaScript() ?? {}) as Props;
  }

  async delete(urn: string, id: string, props: Props): Promise<void> {
    const req = new providerPb.DeleteRequest();
    req.setUrn(urn);
    req.setId(id);
    req.setProperties(struct(props.__provider ? props : this.withProvider(props)));
    await this.call((cb) => this.client.delete(req, cb));
  }

  /** What the CLI sends on the first Ctrl-C of `pulumi up`: the Cancel RPC. */
  async cancel(): Promise<void> {
    await this.call((cb) => this.client.cancel(new Empty(), cb));
  }

  /** Stop the process (it holds no servers: they are detached, and stopped by the test's teardown). */
  async stop(): Promise<void> {
    this.client.close();
    // Gone already, by its own exit or by a signal (a CI run's teardown hung here on a provider killed by SIGKILL:
    // its exitCode stays null, and "exit" had already fired).
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    // A provider in the middle of a rollout treats SIGTERM as "stop after this step": give it a moment, then kill it
    // by pid, so no test ever leaves one behind.
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
}
