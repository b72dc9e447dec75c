/**
 * The AWS SDK boundary of the SSM host driver: the one client method it calls, lazy loaders for the SDK modules,
 * and error helpers. `import type` only: nothing here loads the SDK at import time, so the local platform (and any
 * code that merely imports the engine) never needs `@aws-sdk/*` on disk.
 *
 * Never run against a real AWS account: tests pass fake clients that record the real SDK command
 * objects the driver builds.
 */
import type * as Ec2Sdk from "@aws-sdk/client-ec2";
import type * as SsmSdk from "@aws-sdk/client-ssm";

/**
 * What the driver needs of an AWS SDK v3 client: `send(command)`. A real `SSMClient` or `EC2Client` satisfies it;
 * tests pass fakes that inspect `command.constructor.name` and `command.input`.
 */
export interface AwsSdkClient {
  send(command: object): Promise<unknown>;
}

export type SsmModule = typeof SsmSdk;
export type Ec2Module = typeof Ec2Sdk;

/** Loads `@aws-sdk/client-ssm` on first use (the module system caches it). */
export function loadSsm(): SsmModule {
  return require("@aws-sdk/client-ssm") as SsmModule;
}

/** Loads `@aws-sdk/client-ec2` on first use. */
export function loadEc2(): Ec2Module {
  return require("@aws-sdk/client-ec2") as Ec2Module;
}

/** The AWS error code of an SDK error (`InvocationDoesNotExist`, `ParameterNotFound`, …), if it is one. */
export function awsErrorName(error: unknown): string | undefined {
  if (error && typeof error === "object" && "name" in error && typeof error.name === "string") return error.name;
  return undefined;
}

export { sleep } from "../../util/async";
