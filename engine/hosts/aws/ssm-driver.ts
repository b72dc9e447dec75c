/**
 * The HostDriver for nats-servers on EC2 instances, reached through SSM Run Command (no SSH, no open port: the
 * instance role has what the SSM agent needs, components/platforms/aws/instance-profile.ts). Every method is one
 * `AWS-RunShellScript` command (scripts in engine/hosts/systemd/scripts.ts and ./scripts.ts) sent with
 * `SendCommand` and polled with `GetCommandInvocation` under its own deadline (ssm-runner.ts). Configs and
 * delivered TLS material travel through Parameter Store SecureStrings under the cluster's KMS key, never in a
 * command (config-store.ts).
 * The surge server's VM is launched from a launch template and terminated again (ec2-hosts.ts).
 *
 * No Pulumi import, and the AWS SDK is loaded lazily on first use, so the local platform never loads it.
 *
 * Verified with fake SSM and EC2 clients at the AWS SDK boundary (test/aws/ssm-driver.unit.test.ts) and, scripts and
 * lifecycle, on lab VMs through a fake SSM that runs them there (test/aws/lab-ssm-rollout.test.ts). Nothing here
 * has run against a real AWS account.
 */
import { ExporterRelease } from "../../exporter";
import { removeExporterScript } from "../systemd/exporter-scripts";
import { createHash } from "node:crypto";
import { DeliveredTls, ServerEndpoint } from "../../spec";
import { describeError } from "../../util/async";
import { HostDriver, HostLayout, LeaseOnHost, LeaseRequest } from "../driver";
import { hostPrepScript } from "../systemd/host-prep";
import { leaseResultOf, leaseScript } from "../systemd/lease-script";
import { activateScriptFor, HostReleaseOptions, HostReleases } from "../systemd/install-scripts";
import { assertHostPaths, DEFAULT_HOST_PATHS, HostPaths, storeDirOf, tlsDirOf } from "../systemd/paths";
import * as systemd from "../systemd/scripts";
import { accountGuardProblem, callerIdentity, guardedClient, hasAccountGuard } from "./account-guard";
import { SsmConfigStore } from "./config-store";
import { Ec2LaunchedHosts, SurgeLaunchSettings } from "./ec2-hosts";
import { DATA_VOLUME_DEVICE, DATA_VOLUME_WAIT_SECONDS, defaultConfigParameterPrefix } from "./names";
import {
  assumedRoleCredentials,
  AwsAssumeRole,
  AwsClientFactory,
  AwsCredentials,
  AwsEndpoints,
  AwsSdkClient,
  clientConfigFor,
  realClients,
} from "./sdk";
import * as scripts from "./scripts";
import { SsmCommandError, SsmCommandRunner, SsmTarget } from "./ssm-runner";

export { SsmCommandError } from "./ssm-runner";
export type { AwsAssumeRole, AwsClientFactory, AwsEndpoints, AwsSdkClient } from "./sdk";
export type { SurgeLaunchSettings } from "./ec2-hosts";

