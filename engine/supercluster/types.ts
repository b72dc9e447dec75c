/**
 * The supercluster's public shapes: several clusters (each its own ClusterSpec and HostDriver) joined by gateways,
 * and leaf clusters (a spec with `hub`), rolled one cluster at a time by one run. A supercluster of one is exactly
 * today's single-cluster reconcile.
 */
import { ClusterSpec } from "../spec";
import { EventSink } from "../rollout/events";
import { RolloutSeams } from "../rollout/context";
import { RolloutOptions } from "../rollout/execute";
import { ObservedCluster } from "../rollout/observe";
import { RolloutPlan } from "../rollout/plan";
import { PreviewFallback, ReconcileOutcome } from "../rollout/reconcile";

/** One cluster of the supercluster and what reaches its hosts: RolloutOptions without the run-wide fields. */
export type SuperclusterCluster = Omit<RolloutOptions, "onEvent" | "stopRequested" | "seams" | "supercluster">;

export interface SuperclusterOptions {
  /** Every cluster, in config order (the order rolled when nothing else decides: see engine/supercluster/order.ts). */
  readonly clusters: ReadonlyArray<SuperclusterCluster>;
  /** Progress of the whole run; each event's `cluster` names the cluster it belongs to. */
  readonly onEvent?: EventSink;
  /** Asked before every step that takes a server down or brings one up, in whichever cluster (see RolloutOptions). */
  readonly stopRequested?: () => string | undefined;
  /** What tests replace (monitors, waits, traffic), for every cluster. */
  readonly seams?: RolloutSeams;
}

/** One cluster's place in the rollout order, and its plan. */
export interface ClusterInOrder {
  readonly cluster: string;
  /** Why it comes here: a leaf before its hub, a cluster without the meta leader, the meta leader's cluster last. */
  readonly why: string;
  readonly plan: RolloutPlan;
}

export interface SuperclusterPlan {
  /** Every cluster in the order they are rolled. */
  readonly order: ReadonlyArray<ClusterInOrder>;
  /**
   * Why the run must not start (each line names its cluster): nothing is touched when this is non-empty. A
   * cluster's own refusals are here too, as `cluster <name>: …`.
   */
  readonly refusals: ReadonlyArray<string>;
  /** The JetStream meta leader the servers agree on, and its cluster; absent without JetStream or when unknown. */
  readonly metaLeader?: { readonly server: string; readonly cluster: string };
}

/** What `pulumi preview` shows: the plan cluster by cluster, and what each cluster's servers reported. */
export interface SuperclusterPreview {
  readonly plan: SuperclusterPlan;
  /** Each cluster's observation (or the one assumed from the inputs, `assumed` saying why), in config order. */
  readonly observed: ReadonlyArray<{ readonly cluster: string; readonly observed: ObservedCluster }>;
}

/** Per cluster name, what a preview falls back to when that cluster's servers cannot be asked. */
export type SuperclusterPreviewFallback = Readonly<Record<string, PreviewFallback>>;

/** How a supercluster run ended. */
export interface SuperclusterOutcome {
  /**
   * `done`: every cluster done. Otherwise the status of the cluster that stopped the run (`halted`,
   * `interrupted`, `refused`), or `refused` by the supercluster's own checks (`refusals`) before any cluster.
   */
  readonly status: "done" | "halted" | "interrupted" | "refused";
  /** The clusters reached, in the order they were rolled, each with its own outcome. */
  readonly clusters: ReadonlyArray<{ readonly name: string; readonly why: string; readonly outcome: ReconcileOutcome }>;
  /** The clusters not reached (the run stopped before them), in config order. */
  readonly left: ReadonlyArray<string>;
  /** Why the supercluster as a whole refused before any cluster (empty otherwise). */
  readonly refusals: ReadonlyArray<string>;
}

/** The specs of a run, for rules that read only specs. */
export const specsOf = (clusters: ReadonlyArray<{ readonly spec: ClusterSpec }>): ClusterSpec[] =>
  clusters.map((c) => c.spec);
