/**
 * AWS played on lab VMs (test/support/lab.ts: real systemd "VMs" with cloud-init), at the SDK boundary the SSM
 * driver talks to: one object answering the SSM, EC2 and Parameter Store commands the driver sends.
 *
 * - SSM Run Command: SendCommand runs the script inside the instance's VM as root (`sh` on a file, as the SSM
 *   agent's AWS-RunShellScript does), in the background; GetCommandInvocation answers InvocationDoesNotExist
 *   first (SSM is eventually consistent), then Pending/InProgress, then Success or Failed with the exit code,
 *   stdout and stderr, or TimedOut at the command's executionTimeout. SendCommand to an instance that is not
 *   registered (not running, or still booting) fails with InvalidInstanceId, as in SSM.
 * - Parameter Store: PutParameter keeps versions (Overwrite); the VM's `aws ssm get-parameter` is a small shim
 *   (installed by {@link installAwsCliShim}) that reads the value from a file, which this runner writes into the
 *   VM just before a command that fetches that exact `name:version` runs: the instance role, played.
 * - EC2: members are running instances mapped to lab VMs. RunInstances at the surge VM's address "launches" that
 *   VM: a fresh instance, like one from the launch template: wiped, cloud-init cleaned and booted again, so its
 *   user data runs as at a first boot; it is `pending` until booted, registered with SSM once up. Terminate
 *   powers the VM off.
 *
 * Everything is in this process and the lab: nothing talks to AWS.
 */
import { createHash, randomUUID } from "node:crypto";
import type { RunInstancesCommandInput } from "@aws-sdk/client-ec2";
import type {
  GetCommandInvocationCommandInput,
  GetParameterCommandInput,
  PutParameterCommandInput,
  SendCommandCommandInput,
} from "@aws-sdk/client-ssm";
import { AwsSdkClient } from "../../../engine/hosts/aws/sdk";
import { Lab, LabVm } from "../../support/lab";

/** Where the shim reads parameters from, inside the VM. */
const PARAM_DIR = "/var/lib/fake-ssm/params";

/** The `aws` command inside the VM: answers `aws ssm get-parameter --name N:V … --output text` from a file. */
const AWS_CLI_SHIM = `#!/bin/sh
# Fake AWS CLI of the nats-cluster lab tests: only \`aws ssm get-parameter --name NAME:VERSION --with-decryption
# --query Parameter.Value --output text\`, answered from a file the test's SSM runner wrote (the instance role).
set -eu
[ "\${1:-}" = ssm ] && [ "\${2:-}" = get-parameter ] || { echo "fake aws: unsupported: $*" >&2; exit 252; }
name=''; decrypt=no; query=''; output=''
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name="$2"; shift 2 ;;
    --with-decryption) decrypt=yes; shift ;;
    --query) query="$2"; shift 2 ;;
    --output) output="$2"; shift 2 ;;
    *) shift ;;
  esac
done
[ "$decrypt" = yes ] && [ "$query" = Parameter.Value ] && [ "$output" = text ] || { echo "fake aws: expected --with-decryption --query Parameter.Value --output text" >&2; exit 252; }
f="${PARAM_DIR}/$(printf '%s' "$name" | sha256sum | cut -d' ' -f1)"
[ -f "$f" ] || { echo "An error occurred (ParameterNotFound) when calling the GetParameter operation: Parameter $name not found." >&2; exit 254; }
cat "$f"; echo
`;

/** Installs the `aws` shim as /usr/local/bin/aws in the VM. */
export async function installAwsCliShim(lab: Lab, vm: LabVm): Promise<void> {
  await lab.exec(vm, ["sh", "-c", "cat > /usr/local/bin/aws && chmod 0755 /usr/local/bin/aws"], {
    input: AWS_CLI_SHIM,
  });
}

interface LabInstance {
  readonly id: string;
  readonly vm: string;
  state: string;
  registered: boolean;
  readonly tags: Record<string, string>;
  readonly ip: string;
  readonly launched: Date;
}

interface Invocation {
  readonly instanceId: string;
  status: string;
  polls: number;
  responseCode: number;
  stdout: string;
  stderr: string;
}

/** One command as the VM ran it, for the test's figures. */
export interface RanCommand {
  readonly instanceId: string;
  readonly comment: string;
  readonly ms: number;
  readonly status: string;
}

function awsError(name: string, message = `${name}: simulated by the lab's AWS`): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

export class LabAws implements AwsSdkClient {
  readonly sent: Array<{ readonly command: string; readonly input: unknown }> = [];
  readonly commands: RanCommand[] = [];
  /** Launches of the surge VM: from RunInstances to registered with SSM (ms). */
  readonly launches: number[] = [];
  private readonly instances: LabInstance[] = [];
  private readonly params = new Map<string, string[]>();
  private readonly invocations = new Map<string, Invocation>();
  private launching?: Promise<void>;

