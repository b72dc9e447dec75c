/**
 * The Pulumi program: stack config (stacks/Pulumi.<stack>.yaml) → one NatsCluster → exports.
 * Change `nats-cluster:version` and run `pulumi preview` to see the rollout plan, `pulumi up` to perform it.
 */
import * as pulumi from "@pulumi/pulumi";
import { staleBuildProblem } from "./components/build-stamp";
import { readStackConfig } from "./components/config/read";
import { NatsCluster } from "./components/nats-cluster";

// This program runs the components from source, but their providers load the engine compiled in dist/: one not built
// from these sources is refused here, before anything is planned (the providers check again, for other programs).
// Only under the Pulumi engine (which sets PULUMI_NODEJS_MONITOR): unit tests run this program under mocks, unbuilt.
const stale = process.env.PULUMI_NODEJS_MONITOR ? staleBuildProblem(__dirname) : undefined;
if (stale) throw new pulumi.RunError(stale);

const config = readStackConfig();
const cluster = new NatsCluster(config.clusterName, {
  platform: config.platform,
  platformSettings: config.platformSettings,
  platformSecrets: config.platformSecrets,
  stack: pulumi.getStack(),
  clusterName: config.clusterName,
  version: config.version,
  members: config.members,
  surge: config.surge,
  jetstream: config.jetstream,
  lameDuck: config.lameDuck,
  routes: config.routes,
  rollout: config.rollout,
  eventsFile: config.eventsFile,
  metricsFile: config.metricsFile,
  timelineFile: config.timelineFile,
  auth: config.auth,
  tls: config.tls,
  tlsPem: config.tlsPem,
  tlsGenerate: config.tlsGenerate,
  monitoring: config.monitoring,
  noAdvertise: config.noAdvertise,
  extraSettings: config.extraSettings,
});

/** `nats://host:port` of every member. */
export const clientUrls = cluster.clientUrls;
/** The same, comma-joined: `nats --server "$(pulumi stack output clientUrl)"`. */
export const clientUrl = cluster.clientUrl;
/** `http://host:port` of every member's monitoring endpoint. */
export const monitorUrls = cluster.monitorUrls;
/** The CA clients verify the servers with (PEM), when the platform delivers TLS material (`nats --tlsca`). */
export const caPem = cluster.caPem;
/** Member name → the version its `/varz` reported when last seen. */
export const versions = cluster.versions;
/** The last bootstrap or rollout report (text). */
export const lastRolloutReport = cluster.lastRolloutReport;
/** The same report as data: per member from → to, result, time down; the halt, if any. */
export const lastRolloutSummary = cluster.lastRolloutSummary;

// What a preview costs, for the benchmark (`npm run bench`): set NATS_CLUSTER_TIMINGS to print it.
if (process.env.NATS_CLUSTER_TIMINGS) {
  console.log(`[timing] program: ${Math.round(process.uptime() * 1000)} ms from its start to every resource declared`);
}