export interface SsmHostDriverOptions extends HostReleaseOptions {
  /** The metrics exporter the user data installs (engine/exporter.ts); a retried preparation installs it too. */
  readonly exporter?: ExporterRelease;
  /** AWS region of the instances and the config parameters, e.g. "eu-west-1". */
  readonly region: string;
  /** Named AWS profile for credentials (the stack's `aws:profile`), so the driver acts as the same identity as Pulumi.
   * */
  readonly profile?: string;
  /**
   * Roles to assume in turn (STS AssumeRole), the first with the profile's credentials: the stack's `aws:assumeRoles`,
   * so SSM and EC2 calls are made as the same identity as the Pulumi provider's.
   */
  readonly assumeRoles?: ReadonlyArray<AwsAssumeRole>;
  /** Custom `ec2`, `ssm` and `sts` endpoints (the stack's `aws:endpoints`). */
  readonly endpoints?: AwsEndpoints;
  /**
   * Tags on everything the driver creates (the surge VM), as the provider's `defaultTags` put them on every Pulumi
   * resource: a tag-enforcing policy would refuse the launch without them. The driver's own tags win a conflict.
   */
  readonly defaultTags?: Readonly<Record<string, string>>;
  /** The stack's `aws:allowedAccountIds`: the driver refuses to act as an identity of any other account. */
  readonly allowedAccountIds?: ReadonlyArray<string>;
  /** The stack's `aws:forbiddenAccountIds`: the driver refuses to act as an identity of these accounts. */
  readonly forbiddenAccountIds?: ReadonlyArray<string>;
  /** `cluster.name`: tags the surge VM and names the default config parameter prefix. */
  readonly clusterName: string;
  /**
   * The EC2 instance of a server Pulumi created (the members: AwsMemberHost's `instanceId`). Undefined for a server
   * whose VM this driver launches itself (the surge server), found by its tags instead.
   */
  readonly instanceIdFor: (server: ServerEndpoint) => string | undefined;
  /** Launch template and subnet for the surge server's VM (components/platforms/aws/surge-template.ts). */
  readonly surge?: SurgeLaunchSettings;
  /**
   * The data (JetStream) volume of a member, attached as /dev/sdf: `{ volumeId }` (found by its /dev/disk/by-id
   * link, else by the device name), `{}` when its id is not known; undefined for a host without one (the surge
   * VM). Used when a failed first boot is repeated over SSM. `sizeGiB`, the size the stack gives it, goes into the
   * layout (`dataVolumeGiB`), so a grown volume plans a restart of that member.
   */
  readonly dataVolumeFor?: (
    server: ServerEndpoint,
  ) => { readonly volumeId?: string; readonly sizeGiB?: number } | undefined;
  /**
   * systemd's `TimeoutStopSec` for nats-server: rewritten as a drop-in before every lame duck and start, so a lame
   * duck raised after the first boot never gets the server killed mid-drain. Default: left as the host has it.
   */
  readonly stopTimeoutSeconds?: number;
  /** Binaries directory. Default "/opt/nats" (must match the user data). */
  readonly installDir?: string;
  /** Config file. Default "/etc/nats/nats.conf". */
  readonly configPath?: string;
  /** Data directory (JetStream volume mount). Default "/var/lib/nats". */
  readonly dataDir?: string;
  /** `pid_file`. Default "/var/run/nats/nats.pid". */
  readonly pidFile?: string;
  /** Parameter Store hierarchy for configs. Default "/nats-cluster/<clusterName>"; the instance role must read
   * `<prefix>/*`. */
  readonly configParameterPrefix?: string;
  /** KMS key (ARN, id or alias) for every SecureString the driver writes (configs, TLS material): the cluster's
   * customer-managed key. Default the account's `alias/aws/ssm`. */
  readonly kmsKeyId?: string;
  /** Deadline of one ordinary command (start, status, lame duck, …). Default 60 s. */
  readonly commandTimeoutSeconds?: number;
  /** Deadline of an install (downloads the release). Default 600 s. */
  readonly installTimeoutSeconds?: number;
  /** Deadline for a VM to be running, registered with SSM and through cloud-init. Default 900 s. */
  readonly provisionTimeoutSeconds?: number;
  /** Poll interval for command results, instance states and waitForExit. Default 1000 ms. */
  readonly pollMs?: number;
  /** SSM client; default a real `SSMClient` for `region`. Tests inject fakes here. */
  readonly ssmClient?: AwsSdkClient;
  /** EC2 client; default a real `EC2Client` for `region`. */
  readonly ec2Client?: AwsSdkClient;
  /** Builds the clients not given above (and STS's, for the roles); default the real SDK clients. */
  readonly clients?: AwsClientFactory;
  /** Progress lines (command sent/done/failed). Never carries config text. */
  readonly log?: (line: string) => void;
}

export class SsmHostDriver implements HostDriver {
  readonly platform = "aws";
  readonly paths: HostPaths;
  private readonly log: (line: string) => void;
  private readonly pollMs: number;
  private readonly commandTimeoutSeconds: number;
  private ssmClient?: AwsSdkClient;
  private ec2Client?: AwsSdkClient;
  private credentials?: () => Promise<AwsCredentials>;
  /** The account guard's verdict, asked once (a refusal stays a refusal). */
  private accountChecked?: Promise<void>;
  /** The surge VM this driver launched or adopted: EC2's tag filters can lag behind a fresh instance. */
  private readonly launchedIds = new Map<string, string>();
  /** Members found registered with SSM and prepared (boot done, or prepared again) by this driver. */
  private readonly readyHosts = new Set<string>();

