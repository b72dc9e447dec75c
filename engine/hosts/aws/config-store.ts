/**
 * How a server's config (which can hold tokens, passwords and the system-account credentials) travels to its EC2
 * host: as an SSM Parameter Store **SecureString**, which the host's SSM command fetches with its instance role
 * (`aws ssm get-parameter --with-decryption`) and writes with mode 0600.
 *
 * Why not put the config in the SSM command itself (plain or base64)? Run Command parameters are stored in the
 * command history, shown in the console to anyone with `ssm:ListCommands`, and recorded by CloudTrail; base64 hides
 * nothing. A SecureString is encrypted with KMS, readable only with `ssm:GetParameter` + `kms:Decrypt` (the instance
 * role may read its cluster's prefix only), and CloudTrail does not record its value. The cost: the operator
 * running the rollout needs `ssm:PutParameter` on the prefix, and each config is limited to what fits in an
 * advanced parameter (8 KB, base64-encoded). The parameter keeps up to 100 versions; readConfig uses them to return
 * exactly the text the host has, without that text ever appearing in command output.
 *
 * Verified with fakes at the SDK boundary (the lab test fetches each version on a real host through an `aws` CLI
 * shim); never against a real AWS account.
 */
import type { GetParameterCommandOutput, PutParameterCommandOutput } from "@aws-sdk/client-ssm";
import { GATEWAY_CA_FILE_NAME, TLS_FILE_NAMES } from "../../config/for-server";
import { DeliveredTls } from "../../spec";
import { configParameterName, tlsParameterName } from "./names";
import { AwsSdkClient, awsErrorName, loadSsm } from "./sdk";

/** Parameter Store's limit for an advanced parameter's value. */
const MAX_VALUE_BYTES = 8192;

export interface StoredConfig {
  readonly name: string;
  readonly version: number;
}

/** One delivered TLS file as stored: the host's file name, and the parameter version holding its base64. */
export interface StoredTlsFile extends StoredConfig {
  readonly fileName: string;
}

/** The delivered material's files, in the order the host writes them (the gateway's CA bundle only when given). */
const TLS_FILES: ReadonlyArray<[keyof DeliveredTls, string]> = [
  ["certPem", TLS_FILE_NAMES.cert],
  ["keyPem", TLS_FILE_NAMES.key],
  ["caPem", TLS_FILE_NAMES.ca],
  ["gatewayCaPem", GATEWAY_CA_FILE_NAME],
];

export class SsmConfigStore {
  constructor(
    private readonly client: AwsSdkClient,
    private readonly prefix: string,
    private readonly kmsKeyId?: string,
  ) {}

  parameterName(serverName: string): string {
    return configParameterName(this.prefix, serverName);
  }

  /** Stores the config as a new version of the server's SecureString; the value is base64 so the bytes survive the CLI.
   * */
  async put(serverName: string, configText: string): Promise<StoredConfig> {
    const name = this.parameterName(serverName);
    return {
      name,
      version: await this.putValue(
        serverName,
        name,
        configText,
        `its config is ${configText.length} bytes`,
        "shorten it (fewer users, nkeys instead of passwords)",
        `nats-server config of ${serverName} (written by the nats-cluster rollout; base64)`,
      ),
    };
  }

  /**
   * Stores the delivered TLS material (certificate, key, CA) as new versions of the server's three SecureStrings,
   * one per file, under the same prefix and key as its config. The values go only into PutParameter requests.
   */
  async putTls(serverName: string, tls: DeliveredTls): Promise<StoredTlsFile[]> {
    const stored: StoredTlsFile[] = [];
    for (const [field, fileName] of TLS_FILES) {
      const text = tls[field];
      if (text === undefined) continue;
      const name = tlsParameterName(this.prefix, serverName, fileName);
      const version = await this.putValue(
        serverName,
        name,
        text,
        `its TLS file ${fileName} is ${text.length} bytes`,
        "use a shorter chain or key",
        `${fileName} of ${serverName} (written by the nats-cluster rollout; base64)`,
      );
      stored.push({ name, version, fileName });
    }
    return stored;
  }

  private async putValue(
    serverName: string,
    name: string,
    text: string,
    what: string,
    fix: string,
    description: string,
  ): Promise<number> {
    const value = Buffer.from(text, "utf8").toString("base64");
    if (value.length > MAX_VALUE_BYTES) {
      throw new Error(
        `${serverName}: ${what} (${value.length} as base64), more than an SSM parameter holds (${MAX_VALUE_BYTES}); ${fix}`,
      );
    }
    const sdk = loadSsm();
    const out = (await this.client.send(
      new sdk.PutParameterCommand({
        Name: name,
        Value: value,
        Type: "SecureString",
        Overwrite: true,
        // Standard (free) up to 4 KB, advanced above: Parameter Store picks per write.
        Tier: "Intelligent-Tiering",
        ...(this.kmsKeyId ? { KeyId: this.kmsKeyId } : {}),
        Description: description,
      }),
    )) as PutParameterCommandOutput;
    if (out.Version === undefined) throw new Error(`${serverName}: PutParameter ${name} returned no version`);
    return out.Version;
  }

  /** The config text stored as `version`, or undefined when that version (or the parameter) no longer exists. */
  async get(serverName: string, version: number): Promise<string | undefined> {
    const name = this.parameterName(serverName);
    const sdk = loadSsm();
    try {
      const out = (await this.client.send(
        new sdk.GetParameterCommand({ Name: `${name}:${version}`, WithDecryption: true }),
      )) as GetParameterCommandOutput;
      const value = out.Parameter?.Value;
      return value === undefined ? undefined : Buffer.from(value, "base64").toString("utf8");
    } catch (error) {
      if (["ParameterNotFound", "ParameterVersionNotFound"].includes(awsErrorName(error) ?? "")) return undefined;
      throw error;
    }
  }

  /** Deletes the server's parameters (its config and TLS files, every version); missing ones are fine. */
  async remove(serverName: string): Promise<void> {
    const sdk = loadSsm();
    const names = [
      this.parameterName(serverName),
      ...TLS_FILES.map(([, fileName]) => tlsParameterName(this.prefix, serverName, fileName)),
    ];
    for (const name of names) {
      try {
        await this.client.send(new sdk.DeleteParameterCommand({ Name: name }));
      } catch (error) {
        if (awsErrorName(error) !== "ParameterNotFound") throw error;
      }
    }
  }
}
