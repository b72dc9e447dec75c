/**
 * The Pulumi program: stack config (stacks/Pulumi.<stack>.yaml) → one NatsCluster → exports.
 * Change `nats-cluster:version` and run `pulumi preview` to see the rollout plan, `pulumi up` to perform it.
 */
import { NatsCluster } from "./components/nats-cluster";
import { readStackConfig } from "./components/stack-config";

const config = readStackConfig();
const cluster = new NatsCluster(config.clusterName, { config });

/** `nats://host:port` of every member. */
export const clientUrls = cluster.clientUrls;
/** `http://host:port` of every member's monitoring endpoint. */
export const monitorUrls = cluster.monitorUrls;
/** Member name → the version its `/varz` reported when last seen (`pulumi refresh` updates it). */
export const versions = cluster.versions;
/** The last bootstrap or rollout report (text). */
export const lastRolloutReport = cluster.lastRolloutReport;
/** The same report as data: per member from → to, result, time down; the halt, if any. */
export const lastRolloutSummary = cluster.lastRolloutSummary;
