/**
 * A Pulumi program of its own that uses the nats-cluster package: three nats-server processes on this machine
 * (the local platform), at the version of `local-cluster:version`. Change the version and `pulumi up` rolls them.
 *
 * The package comes from the tarball `npm pack` writes in the repository root (package.json); nothing here reaches
 * into the repository. Config (Pulumi.local.yaml): `version`, `clusterName`, `members`, `surge`, `stateDir`, and
 * `resourceName` / `previousResourceName` (rename the component without replacing anything: an alias).
 */
import * as pulumi from "@pulumi/pulumi";
import { decodePlatformSettings, NatsCluster, ServerPlacement } from "nats-cluster";

const config = new pulumi.Config();
const name = config.get("resourceName") ?? "nats";
const previous = config.get("previousResourceName");

const cluster = new NatsCluster(
  name,
  {
    platform: "local",
    // Checked like a stack's `nats-cluster:local` block: a bad field fails the preview, naming it.
    platformSettings: decodePlatformSettings("local", { stateDir: config.require("stateDir") }),
    stack: pulumi.getStack(),
    clusterName: config.require("clusterName"),
    version: config.require("version"),
    members: config.requireObject<ServerPlacement[]>("members"),
    surge: config.requireObject<ServerPlacement>("surge"),
    lameDuck: { durationSeconds: 30, gracePeriodSeconds: 1 },
    rollout: { minHealthySeconds: 1, pollIntervalMs: 250 },
    // A CA of the cluster's own: clients must use TLS, routes are mutual TLS (the keys stay Pulumi secrets).
    tlsGenerate: {},
    // An Output is as good as a value: the password stays a secret from stack config to the servers' hosts.
    auth: config.requireSecret("appPassword").apply((password) => ({ users: [{ user: "app", password }] })),
  },
  { aliases: previous ? [{ name: previous }] : [] },
);

/** `nats://host:port` of every member. */
export const clientUrls = cluster.clientUrls;
/** `http://host:port` of every member's monitoring endpoint. */
export const monitorUrls = cluster.monitorUrls;
/** Member name → the nats-server version it reported. */
export const versions = cluster.versions;
/** The CA clients verify the servers with. */
export const caPem = cluster.caPem;
/** What the last `pulumi up` did to the cluster. */
export const lastRolloutReport = cluster.lastRolloutReport;