  private readonly releases: HostReleases;

  constructor(private readonly options: SsmHostDriverOptions) {
    this.releases = new HostReleases(options);
    this.paths = {
      installDir: options.installDir ?? DEFAULT_HOST_PATHS.installDir,
      configPath: options.configPath ?? DEFAULT_HOST_PATHS.configPath,
      dataDir: options.dataDir ?? DEFAULT_HOST_PATHS.dataDir,
      pidFile: options.pidFile ?? DEFAULT_HOST_PATHS.pidFile,
    };
    assertHostPaths(this.paths);
    this.log = options.log ?? (() => undefined);
    this.pollMs = options.pollMs ?? 1000;
    this.commandTimeoutSeconds = options.commandTimeoutSeconds ?? 60;
    this.ssmClient = options.ssmClient && this.guarded(options.ssmClient);
    this.ec2Client = options.ec2Client && this.guarded(options.ec2Client);
  }

  // Clients are created on first use: constructing the driver (e.g. for a preview's config rendering) loads no SDK.
  private get ssm(): AwsSdkClient {
    this.ssmClient ??= this.makeClient("ssm");
    return this.ssmClient;
  }
  private get ec2(): AwsSdkClient {
    this.ec2Client ??= this.makeClient("ec2");
    return this.ec2Client;
  }
  /** Region, profile, endpoint and, with roles to assume, their credentials (shared by both clients): the same
   * account, region and identity as every Pulumi resource of the stack. */
  private makeClient(service: "ssm" | "ec2"): AwsSdkClient {
    const clients = this.options.clients ?? realClients;
    if (this.options.assumeRoles?.length) this.credentials ??= assumedRoleCredentials(this.options, clients);
    return this.guarded(clients(service, clientConfigFor(service, this.options, this.credentials)));
  }
  /** With an account guard, `client` acts only once STS has said whose credentials these are (account-guard.ts). */
  private guarded(client: AwsSdkClient): AwsSdkClient {
    if (!hasAccountGuard(this.options)) return client;
    return guardedClient(client, () => (this.accountChecked ??= this.checkAccount()));
  }
  private async checkAccount(): Promise<void> {
    const clients = this.options.clients ?? realClients;
    if (this.options.assumeRoles?.length) this.credentials ??= assumedRoleCredentials(this.options, clients);
    const { account, arn } = await callerIdentity(
      clients("sts", clientConfigFor("sts", this.options, this.credentials)),
    );
    const problem = accountGuardProblem(account, arn, this.options);
    if (problem) throw new Error(problem);
    this.log(`aws: acting as ${arn} (account ${account}, allowed by the stack's account guard)`);
  }
  private get runner(): SsmCommandRunner {
    return new SsmCommandRunner(this.ssm, this.pollMs, this.log);
  }
  private get configs(): SsmConfigStore {
    return new SsmConfigStore(
      this.ssm,
      this.options.configParameterPrefix ?? defaultConfigParameterPrefix(this.options.clusterName),
      this.options.kmsKeyId,
    );
  }
  private get launched(): Ec2LaunchedHosts {
    return new Ec2LaunchedHosts(
      this.ec2,
      this.ssm,
      this.options.clusterName,
      this.options.surge,
      this.pollMs,
      this.log,
      this.options.defaultTags,
    );
  }

  layout(server: ServerEndpoint): HostLayout {
    // Members only: the surge VM's store (if any) is on its root disk, terminated with it.
    const sizeGiB = this.options.instanceIdFor(server) ? this.options.dataVolumeFor?.(server)?.sizeGiB : undefined;
    return {
      pidFile: this.paths.pidFile,
      storeDir: storeDirOf(this.paths),
      tlsDir: tlsDirOf(this.paths),
      ...(sizeGiB !== undefined ? { dataVolumeGiB: sizeGiB } : {}),
    };
  }

