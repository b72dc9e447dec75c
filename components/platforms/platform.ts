/**
 * The platform seam of the Pulumi layer: what NatsCluster and NatsServer need from a platform, and nothing about
 * any particular one. Each platform is a folder beside this file (local/, aws/, ssh/, …) whose index exports a
 * {@link ClusterPlatform}, paired with the engine's host driver of the same name (engine/hosts/<name>/). Adding a
 * platform is adding those two folders; nothing else lists the platforms.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Problem } from "../../engine/problem";
import type { ServerEndpoint } from "../../engine/spec";
import type { Problems } from "../config/values";

/** A server as the stack describes it: its name and ports, and its address when the stack gives one. */
export interface ServerPlacement {
  readonly name: string;
  /** The address from stack config (local, ssh); undefined when the platform assigns one (aws: the instance's IP). */
  readonly host?: string;
  readonly clientPort: number;
  readonly clusterPort: number;
  readonly monitorPort: number;
  /** Its gateway port, in a supercluster (default the cluster's `gatewayPort`, else 7222). */
  readonly gatewayPort?: number;
  /** Its leafnode port, on a member of a hub cluster (default the cluster's `leafnodes.port`, else 7422). */
  readonly leafnodePort?: number;
}

/** How the platform's servers are written in stack config. */
export interface MemberRules {
  /** `required`: every server names its address; `loopback`: default 127.0.0.1; `assigned`: the platform's. */
  readonly host: "required" | "loopback" | "assigned";
  /** Every server needs ports of its own (several servers on one machine). */
  readonly portsRequired: boolean;
  /** `memberCount` may stand for the list (members named `<cluster>-<n>` on the default ports). */
  readonly countAllowed: boolean;
  /** A member as the stack writes it, for messages. */
  readonly memberExample: string;
  /** The surge server as the stack writes it, for messages. */
  readonly surgeExample: string;
}

/** The cluster-wide facts hosts are built from. No secrets: they can end up in user data and tags. */
export interface PlatformClusterFacts {
  /** The stack, for names of state directories and tags. */
  readonly stack: string;
  /** `cluster.name`. */
  readonly clusterName: string;
  /** The version a new host installs at first boot (aws user data); later versions come through the rollout. */
  readonly version: pulumi.Input<string>;
  /** Members run JetStream (a data volume per member, where the platform has volumes). */
  readonly jetstream: boolean;
  /** The members as the stack places them. */
  readonly members: ReadonlyArray<ServerPlacement>;
  /** The temporary surge server. */
  readonly surge: ServerPlacement;
  /** How long lame duck may take on a host before the server is killed (systemd's TimeoutStopSec). */
  readonly stopTimeoutSeconds: number;
  /** The rollout delivers TLS material (`tlsPem` or `tls.generate`) to every server's host. */
  readonly tlsMaterial?: boolean;
  /** Providers the caller passed for the platform's resources, by package (`aws`: an `aws.Provider`). */
  readonly providers?: Readonly<Record<string, pulumi.ProviderResource>>;
}

/** A member's host: where the member listens, and what the driver needs to reach the host. */
export interface MemberHost {
  readonly endpoint: pulumi.Output<ServerEndpoint>;
  /** What the driver settings need about this host (aws: the instance id), when anything. */
  readonly hostId?: pulumi.Output<string>;
}

/** The engine driver's inputs: plain settings (kept in state) and secrets (a secret input). */
export interface DriverInputs {
  readonly settings: pulumi.Input<Record<string, unknown>>;
  readonly secrets?: pulumi.Input<Record<string, string>>;
}

/** The servers as the stack config places them, and the stop timeout their hosts are built with. */
export interface ConfiguredServers {
  readonly members: ReadonlyArray<ServerPlacement>;
  readonly surge: ServerPlacement;
  readonly stopTimeoutSeconds: number;
}

/** Where decoding resolves relative paths and defaults. */
export interface DecodeContext {
  readonly stack: string;
  /** The project directory (where Pulumi.yaml is). */
  readonly projectDir: string;
}

/** One platform of the Pulumi layer. `Settings` is its decoded stack-config block; `Shared` what its members share. */
export interface ClusterPlatform<Settings = unknown, Shared = unknown> {
  readonly name: string;
  readonly members: MemberRules;
  /** Top-level keys holding this platform's secrets (`nats-cluster:<key>`, set with `--secret`), if any. */
  readonly secretKeys?: ReadonlyArray<string>;
  /**
   * Provider packages of its resources (`aws`): a provider for one of them in the cluster's component options
   * (`providers`, `provider`, or inherited from a parent) is handed to the platform like `NatsClusterArgs.providers`.
   */
  readonly providerPackages?: ReadonlyArray<string>;
  /** Secret keys these settings need, as the problem to report when one is missing. */
  requiredSecrets?(settings: Settings): ReadonlyArray<Problem>;
  /**
   * Core keys (`nats-cluster:<key>`) this platform cannot honour yet, each with the reason: set, they fail decoding
   * (`pulumi preview`) before anything is created.
   */
  readonly refusedKeys?: ReadonlyArray<Problem>;
  /** Decode `nats-cluster:<name>` (raw is undefined when the block is absent); problems go under that key. */
  decodeSettings(raw: unknown, p: Problems, context: DecodeContext): Settings;
  /**
   * Resources and values every member shares (a security group, a launch template, the driver's secrets, …), as
   * children of the cluster component. `secrets` are the platform's secret keys (a secret Output), if any.
   */
  createShared(
    name: string,
    facts: PlatformClusterFacts,
    settings: Settings,
    secrets: pulumi.Output<Readonly<Record<string, string>>> | undefined,
    parent: pulumi.Resource,
  ): Shared;
  /** One member's host, as children of its NatsServer component. */
  createMemberHost(
    name: string,
    member: ServerPlacement,
    index: number,
    context: { facts: PlatformClusterFacts; settings: Settings; shared: Shared },
    parent: pulumi.Resource,
  ): MemberHost;
  /**
   * The driver's settings from stack config alone, for platforms whose hosts are all in the config (so the command
   * line can drive a stack file without Pulumi state); undefined elsewhere.
   */
  driverSettingsFromConfig?(settings: Settings, servers: ConfiguredServers): Record<string, unknown>;
  /** The settings and secrets the engine's driver of the same name is built from. */
  driverInputs(
    facts: PlatformClusterFacts,
    settings: Settings,
    shared: Shared,
    members: ReadonlyArray<{ readonly placement: ServerPlacement; readonly host: MemberHost }>,
  ): DriverInputs;
}
