/**
 * A fake of the AWS SDK boundary for the SSM host driver: one object that answers the SSM and EC2 commands the
 * driver sends (real SDK command objects, recorded with their inputs), with a tiny simulation of each instance
 * (is nats-server running, which binary the symlink points at, the config file and its write-time record).
 * It interprets the driver's scripts by their distinctive lines, so a script that loses them fails the tests.
 * Where the real API is eventually consistent or validates, the fake does too: a fresh instance is unknown to
 * DescribeInstances for a while and to SSM until its agent registers (SendCommand: InvalidInstanceId), and an
 * address another workload holds makes RunInstances fail with InvalidIPAddress.InUse.
 * Nothing here talks to AWS.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type {
  DescribeInstancesCommandInput,
  DescribeNetworkInterfacesCommandInput,
  RunInstancesCommandInput,
  TerminateInstancesCommandInput,
} from "@aws-sdk/client-ec2";
import type {
  DeleteParameterCommandInput,
  DescribeInstanceInformationCommandInput,
  GetCommandInvocationCommandInput,
  GetParameterCommandInput,
  PutParameterCommandInput,
  SendCommandCommandInput,
} from "@aws-sdk/client-ssm";
import type { AssumeRoleCommandInput } from "@aws-sdk/client-sts";
import { AwsCredentials, AwsSdkClient } from "../../engine/hosts/aws/sdk";

/** How a command ends: the statuses GetCommandInvocation reports in turn (the last one sticks), and its output. */
export interface Outcome {
  readonly statuses: ReadonlyArray<string>;
  readonly stdout?: string;
  readonly stderr?: string;
  readonly responseCode?: number;
}

/** One simulated VM. */
export class FakeHost {
  running = false;
  link = "";
  /** Versions staged (downloaded and verified) on the host. */
  readonly staged = new Set<string>();
  config?: string;
  meta?: { version: number; sha256: string };
  /** Files of the TLS directory (`/etc/nats/tls/<name>` → text), as the write script left them. */
  readonly tlsFiles = new Map<string, string>();
  /** After a lame duck, how many status checks (or seconds of a waiting command) still see the process draining. */
  drainChecks = 2;
  /** How many waitForExit commands reached the host. */
  waitCommands = 0;
  private drainLeft?: number;
  pid = 4242;
  /** How the first boot's host preparation ended (`/var/lib/nats-cluster/boot-status`). */
  bootStatus = "done";
  /** The stage's download fails (no route to the release server, say). */
  downloadFails = false;
  /**
   * What the data volume's block device shows, in GiB (`blockdev --getsize64`); undefined: as large as any config
   * asks. EBS makes a grown size usable only once the modification is `optimizing`: until then it shows the old one.
   */
  dataVolumeGiB?: number;
  /** systemd's TimeoutStopSec as the stop-timeout drop-in last set it. */
  stopTimeoutSeconds?: number;
  /** What happened on the host, in order: `stage 2.15.2`, `activate 2.15.2`, `lame-duck`, `start`, `prepare`, … */
  readonly events: string[] = [];
  /**
   * Where this host's `/var/lib` is for the rollout lease script, which the fake agent really runs in `sh` (its
   * link, id compare and mtime age are the shell's, not a model of them). Made on first use.
   */
  leaseDir?: string;