  /** The instance a server runs on now: Pulumi's for members, the tagged running VM for the surge server. */
  private async instanceOf(server: ServerEndpoint): Promise<string | undefined> {
    return (
      this.options.instanceIdFor(server) ??
      this.launchedIds.get(server.name) ??
      (await this.launched.findRunning(server.name))
    );
  }

  private get provisionTimeoutMs(): number {
    return (this.options.provisionTimeoutSeconds ?? 900) * 1000;
  }

  /**
   * A command whose answer only reads the host (status, installed version, config, log). An instance that exists
   * but is not registered with SSM yet (fresh from Pulumi or RunInstances: SendCommand answers InvalidInstanceId)
   * or is not running reads as `notYet`, "not running yet", within the provision deadline after its launch; past
   * it, the error stands, with what to check.
   */
  private async observe<T>(
    server: ServerEndpoint,
    what: string,
    script: string,
    parse: (stdout: string) => T,
    notYet: T,
    timeoutSeconds?: number,
    quiet = true,
  ): Promise<T> {
    const instanceId = await this.instanceOf(server);
    if (!instanceId) return notYet;
    try {
      const out = await this.run({ server: server.name, instanceId }, what, script, timeoutSeconds, quiet);
      return parse(out.stdout);
    } catch (error) {
      if (!(error instanceof SsmCommandError) || error.awsError !== "InvalidInstanceId") throw error;
      const why = await this.notReachableYet(instanceId);
      if (why === undefined) {
        throw new SsmCommandError(
          error.target,
          what,
          `the instance runs but SSM does not know it, ${Math.round(this.provisionTimeoutMs / 1000)}s or more after ` +
            "its launch: check its instance profile lets the SSM agent register (ssm:UpdateInstanceInformation, " +
            "ssmmessages, ec2messages) and its subnet reaches the " +
            "ssm, ssmmessages and ec2messages endpoints (NAT or VPC endpoints)",
          undefined,
          undefined,
          error.awsError,
        );
      }
      this.log(`${server.name} (${instanceId}): ${why}: seen as not running yet`);
      return notYet;
    }
  }

  /** Why an instance SSM does not know is expected not to answer yet, or undefined when it should answer. */
  private async notReachableYet(instanceId: string): Promise<string | undefined> {
    const seen = await this.launched.describe(instanceId);
    if (!seen) return "EC2 does not list the instance yet (InvalidInstanceID.NotFound)";
    if (seen.state !== "running") return `the instance is ${seen.state}`;
    const age = seen.launchTime ? Date.now() - seen.launchTime.getTime() : 0;
    if (age < this.provisionTimeoutMs) return `not registered with SSM yet (launched ${Math.round(age / 1000)}s ago)`;
    return undefined;
  }

  /**
   * Before a member's first change through this driver: registered with SSM, and its first boot done (or done
   * again over SSM). A member added to a running cluster is recovered without `provision`, so this is where its
   * fresh instance is waited for.
   */
  private async ready(server: ServerEndpoint): Promise<void> {
    const memberId = this.options.instanceIdFor(server);
    if (!memberId || this.readyHosts.has(server.name)) return;
    await this.prepare(server, memberId, Date.now() + this.provisionTimeoutMs);
    this.readyHosts.add(server.name);
  }

  /**
   * Waits until the instance is registered with SSM and cloud-init has finished; when the first boot did not
   * finish the host's preparation (a volume that came late, a release server not reachable yet, …) runs the same
   * idempotent preparation again over SSM. The binary is not part of it: the rollout stages one next.
   */
  private async prepare(server: ServerEndpoint, instanceId: string, deadline: number): Promise<void> {
    const target = { server: server.name, instanceId };
    await this.launched.waitForSsm(server.name, instanceId, deadline);
    const boot = await this.run(
      target,
      "wait for cloud-init (user data) to finish",
      scripts.bootDoneScript(),
      this.secondsLeft(deadline),
    );
    if (systemd.outputValue(boot.stdout, "boot") === "done") return;
    const why = systemd.outputValue(boot.stdout, "boot_error") ?? "no boot status";
    this.log(`${server.name} (${instanceId}): first boot did not finish: ${why}; preparing the host again over SSM`);
    await this.run(
      target,
      "prepare the host again (user, data volume, unit)",
      this.prepScript(server, deadline),
      this.secondsLeft(deadline),
    );
  }

