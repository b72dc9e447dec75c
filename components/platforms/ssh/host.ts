/**
 * The ssh platform's host for ONE server: `SshNatsHost`, a dynamic resource standing for "this existing VM runs
 * member X". Its create prepares the VM through the engine's ssh driver (the `nats` user and directories, the
 * systemd unit whose stop is lame duck, checked over SSH with the pinned host key), so a wrong address, user, key
 * or architecture fails at `pulumi up` before any member is started. Its delete stops nats-server on the VM by lame
 * duck and removes its config (`pulumi destroy` leaves no server running); the VM itself is not Pulumi's.
 * Versions and configs are the RollingUpgrade's business, exactly as on the other platforms.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ServerEndpoint } from "../../../engine";
import { canonicalJson } from "../../../engine/util/json";
import { loadEngine } from "../../engine-module";

/** Inputs (and outputs) of one server's VM. */
export interface SshNatsHostInputs {
  /** Where the server listens (its name picks its entry in the settings' hosts). */
  readonly endpoint: ServerEndpoint;
  /** The ssh driver's settings (engine/hosts/ssh/settings.ts): every host, pinned host keys, sudo, … */
  readonly settings: Record<string, unknown>;
  /** The private key (and passphrase): secret. */
  readonly secrets: Record<string, string>;
}

function driverFor(props: SshNatsHostInputs) {
  return loadEngine()
    .loadHostPlatform("ssh")
    .createHostDriver(props.settings, {
      secrets: props.secrets,
      log: (line) => console.log(line),
    });
}

/** Serialized by Pulumi; loads the engine at run time. */
export const sshNatsHostProvider = {
  async diff(_id: string, olds: SshNatsHostInputs, news: SshNatsHostInputs) {
    // Another server name or address is another host: stop the old one first (it may hold the same ports).
    const moved = olds.endpoint?.name !== news.endpoint?.name || olds.endpoint?.host !== news.endpoint?.host;
    const changes =
      moved ||
      (["endpoint", "settings", "secrets"] as const).some((k) => canonicalJson(olds[k]) !== canonicalJson(news[k]));
    return { changes, replaces: moved ? ["endpoint"] : [], deleteBeforeReplace: moved };
  },

  async create(inputs: SshNatsHostInputs): Promise<{ id: string; outs: SshNatsHostInputs }> {
    await driverFor(inputs).provision(inputs.endpoint);
    return { id: `${inputs.endpoint.name}@${inputs.endpoint.host}`, outs: inputs };
  },

  /** Settings changed (a user, a pinned key, sudo): prepare the VM again with them (idempotent). */
  async update(_id: string, _olds: SshNatsHostInputs, news: SshNatsHostInputs): Promise<{ outs: SshNatsHostInputs }> {
    await driverFor(news).provision(news.endpoint);
    return { outs: news };
  },

  async delete(_id: string, props: SshNatsHostInputs): Promise<void> {
    console.log(
      `${props.endpoint.name}: stopping nats-server on ${props.endpoint.host} (lame duck), removing its config`,
    );
    try {
      await driverFor(props).deprovision(props.endpoint);
    } catch (err) {
      // A VM gone for good (destroyed, its address answering nothing) has no server left to stop: the rollout
      // already peer-removed it once the meta leader no longer heard from it. Any other failure (a wrong key, a
      // command that failed on a VM that answers) is still an error.
      if (!unreachable(err)) throw err;
      console.log(
        `${props.endpoint.name}: ${props.endpoint.host} does not answer (${(err as Error).message}): nothing to ` +
          "stop there; should this VM come back, its nats-server starts with its old config: destroy the VM, or " +
          "run `systemctl disable --now nats-server` on it",
      );
    }
  },
};

/** The ssh driver could not connect at all (not: connected, then failed). Duck-typed: the engine loads at run time. */
function unreachable(err: unknown): boolean {
  const e = err as { name?: string; failure?: string };
  return e?.name === "SshCommandError" && e.failure === "connect";
}

/** Arguments of {@link SshNatsHost}. */
export interface SshNatsHostArgs {
  /** Where the server listens. */
  readonly endpoint: pulumi.Input<ServerEndpoint>;
  /** The ssh driver's settings. */
  readonly settings: pulumi.Input<Record<string, unknown>>;
  /** The private key (and passphrase). Secret. */
  readonly secrets: pulumi.Input<Record<string, string>>;
}

export class SshNatsHost extends pulumi.dynamic.Resource {
  /** Where the server listens. */
  declare readonly endpoint: pulumi.Output<ServerEndpoint>;

  constructor(name: string, args: SshNatsHostArgs, opts: pulumi.CustomResourceOptions = {}) {
    super(
      sshNatsHostProvider,
      name,
      { endpoint: args.endpoint, settings: args.settings, secrets: args.secrets },
      { ...opts, additionalSecretOutputs: [...(opts.additionalSecretOutputs ?? []), "secrets"] },
      "nats-cluster",
      "SshNatsHost",
    );
  }
}