  /** What the agent does with a script. */
  execute(script: string, params: Map<string, string[]>): Outcome {
    const ok = (stdout: string): Outcome => ({ statuses: ["InProgress", "Success"], stdout, responseCode: 0 });
    const fail = (stderr: string): Outcome => ({ statuses: ["InProgress", "Failed"], stderr, responseCode: 1 });
    const mainPid = () => (this.running ? this.pid : 0);
    if (script.includes("nats-rollout.lease")) {
      this.leaseDir ??= fs.mkdtempSync(path.join(os.tmpdir(), "fake-ssm-lease-"));
      const input = script.split("'/var/lib/nats-rollout.lease'").join(`'${this.leaseDir}/nats-rollout.lease'`);
      return ok(execFileSync("sh", ["-s"], { input, encoding: "utf8" }));
    }
    if (script.includes("nats-cluster host preparation done")) {
      // The host preparation again over SSM (user, volume, unit; no binary).
      this.events.push("prepare");
      this.bootStatus = "done";
      return ok("nats-cluster host preparation done\n");
    }
    // The stop-timeout drop-in travels in front of the lame-duck and start scripts, in the same command.
    const dropIn = /^TimeoutStopSec=(\d+)$/m.exec(script);
    if (dropIn && script.includes("stop_timeout=updated")) {
      this.stopTimeoutSeconds = Number(dropIn[1]);
      this.events.push(`stop-timeout ${dropIn[1]}`);
    }
    if (script.includes("nats_ver=")) {
      const version = /nats_ver='([^']+)'/.exec(script)?.[1] ?? "";
      const dir = /nats_dir='([^']+)'/.exec(script)?.[1];
      if (script.includes("nats_url=")) {
        // Stage: download and verify beside the active binary; the link is not touched.
        const url = /nats_url='([^']+)'/.exec(script)?.[1];
        if (this.downloadFails) {
          this.events.push(`stage ${version} failed`);
          return fail(
            `stage nats-server v${version}: download of ${url}/nats-server-v${version}-linux-amd64.tar.gz failed`,
          );
        }
        this.staged.add(version);
        this.events.push(`stage ${version}`);
        return ok(`staged=${dir}/nats-server-${version}\n`);
      }
      if (!this.staged.has(version)) return fail(`nats-server v${version} is not staged in ${dir}: stage it first`);
      this.link = `${dir}/nats-server-${version}`;
      this.events.push(`activate ${version}`);
      return ok(`nats-server v${version} installed: ${dir}/nats-server -> ${this.link}\n`);
    }
    if (script.includes("echo exporter=removed")) {
      // The metrics exporter's removal (exporter-scripts.ts): this fake host never had one.
      this.events.push("remove-exporter");
      return ok("exporter=none\n");
    }
    if (script.includes("cloud_init_exit=")) {
      if (this.bootStatus === "done") return ok("cloud_init_exit=0\nboot=done\n");
      return ok(`cloud_init_exit=1\nboot=failed\nboot_error=${this.bootStatus.replace(/^failed: /, "")}\n`);
    }
    if (script.includes("aws ssm get-parameter")) {
      // The instance role fetches the exact parameter versions named in the script: each TLS file (moved to its
      // name in the TLS directory), then the config. A missing version fails the whole script, as `set -e` does.
      const fetched: Array<{ name: string; version: number; text: string }> = [];
      for (const m of script.matchAll(/--name '([^':]+):(\d+)'/g)) {
        const value = params.get(m[1])?.[Number(m[2]) - 1];
        if (value === undefined) return fail(`An error occurred (ParameterVersionNotFound)`);
        fetched.push({ name: m[1], version: Number(m[2]), text: Buffer.from(value, "base64").toString("utf8") });
      }
      const config = fetched.pop();
      if (!config) return fail("no parameter name in the script");
      const tlsTargets = [...script.matchAll(/mv -f "\$t" '([^']+)'/g)].map((m) => m[1]);
      if (tlsTargets.length !== fetched.length) return fail("fake agent: TLS fetches and moves do not pair up");
      fetched.forEach((file, i) => this.tlsFiles.set(tlsTargets[i], file.text));
      this.config = config.text;
      this.meta = { version: config.version, sha256: sha(this.config) };
      const cert = [...this.tlsFiles.entries()].find(([path]) => path.endsWith("/server-cert.pem"))?.[1];
      return ok(`${fetched.length && cert ? `tls_cert_sha256=${sha(cert)}\n` : ""}config_version=${config.version}\n`);
    }
    if (script.includes("echo config=absent")) {
      if (this.config === undefined) return ok("config=absent\n");
      if (!this.meta || this.meta.sha256 !== sha(this.config)) return ok("config=unknown\n");
      return ok(`config_version=${this.meta.version}\n`);
    }
    if (script.includes("systemctl kill -s SIGKILL")) {
      this.running = false;
      this.drainLeft = undefined;
      return ok("killed=yes\n");
    }
    if (script.includes("lame_duck=requested")) {
      if (!this.running) return fail("nats-server is not running: no lame duck to start");
      this.drainLeft = this.drainChecks;
      this.events.push("lame-duck");
      return ok("lame_duck=requested\n");
    }
    if (script.includes("systemctl start")) {
      if (this.config === undefined) return fail("no config at /etc/nats/nats.conf: write it before starting");
      // In front of the start: the wait for a grown volume, against the size the config on the host records.
      const want = /^# nats-cluster data-volume: (\d+) GiB$/m.exec(this.config)?.[1];
      if (script.includes("data_volume_bytes=") && want && this.dataVolumeGiB !== undefined) {
        if (this.dataVolumeGiB < Number(want)) {
          return fail(
            `the data volume /dev/nvme1n1 shows ${this.dataVolumeGiB} GiB, not the ${want} GiB its config records ` +
              "(aws.volumeSizeGb), after 120s: its EBS modification is not usable yet",
          );
        }
      }
      this.running = true;
      this.events.push("start");
      return ok(`main_pid=${this.pid}\n`);
    }
    if (script.includes("active_state=")) {
      if (this.drainLeft !== undefined) {
        if (this.drainLeft <= 0) {
          this.running = false;
          this.drainLeft = undefined;
        } else this.drainLeft--;
      }
      const state = this.running ? (this.drainLeft !== undefined ? "deactivating" : "active") : "inactive";
      return ok(`main_pid=${mainPid()}\nactive_state=${state}\n`);
    }
    if (script.includes("echo exited=yes")) {
      // One command that waits on the host for up to its `-lt <seconds>`: drainChecks counts seconds here.
      const seconds = Number(/-lt (\d+) \]/.exec(script)?.[1] ?? "1");
      this.waitCommands++;
      if (this.drainLeft !== undefined) {
        if (this.drainLeft <= seconds) {
          this.running = false;
          this.drainLeft = undefined;
        } else this.drainLeft -= seconds;
      }
      return ok(`exited=${this.running ? "no" : "yes"}\n`);
    }
    if (script.includes("--signal reload=")) return ok("reload=sent\n");
    if (script.includes("readlink")) return ok(`link=${this.link}\n`);
    if (script.includes("config=removed")) {
      if (script.includes("rm -rf '/etc/nats/tls'")) this.tlsFiles.clear();
      this.config = undefined;
      this.meta = undefined;
      return ok("config=removed\n");
    }
    if (script.includes("journalctl -u 'nats-server' -n")) return ok("[1] Starting nats-server\n[1] Server is ready\n");
    return fail(`fake agent: unknown script:\n${script}`);
  }
}

