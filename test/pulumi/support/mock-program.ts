/**
 * Runs Pulumi programs in-process under `pulumi.runtime.setMocks` and records every resource registration with what
 * the mocks API leaves out: parent, dependsOn, additionalSecretOutputs, and the inputs as serialized on the wire
 * (where a secret is visibly a secret).
 */
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";

/** The serialized form of a secret value (the SDK's `specialSigKey` → `specialSecretSig`). */
export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export interface Registration {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  /** URN of the parent resource ("" for none). */
  readonly parent: string;
  /** URNs of explicit dependencies (dependsOn). */
  readonly dependencies: ReadonlyArray<string>;
  readonly additionalSecretOutputs: ReadonlyArray<string>;
  /** The `protect` option as sent (a child inherits its parent's). */
  readonly protect: boolean;
  /** The provider reference (`urn::id`) a custom resource was registered with, "" for none. */
  readonly provider: string;
  /** The names in the aliases the SDK sent (alias specs; a child's inherited aliases are the engine's business). */
  readonly aliasNames: ReadonlyArray<string>;
  /** Inputs as serialized by the SDK: secrets are `{ [SECRET_SIG_KEY]: SECRET_SIG, value }`. */
  readonly wireInputs: Record<string, unknown>;
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getDependenciesList(): string[];
  getAdditionalsecretoutputsList(): string[];
  getProtect(): boolean | undefined;
  getProvider(): string;
  getAliasesList(): Array<{ getSpec(): { getName(): string } | undefined }>;
  getObject(): { toJavaScript(): Record<string, unknown> } | undefined;
}
interface RegisterResponse {
  getUrn(): string;
}
type Callback = (err: unknown, response: RegisterResponse | undefined) => void;

export const registrations: Registration[] = [];

let installed = false;

/** Record every registration from now on (idempotent). */
export function recordRegistrations(): void {
  if (installed) return;
  installed = true;
  const original = MockMonitor.prototype.registerResource;
  MockMonitor.prototype.registerResource = function (this: MockMonitor, req: RegisterRequest, callback: Callback) {
    return original.call(this, req, (err: unknown, response: RegisterResponse | undefined) => {
      if (!err && response) {
        registrations.push({
          type: req.getType(),
          name: req.getName(),
          urn: response.getUrn(),
          parent: req.getParent(),
          dependencies: req.getDependenciesList(),
          additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
          protect: req.getProtect() ?? false,
          provider: req.getProvider(),
          aliasNames: req.getAliasesList().flatMap((a) => (a.getSpec()?.getName() ? [a.getSpec()!.getName()] : [])),
          wireInputs: req.getObject()?.toJavaScript() ?? {},
        });
      }
      callback(err, response);
    });
  };
}

/** `stack file values` → the flat `nats-cluster:key` → string map Pulumi hands a program. */
export function asPulumiConfig(values: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([k, v]) => [`nats-cluster:${k}`, typeof v === "string" ? v : JSON.stringify(v)]),
  );
}

/** The value of an Output (mocks run with preview off, so values are known). */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

/** Registrations of a type, by name. */
export function ofType(suffix: string): Registration[] {
  return registrations.filter((r) => r.type.endsWith(suffix));
}

export function isWireSecret(value: unknown): boolean {
  return (
    typeof value === "object" && value !== null && (value as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG
  );
}

/**
 * Pulumi mocks that answer an AWS cluster's resources and lookups with the few outputs its components read (an
 * instance's private IP, a launch template's version, …), every registration recorded: one stand-in for the AWS API
 * for the tests that build aws clusters under mocks.
 */
export async function setAwsMocks(project: string, stack: string): Promise<void> {
  recordRegistrations();
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => ({
        id: `${args.name}-id`,
        state: {
          ...args.inputs,
          ...(args.type === "aws:ec2/instance:Instance" ? { privateIp: "10.0.1.10" } : {}),
          ...(args.type === "aws:ec2/launchTemplate:LaunchTemplate" ? { latestVersion: 1 } : {}),
          ...(args.type === "aws:iam/instanceProfile:InstanceProfile" ? { name: `${args.name}-name` } : {}),
          ...(args.type === "aws:kms/key:Key" ? { arn: `arn:aws:kms:eu-west-1:123456789012:key/${args.name}` } : {}),
        },
      }),
      call: (args) => {
        if (args.token === "aws:ec2/getSubnet:getSubnet") return { id: args.inputs.id, cidrBlock: "10.0.1.0/24" };
        if (args.token === "aws:ec2/getAmi:getAmi") return { id: "ami-0123456789abcdef0" };
        if (args.token === "aws:index/getPartition:getPartition") return { partition: "aws" };
        return {};
      },
    },
    project,
    stack,
    false,
  );
}

/**
 * Mocks for running this project's program (index.ts) as `stack`, every registration recorded: a resource's state is
 * its inputs, or, for a type in `states`, what that function makes of them (a rollout resource's outputs, which only
 * its provider would fill in). No data source is called.
 */
export async function setProgramMocks(
  stack: string,
  states: Readonly<Record<string, (inputs: Record<string, unknown>) => Record<string, unknown>>> = {},
): Promise<void> {
  recordRegistrations();
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => ({
        id: `${args.name}-id`,
        state: states[args.type]?.(args.inputs) ?? args.inputs,
      }),
      call: () => ({}),
    },
    "nats-cluster",
    stack,
    false,
  );
}
