/**
 * The local platform's host for ONE member: `LocalNatsProcess`, a small dynamic resource standing for "this
 * machine runs member X in <stateDir>/X".
 *
 * Why its create does nothing but record where the member lives: starting a member means choosing a version and
 * rendering a config that names every peer, and that is the RollingUpgrade resource's job (its create starts the
 * whole cluster through the engine, its update rolls it). Keeping the version lifecycle in that one place means a
 * version bump never replaces hosts, and Pulumi's create-before-delete can never run two copies of a member.
 * What this resource owns is the end of the member's life: its delete stops the process (lame duck first, SIGKILL
 * after a deadline) and removes its directory, so `pulumi destroy` leaves no process behind.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ServerEndpoint } from "../../../engine";
import { canonicalJson } from "../../../engine/util/json";
import { loadEngine } from "../../engine-module";

/** Inputs (and outputs) of one local member host. */
export interface LocalNatsProcessInputs {
  /** Where the member listens (its name picks its directory). */
  readonly endpoint: ServerEndpoint;
  /** Directory holding one directory per server: absolute, or `~/…` (resolved on the machine running Pulumi). */
  readonly stateDir: string;
  /** Deadline for the process to leave lame duck before it is killed, in seconds. */
  readonly stopTimeoutSeconds: number;
}

/** The provider: record on create, stop and clean up on delete. Serialized by Pulumi; requires the engine at run time.
 * */
export const localNatsProcessProvider = {
  async diff(
    _id: string,
    olds: LocalNatsProcessInputs,
    news: LocalNatsProcessInputs,
  ): Promise<{ changes: boolean; replaces: string[]; deleteBeforeReplace: boolean }> {
    // A new name or directory is another host: the old one is stopped first (its ports are the same machine's).
    const moved = olds.endpoint?.name !== news.endpoint?.name || olds.stateDir !== news.stateDir;
    const changes = (["endpoint", "stopTimeoutSeconds"] as const).some(
      (k) => canonicalJson(olds[k]) !== canonicalJson(news[k]),
    );
    return { changes: moved || changes, replaces: moved ? ["endpoint", "stateDir"] : [], deleteBeforeReplace: moved };
  },

  async create(inputs: LocalNatsProcessInputs): Promise<{ id: string; outs: LocalNatsProcessInputs }> {
    return { id: `${inputs.stateDir}/${inputs.endpoint.name}`, outs: inputs };
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
    const engine = loadEngine();
    const driver = engine.loadHostPlatform("local").createHostDriver({ stateDir: props.stateDir });
    const server = props.endpoint;
    if (await driver.isRunning(server)) {
      console.log(`${server.name}: lame duck, then removing its directory`);
      await engine.stopGracefully(driver, server, {
        timeoutSeconds: props.stopTimeoutSeconds,
        signal: "best-effort",
        killing: () =>
          console.log(`${server.name}: still running after ${props.stopTimeoutSeconds}s of lame duck; killing it`),
      });
    }
    await driver.deprovision(server);
  },
};

/** Arguments of {@link LocalNatsProcess}. */
export interface LocalNatsProcessArgs {
  /** Where the member listens. */
  readonly endpoint: pulumi.Input<ServerEndpoint>;
  /** Directory holding one directory per server (absolute or `~/…`). */
  readonly stateDir: pulumi.Input<string>;
  /** Lame-duck deadline before the process is killed on delete, in seconds. */
  readonly stopTimeoutSeconds: pulumi.Input<number>;
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
      { endpoint: args.endpoint, stateDir: args.stateDir, stopTimeoutSeconds: args.stopTimeoutSeconds },
      opts,
      "nats-cluster",
      "LocalNatsProcess",
    );
  }
}
