/**
 * Reads the stack's config through Pulumi and decodes it (decode.ts). The secret keys become secret Outputs: their
 * plain values exist only in memory while the program runs (to validate them), never in state or outputs.
 *
 * Bad config fails `pulumi preview` the way Pulumi's own errors read: the problems, one per line, and nothing else
 * (no stack trace, no dump of an error object that could hold a secret, no colour codes).
 */
import * as pulumi from "@pulumi/pulumi";
import { AuthSpec, TlsPem } from "../../engine";
import {
  CONFIG_NAMESPACE,
  decodeAnyStackConfig,
  DecodeOptions,
  namespaceEntries,
  SECRET_KEYS,
  StackConfig,
  StackConfigError,
  SuperclusterStackConfig,
} from "./decode";
import { findClusterPlatform } from "../platforms";

/** The secrets of a decoded config, as secret Outputs. */
interface SecretOutputs {
  readonly auth?: pulumi.Output<AuthSpec>;
  readonly tlsPem?: pulumi.Output<TlsPem>;
  readonly platformSecrets?: pulumi.Output<Readonly<Record<string, string>>>;
}

type Secret = "auth" | "platformSecrets" | "tlsPem";

/** A stack of one cluster, with its secrets as secret Outputs. */
export interface SecretStackConfig extends Omit<StackConfig, Secret>, SecretOutputs {}

/** A supercluster stack (`nats-cluster:clusters`), with its secrets as secret Outputs. */
export interface SecretSuperclusterConfig extends Omit<SuperclusterStackConfig, Secret>, SecretOutputs {}

/** Whether a config key holds a secret (internal SDK helper, present at run time though not in the typings). */
function isSecretConfigKey(fullKey: string): boolean | undefined {
  const runtime = pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean };
  return typeof runtime.isConfigSecret === "function" ? runtime.isConfigSecret(fullKey) : undefined;
}

/**
 * Read and validate the config of a stack of one cluster. A problem ends the program with a `RunError` carrying only
 * the message: Pulumi prints it as the error of the update, without the program's stack trace. A supercluster stack
 * is such a problem (naming `nats-cluster:clusters`): read it with {@link readAnyStackConfig}.
 */
export function readStackConfig(options: DecodeOptions = {}): SecretStackConfig {
  const config = readAnyStackConfig(options);
  if (config.clusters === undefined) return config;
  throw new pulumi.RunError(
    new StackConfigError(
      [{ field: "clusters", message: "this stack is a supercluster: read it with readAnyStackConfig" }],
      options.stack ?? pulumi.getStack(),
    ).message,
  );
}

/** The stack's config, one cluster or a supercluster (`clusters` set), read as {@link readStackConfig} reads. */
export function readAnyStackConfig(options: DecodeOptions = {}): SecretStackConfig | SecretSuperclusterConfig {
  const stack = options.stack ?? pulumi.getStack();
  const raw = namespaceEntries(pulumi.runtime.allConfig());
  let config: StackConfig | SuperclusterStackConfig;
  try {
    config = decodeAnyStackConfig(raw, { ...options, stack });
  } catch (err) {
    if (err instanceof StackConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
  const secretKeys = [...SECRET_KEYS, ...(findClusterPlatform(config.platform)?.secretKeys ?? [])];
  const plain = secretKeys.filter(
    (key) => raw[key] !== undefined && isSecretConfigKey(`${CONFIG_NAMESPACE}:${key}`) === false,
  );
  if (plain.length > 0) {
    throw new pulumi.RunError(
      new StackConfigError(
        plain.map((key) => ({
          field: key,
          message:
            `is stored in plain text in Pulumi.${stack}.yaml; remove it and set it with ` +
            `\`pulumi config set --secret ${CONFIG_NAMESPACE}:${key} '<value>'\``,
        })),
        stack,
      ).message,
    );
  }
  const { auth, platformSecrets, tlsPem, ...rest } = config;
  return {
    ...rest,
    ...(auth ? { auth: pulumi.secret(auth) } : {}),
    ...(tlsPem ? { tlsPem: pulumi.secret(tlsPem) } : {}),
    ...(platformSecrets ? { platformSecrets: pulumi.secret(platformSecrets) } : {}),
  };
}
