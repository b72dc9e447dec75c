/**
 * The local platform's host for ONE member: `LocalNatsProcess`, a small dynamic resource standing for "this
 * machine runs member X in <stateDir>/X".
 *
 * Why its create does nothing but record where the member lives: starting a member means choosing a version and
 * rendering a config that names every peer, and that is the RollingUpgrade resource's job (its create bootstraps
 * the whole cluster through the engine, its update rolls it). Keeping the version lifecycle in that one place means
 * a version bump never replaces hosts, and Pulumi's create-before-delete can never run two copies of a member.
 * What this resource owns is the end of the member's life: its delete stops the process (lame duck first, SIGKILL
 * after a deadline) and removes its directory, so `pulumi destroy` leaves no process behind.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type * as Engine from "../engine";
import type { ServerEndpoint } from "../engine";
import { defaultEnginePath } from "./rolling-upgrade";

type EngineModule = typeof Engine;

/** Inputs (and outputs) of one local member host. */
export interface LocalNatsProcessInputs {
  /** Where the member listens (its name picks its directory). */
  readonly endpoint: ServerEndpoint;
  /** Absolute directory holding one directory per server. */
  readonly stateDir: string;
  /** Absolute path of the engine's compiled entry point. */
  readonly enginePath: string;
  /** Deadline for the process to leave lame duck before it is killed, in seconds. */
  readonly stopTimeoutSeconds: number;
}

/** The placeholder Pulumi sends for values not known yet. */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** JSON with sorted keys: values come back from the wire with no particular key order. */
function canonical(value: unknown): string {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

function loadEngine(enginePath: string): EngineModule {
  const fallback = path.join(process.cwd(), "dist", "engine", "index.js");
  for (const candidate of [enginePath, fallback])
    if (path.isAbsolute(candidate) && fs.existsSync(candidate)) return require(candidate) as EngineModule;
  throw new Error(
    `the rollout engine's compiled JavaScript is missing (${enginePath}); run \`npm run build\`, then retry`,
  );
}

/** The provider: record on create, stop and clean up on delete. Serialized by Pulumi; requires the engine at run time.
 * */
export const localNatsProcessProvider = {
  async check(
    _olds: unknown,
    news: LocalNatsProcessInputs,
  ): Promise<{ inputs: LocalNatsProcessInputs; failures: Array<{ property: string; reason: string }> }> {
    const failures = (["stateDir", "enginePath"] as const)
      .filter((k) => news[k] !== UNKNOWN && (typeof news[k] !== "string" || !path.isAbsolute(news[k])))
      .map((k) => ({ property: k, reason: `${JSON.stringify(news[k])} is not an absolute path` }));
    return { inputs: news, failures };
  },

  async diff(
    _id: string,
    olds: LocalNatsProcessInputs,
    news: LocalNatsProcessInputs,
  ): Promise<{ changes: boolean; replaces: string[]; deleteBeforeReplace: boolean }> {
    // A new name or directory is another host: the old one is stopped first (its ports are the same machine's).
    const moved = olds.endpoint?.name !== news.endpoint?.name || olds.stateDir !== news.stateDir;
    const changes = (["endpoint", "enginePath", "stopTimeoutSeconds"] as const).some(
      (k) => canonical(olds[k]) !== canonical(news[k]),
    );
    return { changes: moved || changes, replaces: moved ? ["endpoint", "stateDir"] : [], deleteBeforeReplace: moved };
  },

  async create(inputs: LocalNatsProcessInputs): Promise<{ id: string; outs: LocalNatsProcessInputs }> {
    return { id: path.join(inputs.stateDir, inputs.endpoint.name), outs: inputs };
  },

  /** Ports or deadlines changed: only the record changes; the RollingUpgrade restarts the member with them. */
  async update(
    _id: string,
    _olds: LocalNatsProcessInputs,
    news: LocalNatsProcessInputs,
  ): Promise<{ outs: LocalNatsProcessInputs }> {
    return { outs: news };
  },

  async delete(_id: string, props: LocalNatsProcessInputs): Promise<void> {
    const engine = loadEngine(props.enginePath);
    // Stopping needs no binary: a source that refuses keeps the driver honest.
    const driver = new engine.LocalProcessDriver({
      stateDir: props.stateDir,
      binaries: { resolve: () => Promise.reject(new Error("not used to stop")) },
    });
    const server = props.endpoint;
    const pid = driver.pid(server);
    if (pid !== undefined) {
      console.log(`${server.name}: lame duck (pid ${pid}), then removing ${driver.dir(server)}`);
      await driver.signalLameDuck(server).catch(() => undefined);
      if (!(await driver.waitForExit(server, props.stopTimeoutSeconds * 1000))) {
        console.log(
          `${server.name}: still running after ${props.stopTimeoutSeconds}s of lame duck; killing pid ${pid}`,
        );
        await driver.kill(server);
      }
    }
    await driver.deprovision(server);
  },
};

/** Arguments of {@link LocalNatsProcess}. */
export interface LocalNatsProcessArgs {
  /** Where the member listens. */
  readonly endpoint: pulumi.Input<ServerEndpoint>;
  /** Absolute directory holding one directory per server. */
  readonly stateDir: pulumi.Input<string>;
  /** Absolute path of the engine's compiled entry point. Default: the project's dist/engine/index.js. */
  readonly enginePath?: pulumi.Input<string>;
  /** Lame-duck deadline before the process is killed on delete, in seconds. Default 60. */
  readonly stopTimeoutSeconds?: pulumi.Input<number>;
}

export class LocalNatsProcess extends pulumi.dynamic.Resource {
  /** Where the member listens. */
  declare readonly endpoint: pulumi.Output<ServerEndpoint>;
  /** The directory holding the member's directory. */
  declare readonly stateDir: pulumi.Output<string>;

  constructor(name: string, args: LocalNatsProcessArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      localNatsProcessProvider,
      name,
      {
        endpoint: args.endpoint,
        stateDir: args.stateDir,
        enginePath: args.enginePath ?? defaultEnginePath(),
        stopTimeoutSeconds: args.stopTimeoutSeconds ?? 60,
      },
      opts,
      "nats-cluster",
      "LocalNatsProcess",
    );
  }
}