  /**
   * A running surge VM worth waiting for: the one this driver launched, or a leftover that is registered with SSM
   * or young enough to still be booting. One launched longer than the provision deadline ago that SSM still does
   * not know never came up: it is replaced at once, not waited for again.
   */
  private async adoptable(server: ServerEndpoint): Promise<string | undefined> {
    const known = this.launchedIds.get(server.name);
    if (known) return known;
    const leftover = await this.launched.findRunning(server.name);
    if (!leftover || (await this.launched.ssmStatus(leftover)) === "Online") return leftover;
    const launchTime = (await this.launched.describe(leftover))?.launchTime?.getTime() ?? Date.now();
    if (Date.now() - launchTime < this.provisionTimeoutMs) return leftover;
    this.log(`${server.name}: left-over VM ${leftover} never registered with SSM since its launch; replacing it`);
    return undefined;
  }

  /** The host preparation of the user data, without the binary (the rollout stages that). */
  prepScript(server: ServerEndpoint, deadline = Date.now() + this.provisionTimeoutMs): string {
    const volume = this.options.instanceIdFor(server) ? this.options.dataVolumeFor?.(server) : undefined;
    return hostPrepScript({
      paths: this.paths,
      volume: volume
        ? {
            devices: scripts.ebsDeviceCandidates(DATA_VOLUME_DEVICE, volume.volumeId),
            waitSeconds: Math.min(DATA_VOLUME_WAIT_SECONDS, Math.max(1, this.secondsLeft(deadline) - 30)),
          }
        : undefined,
      stopTimeoutSeconds: this.options.stopTimeoutSeconds,
      ...(this.options.exporter
        ? { exporter: { release: this.options.exporter, arch: this.options.arch ?? "amd64" } }
        : {}),
    });
  }

  private secondsLeft(deadline: number): number {
    return Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
  }

  /** The stop-timeout drop-in first (when configured), then `script`: one command. */
  private withStopTimeout(script: string): string {
    const seconds = this.options.stopTimeoutSeconds;
    return seconds === undefined ? script : `${systemd.stopTimeoutScript(seconds)}\n${script}`;
  }

  private async target(server: ServerEndpoint, action: string): Promise<SsmTarget> {
    const instanceId = await this.instanceOf(server);
    if (!instanceId) throw new Error(`${server.name}: cannot ${action}: it has no running EC2 instance`);
    return { server: server.name, instanceId };
  }

  private run(
    target: SsmTarget,
    what: string,
    script: string,
    timeoutSeconds = this.commandTimeoutSeconds,
    quiet = false,
  ) {
    return this.runner.run(target, what, script, { timeoutSeconds, quiet });
  }

  /**
   * Members: wait until Pulumi's instance is registered with SSM and its first boot is done (repeating a failed
   * one over SSM). The surge server: launch its VM from the launch template, unless one is left from an
   * interrupted rollout (adopted when it comes up; a stopped or broken leftover is terminated, since it holds the
   * surge address), and wait for it the same way. A VM this driver started that does not come up is terminated
   * before the error is thrown: never left running for a later rollout to adopt.
   */
  async provision(server: ServerEndpoint): Promise<void> {
    const deadline = Date.now() + this.provisionTimeoutMs;
    const memberId = this.options.instanceIdFor(server);
    if (memberId) {
      await this.prepare(server, memberId, deadline);
      this.readyHosts.add(server.name);
      return;
    }
    const leftover = await this.adoptable(server);
    if (leftover) {
      try {
        await this.prepare(server, leftover, deadline);
        this.launchedIds.set(server.name, leftover);
        return;
      } catch (error) {
        this.log(`${server.name}: left-over VM ${leftover} did not come up (${describeError(error)}); replacing it`);
        this.launchedIds.delete(server.name);
      }
    }
    await this.launched.terminateAll(server.name, deadline);
    const instanceId = await this.launched.launchFor(server, deadline);
    try {
      await this.prepare(server, instanceId, deadline);
    } catch (error) {
      this.log(`${server.name}: terminating ${instanceId}: it did not come up (${describeError(error)})`);
      await this.launched.terminate(server.name, [instanceId]).catch(() => undefined);
      throw error;
    }
    this.launchedIds.set(server.name, instanceId);
  }

