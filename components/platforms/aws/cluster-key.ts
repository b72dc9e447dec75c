/**
 * The cluster's customer-managed KMS key: every SecureString of the cluster (each member's config, each server's
 * TLS certificate, key and CA) is encrypted with it, and its key policy, not the account's IAM policies, decides
 * who can decrypt them: the cluster's instance role (through Parameter Store only, for the cluster's parameters
 * only) and the operator who runs Pulumi and the rollout. Nobody else, whatever `ssm:GetParameter` they hold.
 * Yearly rotation is on (`enableKeyRotation`); old versions of a parameter stay readable after a rotation.
 *
 * Verified with Pulumi mocks (the policy document as written); never against a real AWS account, so KMS's own
 * validation of this policy (principals that must exist, the lockout check) has not been seen.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { clusterKeyAlias, normalizePrefix } from "../../../engine/hosts/aws/names";

/**
 * What managing a key takes (describe, policy, rotation, tags, aliases, deletion): no cryptographic action and no
 * `kms:CreateGrant` (a grant can hand out Decrypt).
 */
export const KEY_ADMIN_ACTIONS = [
  "kms:DescribeKey",
  "kms:GetKeyPolicy",
  "kms:PutKeyPolicy",
  "kms:GetKeyRotationStatus",
  "kms:EnableKeyRotation",
  "kms:DisableKeyRotation",
  "kms:ListKeyPolicies",
  "kms:ListResourceTags",
  "kms:ListAliases",
  "kms:CreateAlias",
  "kms:UpdateAlias",
  "kms:DeleteAlias",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:UpdateKeyDescription",
  "kms:EnableKey",
  "kms:DisableKey",
  "kms:ScheduleKeyDeletion",
  "kms:CancelKeyDeletion",
];

/** What the operator's rollout does with the key through Parameter Store: write (encrypt) and read back (decrypt). */
export const KEY_USE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKey*"];

export interface ClusterKeyArgs {
  /** `cluster.name`: names the alias `alias/nats-cluster/<cluster>`. */
  readonly clusterName: string;
  /** The cluster's Parameter Store hierarchy: the instance role decrypts only parameters under `<prefix>/`. */
  readonly configParameterPrefix: string;
  /** The region of the parameters (Parameter Store calls KMS from `ssm.<region>.amazonaws.com`). */
  readonly region: pulumi.Input<string>;
  /** The instance role of the cluster's hosts (members and the surge VM). */
  readonly instanceRoleArn: pulumi.Input<string>;
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** The key policy, as a plain function of its principals (tested on its own). */
export function clusterKeyPolicy(p: {
  partition: string;
  accountId: string;
  region: string;
  prefix: string;
  instanceRoleArn: string;
  operatorArn: string;
}): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        // The account may manage the key, never use it. AWS needs a statement like this: a key policy is the only
        // gate of a KMS key, so if the one principal named in it (the operator's role) were deleted or renamed, a
        // key without it could be managed by nobody (not even to delete it) until AWS Support steps in. Through
        // this statement the account's IAM policies decide who may administer it. Note that an administrator who
        // may call kms:PutKeyPolicy can rewrite the policy and grant itself Decrypt: that call is in CloudTrail.
        Sid: "AccountAdministersTheKeyOnly",
        Effect: "Allow",
        Principal: { AWS: `arn:${p.partition}:iam::${p.accountId}:root` },
        Action: KEY_ADMIN_ACTIONS,
        Resource: "*",
      },
      {
        // Whoever runs Pulumi and the rollout: creates the key (KMS requires the creator to be allowed to put the
        // policy again), writes the SecureStrings and reads configs back.
        Sid: "OperatorManagesAndUsesTheKey",
        Effect: "Allow",
        Principal: { AWS: p.operatorArn },
        Action: [...KEY_ADMIN_ACTIONS, ...KEY_USE_ACTIONS],
        Resource: "*",
      },
      {
        // The cluster's hosts: Decrypt only, only when Parameter Store asks on their behalf, and only for the
        // cluster's own parameters (Parameter Store puts the parameter's ARN in the encryption context).
        Sid: "InstanceRoleDecryptsClusterParameters",
        Effect: "Allow",
        Principal: { AWS: p.instanceRoleArn },
        Action: "kms:Decrypt",
        Resource: "*",
        Condition: {
          StringEquals: { "kms:ViaService": `ssm.${p.region}.amazonaws.com` },
          StringLike: {
            "kms:EncryptionContext:PARAMETER_ARN": `arn:${p.partition}:ssm:${p.region}:${p.accountId}:parameter${p.prefix}/*`,
          },
        },
      },
    ],
  });
}

export class ClusterKey extends pulumi.ComponentResource {
  readonly keyArn: pulumi.Output<string>;
  readonly aliasName: pulumi.Output<string>;

  constructor(name: string, args: ClusterKeyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("nats-cluster:aws:ClusterKey", name, {}, opts);
    const prefix = normalizePrefix(args.configParameterPrefix);
    const partition = aws.getPartitionOutput({}, { parent: this }).partition;
    const caller = aws.getCallerIdentityOutput({}, { parent: this });
    // An assumed role's caller ARN names its session (arn:aws:sts::…:assumed-role/R/session), which changes every
    // run; the key policy names the role itself (with its path), as the session context gives it.
    const operatorArn = aws.iam.getSessionContextOutput({ arn: caller.arn }, { parent: this }).issuerArn;

    const key = new aws.kms.Key(
      `${name}-key`,
      {
        description: `nats-cluster ${args.clusterName}: SecureStrings of the cluster (configs, TLS material)`,
        enableKeyRotation: true,
        deletionWindowInDays: 30,
        policy: pulumi
          .all([partition, caller.accountId, operatorArn, args.instanceRoleArn, args.region])
          .apply(([part, accountId, operator, role, region]) =>
            clusterKeyPolicy({
              partition: part,
              accountId,
              region,
              prefix,
              instanceRoleArn: role,
              operatorArn: operator,
            }),
          ),
        tags: args.tags,
      },
      { parent: this },
    );
    const alias = new aws.kms.Alias(
      `${name}-alias`,
      { name: clusterKeyAlias(args.clusterName), targetKeyId: key.keyId },
      { parent: this },
    );
    this.keyArn = key.arn;
    this.aliasName = alias.name;
    this.registerOutputs({ keyArn: this.keyArn, aliasName: this.aliasName });
  }
}
