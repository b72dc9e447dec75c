/**
 * `RollingUpgrade`: the custom rolling-update resource. Pulumi's own replacement is not a rolling update (old
 * copies die at the end of the whole update), so the sequencing lives here: one resource per cluster whose create
 * and update run the engine's reconcile (surge server, one member at a time through lame duck and health gates).
 * The provider (rolling-upgrade-provider.ts) is the adapter; this file is the typed resource around it.
 */
import * as pulumi from "@pulumi/pulumi";
import type { AuthSpec, PlanDocument, RolloutPolicy, TlsPem } from "../engine";
import { LastReport } from "./last-report";
import { PublicClusterSpec, rollingUpgradeProvider } from "./rolling-upgrade-provider";

/** Arguments of {@link RollingUpgrade}. */
export interface RollingUpgradeArgs {
  /** The desired cluster without client auth: version, members with their hosts and ports, surge server, settings. */
  readonly spec: pulumi.Input<PublicClusterSpec>;
  /** Client auth and the system account (secret; kept secret in state and outputs). */
  readonly auth?: pulumi.Input<AuthSpec>;
  /** RolloutPolicy overrides; engine defaults for the rest. */
  readonly policy?: pulumi.Input<Partial<RolloutPolicy>>;
  /** The platform: the engine's host driver folder (`local`, `aws`, `ssh`, …). */
  readonly platform: pulumi.Input<string>;
  /** The platform driver's settings (plain JSON, nothing machine-specific, no secrets). */
  readonly settings: pulumi.Input<Record<string, unknown>>;
  /** The platform driver's secrets (an SSH private key, …); kept secret in state and outputs. */
  readonly platformSecrets?: pulumi.Input<Record<string, string>>;
  /** The TLS material the platform delivers to every host: certificate, key, CA (secret in state and outputs). */
  readonly tlsPem?: pulumi.Input<TlsPem>;
  /**
   * The file create and update append the rollout's events to, one JSON line each (`~/` is the home directory, a
   * relative path the project directory's). Changing it alone is no change of the cluster.
   */
  readonly eventsFile?: pulumi.Input<string>;
  /**
   * Where create and update write the rollout's figures in Prometheus' text format (a `.prom` file for
   * node_exporter's textfile collector). Changing it alone is no change of the cluster.
   */
  readonly metricsFile?: pulumi.Input<string>;
  /** Where create and update draw the rollout as an SVG picture. Changing it alone is no change of the cluster. */
  readonly timelineFile?: pulumi.Input<string>;
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
  /**
   * The plan as data (`nats-cluster/plan@1`), made from the servers by the provider's check: in `pulumi preview
   * --json`, the plan of the update previewed (the step's `newState.inputs.plannedRollout`); after `pulumi up`, the
   * plan that update was made from.
   */
  declare readonly plannedRollout: pulumi.Output<PlanDocument | undefined>;

  constructor(name: string, args: RollingUpgradeArgs, opts: pulumi.CustomResourceOptions = {}) {
    super(
      rollingUpgradeProvider,
      name,
      {
        spec: args.spec,
        auth: args.auth,
        policy: args.policy ?? {},
        platform: args.platform,
        settings: args.settings,
        platformSecrets: args.platformSecrets,
        tlsPem: args.tlsPem,
        eventsFile: args.eventsFile,
        metricsFile: args.metricsFile,
        timelineFile: args.timelineFile,
        // Names this stack in the rollout lease a second roller is refused by (not compared by diff).
        leaseStack: `${pulumi.getProject()}/${pulumi.getStack()}`,
        versions: undefined,
        surgeRunning: undefined,
        lastReport: undefined,
        plannedRollout: undefined,
      },
      // The provider receives inputs in plain text and returns them as outputs: secrets must be re-marked secret.
      {
        ...opts,
        additionalSecretOutputs: [...(opts.additionalSecretOutputs ?? []), "auth", "platformSecrets", "tlsPem"],
      },
      "nats-cluster",
      "RollingUpgrade",
    );
  }
}
