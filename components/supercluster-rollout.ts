/**
 * `SuperclusterRollout`: the rolling-update resource of a whole supercluster. One resource for every cluster, not one
 * per cluster: the clusters must be rolled one at a time in an order only the servers can tell (leaves before their
 * hub, the JetStream meta leader's cluster last), and a halt in one must stop the others, which separate resources
 * updated by Pulumi in parallel could not do. The provider (supercluster-rollout-provider.ts) is the adapter.
 */
import * as pulumi from "@pulumi/pulumi";
import type { AuthSpec, RolloutPolicy, SuperclusterPlanDocument, TlsPem } from "../engine";
import {
  SuperclusterLastReport,
  SuperclusterRolloutCluster,
  superclusterRolloutProvider,
} from "./supercluster-rollout-provider";

/** Arguments of {@link SuperclusterRollout}. */
export interface SuperclusterRolloutArgs {
  /** Every cluster: its spec without client auth (links to the others included) and its driver settings. */
  readonly clusters: pulumi.Input<pulumi.Input<SuperclusterRolloutCluster>[]>;
  /** Client auth and the system account, every cluster's (secret; kept secret in state and outputs). */
  readonly auth?: pulumi.Input<AuthSpec>;
  /** RolloutPolicy overrides; engine defaults for the rest. */
  readonly policy?: pulumi.Input<Partial<RolloutPolicy>>;
  /** The platform: the engine's host driver folder. */
  readonly platform: pulumi.Input<string>;
  /** The platform driver's secrets (kept secret in state and outputs). */
  readonly platformSecrets?: pulumi.Input<Record<string, string>>;
  /** The TLS material every host gets (secret in state and outputs). */
  readonly tlsPem?: pulumi.Input<TlsPem>;
  /** The file the run appends its events to, each line naming its cluster. Changing it alone changes nothing. */
  readonly eventsFile?: pulumi.Input<string>;
  /** Each cluster's figures (Prometheus text), `-<cluster>` before `.prom`. Changing it alone changes nothing. */
  readonly metricsFile?: pulumi.Input<string>;
  /** Each cluster's rollout drawn (SVG), `-<cluster>` before `.svg`. Changing it alone changes nothing. */
  readonly timelineFile?: pulumi.Input<string>;
}

export class SuperclusterRollout extends pulumi.dynamic.Resource {
  /** The clusters last applied. */
  declare readonly clusters: pulumi.Output<SuperclusterRolloutCluster[]>;
  /** Client auth as applied (secret). */
  declare readonly auth: pulumi.Output<AuthSpec | undefined>;
  /** Cluster name → member name → the version its `/varz` reported when last seen (create, update, refresh). */
  declare readonly versions: pulumi.Output<Record<string, Record<string, string>>>;
  /** Cluster name → whether its surge server was running when last seen. */
  declare readonly surgeRunning: pulumi.Output<Record<string, boolean>>;
  /** The last run: its status, the clusters left, each cluster's last report, the whole as text. */
  declare readonly lastReport: pulumi.Output<SuperclusterLastReport>;
  /**
   * The plan as data (`nats-cluster/supercluster-plan@1`): in `pulumi preview --json`, the plan of the update
   * previewed (the step's `newState.inputs.plannedRollout`); after `pulumi up`, the plan that update was made from.
   * Absent when it was not planned from the servers (first deployment, servers not answering).
   */
  declare readonly plannedRollout: pulumi.Output<SuperclusterPlanDocument | undefined>;

  constructor(name: string, args: SuperclusterRolloutArgs, opts: pulumi.CustomResourceOptions = {}) {
    super(
      superclusterRolloutProvider,
      name,
      {
        clusters: args.clusters,
        auth: args.auth,
        policy: args.policy ?? {},
        platform: args.platform,
        platformSecrets: args.platformSecrets,
        tlsPem: args.tlsPem,
        eventsFile: args.eventsFile,
        metricsFile: args.metricsFile,
        timelineFile: args.timelineFile,
        // Names this stack in every cluster's rollout lease (not compared by diff).
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
      "SuperclusterRollout",
    );
  }
}
