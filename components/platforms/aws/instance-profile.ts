/**
 * The IAM role and instance profile of a cluster's nats-server hosts (members and the surge VM share one):
 * `AmazonSSMManagedInstanceCore`, so the rollout reaches them through SSM Run Command with no SSH and no open port,
 * plus read access to the cluster's config parameters (SecureStrings under one prefix) and nothing else.
 * Verified with Pulumi mocks; never against a real AWS account.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { normalizePrefix } from "../../../engine/hosts/aws/names";

export interface NatsInstanceProfileArgs {
  /** Parameter Store hierarchy of the cluster's configs, e.g. "/nats-cluster/prod"; the role may read `<prefix>/*`
   * only. */
  readonly configParameterPrefix: string;
  /** ARN of the KMS key the config SecureStrings are encrypted with; default: any key, used through SSM only (covers
   * `alias/aws/ssm`). */
  readonly kmsKeyArn?: pulumi.Input<string>;
  /** Tags for the role and the profile. */
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export class NatsInstanceProfile extends pulumi.ComponentResource {
  /** Pass this as `instanceProfileName` to AwsMemberHost and SurgeLaunchTemplate. */
  readonly instanceProfileName: pulumi.Output<string>;
  readonly roleArn: pulumi.Output<string>;

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
    const ssmCore = new aws.iam.RolePolicyAttachment(
      `${name}-ssm-core`,
      { role: role.name, policyArn: pulumi.interpolate`arn:${partition}:iam::aws:policy/AmazonSSMManagedInstanceCore` },
      { parent: this },
    );
    const readConfigs = new aws.iam.RolePolicy(
      `${name}-read-configs`,
      {
        role: role.id,
        policy: pulumi.all([partition, args.kmsKeyArn]).apply(([part, kmsKeyArn]) =>
          JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              {
                Sid: "ReadClusterConfigs",
                Effect: "Allow",
                Action: ["ssm:GetParameter"],
                Resource: `arn:${part}:ssm:*:*:parameter${prefix}/*`,
              },
              {
                Sid: "DecryptClusterConfigs",
                Effect: "Allow",
                Action: ["kms:Decrypt"],
                Resource: kmsKeyArn ?? "*",
                Condition: { StringLike: { "kms:ViaService": "ssm.*.amazonaws.com" } },
              },
            ],
          }),
        ),
      },
      { parent: this },
    );
    const profile = new aws.iam.InstanceProfile(
      `${name}-profile`,
      { role: role.name, tags: args.tags },
      { parent: this },
    );

    // The name carries the policies as dependencies: an instance that boots before its role may use SSM and read
    // its config parameter registers late (the agent backs off) or fails its first config fetch.
    this.instanceProfileName = pulumi
      .all([profile.name, ssmCore.id, readConfigs.id])
      .apply(([profileName]) => profileName);
    this.roleArn = role.arn;
    this.registerOutputs({ instanceProfileName: this.instanceProfileName, roleArn: this.roleArn });
  }
}
