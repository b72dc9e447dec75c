/**
 * Runs one shell script on one EC2 instance through SSM Run Command (`AWS-RunShellScript`) and waits for its result:
 * `SendCommand`, then `GetCommandInvocation` until a terminal status, under a deadline of its own (dynamic Pulumi
 * providers ignore `customTimeouts`, so every wait here must end by itself).
 *
 * Verified with fakes at the SDK boundary and on lab VMs (test/aws/lab-ssm-rollout.test.ts: a fake SSM that runs
 * the scripts there); never against a real AWS account.
 */
import type { GetCommandInvocationCommandOutput, SendCommandCommandOutput } from "@aws-sdk/client-ssm";
import { describeError } from "../../util/async";
import { seconds } from "../../util/duration";
import { AwsSdkClient, awsErrorName, loadSsm, sleep } from "./sdk";

/** Which server and instance a command is for; both go in every message. */
export interface SsmTarget {
  readonly server: string;
  readonly instanceId: string;
}

/** A finished command. */
export interface SsmCommandResult {
  readonly commandId: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly elapsedMs: number;
}

/** A command that could not be sent, failed, or did not finish in time. The message names server, instance and command.
 * */
export class SsmCommandError extends Error {
  constructor(
    readonly target: SsmTarget,
    /** What the command was for, e.g. "install nats-server v2.15.2". */
    readonly what: string,
    problem: string,
    readonly commandId?: string,
    /** The last SSM status seen (`Failed`, `TimedOut`, `InProgress` at our deadline, …). */
    readonly status?: string,
    /** The AWS error code when an API call itself failed (`InvalidInstanceId` from SendCommand, …). */
    readonly awsError?: string,
  ) {
    super(
      `${target.server} (${target.instanceId}): ${what}: ${problem}${commandId ? ` [SSM command ${commandId}]` : ""}`,
    );
    this.name = "SsmCommandError";
  }
}

/** How to run one command. */
export interface SsmRunOptions {
  /** Deadline for the whole command, from send to result; also the agent's `executionTimeout`. */
  readonly timeoutSeconds: number;
  /** Log only failures (for status polls that run every second). */
  readonly quiet?: boolean;
}

// `Status` is one of Pending, InProgress, Delayed, Success, Cancelled, TimedOut, Failed, Cancelling; the rest are
// `StatusDetails` values some SDK paths surface as a status (an agent that never picked the command up).
const TERMINAL_FAILURES = new Set([
  "Failed",
  "Cancelled",
  "TimedOut",
  "Cancelling",
  "Undeliverable",
  "Terminated",
  "DeliveryTimedOut",
  "ExecutionTimedOut",
  "InvalidPlatform",
  "AccessDenied",
]);
/** Errors worth another poll: the invocation is not registered yet, or the API asked us to slow down. */
const RETRYABLE = new Set(["InvocationDoesNotExist", "ThrottlingException", "TooManyRequestsException"]);

export class SsmCommandRunner {
  constructor(
    private readonly client: AwsSdkClient,
    private readonly pollMs: number,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * Runs `script` on the target and resolves with its output once it succeeded. The script text is stored by SSM
   * and visible in the console and CloudTrail: callers never put secrets in it.
   */
  async run(target: SsmTarget, what: string, script: string, options: SsmRunOptions): Promise<SsmCommandResult> {
    const sdk = loadSsm();
    const started = Date.now();
    const deadline = started + options.timeoutSeconds * 1000;
    const label = `${target.server} (${target.instanceId})`;
    let sent: SendCommandCommandOutput;
    try {
      sent = (await this.client.send(
        new sdk.SendCommandCommand({
          InstanceIds: [target.instanceId],
          DocumentName: "AWS-RunShellScript",
          Comment: `nats-cluster: ${what}`.slice(0, 100),
          // The agent kills the script at executionTimeout; our own deadline below ends the wait either way.
          Parameters: {
            commands: [script],
            executionTimeout: [String(Math.max(1, Math.ceil(options.timeoutSeconds)))],
          },
          // Delivery timeout (SSM's minimum is 30 s): an offline agent fails the command instead of queueing it.
          TimeoutSeconds: Math.max(30, Math.ceil(options.timeoutSeconds)),
        }),
      )) as SendCommandCommandOutput;
    } catch (error) {
      throw new SsmCommandError(
        target,
        what,
        `SendCommand failed (${awsErrorName(error) ?? "error"}: ${describeError(error)}); is the instance running and registered with SSM?`,
        undefined,
        undefined,
        awsErrorName(error),
      );
    }
    const commandId = sent.Command?.CommandId;
    if (!commandId) throw new SsmCommandError(target, what, "SendCommand returned no command id");
    if (!options.quiet) this.log(`${label}: ${what}: sent`);

    let lastStatus = "Pending";
    while (Date.now() < deadline) {
      await sleep(Math.min(this.pollMs, Math.max(0, deadline - Date.now())));
      let invocation: GetCommandInvocationCommandOutput;
      try {
        invocation = (await this.client.send(
          new sdk.GetCommandInvocationCommand({ CommandId: commandId, InstanceId: target.instanceId }),
        )) as GetCommandInvocationCommandOutput;
      } catch (error) {
        if (RETRYABLE.has(awsErrorName(error) ?? "")) continue;
        throw new SsmCommandError(
          target,
          what,
          `GetCommandInvocation failed: ${describeError(error)}`,
          commandId,
          lastStatus,
        );
      }
      lastStatus = invocation.Status ?? lastStatus;
      const elapsedMs = Date.now() - started;
      if (lastStatus === "Success") {
        if (!options.quiet) this.log(`${label}: ${what}: done in ${seconds(elapsedMs)}`);
        return {
          commandId,
          stdout: invocation.StandardOutputContent ?? "",
          stderr: invocation.StandardErrorContent ?? "",
          elapsedMs,
        };
      }
      if (TERMINAL_FAILURES.has(lastStatus)) {
        const detail =
          invocation.StatusDetails && invocation.StatusDetails !== lastStatus ? ` (${invocation.StatusDetails})` : "";
        const code =
          invocation.ResponseCode !== undefined && invocation.ResponseCode >= 0
            ? `, exit code ${invocation.ResponseCode}`
            : "";
        const stderr = tail(invocation.StandardErrorContent ?? "", 10);
        const problem = `${lastStatus}${detail}${code}${stderr ? `: ${stderr}` : ""}`;
        this.log(`${label}: ${what}: ${problem}`);
        throw new SsmCommandError(target, what, problem, commandId, lastStatus);
      }
    }

    // Our deadline passed first: stop the command so it cannot act later, when the engine has moved on.
    await this.client
      .send(new sdk.CancelCommandCommand({ CommandId: commandId, InstanceIds: [target.instanceId] }))
      .catch(() => undefined);
    const problem = `did not finish within ${options.timeoutSeconds}s (last status ${lastStatus}); cancelled it`;
    this.log(`${label}: ${what}: ${problem}`);
    throw new SsmCommandError(target, what, problem, commandId, lastStatus);
  }
}

function tail(text: string, lines: number): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}