interface FakeInstance {
  readonly id: string;
  state: string;
  readonly tags: Record<string, string>;
  readonly ip?: string;
  readonly launched: Date;
  /** Describe calls before a pending instance runs or a terminating one is gone. */
  settle: number;
  /**
   * SSM calls about it (DescribeInstanceInformation, SendCommand) before its agent is registered: until then
   * SendCommand answers InvalidInstanceId and DescribeInstanceInformation lists nothing, as for a fresh instance.
   */
  registerAfter: number;
  /** DescribeInstances calls before EC2 lists it at all (InvalidInstanceID.NotFound by id, absent from filters). */
  invisibleFor: number;
}

/** Options of a simulated instance. */
export interface InstanceOptions {
  readonly registerAfter?: number;
  readonly launched?: Date;
}

interface Invocation {
  readonly instanceId: string;
  readonly outcome: Outcome;
  polls: number;
}

/** Both clients in one: SSM and EC2 commands have distinct class names. */
export class FakeAws implements AwsSdkClient {
  /** Every command received, in order: its SDK class name and input. */
  readonly sent: Array<{ readonly command: string; readonly input: unknown }> = [];
  readonly hosts = new Map<string, FakeHost>();
  /** SecureString values per name, version n at index n-1, as PutParameter stored them. */
  readonly params = new Map<string, string[]>();
  readonly instances: FakeInstance[] = [];
  /** Every GetCommandInvocation answer, to check no output carries a secret. */
  readonly outputs: string[] = [];
  /** Overrides the simulated agent for matching scripts (failures, commands that never end). */
  override?: (script: string, instanceId: string) => Outcome | undefined;
  private readonly invocations = new Map<string, Invocation>();
  private nextId = 1;

