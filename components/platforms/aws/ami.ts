/**
 * The AMI for nats-server hosts: Amazon Linux 2023 (it ships the SSM agent, the AWS CLI, cloud-init, curl,
 * sha256sum, tar and xfsprogs, everything the user data and the SSM driver use), looked up with an explicit owner
 * and name filter so no third-party image can match.
 *
 * The default filter takes the newest AL2023 release, which moves over time: instances therefore ignore `ami`
 * changes (member-host.ts), so a new AMI never replaces a running member. Pin an exact image with `amiNameFilter`
 * (a full image name) or `amiId`. Verified with Pulumi mocks only.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** CPU architecture, in nats-server release terms. */
export type AwsArch = "amd64" | "arm64";

/** AL2023 image names per architecture (`al2023-ami-2023.6.20250107.0-kernel-6.1-x86_64` and the like). */
export const DEFAULT_AMI_NAME_FILTER: Readonly<Record<AwsArch, string>> = {
  amd64: "al2023-ami-2023.*-kernel-6.1-x86_64",
  arm64: "al2023-ami-2023.*-kernel-6.1-arm64",
};

/** Default instance types: small burstable ones, per architecture. */
export const DEFAULT_INSTANCE_TYPE: Readonly<Record<AwsArch, string>> = { amd64: "t3.small", arm64: "t4g.small" };

const EC2_ARCH: Readonly<Record<AwsArch, string>> = { amd64: "x86_64", arm64: "arm64" };

/** `amiId` when given, otherwise the newest Amazon-owned image matching the filter. */
export function amiFor(
  arch: AwsArch,
  options: { amiId?: pulumi.Input<string>; amiNameFilter?: string; parent: pulumi.Resource },
): pulumi.Output<string> {
  if (options.amiId !== undefined) return pulumi.output(options.amiId);
  return aws.ec2
    .getAmiOutput(
      {
        owners: ["amazon"],
        mostRecent: true,
        filters: [
          { name: "name", values: [options.amiNameFilter ?? DEFAULT_AMI_NAME_FILTER[arch]] },
          { name: "architecture", values: [EC2_ARCH[arch]] },
          { name: "virtualization-type", values: ["hvm"] },
          { name: "root-device-type", values: ["ebs"] },
        ],
      },
      { parent: options.parent },
    )
    .apply((image) => image.id);
}
