/**
 * Tags of a cluster's EC2 resources. The `nats-cluster:*` keys are the ones the SSM driver filters on
 * (engine/hosts/aws/names.ts), so they are set last and cannot be overridden by user tags.
 * Verified with Pulumi mocks; never against a real AWS account.
 */
import * as pulumi from "@pulumi/pulumi";
import { TAG_CLUSTER, TAG_ROLE, TAG_SERVER } from "../../../engine/hosts/aws/names";

export function hostTags(
  clusterName: string,
  serverName: string,
  role: "member" | "surge",
  extra: pulumi.Input<Record<string, pulumi.Input<string>>> | undefined,
): pulumi.Output<Record<string, string>> {
  return pulumi.output(extra ?? {}).apply((user): Record<string, string> => ({
    Name: `${clusterName}-${serverName}`,
    ...user,
    [TAG_CLUSTER]: clusterName,
    [TAG_SERVER]: serverName,
    [TAG_ROLE]: role,
  }));
}