  constructor(
    private readonly lab: Lab,
    members: ReadonlyArray<{ readonly instanceId: string; readonly vm: LabVm }>,
    private readonly surgeVm: LabVm,
  ) {
    for (const m of members) {
      this.instances.push({
        id: m.instanceId,
        vm: m.vm.name,
        state: "running",
        registered: true,
        tags: {},
        ip: m.vm.ip,
        launched: new Date(),
      });
    }
  }

  /** The parameter's versions, as PutParameter stored them. */
  parameter(name: string): string[] | undefined {
    return this.params.get(name);
  }

  /** Instances ever launched at the surge address, with their state. */
  surgeInstances(): Array<{ id: string; state: string }> {
    return this.instances.filter((i) => i.vm === this.surgeVm.name).map((i) => ({ id: i.id, state: i.state }));
  }

  /** Waits for a launch or termination of the surge VM in progress. */
  async settled(): Promise<void> {
    await this.launching;
  }

  async send(command: object): Promise<unknown> {
    const name = command.constructor.name;
    const input = (command as { input?: unknown }).input as Record<string, unknown>;
    this.sent.push({ command: name, input });
    switch (name) {
      case "SendCommandCommand":
        return this.sendCommand(input as unknown as SendCommandCommandInput);
      case "GetCommandInvocationCommand":
        return this.invocation(input as unknown as GetCommandInvocationCommandInput);
      case "CancelCommandCommand": {
        const inv = this.invocations.get(String(input.CommandId));
        if (inv && ["Pending", "InProgress"].includes(inv.status)) inv.status = "Cancelled";
        return {};
      }
      case "PutParameterCommand": {
        const i = input as unknown as PutParameterCommandInput;
        const versions = this.params.get(i.Name ?? "") ?? [];
        if (versions.length > 0 && !i.Overwrite) throw awsError("ParameterAlreadyExists");
        versions.push(i.Value ?? "");
        this.params.set(i.Name ?? "", versions);
        return { Version: versions.length, Tier: "Standard" };
      }
      case "GetParameterCommand": {
        const [paramName, version] = ((input as unknown as GetParameterCommandInput).Name ?? "").split(":");
        const value = this.params.get(paramName)?.[Number(version) - 1];
        if (value === undefined) throw awsError("ParameterVersionNotFound");
        return { Parameter: { Name: paramName, Value: value, Version: Number(version) } };
      }
      case "DeleteParameterCommand":
        if (!this.params.delete(String(input.Name))) throw awsError("ParameterNotFound");
        return {};
      case "DescribeInstanceInformationCommand": {
        const id = (input.Filters as Array<{ Values: string[] }>)?.[0]?.Values?.[0];
        const instance = this.instances.find((i) => i.id === id);
        return {
          InstanceInformationList:
            instance?.state === "running" && instance.registered ? [{ InstanceId: id, PingStatus: "Online" }] : [],
        };
      }
      case "DescribeInstancesCommand":
        return this.describe(input);
      case "DescribeNetworkInterfacesCommand":
        return { NetworkInterfaces: [] };
      case "RunInstancesCommand":
        return this.run(input as unknown as RunInstancesCommandInput);
      case "TerminateInstancesCommand":
        for (const id of (input.InstanceIds as string[]) ?? []) this.terminate(id);
        return {};
      default:
        throw new Error(`lab AWS: unexpected command ${name}`);
    }
  }

  private sendCommand(input: SendCommandCommandInput): unknown {
    const instanceId = input.InstanceIds?.[0] ?? "";
    const instance = this.instances.find((i) => i.id === instanceId);
    if (!instance || instance.state !== "running" || !instance.registered) throw awsError("InvalidInstanceId");
    const script = input.Parameters?.commands?.[0] ?? "";
    const timeoutSeconds = Number(input.Parameters?.executionTimeout?.[0] ?? "3600");
    const commandId = randomUUID();
    const inv: Invocation = { instanceId, status: "Pending", polls: 0, responseCode: -1, stdout: "", stderr: "" };
    this.invocations.set(commandId, inv);
    const started = Date.now();
    void (async () => {
      inv.status = "InProgress";
      try {
        await this.provideParameters(instance.vm, script);
        const result = await this.lab.exec(
          instance.vm,
          ["sh", "-c", 'f="$(mktemp /run/ssm-command.XXXXXX)"; cat > "$f"; sh "$f"; rc=$?; rm -f "$f"; exit $rc'],
          { input: script, allowFailure: true, timeoutMs: timeoutSeconds * 1000 },
        );
        if (inv.status === "Cancelled") return;
        const timedOut = result.stderr.includes("(timed out after");
        inv.responseCode = timedOut ? -1 : result.code;
        inv.stdout = result.stdout;
        inv.stderr = result.stderr;
        inv.status = timedOut ? "TimedOut" : result.code === 0 ? "Success" : "Failed";
      } catch (error) {
        inv.status = "Failed";
        inv.responseCode = 1;
        inv.stderr = String(error);
      } finally {
        this.commands.push({ instanceId, comment: input.Comment ?? "", ms: Date.now() - started, status: inv.status });
      }
    })();
    return { Command: { CommandId: commandId } };
  }

