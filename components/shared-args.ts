/**
 * The arguments a NatsCluster and a NatsSupercluster share: the platform, and the settings every server of either
 * gets (in a supercluster, every cluster's). One definition, so a setting added to one component is there in the
 * other, with the same documentation. Types only.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { AuthSpec, JetStreamSpec, LameDuckSpec, RolloutPolicy, TlsPem, TlsSpec } from "../engine";

export interface SharedClusterArgs {
  /** The platform (a folder of components/platforms: `local`, `aws`, `ssh`, …), of every cluster. */
  readonly platform: string;
  /** The platform's settings, as its decoder returns them (`nats-cluster:<platform>`). */
  readonly platformSettings: unknown;
  /**
   * Providers for the platform's resources, by package, instead of the one it builds from stack config: `aws`, an
   * `aws.Provider` (the stack's `aws:*` settings are then not read; see README, Platforms). The component options'
   * `providers` (or `provider`, or a parent's) work the same; a provider given here wins over them.
   */
  readonly providers?: Readonly<Record<string, pulumi.ProviderResource>>;
  /** The platform's secrets (an SSH private key, …); kept secret. */
  readonly platformSecrets?: pulumi.Input<Readonly<Record<string, string>>>;
  /** The stack (names state directories and tags). */
  readonly stack: string;
  /** JetStream on the members (in a supercluster: of every cluster but the leaves). Default enabled. */
  readonly jetstream?: JetStreamSpec;
  /** `lame_duck_duration` and grace period. Default 30 s and 10 s (the Helm chart). */
  readonly lameDuck?: LameDuckSpec;
  /** How the rollout behaves (engine defaults for the rest). */
  readonly rollout?: Partial<RolloutPolicy>;
  /** `rollout.eventsFile`: the file `pulumi up` appends the rollout's events to, one JSON line each. */
  readonly eventsFile?: string;
  /**
   * `rollout.metricsFile`: where `pulumi up` writes the last rollout's figures (Prometheus text, a `.prom` file; in a
   * supercluster one per cluster, `-<cluster>` before the ending).
   */
  readonly metricsFile?: string;
  /**
   * `rollout.timelineFile`: where `pulumi up` draws the rollout (an `.svg`: down windows, surge, clients' gap; in a
   * supercluster one per cluster, `-<cluster>` before the ending).
   */
  readonly timelineFile?: string;
  /** Client auth and the system account. Secret. */
  readonly auth?: pulumi.Input<AuthSpec>;
  /**
   * TLS for clients and routes (gateways follow routes): modes (`clients`, `routes`, `verify`), and paths on the
   * hosts when the operator put the material there. Material the platform delivers comes from `tlsPem` or
   * `tlsGenerate`.
   */
  readonly tls?: pulumi.Input<Omit<TlsSpec, "pem">>;
  /** The servers' certificate, key and CA (PEM), delivered by the platform to every host. Secret. */
  readonly tlsPem?: pulumi.Input<TlsPem>;
  /**
   * Make a CA of the stack's own and a server certificate naming every server's host (a `${name}-certificates`
   * child, keys secret in state; in a supercluster one CA for every cluster, since gateways are mutual TLS);
   * re-issued with the same CA before it expires, when a host changes or when `rotation` is bumped. Exclusive with
   * `tlsPem`.
   */
  readonly tlsGenerate?: { readonly validityDays?: number; readonly rotation?: number };
  /** How the engine reads what servers report: `http` (default) or `system-account` (monitoring port on 127.0.0.1). */
  readonly monitoring?: "http" | "system-account";
  /** `cluster.no_advertise`. */
  readonly noAdvertise?: pulumi.Input<boolean>;
  /** Extra top-level settings that need a restart when changed, rendered verbatim. */
  readonly extraSettings?: pulumi.Input<Record<string, string | number | boolean>>;
}
