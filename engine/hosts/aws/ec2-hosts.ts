/**
 * EC2 instances the SSM driver owns itself: the surge server's VM, launched from the cluster's launch template when
 * a rollout starts and terminated when it ends. Pulumi does not track it (it lives only during `pulumi up`), so it is
 * found by its tags, which is also how a re-run after a crash finds and cleans up an orphan.
 * Also: waiting until an instance is registered with SSM, which every first command on a new VM needs.
 *
 * Verified with fakes at the SDK boundary that are eventually consistent where EC2 and SSM are (a fresh instance
 * unknown to DescribeInstances, SendCommand before registration), and with a fake EC2 that launches a lab VM;
 * never against a real AWS account.
 */
import { randomUUID } from "node:crypto";
import type {
  DescribeInstancesCommandOutput,
  DescribeNetworkInterfacesCommandOutput,
  RunInstancesCommandOutput,
} from "@aws-sdk/client-ec2";
import type { DescribeInstanceInformationCommandOutput } from "@aws-sdk/client-ssm";
import { ServerEndpoint } from "../../spec";
import { describeError } from "../../util/async";
import { TAG_CLUSTER, TAG_ROLE, TAG_SERVER } from "./names";
import { AwsSdkClient, awsErrorName, loadEc2, loadSsm, sleep } from "./sdk";

/** Where the surge VM comes from. */
export interface SurgeLaunchSettings {
  /** The launch template components/aws/surge-template.ts creates. */
  readonly launchTemplateId: string;
  /** Template version to launch; default `$Default` (Pulumi keeps it at the latest with `updateDefaultVersion`). */
  readonly launchTemplateVersion?: string;
  /** Subnet for the surge VM; the surge server's `host` must be a free private IPv4 address in it. */
  readonly subnetId: string;
}

export interface LaunchedInstance {
  readonly instanceId: string;
  readonly state: string;
}

