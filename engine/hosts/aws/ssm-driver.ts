/**
 * The HostDriver for nats-servers on EC2 instances, reached through SSM Run Command (no SSH, no open port: the
 * instance role has `AmazonSSMManagedInstanceCore`). Every method is one `AWS-RunShellScript` command (scripts in
 * engine/hosts/systemd/scripts.ts and ./scripts.ts) sent with `SendCommand` and polled with `GetCommandInvocation`
 * under its own deadline
 * (ssm-runner.ts). Configs travel through a Parameter Store SecureString, never in a command (config-store.ts).
 * The surge server's VM is launched from a launch template and terminated again (ec2-hosts.ts).
 *
 * No Pulumi import, and the AWS SDK is loaded lazily on first use, so the local platform never loads it.
 *
 * AWS parts of this project are verified only with mocks: fake SSM and EC2 clients at the AWS SDK boundary
 * (test/aws/ssm-driver.test.ts). Nothing here has run against a real AWS account.
 */
import { activateScriptFor, stageScriptFor } from "../../binaries";
import { ServerEndpoint } from "../../spec";
import { HostDriver, HostLayout } from "../driver";
import { assertHostPaths, DEFAULT_HOST_PATHS, HostPaths, storeDirOf } from "../systemd/paths";
import * as systemd from "../systemd/scripts";
import { SsmConfigStore } from "./config-store";
import { Ec2LaunchedHosts, SurgeLaunchSettings } from "./ec2-hosts";
import { defaultConfigParameterPrefix } from "./names";
import { AwsSdkClient, loadEc2, loadSsm } from "./sdk";
import * as scripts from "./scripts";
import { SsmCommandRunner, SsmTarget } from "./ssm-runner";

export { SsmCommandError } from "./ssm-runner";
export type { AwsSdkClient } from "./sdk";
export type { SurgeLaunchSettings } from "./ec2-hosts";

export interface SsmHostDriverOptions {
  /** AWS region of the instances and the config parameters, e.g. "eu-west-1". */
  readonly region: string;
  /** Named AWS profile for credentials (the stack's `aws:profile`), so the driver acts as the same identity as Pulumi.
   * */
  readonly profile?: string;
  /** `cluster.name`: tags the surge VM and names the default config parameter prefix. */
  readonly clusterName: string;
  /**
   * The EC2 instance of a server Pulumi created (the members: AwsMemberHost's `instanceId`). Undefined for a server
   * whose VM this driver launches itself (the surge server), found by its tags instead.
   */
  readonly instanceIdFor: (server: ServerEndpoint) => string | undefined;
  /** Launch template and subnet for the surge server's VM (components/aws/surge-template.ts). */
  readonly surge?: SurgeLaunchSettings;
  /** Release tarball architecture of the instances. Default "amd64". */
  readonly arch?: "amd64" | "arm64";
  /** Binaries directory. Default "/opt/nats" (must match the user data). */
  readonly installDir?: string;
  /** Config file. Default "/etc/nats/nats.conf". */
  readonly configPath?: string;
  /** Data directory (JetStream volume mount). Default "/var/lib/nats". */
  readonly dataDir?: string;
  /** `pid_file`. Default "/var/run/nats/nats.pid". */
  readonly pidFile?: string;
  /** Release download base URL, for mirrors. Default the official GitHub releases. */
  readonly releaseBaseUrl?: string;
  /** Parameter Store hierarchy for configs. Default "/nats-cluster/<clusterName>"; the instance role must read
   * `<prefix>/*`. */
  readonly configParameterPrefix?: string;
  /** KMS key for the SecureString configs. Default the account's `alias/aws/ssm`. */
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

  constructor(private readonly options: SsmHostDriverOptions) {
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
    this.ssmClient = options.ssmClient;
    this.ec2Client = options.ec2Client;
  }

