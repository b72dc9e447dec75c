/**
 * The Pulumi program: stack config (stacks/Pulumi.<stack>.yaml) → one NatsCluster, or a NatsSupercluster when the
 * stack lists `nats-cluster:clusters` → exports.
 * Change `nats-cluster:version` and run `pulumi preview` to see the rollout plan, `pulumi up` to perform it.
 */
import * as pulumi from "@pulumi/pulumi";
import { staleBuildProblem } from "./components/build-stamp";
import { readAnyStackConfig, SecretStackConfig, SecretSuperclusterConfig } from "./components/config/read";
import { NatsCluster } from "./components/nats-cluster";
import { NatsSupercluster } from "./components/nats-supercluster";
import type { SharedClusterArgs } from "./components/shared-args";

// This program runs the components from source, but their providers load the engine compiled in dist/: one not built
// from these sources is refused here, before anything is planned (the providers check again, for other programs).
// Only under the Pulumi engine (which sets PULUMI_NODEJS_MONITOR): unit tests run this program under mocks, unbuilt.
const stale = process.env.PULUMI_NODEJS_MONITOR ? staleBuildProblem(__dirname) : undefined;
if (stale) throw new pulumi.RunError(stale);

const config = readAnyStackConfig();

/** What the stack exports, from either component. */
function outputsOf(c: NatsCluster | NatsSupercluster, clientUrl: pulumi.Output<unknown>) {
  const { clientUrls, monitorUrls, caPem, versions, lastRolloutReport, lastRolloutSummary } = c;
  return { clientUrls, clientUrl, monitorUrls, caPem, versions, lastRolloutReport, lastRolloutSummary };
}

/** The settings either component takes from the stack config alike (every cluster's, in a supercluster). */
function sharedArgs(c: SecretStackConfig | SecretSuperclusterConfig): SharedClusterArgs {
  return {
    platform: c.platform,
    platformSettings: c.platformSettings,
    platformSecrets: c.platformSecrets,
    stack: pulumi.getStack(),
    jetstream: c.jetstream,
    lameDuck: c.lameDuck,
    rollout: c.rollout,
    eventsFile: c.eventsFile,
    metricsFile: c.metricsFile,
    timelineFile: c.timelineFile,
    auth: c.auth,
    tls: c.tls,
    tlsPem: c.tlsPem,
    tlsGenerate: c.tlsGenerate,
    monitoring: c.monitoring,
    noAdvertise: c.noAdvertise,
    extraSettings: c.extraSettings,
  };
}

/** One cluster (`nats-cluster:members`, …): a NatsCluster, as every stack before superclusters. */
function oneCluster(c: SecretStackConfig) {
  const cluster = new NatsCluster(c.clusterName, {
    ...sharedArgs(c),
    clusterName: c.clusterName,
    version: c.version,
    members: c.members,
    surge: c.surge,
    routes: c.routes,
  });
  return outputsOf(cluster, cluster.clientUrl);
}

/** Several clusters (`nats-cluster:clusters`): a NatsSupercluster; the outputs are by cluster name. */
function supercluster(c: SecretSuperclusterConfig) {
  const sc = new NatsSupercluster(c.name, { ...sharedArgs(c), version: c.version, clusters: c.clusters });
  const clientUrl = sc.clientUrls.apply((byCluster) =>
    Object.fromEntries(Object.entries(byCluster).map(([name, urls]) => [name, urls.join(",")])),
  );
  return outputsOf(sc, clientUrl);
}

const deployed = config.clusters === undefined ? oneCluster(config) : supercluster(config);

/** `nats://host:port` of every member (a supercluster: by cluster name). */
export const clientUrls: pulumi.Output<unknown> = deployed.clientUrls;
/** The same, comma-joined: `nats --server "$(pulumi stack output clientUrl)"` (a supercluster: by cluster name). */
export const clientUrl: pulumi.Output<unknown> = deployed.clientUrl;
/** `http://host:port` of every member's monitoring endpoint (a supercluster: by cluster name). */
export const monitorUrls: pulumi.Output<unknown> = deployed.monitorUrls;
/**
 * The CA clients verify the servers with (PEM), when the platform delivers TLS material (`nats --tlsca`); null when
 * TLS is off (an undefined stack output makes Pulumi warn on every run that it will not show).
 */
export const caPem = config.tlsPem || config.tlsGenerate ? deployed.caPem : null;
/** Member name → the version its `/varz` reported when last seen (a supercluster: cluster name → that). */
export const versions: pulumi.Output<unknown> = deployed.versions;
/** The last bootstrap or rollout report (text; a supercluster's: every cluster reached, and what is left). */
export const lastRolloutReport = deployed.lastRolloutReport;
/** The same report as data: per member from → to, result, time down; the halt, if any (a supercluster: per cluster). */
export const lastRolloutSummary: pulumi.Output<unknown> = deployed.lastRolloutSummary;

// What a preview costs, for the benchmark (`npm run bench`): set NATS_CLUSTER_TIMINGS to print it.
if (process.env.NATS_CLUSTER_TIMINGS) {
  console.log(`[timing] program: ${Math.round(process.uptime() * 1000)} ms from its start to every resource declared`);
}