  /**
   * The surge server: delete its parameters (config, TLS material) and terminate its VM. A member (its instance
   * belongs to Pulumi): stop nats-server and remove its config, TLS files and parameters; the instance and its
   * JetStream volume stay until Pulumi deletes them.
   */
  async deprovision(server: ServerEndpoint): Promise<void> {
    const deadline = Date.now() + this.provisionTimeoutMs;
    const memberInstance = this.options.instanceIdFor(server);
    if (memberInstance) {
      const target = { server: server.name, instanceId: memberInstance };
      await this.run(target, "stop nats-server (SIGKILL) for deprovision", systemd.killScript(this.killWaitSeconds()));
      await this.run(target, "remove the config file and TLS material", scripts.removeConfigScript(this.paths));
      // The exporter goes with the server (the instance itself is Pulumi's, and may stay a while).
      await this.run(target, "remove the metrics exporter", removeExporterScript(this.paths));
    } else {
      await this.launched.terminateAll(server.name, deadline);
      this.launchedIds.delete(server.name);
    }
    this.readyHosts.delete(server.name);
    await this.configs.remove(server.name);
  }

  /** Download and verify on the host, beside the active binary: the slow part, while the server still serves. */
  async stageBinary(server: ServerEndpoint, version: string): Promise<void> {
    const script = this.releases.stageScript(version, this.paths.installDir);
    await this.ready(server);
    const target = await this.target(server, `stage nats-server v${version}`);
    await this.run(target, `stage nats-server v${version}`, script, this.options.installTimeoutSeconds ?? 600);
  }

  releaseProblem(version: string): string | undefined {
    return this.releases.problem(version);
  }

  async activateBinary(server: ServerEndpoint, version: string): Promise<void> {
    await this.ready(server);
    const target = await this.target(server, `activate nats-server v${version}`);
    await this.run(target, `activate nats-server v${version}`, activateScriptFor(version, this.paths.installDir));
  }

  async installedVersion(server: ServerEndpoint): Promise<string | undefined> {
    return this.observe(
      server,
      "read the installed version",
      systemd.installedVersionScript(this.paths),
      (stdout) => systemd.versionFromLink(systemd.outputValue(stdout, "link") ?? ""),
      undefined,
    );
  }

  /**
   * Stores the text (and the TLS material, one SecureString per file) as new parameter versions under the cluster's
   * key, then has the host fetch exactly those versions: the TLS files first, then the config. Neither the text nor
   * the material is ever in a command; the host answers with the certificate's digest, checked here.
   */
  async writeConfig(server: ServerEndpoint, configText: string, tls?: DeliveredTls): Promise<void> {
    await this.ready(server);
    const target = await this.target(server, "write its config");
    const tlsFiles = tls ? await this.configs.putTls(server.name, tls) : undefined;
    const stored = await this.configs.put(server.name, configText);
    const script = scripts.writeConfigScript({
      region: this.options.region,
      parameterName: stored.name,
      parameterVersion: stored.version,
      paths: this.paths,
      ...(tlsFiles ? { tlsFiles } : {}),
    });
    const out = await this.run(
      target,
      `write ${this.paths.configPath}${tls ? ` and ${tlsDirOf(this.paths)}` : ""} from ${stored.name} version ${stored.version}`,
      script,
    );
    if (tls) {
      const cert = systemd.outputValue(out.stdout, "tls_cert_sha256");
      if (cert !== createHash("sha256").update(tls.certPem, "utf8").digest("hex")) {
        throw new SsmCommandError(
          target,
          `write ${tlsDirOf(this.paths)}`,
          `the certificate on the host is not the one stored (sha256 ${cert ?? "missing"})`,
        );
      }
    }
  }