  // Clients are created on first use: constructing the driver (e.g. for a preview's config rendering) loads no SDK.
  private get ssm(): AwsSdkClient {
    this.ssmClient ??= new (loadSsm().SSMClient)(this.clientConfig());
    return this.ssmClient;
  }
  private get ec2(): AwsSdkClient {
    this.ec2Client ??= new (loadEc2().EC2Client)(this.clientConfig());
    return this.ec2Client;
  }
  /** Region and, when set, the named profile: the same account and region as every Pulumi resource of the stack. */
  private clientConfig(): { region: string; profile?: string } {
    return { region: this.options.region, ...(this.options.profile ? { profile: this.options.profile } : {}) };
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
    );
  }

  layout(_server: ServerEndpoint): HostLayout {
    return { pidFile: this.paths.pidFile, storeDir: storeDirOf(this.paths) };
  }

  /** The instance a server runs on now: Pulumi's for members, the tagged running VM for the surge server. */
  private async instanceOf(server: ServerEndpoint): Promise<string | undefined> {
    return this.options.instanceIdFor(server) ?? (await this.launched.findRunning(server.name));
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
   * Members: wait until Pulumi's instance is registered with SSM and its user data has finished. The surge server:
   * launch its VM from the launch template first, unless a running one is left from an interrupted rollout (a
   * stopped leftover is terminated, since it would hold the surge address).
   */
  async provision(server: ServerEndpoint): Promise<void> {
    const deadline = Date.now() + (this.options.provisionTimeoutSeconds ?? 900) * 1000;
    let instanceId = await this.instanceOf(server);
    if (!instanceId) {
      await this.launched.terminateAll(server.name, deadline);
      instanceId = await this.launched.launchFor(server, deadline);
    }
    await this.launched.waitForSsm(server.name, instanceId, deadline);
    const remaining = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    await this.run(
      { server: server.name, instanceId },
      "wait for cloud-init (user data) to finish",
      scripts.bootDoneScript(),
      remaining,
    );
  }

  /**
   * The surge server: delete its config parameter and terminate its VM. A member (its instance belongs to Pulumi):
   * stop nats-server and remove its config and parameter; the instance and its JetStream volume stay until Pulumi
   * deletes them.
   */
  async deprovision(server: ServerEndpoint): Promise<void> {
    const deadline = Date.now() + (this.options.provisionTimeoutSeconds ?? 900) * 1000;
    const memberInstance = this.options.instanceIdFor(server);
    if (memberInstance) {
      const target = { server: server.name, instanceId: memberInstance };
      await this.run(target, "stop nats-server (SIGKILL) for deprovision", systemd.killScript(this.killWaitSeconds()));
      await this.run(target, "remove the config file", scripts.removeConfigScript(this.paths));
    } else {
      await this.launched.terminateAll(server.name, deadline);
    }
    await this.configs.remove(server.name);
  }

  /** Download and verify on the host, beside the active binary: the slow part, while the server still serves. */
  async stageBinary(server: ServerEndpoint, version: string): Promise<void> {
    const script = stageScriptFor(
      version,
      this.options.arch ?? "amd64",
      this.paths.installDir,
      this.options.releaseBaseUrl,
    );
    const target = await this.target(server, `stage nats-server v${version}`);
    await this.run(target, `stage nats-server v${version}`, script, this.options.installTimeoutSeconds ?? 600);
  }

  async activateBinary(server: ServerEndpoint, version: string): Promise<void> {
    const target = await this.target(server, `activate nats-server v${version}`);
    await this.run(target, `activate nats-server v${version}`, activateScriptFor(version, this.paths.installDir));
  }

  async installedVersion(server: ServerEndpoint): Promise<string | undefined> {
    const instanceId = await this.instanceOf(server);
    if (!instanceId) return undefined;
    const out = await this.run(
      { server: server.name, instanceId },
      "read the installed version",
      systemd.installedVersionScript(this.paths),
      undefined,
      true,
    );
    return systemd.versionFromLink(systemd.outputValue(out.stdout, "link") ?? "");
  }

  /** Stores the text as a SecureString version, then has the host fetch exactly that version. The text is never in a
   * command. */
  async writeConfig(server: ServerEndpoint, configText: string): Promise<void> {
    const target = await this.target(server, "write its config");
    const stored = await this.configs.put(server.name, configText);
    const script = scripts.writeConfigScript({
      region: this.options.region,
      parameterName: stored.name,
      parameterVersion: stored.version,
      paths: this.paths,
    });
    await this.run(target, `write ${this.paths.configPath} from ${stored.name} version ${stored.version}`, script);
  }

  /**
   * The host says which parameter version its file was written from (checked against the digest it recorded at
   * write time); the text comes from that version. A file this driver did not write, or one edited since, reads as
   * undefined, so the planner rewrites it.
   */
  async readConfig(server: ServerEndpoint): Promise<string | undefined> {
    const instanceId = await this.instanceOf(server);
    if (!instanceId) return undefined;
    const out = await this.run(
      { server: server.name, instanceId },
      "identify its config",
      scripts.readConfigScript(this.paths),
      undefined,
      true,
    );
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

  async start(server: ServerEndpoint): Promise<void> {
    await this.run(
      await this.target(server, "start nats-server"),
      "start nats-server",
      systemd.startScript(this.paths),
    );
  }

  async isRunning(server: ServerEndpoint): Promise<boolean> {
    const instanceId = await this.instanceOf(server);
    if (!instanceId) return false;
    const out = await this.run(
      { server: server.name, instanceId },
      "check whether nats-server runs",
      systemd.statusScript(),
      undefined,
      true,
    );
    const pid = Number(systemd.outputValue(out.stdout, "main_pid"));
    return Number.isInteger(pid) && pid > 0;
  }

  async signalLameDuck(server: ServerEndpoint): Promise<void> {
    await this.run(
      await this.target(server, "enter lame duck mode"),
      "lame duck (systemctl stop: SIGUSR2)",
      systemd.lameDuckScript(),
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
    const instanceId = await this.instanceOf(server);
    if (!instanceId) return true;
    const waitSeconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    const out = await this.run(
      { server: server.name, instanceId },
      `wait up to ${waitSeconds}s for nats-server to exit`,
      systemd.waitForExitScript(waitSeconds),
      waitSeconds + this.commandTimeoutSeconds,
      true,
    );
    return systemd.outputValue(out.stdout, "exited") === "yes";
  }

  async kill(server: ServerEndpoint): Promise<void> {
    const instanceId = await this.instanceOf(server);
    if (!instanceId) return;
    await this.run(
      { server: server.name, instanceId },
      "kill nats-server (SIGKILL)",
      systemd.killScript(this.killWaitSeconds()),
    );
  }

  async readLog(server: ServerEndpoint, maxLines: number): Promise<string> {
    const instanceId = await this.instanceOf(server);
    if (!instanceId) return "";
    const out = await this.run(
      { server: server.name, instanceId },
      `read the last ${maxLines} journal lines`,
      systemd.logScript(maxLines),
      undefined,
      true,
    );
    return out.stdout.trimEnd();
  }

  /** How long the kill script waits for the process to go: well inside the command's own deadline. */
  private killWaitSeconds(): number {
    return Math.min(30, Math.max(1, Math.floor(this.commandTimeoutSeconds / 2)));
  }
}