  /**
   * What a fresh launch looks like (RunInstances): EC2 lists it only after `invisibleFor` describes, its agent
   * registers after `registerAfter` SSM calls, its first boot ends with `bootStatus`.
   */
  launchBehaviour: { invisibleFor: number; registerAfter: number; bootStatus: string } = {
    invisibleFor: 0,
    registerAfter: 0,
    bootStatus: "done",
  };
  /** Network interfaces of other workloads, by private IP: RunInstances at such an address fails with InUse. */
  readonly foreignInterfaces = new Map<string, { id: string; description: string; instanceId?: string }>();

  addMember(instanceId: string, options: InstanceOptions = {}): FakeHost {
    const host = new FakeHost();
    this.hosts.set(instanceId, host);
    this.instances.push({
      id: instanceId,
      state: "running",
      tags: {},
      launched: options.launched ?? new Date(0),
      settle: 0,
      registerAfter: options.registerAfter ?? 0,
      invisibleFor: 0,
    });
    return host;
  }

  addTagged(
    instanceId: string,
    tags: Record<string, string>,
    state = "running",
    options: InstanceOptions = {},
  ): FakeHost {
    const host = new FakeHost();
    this.hosts.set(instanceId, host);
    this.instances.push({
      id: instanceId,
      state,
      tags,
      launched: options.launched ?? new Date(1000),
      settle: 0,
      registerAfter: options.registerAfter ?? 0,
      invisibleFor: 0,
    });
    return host;
  }

  instance(id: string): FakeInstance | undefined {
    return this.instances.find((i) => i.id === id);
  }

  /** Whether the instance's agent is registered now; each SSM call about it brings a pending registration closer. */
  private registered(id: string | undefined): boolean {
    const instance = this.instances.find((i) => i.id === id);
    if (!instance || instance.state !== "running") return false;
    if (instance.registerAfter > 0) {
      instance.registerAfter--;
      return false;
    }
    return true;
  }

  sentOf<T>(command: string): T[] {
    return this.sent.filter((s) => s.command === command).map((s) => s.input as T);
  }

  scripts(): string[] {
    return this.sentOf<SendCommandCommandInput>("SendCommandCommand").map((i) => i.Parameters?.commands?.[0] ?? "");
  }

  async send(command: object): Promise<unknown> {
    const name = command.constructor.name;
    const input = (command as { input?: unknown }).input;
    this.sent.push({ command: name, input });
    switch (name) {
      case "SendCommandCommand":
        return this.sendCommand(input as SendCommandCommandInput);
      case "GetCommandInvocationCommand":
        return this.getInvocation(input as GetCommandInvocationCommandInput);
      case "CancelCommandCommand":
        return {};
      case "PutParameterCommand": {
        const i = input as PutParameterCommandInput;
        const versions = this.params.get(i.Name ?? "") ?? [];
        versions.push(i.Value ?? "");
        this.params.set(i.Name ?? "", versions);
        return { Version: versions.length, Tier: "Standard" };
      }
      case "GetParameterCommand": {
        const [paramName, version] = ((input as GetParameterCommandInput).Name ?? "").split(":");
        const value = this.params.get(paramName)?.[Number(version) - 1];
        if (value === undefined) throw awsError("ParameterVersionNotFound");
        return { Parameter: { Name: paramName, Value: value, Version: Number(version) } };
      }
      case "DeleteParameterCommand": {
        const i = input as DeleteParameterCommandInput;
        if (!this.params.delete(i.Name ?? "")) throw awsError("ParameterNotFound");
        return {};
      }
      case "DescribeInstanceInformationCommand": {
        const id = (input as DescribeInstanceInformationCommandInput).Filters?.[0]?.Values?.[0];
        return { InstanceInformationList: this.registered(id) ? [{ InstanceId: id, PingStatus: "Online" }] : [] };
      }
      case "DescribeNetworkInterfacesCommand":
        return this.describeInterfaces(input as DescribeNetworkInterfacesCommandInput);
      case "DescribeInstancesCommand":
        return this.describe(input as DescribeInstancesCommandInput);
      case "RunInstancesCommand":
        return this.run(input as RunInstancesCommandInput);
      case "TerminateInstancesCommand":
        for (const id of (input as TerminateInstancesCommandInput).InstanceIds ?? []) {
          const instance = this.instances.find((i) => i.id === id);
          if (instance) {
            instance.state = "shutting-down";
            instance.settle = 1;
          }
        }
        return {};
      default:
        throw new Error(`fake AWS: unexpected command ${name}`);
    }
  }

