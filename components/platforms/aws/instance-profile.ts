/**
 * The IAM role and instance profile of a cluster's nats-server hosts (members and the surge VM share one), and the
 * cluster's KMS key (cluster-key.ts), whose policy names this role. Least privilege, in one inline policy:
 * what the SSM agent needs to register and run commands (the actions of `AmazonSSMManagedInstanceCore` minus its
 * `ssm:GetParameter`/`ssm:GetParameters` on every parameter of the account), `ssm:GetParameter` on the cluster's
 * parameters only, and `kms:Decrypt` on the cluster's key only (which itself lets the role decrypt only through
 * Parameter Store, only the cluster's parameters).
 * Verified with Pulumi mocks; never against a real AWS account.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { normalizePrefix } from "../../../engine/hosts/aws/names";
import { ClusterKey } from "./cluster-key";

export interface NatsInstanceProfileArgs {
  /** Parameter Store hierarchy of the cluster's configs, e.g. "/nats-cluster/prod"; the role may read `<prefix>/*`
   * only. */
  readonly configParameterPrefix: string;
  /** `cluster.name`: names the cluster's KMS key alias. */
  readonly clusterName: string;
  /** The region of the parameters and the key. Default the provider's. */
  readonly region?: pulumi.Input<string>;
  /** Tags for the role, the profile and the key. */
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/**
 * What the SSM agent calls to register, report and run commands: `AmazonSSMManagedInstanceCore` (v2) as AWS
 * publishes it, without `ssm:GetParameter` and `ssm:GetParameters` (on `*` there: every parameter of the account).
 */
export const SSM_AGENT_ACTIONS = [
  "ssm:DescribeAssociation",
  "ssm:GetDeployablePatchSnapshotForInstance",
  "ssm:GetDocument",
  "ssm:DescribeDocument",
  "ssm:GetManifest",
  "ssm:ListAssociations",
  "ssm:ListInstanceAssociations",
  "ssm:PutInventory",
  "ssm:PutComplianceItems",
  "ssm:PutConfigurePackageResult",
  "ssm:UpdateAssociationStatus",
  "ssm:UpdateInstanceAssociationStatus",
  "ssm:UpdateInstanceInformation",
];
export const SSM_CHANNEL_ACTIONS = [
  "ssmmessages:CreateControlChannel",
  "ssmmessages:CreateDataChannel",
  "ssmmessages:OpenControlChannel",
  "ssmmessages:OpenDataChannel",
];
export const EC2_MESSAGES_ACTIONS = [
  "ec2messages:AcknowledgeMessage",
  "ec2messages:DeleteMessage",
  "ec2messages:FailMessage",
  "ec2messages:GetEndpoint",
  "ec2messages:GetMessages",
  "ec2messages:SendReply",
];

/** The role's one inline policy, as a plain function (tested on its own). */
export function instanceRolePolicy(p: { partition: string; prefix: string; kmsKeyArn: string }): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      { Sid: "SsmAgent", Effect: "Allow", Action: SSM_AGENT_ACTIONS, Resource: "*" },
      { Sid: "SsmAgentChannels", Effect: "Allow", Action: SSM_CHANNEL_ACTIONS, Resource: "*" },
      { Sid: "SsmAgentMessages", Effect: "Allow", Action: EC2_MESSAGES_ACTIONS, Resource: "*" },
      {
        Sid: "ReadClusterParameters",
        Effect: "Allow",
        Action: ["ssm:GetParameter"],
        Resource: `arn:${p.partition}:ssm:*:*:parameter${p.prefix}/*`,
      },
      {
        Sid: "DecryptWithClusterKey",
        Effect: "Allow",
        Action: ["kms:Decrypt"],
        Resource: p.kmsKeyArn,
      },
    ],
  });
}

export class NatsInstanceProfile extends pulumi.ComponentResource {
  /** Pass this as `instanceProfileName` to AwsMemberHost and SurgeLaunchTemplate. */
  readonly instanceProfileName: pulumi.Output<string>;
  readonly roleArn: pulumi.Output<string>;
  /** The cluster's KMS key: every SecureString of the cluster is encrypted with it. */
  readonly kmsKeyArn: pulumi.Output<string>;

  constructor(name: string, args: NatsInstanceProfileArgs, opts?: pulumi.ComponentResourceOptions) {
    super("nats-cluster:aws:InstanceProfile", name, args, opts);
    const prefix = normalizePrefix(args.configParameterPrefix);
    const partition = aws.getPartitionOutput({}, { parent: this }).partition;

    const role = new aws.iam.Role(
      `${name}-role`,
      {
        assumeRolePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
        }),
        tags: args.tags,
      },
      { parent: this },
    );
    // The key's policy names the role (so the role comes first), and the role's policy names the key.
    const key = new ClusterKey(
      `${name}-kms`,
      {
        clusterName: args.clusterName,
        configParameterPrefix: prefix,
        region: args.region ?? aws.getRegionOutput({}, { parent: this }).region,
        instanceRoleArn: role.arn,
        tags: args.tags,
      },
      { parent: this },
    );
    const hostPolicy = new aws.iam.RolePolicy(
      `${name}-host-policy`,
      {
        role: role.id,
        policy: pulumi
          .all([partition, key.keyArn])
          .apply(([part, kmsKeyArn]) => instanceRolePolicy({ partition: part, prefix, kmsKeyArn })),
      },
      { parent: this },
    );
    const profile = new aws.iam.InstanceProfile(
      `${name}-profile`,
      { role: role.name, tags: args.tags },
      { parent: this },
    );

    // The name carries the policy and the key as dependencies: an instance that boots before its role may use SSM
    // and read its config parameter registers late (the agent backs off) or fails its first config fetch.
    this.instanceProfileName = pulumi
      .all([profile.name, hostPolicy.id, key.keyArn])
      .apply(([profileName]) => profileName);
    this.roleArn = role.arn;
    this.kmsKeyArn = key.keyArn;
    this.registerOutputs({ instanceProfileName: this.instanceProfileName, roleArn: this.roleArn });
  }
}
