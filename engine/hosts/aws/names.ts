/**
 * The names an AWS-hosted nats-server is found by, shared by the Pulumi side (components/platforms/aws: IAM policy,
 * tags) and the SSM host driver (engine/hosts/aws), so the two can never disagree about a tag or a parameter.
 * Paths on the host are every systemd platform's (engine/hosts/systemd/paths.ts). Plain data, no SDK, no Pulumi.
 *
 * Verified with Pulumi mocks, fakes at the AWS SDK boundary and lab VMs; never against a real AWS account.
 */

/**
 * Tags that identify a cluster's hosts. The surge instance has no Pulumi resource (the driver launches it from the
 * launch template during a rollout), so these tags are how a re-run finds an orphaned one.
 */
export const TAG_CLUSTER = "nats-cluster:cluster";
export const TAG_SERVER = "nats-cluster:server";
export const TAG_ROLE = "nats-cluster:role";

/** The Parameter Store hierarchy a cluster's configs live under, unless one is configured. */
export function defaultConfigParameterPrefix(clusterName: string): string {
  return `/nats-cluster/${clusterName}`;
}

/**
 * The SecureString parameter that carries one server's config to its host (see config-store.ts for why).
 * The instance role may read `<prefix>/*` and nothing else.
 */
export function configParameterName(prefix: string, serverName: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(serverName)) {
    throw new Error(
      `server name ${JSON.stringify(serverName)} cannot be part of an SSM parameter name: use letters, digits, "_" and "-"`,
    );
  }
  return `${normalizePrefix(prefix)}/${serverName}/nats.conf`;
}

/**
 * The SecureString parameters that carry one server's delivered TLS material (`tls.pem`) to its host, one per file
 * (each well under the 8 KB limit of an advanced parameter): `<prefix>/<server>/tls/<file>`, inside the prefix the
 * instance role may read. The file names are the host's (engine/config/for-server.ts TLS_FILE_NAMES).
 */
export function tlsParameterName(prefix: string, serverName: string, fileName: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(fileName)) throw new Error(`TLS file name ${JSON.stringify(fileName)} is not a name`);
  return configParameterName(prefix, serverName).replace(/\/nats\.conf$/, `/tls/${fileName}`);
}

/** The alias of a cluster's customer-managed KMS key, which encrypts every SecureString of the cluster. */
export function clusterKeyAlias(clusterName: string): string {
  return `alias/nats-cluster/${clusterName}`;
}

/** `/a/b/` → `/a/b`; refuses what Parameter Store would refuse, naming the value. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, "");
  if (!/^(\/[A-Za-z0-9_.-]+)+$/.test(trimmed)) {
    throw new Error(
      `config parameter prefix ${JSON.stringify(prefix)} must look like /nats-cluster/prod (slash-separated letters, digits, "_", ".", "-")`,
    );
  }
  return trimmed;
}

/** The device name a member's data (JetStream) volume is attached as (`aws.ec2.VolumeAttachment.deviceName`). */
export const DATA_VOLUME_DEVICE = "/dev/sdf";

/** How long a first boot waits for the data volume (Pulumi attaches it once the instance runs). */
export const DATA_VOLUME_WAIT_SECONDS = 600;