  private sendCommand(input: SendCommandCommandInput): unknown {
    const instanceId = input.InstanceIds?.[0] ?? "";
    const host = this.hosts.get(instanceId);
    // SSM knows only registered, running instances: anything else is InvalidInstanceId.
    if (!host || !this.registered(instanceId)) throw awsError("InvalidInstanceId");
    const script = input.Parameters?.commands?.[0] ?? "";
    const outcome = this.override?.(script, instanceId) ?? host.execute(script, this.params);
    const commandId = `cmd-${this.nextId++}`;
    this.invocations.set(commandId, { instanceId, outcome, polls: 0 });
    return { Command: { CommandId: commandId } };
  }

  private getInvocation(input: GetCommandInvocationCommandInput): unknown {
    const invocation = this.invocations.get(input.CommandId ?? "");
    if (!invocation || invocation.instanceId !== input.InstanceId) throw awsError("InvocationDoesNotExist");
    invocation.polls++;
    // SSM's eventual consistency: right after SendCommand the invocation does not exist yet.
    if (invocation.polls === 1) throw awsError("InvocationDoesNotExist");
    const { statuses } = invocation.outcome;
    const status = statuses[Math.min(invocation.polls - 2, statuses.length - 1)];
    const done = status === "Success" || status === "Failed" || status === "TimedOut" || status === "Cancelled";
    const answer = {
      Status: status,
      StatusDetails: status,
      ResponseCode: done ? (invocation.outcome.responseCode ?? 0) : -1,
      StandardOutputContent: done ? (invocation.outcome.stdout ?? "") : "",
      StandardErrorContent: done ? (invocation.outcome.stderr ?? "") : "",
    };
    this.outputs.push(JSON.stringify(answer));
    return answer;
  }