  /** The instance role, played: the exact `name:version` a script fetches is put where the VM's shim reads it. */
  private async provideParameters(vm: string, script: string): Promise<void> {
    for (const m of script.matchAll(/aws ssm get-parameter .*--name '([^':]+):(\d+)'/g)) {
      const value = this.params.get(m[1])?.[Number(m[2]) - 1];
      if (value === undefined) continue; // the shim answers ParameterNotFound, as the CLI would
      const key = createHash("sha256").update(`${m[1]}:${m[2]}`).digest("hex");
      await this.lab.exec(vm, ["sh", "-c", `umask 077; mkdir -p ${PARAM_DIR}; cat > ${PARAM_DIR}/${key}`], {
        input: value,
      });
    }
  }

  private invocation(input: GetCommandInvocationCommandInput): unknown {
    const inv = this.invocations.get(input.CommandId ?? "");
    if (!inv || inv.instanceId !== input.InstanceId) throw awsError("InvocationDoesNotExist");
    inv.polls++;
    if (inv.polls === 1) throw awsError("InvocationDoesNotExist");
    const done = !["Pending", "InProgress", "Delayed"].includes(inv.status);
    return {
      Status: inv.status,
      StatusDetails: inv.status,
      ResponseCode: done ? inv.responseCode : -1,
      // SSM keeps at most 24,000 characters of each stream in GetCommandInvocation.
      StandardOutputContent: done ? inv.stdout.slice(0, 24000) : "",
      StandardErrorContent: done ? inv.stderr.slice(0, 8000) : "",
    };
  }

  private describe(input: Record<string, unknown>): unknown {
    const ids = input.InstanceIds as string[] | undefined;
    let found = this.instances.slice();
    if (ids) {
      found = found.filter((i) => ids.includes(i.id));
      if (found.length === 0) throw awsError("InvalidInstanceID.NotFound");
    }
    for (const filter of (input.Filters as Array<{ Name: string; Values: string[] }>) ?? []) {
      if (filter.Name === "instance-state-name") found = found.filter((i) => filter.Values.includes(i.state));
      else if (filter.Name.startsWith("tag:")) {
        const key = filter.Name.slice(4);
        found = found.filter((i) => filter.Values.includes(i.tags[key]));
      }
    }
    return {
      Reservations: [
        {
          Instances: found.map((i) => ({
            InstanceId: i.id,
            State: { Name: i.state },
            LaunchTime: i.launched,
            PrivateIpAddress: i.ip,
          })),
        },
      ],
    };
  }

  private run(input: RunInstancesCommandInput): unknown {
    const ip = input.PrivateIpAddress ?? "";
    if (ip !== this.surgeVm.ip) throw awsError("InvalidParameterValue", `no lab VM at ${ip} to launch`);
    if (this.instances.some((i) => i.ip === ip && i.state !== "terminated")) throw awsError("InvalidIPAddress.InUse");
    const tags = Object.fromEntries(
      (input.TagSpecifications?.[0]?.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]),
    );
    const instance: LabInstance = {
      id: `i-lab${randomUUID().replace(/-/g, "").slice(0, 13)}`,
      vm: this.surgeVm.name,
      state: "pending",
      registered: false,
      tags,
      ip,
      launched: new Date(),
    };
    this.instances.push(instance);
    const started = Date.now();
    this.launching = (async () => {
      await this.launching; // a termination still powering the VM off
      await this.freshBoot();
      if (instance.state !== "pending") return; // terminated while booting
      instance.state = "running";
      instance.registered = true;
      this.launches.push(Date.now() - started);
    })().catch((error) => {
      instance.state = "terminated";
      console.error(`lab AWS: launch of ${instance.id} failed: ${String(error)}`);
    });
    return { Instances: [{ InstanceId: instance.id, State: { Name: "pending" } }] };
  }

  /** The surge VM as a new instance: nothing of an earlier one left, cloud-init runs the user data again. */
  private async freshBoot(): Promise<void> {
    const vm = this.lab.vm(this.surgeVm.name);
    if (vm.nspawnPid === null) await this.lab.boot(vm);
    await this.lab.exec(vm, [
      "sh",
      "-c",
      [
        "systemctl stop nats-server 2>/dev/null || true",
        "systemctl disable nats-server 2>/dev/null || true",
        "rm -rf /opt/nats /etc/nats /var/lib/nats /var/lib/nats-cluster /var/lib/fake-ssm",
        "rm -rf /etc/systemd/system/nats-server.service /etc/systemd/system/nats-server.service.d",
        "cloud-init clean --logs",
        "sync",
      ].join("; "),
    ]);
    await this.lab.shutdown(vm);
    await this.lab.boot(vm);
  }

  private terminate(id: string): void {
    const instance = this.instances.find((i) => i.id === id);
    if (!instance || instance.state === "terminated" || instance.state === "shutting-down") return;
    instance.state = "shutting-down";
    instance.registered = false;
    const previous = this.launching;
    this.launching = (async () => {
      await previous;
      if (this.lab.vm(instance.vm).nspawnPid !== null) await this.lab.poweroff(instance.vm);
      instance.state = "terminated";
    })();
  }
}