/** States in which an instance still exists (and still holds its private IP). */
const ALIVE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"];
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export class Ec2LaunchedHosts {
  constructor(
    private readonly ec2: AwsSdkClient,
    private readonly ssm: AwsSdkClient,
    private readonly clusterName: string,
    private readonly launch: SurgeLaunchSettings | undefined,
    private readonly pollMs: number,
    private readonly log: (line: string) => void,
    /** The stack's default tags (the provider's `defaultTags`), under the driver's own. */
    private readonly defaultTags: Readonly<Record<string, string>> = {},
  ) {}

  /** Every live instance tagged as `serverName` of this cluster, oldest first. */
  async findAll(serverName: string, states: ReadonlyArray<string> = ALIVE_STATES): Promise<LaunchedInstance[]> {
    const sdk = loadEc2();
    const found: Array<LaunchedInstance & { launched: number }> = [];
    let nextToken: string | undefined;
    do {
      const out = (await this.ec2.send(
        new sdk.DescribeInstancesCommand({
          Filters: [
            { Name: `tag:${TAG_CLUSTER}`, Values: [this.clusterName] },
            { Name: `tag:${TAG_SERVER}`, Values: [serverName] },
            { Name: "instance-state-name", Values: [...states] },
          ],
          ...(nextToken ? { NextToken: nextToken } : {}),
        }),
      )) as DescribeInstancesCommandOutput;
      for (const reservation of out.Reservations ?? []) {
        for (const instance of reservation.Instances ?? []) {
          if (!instance.InstanceId) continue;
          found.push({
            instanceId: instance.InstanceId,
            state: instance.State?.Name ?? "unknown",
            launched: instance.LaunchTime?.getTime() ?? 0,
          });
        }
      }
      nextToken = out.NextToken;
    } while (nextToken);
    return found.sort((a, b) => a.launched - b.launched).map(({ instanceId, state }) => ({ instanceId, state }));
  }

  /** The running (or starting) instance of `serverName`, if there is one. */
  async findRunning(serverName: string): Promise<string | undefined> {
    const [first] = await this.findAll(serverName, ["pending", "running"]);
    return first?.instanceId;
  }

  /**
   * Launches the VM for `server` from the launch template, at `server.host` as its private IP (the engine, the
   * members' routes and the clients all know the surge server by that address), and waits until it runs.
   */
  async launchFor(server: ServerEndpoint, deadline: number): Promise<string> {
    if (!this.launch) {
      throw new Error(
        `${server.name}: no surge launch template configured for the aws driver (options.surge), so it cannot create this server's VM`,
      );
    }
    if (!isIpv4(server.host)) {
      throw new Error(
        `${server.name}: host "${server.host}" must be a private IPv4 address in subnet ${this.launch.subnetId}: the surge VM is launched at that address`,
      );
    }
    const sdk = loadEc2();
    // One token per launch: the SDK's own retries of this request then cannot start a second VM.
    const clientToken = randomUUID();
    const tags = Object.entries({
      ...this.defaultTags,
      Name: `${this.clusterName}-${server.name}`,
      [TAG_CLUSTER]: this.clusterName,
      [TAG_SERVER]: server.name,
      [TAG_ROLE]: "surge",
    }).map(([Key, Value]) => ({ Key, Value }));
    for (;;) {
      try {
        const out = (await this.ec2.send(
          new sdk.RunInstancesCommand({
            LaunchTemplate: {
              LaunchTemplateId: this.launch.launchTemplateId,
              Version: this.launch.launchTemplateVersion ?? "$Default",
            },
            MinCount: 1,
            MaxCount: 1,
            SubnetId: this.launch.subnetId,
            PrivateIpAddress: server.host,
            ClientToken: clientToken,
            // A tag-enforcing policy (an SCP on ec2:RunInstances, which also creates the root volume) sees the
            // stack's default tags on the VM and its volumes, as on every resource Pulumi creates; the driver's own
            // come last, so the VM is always found by them. The launch template tags the volume too: both are given,
            // so the volume has every tag whether EC2 merges the two or takes the request's.
            TagSpecifications: (["instance", "volume"] as const).map((ResourceType) => ({ ResourceType, Tags: tags })),
          }),
        )) as RunInstancesCommandOutput;
        const instanceId = out.Instances?.[0]?.InstanceId;
        if (!instanceId) throw new Error(`${server.name}: RunInstances returned no instance`);
        this.log(`${server.name}: launched ${instanceId} at ${server.host} from ${this.launch.launchTemplateId}`);
        try {
          await this.waitForState(server.name, instanceId, "running", deadline);
        } catch (error) {
          // Never leave a VM this call started behind: it would hold the surge address and cost money.
          await this.terminate(server.name, [instanceId]).catch(() => undefined);
          throw error;
        }
        return instanceId;
      } catch (error) {
        if (awsErrorName(error) !== "InvalidIPAddress.InUse") throw error;
        // Wait only for our own previous surge VM, still shutting down with the address; anything else holds it for
        // good, and waiting for it would only burn the deadline.
        const holder = await this.addressHolder(server.name, server.host);
        if (holder.kind === "foreign") {
          throw new Error(
            `${server.name}: the surge address ${server.host} in subnet ${this.launch.subnetId} is taken by ${holder.description}, not by a surge VM of this cluster; give nats-cluster:surge.host a free address of that subnet (or free this one)`,
            { cause: error },
          );
        }
        if (Date.now() + this.pollMs >= deadline) {
          throw new Error(
            `${server.name}: the surge address ${server.host} was still in use at the deadline (${holder.description})`,
            { cause: error },
          );
        }
        await sleep(this.pollMs);
      }
    }
  }

  /**
   * Who holds a private address in the surge subnet: a network interface of a VM this cluster launched for
   * `serverName` (still shutting down: worth waiting for), nothing any more (EC2 answers from a moment ago), or
   * anything else (another workload: fail fast, naming it).
   */
  private async addressHolder(
    serverName: string,
    address: string,
  ): Promise<{ kind: "ours" | "none" | "foreign"; description: string }> {
    const sdk = loadEc2();
    const out = (await this.ec2.send(
      new sdk.DescribeNetworkInterfacesCommand({
        Filters: [
          { Name: "addresses.private-ip-address", Values: [address] },
          ...(this.launch ? [{ Name: "subnet-id", Values: [this.launch.subnetId] }] : []),
        ],
      }),
    )) as DescribeNetworkInterfacesCommandOutput;
    const eni = out.NetworkInterfaces?.[0];
    if (!eni) return { kind: "none", description: "no network interface holds it any more" };
    const instanceId = eni.Attachment?.InstanceId;
    const ours = instanceId
      ? (await this.findAll(serverName, [...ALIVE_STATES, "terminated"])).some((i) => i.instanceId === instanceId)
      : false;
    const parts = [
      eni.NetworkInterfaceId,
      instanceId ? `attached to ${instanceId}` : `not attached (status ${eni.Status ?? "unknown"})`,
      eni.InterfaceType && eni.InterfaceType !== "interface" ? `type ${eni.InterfaceType}` : undefined,
      eni.RequesterId ? `requested by ${eni.RequesterId}` : undefined,
      eni.Description ? `"${eni.Description}"` : undefined,
    ].filter(Boolean);
    return { kind: ours ? "ours" : "foreign", description: `network interface ${parts.join(", ")}` };
  }

  /**
   * The instance's state and launch time; undefined when EC2 does not know the id (yet: right after RunInstances
   * DescribeInstances can answer InvalidInstanceID.NotFound for a while; or any more).
   */
  async describe(instanceId: string): Promise<{ state: string; launchTime?: Date } | undefined> {
    const sdk = loadEc2();
    try {
      const out = (await this.ec2.send(
        new sdk.DescribeInstancesCommand({ InstanceIds: [instanceId] }),
      )) as DescribeInstancesCommandOutput;
      const instance = out.Reservations?.[0]?.Instances?.[0];
      if (!instance) return undefined;
      return { state: instance.State?.Name ?? "unknown", launchTime: instance.LaunchTime };
    } catch (error) {
      if (awsErrorName(error) === "InvalidInstanceID.NotFound") return undefined;
      throw error;
    }
  }

  /** Asks EC2 to terminate these instances of `serverName` (no wait). */
  async terminate(serverName: string, instanceIds: ReadonlyArray<string>): Promise<void> {
    if (instanceIds.length === 0) return;
    const sdk = loadEc2();
    await this.ec2.send(new sdk.TerminateInstancesCommand({ InstanceIds: [...instanceIds] }));
    this.log(`${serverName}: terminating ${instanceIds.join(", ")}`);
  }

  /** Terminates every live instance of `serverName` and waits until none is left (so its IP is free again). */
  async terminateAll(serverName: string, deadline: number): Promise<void> {
    const alive = await this.findAll(serverName);
    await this.terminate(
      serverName,
      alive.filter((i) => i.state !== "shutting-down").map((i) => i.instanceId),
    );
    while ((await this.findAll(serverName)).length > 0) {
      if (Date.now() >= deadline)
        throw new Error(
          `${serverName}: instances ${alive.map((i) => i.instanceId).join(", ")} not terminated before the deadline`,
        );
      await sleep(this.pollMs);
    }
  }

  private async waitForState(serverName: string, instanceId: string, want: string, deadline: number): Promise<void> {
    let state = "not visible yet (InvalidInstanceID.NotFound)";
    while (Date.now() < deadline) {
      // EC2 is eventually consistent: a fresh instance id can be unknown to DescribeInstances for a while.
      state = (await this.describe(instanceId))?.state ?? state;
      if (state === want) return;
      if (state === "terminated" || state === "shutting-down") {
        throw new Error(`${serverName} (${instanceId}): instance went to ${state} while waiting for ${want}`);
      }
      await sleep(this.pollMs);
    }
    throw new Error(`${serverName} (${instanceId}): still ${state}, not ${want}, at the deadline`);
  }

  /** The instance's SSM agent status now: `Online`, another ping status, or `not registered`. */
  async ssmStatus(instanceId: string): Promise<string> {
    const sdk = loadSsm();
    try {
      const out = (await this.ssm.send(
        new sdk.DescribeInstanceInformationCommand({ Filters: [{ Key: "InstanceIds", Values: [instanceId] }] }),
      )) as DescribeInstanceInformationCommandOutput;
      const ping = out.InstanceInformationList?.[0]?.PingStatus;
      return ping === "Online" ? ping : ping ? `ping status ${ping}` : "not registered";
    } catch (error) {
      return describeError(error);
    }
  }

  /** Waits until the instance's SSM agent reports Online: SendCommand to an unregistered instance fails. */
  async waitForSsm(serverName: string, instanceId: string, deadline: number): Promise<void> {
    let seen = "not registered";
    while (Date.now() < deadline) {
      seen = await this.ssmStatus(instanceId);
      if (seen === "Online") return;
      await sleep(this.pollMs);
    }
    throw new Error(
      `${serverName} (${instanceId}): not reachable through SSM before the deadline (${seen}); check the instance profile lets the SSM agent register (ssm:UpdateInstanceInformation, ssmmessages, ec2messages) and the subnet reaches the SSM endpoints`,
    );
  }
}

function isIpv4(host: string): boolean {
  const m = IPV4.exec(host);
  return m !== null && m.slice(1).every((octet) => Number(octet) <= 255);
}