  private describe(input: DescribeInstancesCommandInput): unknown {
    // EC2's eventual consistency: a fresh instance is unknown to DescribeInstances for a while.
    const invisible = new Set(this.instances.filter((i) => i.invisibleFor > 0).map((i) => i.id));
    for (const i of this.instances) if (i.invisibleFor > 0) i.invisibleFor--;
    if (input.InstanceIds?.some((id) => invisible.has(id))) throw awsError("InvalidInstanceID.NotFound");
    let found = this.instances.filter((i) => !invisible.has(i.id));
    if (input.InstanceIds) {
      found = found.filter((i) => input.InstanceIds?.includes(i.id));
      // Time passes between describes: pending instances come up, terminating ones go.
      for (const i of found) {
        if (i.settle > 0) i.settle--;
        else if (i.state === "pending") i.state = "running";
        else if (i.state === "shutting-down") i.state = "terminated";
      }
    }
    for (const filter of input.Filters ?? []) {
      const values = filter.Values ?? [];
      if (filter.Name === "instance-state-name") {
        // Terminating instances finish between tag queries too.
        for (const i of found) if (i.state === "shutting-down" && i.settle-- <= 0) i.state = "terminated";
        found = found.filter((i) => values.includes(i.state));
      } else if (filter.Name?.startsWith("tag:")) {
        const key = filter.Name.slice(4);
        found = found.filter((i) => values.includes(i.tags[key]));
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
    if (this.foreignInterfaces.has(ip) || this.instances.some((i) => i.ip === ip && i.state !== "terminated"))
      throw awsError("InvalidIPAddress.InUse");
    const id = `i-launched-${this.nextId++}`;
    const tags = Object.fromEntries(
      (input.TagSpecifications?.[0]?.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]),
    );
    const { invisibleFor, registerAfter, bootStatus } = this.launchBehaviour;
    this.instances.push({
      id,
      state: "pending",
      tags,
      ip,
      launched: new Date(),
      settle: 1,
      registerAfter,
      invisibleFor,
    });
    const host = new FakeHost();
    host.bootStatus = bootStatus;
    this.hosts.set(id, host);
    return { Instances: [{ InstanceId: id, State: { Name: "pending" } }] };
  }

  private describeInterfaces(input: DescribeNetworkInterfacesCommandInput): unknown {
    const ip = input.Filters?.find((f) => f.Name === "addresses.private-ip-address")?.Values?.[0] ?? "";
    const foreign = this.foreignInterfaces.get(ip);
    if (foreign) {
      return {
        NetworkInterfaces: [
          {
            NetworkInterfaceId: foreign.id,
            Description: foreign.description,
            Status: foreign.instanceId ? "in-use" : "available",
            ...(foreign.instanceId ? { Attachment: { InstanceId: foreign.instanceId } } : {}),
          },
        ],
      };
    }
    const holder = this.instances.find((i) => i.ip === ip && i.state !== "terminated");
    return {
      NetworkInterfaces: holder
        ? [{ NetworkInterfaceId: `eni-${holder.id}`, Status: "in-use", Attachment: { InstanceId: holder.id } }]
        : [],
    };
  }
}

export function awsError(name: string): Error {
  const error = new Error(`${name}: simulated by the fake AWS`);
  error.name = name;
  return error;
}

function sha(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Who a fake STS says the caller is (GetCallerIdentity), and the record of each time it was asked. */
export interface FakeCaller {
  readonly account: string;
  readonly arn: string;
  /** Every GetCallerIdentity, with the credentials it was signed with (undefined: the default chain's). */
  readonly checks: Array<{ readonly source?: AwsCredentials }>;
}

/**
 * A fake STS: answers AssumeRole (the real SDK command object) with credentials named after the role, expiring in an
 * hour, and records every call with the credentials its client was given; answers GetCallerIdentity with `caller`.
 */
export class FakeSts implements AwsSdkClient {
  constructor(
    /** Every AssumeRole, with the credentials this client signs it with (undefined: the default chain's). */
    readonly calls: Array<{ readonly input: AssumeRoleCommandInput; readonly source?: AwsCredentials }>,
    private readonly source?: () => Promise<AwsCredentials>,
    private readonly caller?: FakeCaller,
  ) {}

  async send(command: object): Promise<unknown> {
    const name = command.constructor.name;
    if (name === "GetCallerIdentityCommand" && this.caller) {
      this.caller.checks.push(this.source ? { source: await this.source() } : {});
      return { Account: this.caller.account, Arn: this.caller.arn, UserId: "AROAFAKE:nats-rollout" };
    }
    if (name !== "AssumeRoleCommand") throw new Error(`FakeSts: unexpected ${name}`);
    const input = (command as { input: AssumeRoleCommandInput }).input;
    this.calls.push({ input, ...(this.source ? { source: await this.source() } : {}) });
    const role = (input.RoleArn ?? "").split("/").pop();
    return {
      Credentials: {
        AccessKeyId: `AKIA-${role}`,
        SecretAccessKey: `secret-${role}`,
        SessionToken: `token-${role}`,
        Expiration: new Date(Date.now() + 3600_000),
      },
    };
  }
}