  /**
   * The host says which parameter version its file was written from (checked against the digest it recorded at
   * write time); the text comes from that version. A file this driver did not write, or one edited since, reads as
   * undefined, so the planner rewrites it.
   */
  async readConfig(server: ServerEndpoint): Promise<string | undefined> {
    const instanceId = await this.instanceOf(server);
    const out = await this.observe(
      server,
      "identify its config",
      scripts.readConfigScript(this.paths),
      (stdout) => ({ stdout }),
      undefined,
    );
    if (!out) return undefined;
    const version = Number(systemd.outputValue(out.stdout, "config_version"));
    if (!Number.isInteger(version) || version < 1) {
      if (systemd.outputValue(out.stdout, "config") === "unknown") {
        this.log(
          `${server.name} (${instanceId}): ${this.paths.configPath} was not written by this driver or was edited since; treating it as unknown`,
        );
      }
      return undefined;
    }
    const text = await this.configs.get(server.name, version);
    if (text === undefined)
      this.log(`${server.name}: config parameter version ${version} no longer exists; treating the config as unknown`);
    return text;
  }

  /**
   * The unit's ExecStartPre mounts the data volume and grows its file system first (engine/hosts/systemd/unit.ts);
   * before that, a config recording a grown volume waits until the volume shows that size (scripts.ts).
   */
  async start(server: ServerEndpoint): Promise<void> {
    await this.ready(server);
    await this.run(
      await this.target(server, "start nats-server"),
      "start nats-server",
      this.withStopTimeout(`${scripts.volumeSizeWaitScript(this.paths)}\n${systemd.startScript(this.paths)}`),
      this.commandTimeoutSeconds + scripts.VOLUME_SIZE_WAIT_SECONDS,
    );
  }

  async isRunning(server: ServerEndpoint): Promise<boolean> {
    return this.observe(
      server,
      "check whether nats-server runs",
      systemd.statusScript(),
      (stdout) => {
        const pid = Number(systemd.outputValue(stdout, "main_pid"));
        return Number.isInteger(pid) && pid > 0;
      },
      false,
    );
  }

  /** The stop-timeout drop-in first: lame duck must end within what systemd allows now, not at first boot. */
  async signalLameDuck(server: ServerEndpoint): Promise<void> {
    await this.run(
      await this.target(server, "enter lame duck mode"),
      "lame duck (systemctl stop: SIGUSR2)",
      this.withStopTimeout(systemd.lameDuckScript()),
    );
  }

  async signalReload(server: ServerEndpoint): Promise<void> {
    await this.run(
      await this.target(server, "reload its config"),
      "reload the config (SIGHUP)",
      systemd.reloadScript(this.paths),
    );
  }

  /** One command that waits on the host (not one command per poll), inside the command's own deadline. */
  async waitForExit(server: ServerEndpoint, timeoutMs: number): Promise<boolean> {
    const waitSeconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    return this.observe(
      server,
      `wait up to ${waitSeconds}s for nats-server to exit`,
      systemd.waitForExitScript(waitSeconds),
      (stdout) => systemd.outputValue(stdout, "exited") === "yes",
      true,
      waitSeconds + this.commandTimeoutSeconds,
    );
  }

  async kill(server: ServerEndpoint): Promise<void> {
    await this.observe(
      server,
      "kill nats-server (SIGKILL)",
      systemd.killScript(this.killWaitSeconds()),
      () => undefined,
      undefined,
      undefined,
      false,
    );
  }

  async readLog(server: ServerEndpoint, maxLines: number): Promise<string> {
    return this.observe(
      server,
      `read the last ${maxLines} journal lines`,
      systemd.logScript(maxLines),
      (stdout) => stdout.trimEnd(),
      "",
    );
  }

  /**
   * The rollout lease file beside the data directory (../systemd/lease-script.ts), as on every systemd host. Taking
   * it waits for a fresh instance like a first change does: on a first `pulumi up` the lease comes before anything.
   */
  async lease(server: ServerEndpoint, request: LeaseRequest): Promise<LeaseOnHost> {
    if (request.op === "create") await this.ready(server);
    const what = request.op === "read" ? "read the rollout lease" : `${request.op} the rollout lease`;
    const out = await this.run(await this.target(server, what), what, leaseScript(this.paths, request));
    return leaseResultOf(out.stdout);
  }

  /** How long the kill script waits for the process to go: well inside the command's own deadline. */
  private killWaitSeconds(): number {
    return Math.min(30, Math.max(1, Math.floor(this.commandTimeoutSeconds / 2)));
  }
}
