/**
 * The package's entry point (`import { NatsCluster } from "nats-cluster"`): the NatsCluster and NatsSupercluster
 * components, their argument
 * types, and what a program needs to fill them in. The compiled engine ships in the same package
 * (`nats-cluster/engine`); the component's providers find it from the program's node_modules (engine-module.ts).
 *
 * ```ts
 * import { NatsCluster, decodePlatformSettings } from "nats-cluster";
 * const cluster = new NatsCluster("nats", {
 *   platform: "local",
 *   platformSettings: decodePlatformSettings("local", { stateDir: "~/.local/state/nats-demo" }),
 *   stack: pulumi.getStack(),
 *   clusterName: "nats-demo",
 *   version: "2.15.2",
 *   members: [{ name: "nats-a", clientPort: 4222, clusterPort: 6222, monitorPort: 8222 }, …],
 *   surge: { name: "nats-surge", clientPort: 4444, clusterPort: 6444, monitorPort: 8444 },
 * });
 * export const clientUrl = cluster.clientUrl;
 * ```
 */
export { NatsCluster } from "./nats-cluster";
export type { NatsClusterArgs } from "./nats-cluster";
export type { SharedClusterArgs } from "./shared-args";
export { NatsSupercluster } from "./nats-supercluster";
export type { NatsSuperclusterArgs, SuperclusterClusterArgs } from "./nats-supercluster";
export { NatsServer } from "./nats-server";
export type { NatsServerArgs } from "./nats-server";
export { RollingUpgrade } from "./rolling-upgrade";
export { SuperclusterRollout } from "./supercluster-rollout";
export type { SuperclusterRolloutArgs } from "./supercluster-rollout";
export type { SuperclusterLastReport } from "./supercluster-rollout-provider";
export type { RollingUpgradeArgs } from "./rolling-upgrade";
export { ClusterCertificates } from "./cluster-certificates";
export type { LastReport } from "./last-report";
export type { ServerPlacement } from "./platforms/platform";
export type { LocalPlatformSettings } from "./platforms/local";
export type { AwsPlatformSettings } from "./platforms/aws";
export type { SshPlatformSettings } from "./platforms/ssh";
export { decodePlatformSettings, PlatformSettingsError } from "./platform-settings";
export type { PlatformSettingsContext } from "./platform-settings";
export { readAnyStackConfig, readStackConfig } from "./config/read";
export type { SecretStackConfig, SecretSuperclusterConfig } from "./config/read";
export { StackConfigError } from "./config/decode";
export type {
  AuthSpec,
  JetStreamSpec,
  LameDuckSpec,
  RolloutPolicy,
  RouteMode,
  ServerEndpoint,
  TlsPem,
  TlsSpec,
} from "../engine";
