/**
 * `RollingUpgrade`: the custom rolling-update resource. Pulumi's own replacement is not a rolling update (old
 * copies die at the end of the whole update), so the sequencing lives here: one resource per cluster whose
 * `update` runs the engine's rollout (surge server, one member at a time through lame duck and health gates).
 * The provider (rolling-upgrade-provider.ts) is the adapter; this file is the typed resource around it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { AuthSpec, RolloutPolicy } from "../engine";
import { DriverSettings, LastReport, PublicClusterSpec, rollingUpgradeProvider } from "./rolling-upgrade-provider";

/** Arguments of {@link RollingUpgrade}. */
export interface RollingUpgradeArgs {
  /** The desired cluster without client auth: version, members with their hosts and ports, surge server, settings. */
  readonly spec: pulumi.Input<PublicClusterSpec>;
  /** Client auth and the system account (secret; kept secret in state and outputs). */
  readonly auth?: pulumi.Input<AuthSpec>;
  /** RolloutPolicy overrides; engine defaults for the rest. */
  readonly policy?: pulumi.Input<Partial<RolloutPolicy>>;
  /** "local" or "aws", for messages. */
  readonly platform: pulumi.Input<string>;
  /** How the provider reaches the hosts (local processes, or a driver module such as the aws SSM driver). */
  readonly driver: pulumi.Input<DriverSettings>;
  /** Absolute path of the engine's compiled entry point. Default {@link defaultEnginePath}(). */
  readonly enginePath?: pulumi.Input<string>;
  /** Listen address rendered into server configs: 127.0.0.1 locally, 0.0.0.0 on VMs. */
  readonly listenHost: pulumi.Input<string>;
}

/**
 * The project's compiled engine, as a plain absolute path the provider `require()`s at run time. Found by walking
 * up from this file to the project root (the directory with package.json), so it works from `components/*.ts`
 * (ts-node, jest) and from `dist/components/*.js` alike.
 */
export function defaultEnginePath(from = __dirname): string {
  let dir = from;
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}: cannot locate dist/engine/index.js`);
    dir = parent;
  }
  return path.join(dir, "dist", "engine", "index.js");
}

export class RollingUpgrade extends pulumi.dynamic.Resource {
  /** The spec last applied (outputs carry the inputs: diff compares old outputs with new inputs). */
  declare readonly spec: pulumi.Output<PublicClusterSpec>;
  /** Client auth as applied (secret). */
  declare readonly auth: pulumi.Output<AuthSpec | undefined>;
  /** Member name → the version its `/varz` reported when last seen (create, update, refresh). */
  declare readonly versions: pulumi.Output<Record<string, string>>;
  /** Whether a surge server was running when last seen. */
  declare readonly surgeRunning: pulumi.Output<boolean>;
  /** The last bootstrap or rollout: text and a structured summary. */
  declare readonly lastReport: pulumi.Output<LastReport>;

  constructor(name: string, args: RollingUpgradeArgs, opts: pulumi.CustomResourceOptions = {}) {
    const enginePath = args.enginePath ?? defaultEnginePath();
    super(
      rollingUpgradeProvider,
      name,
      {
        spec: args.spec,
        auth: args.auth,
        policy: args.policy ?? {},
        platform: args.platform,
        driver: args.driver,
        enginePath,
        listenHost: args.listenHost,
        versions: undefined,
        surgeRunning: undefined,
        lastReport: undefined,
      },
      // The provider receives inputs in plain text and returns them as outputs: auth must be re-marked secret.
      { ...opts, additionalSecretOutputs: [...(opts.additionalSecretOutputs ?? []), "auth"] },
      "nats-cluster",
      "RollingUpgrade",
    );
  }
}
