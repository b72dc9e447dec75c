/**
 * The HostDriver for nats-servers on existing Linux VMs with systemd, reached by SSH. Every method is one host-side
 * script (engine/hosts/systemd/scripts.ts, shared with every systemd platform, and ./scripts.ts for the two that
 * carry the config's text) run through the transport (./transport.ts) under a deadline of its own.
 *
 * A bare VM becomes a nats host by `provision`: the nats user and directories, the unit (stop = lame duck) and its
 * stop-timeout drop-in, enabled. Nothing else is assumed on it but sshd, systemd and the tools hostCheckScript
 * lists. No Pulumi import.
 */
import { createHash } from "node:crypto";
import { DEFAULT_STOP_TIMEOUT_SECONDS } from "../../defaults";
import { DeliveredTls, ServerEndpoint } from "../../spec";
import { DeprovisionOptions, HostDriver, HostLayout, LeaseOnHost, LeaseRequest, StoreUsage } from "../driver";
import { leaseResultOf, leaseScript } from "../systemd/lease-script";
import { ExporterRelease } from "../../exporter";
import { installExporterScript, removeExporterScript } from "../systemd/exporter-scripts";
import { activateScriptFor, HostReleaseOptions, HostReleases } from "../systemd/install-scripts";
import { assertHostPaths, DEFAULT_HOST_PATHS, HostPaths, storeDirOf, tlsDirOf } from "../systemd/paths";
import * as systemd from "../systemd/scripts";
import * as scripts from "./scripts";
import { SshCommandError, SshEndpoint, SshResult, SshTransport } from "./transport";

/**
 * How long deprovision lets a server that still runs drain before SIGKILL. The engine drains servers itself before
 * it deprovisions them (surge-down, stopCluster); this covers a direct call, bounded like the minimum lame duck.
 */
const DEPROVISION_DRAIN_SECONDS = 35;

/** What `uname -m` says for each release architecture. */
const MACHINE_OF_ARCH: Readonly<Record<string, ReadonlyArray<string>>> = {
  amd64: ["x86_64", "amd64"],
  arm64: ["aarch64", "arm64"],
};

export interface SshHostDriverOptions extends HostReleaseOptions {
  /** Server name → how to reach its VM (every member and the surge server). */
  readonly endpoints: Readonly<Record<string, SshEndpoint>>;
  /** Runs the scripts. */
  readonly transport: SshTransport;
  /** The surge server's name: its deprovision removes the unit and the JetStream store too. */
  readonly surge?: string;
  /** The unit's `TimeoutStopSec` floor. Default 150. */
  readonly stopTimeoutSeconds?: number;
  /** Overrides of the default host paths. */
  readonly paths?: Partial<HostPaths>;
  /** Deadline of one ordinary command. Default 60 s. */
  readonly commandTimeoutSeconds?: number;
  /** Deadline of a download (stageBinary). Default 600 s. */
  readonly stageTimeoutSeconds?: number;
  /** The metrics exporter every server's VM gets at provision (engine/exporter.ts); unset: none, an old one removed. */
  readonly exporter?: ExporterRelease;
}

export class SshHostDriver implements HostDriver {
  readonly platform = "ssh";
  readonly paths: HostPaths;
  private readonly commandTimeoutMs: number;
  private readonly stopTimeoutSeconds: number;

  private readonly releases: HostReleases;

  constructor(private readonly options: SshHostDriverOptions) {
    this.releases = new HostReleases(options);
    this.paths = { ...DEFAULT_HOST_PATHS, ...(options.paths ?? {}) };
    assertHostPaths(this.paths);
    this.commandTimeoutMs = (options.commandTimeoutSeconds ?? 60) * 1000;
    this.stopTimeoutSeconds = options.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT_SECONDS;
  }

  /** Closes the SSH connections (they also close by themselves when idle). */
  close(): void {
    this.options.transport.close();
  }

  layout(_server: ServerEndpoint): HostLayout {
    return { pidFile: this.paths.pidFile, storeDir: storeDirOf(this.paths), tlsDir: tlsDirOf(this.paths) };
  }

  private endpoint(server: ServerEndpoint): SshEndpoint {
    const endpoint = this.options.endpoints[server.name];
    if (!endpoint) {
      throw new Error(
        `${server.name}: no SSH host for it; add hosts.${server.name} (and its host key) to the ssh settings`,
      );
    }
    return endpoint;
  }

  private run(server: ServerEndpoint, what: string, script: string, timeoutMs = this.commandTimeoutMs, quiet = false) {
    return this.options.transport.run(this.endpoint(server), { what, script, timeoutMs, quiet });
  }

  /**
   * Makes the VM a nats host (idempotent): checks its tools and architecture, creates the nats user and the
   * directories, installs and enables the unit and its stop-timeout drop-in.
   */
  async provision(server: ServerEndpoint): Promise<void> {
    const exporterPort = this.options.exporter?.port;
    if (
      exporterPort !== undefined &&
      [server.clientPort, server.clusterPort, server.monitorPort, server.gatewayPort].includes(exporterPort)
    ) {
      throw new Error(
        `${server.name}: exporter.port ${exporterPort} is one of its nats-server ports; give the exporter its own`,
      );
    }
    const check = await this.run(server, "check the host (tools, systemd, architecture)", systemd.hostCheckScript());
    const arch = this.options.arch ?? "amd64";
    const machine = systemd.outputValue(check.stdout, "machine") ?? "";
    if (!MACHINE_OF_ARCH[arch]?.includes(machine)) {
      const label = `${server.name} (${this.endpoint(server).address})`;
      throw new Error(
        `${label}: the VM is ${machine || "of an unknown architecture"}, but the ssh settings' arch is ${arch}: ` +
          `set arch to ${machine === "aarch64" ? "arm64" : "amd64"}`,
      );
    }
    await this.run(
      server,
      "prepare the host (nats user, directories, systemd unit)",
      [
        systemd.prepareHostScript(this.paths),
        systemd.installUnitScript(this.paths, { withVolume: false, stopTimeoutSeconds: this.stopTimeoutSeconds }),
      ].join("\n"),
    );
    await this.provisionExporter(server);
  }

  /**
   * The exporter as the settings say: installed (or reinstalled at a new version or arguments, restarted only then),
   * or, when they name none, any earlier one removed. Idempotent; nats-server is not touched either way. (An exporter
   * on one of the server's own ports was refused before anything was touched: provision.)
   */
  private async provisionExporter(server: ServerEndpoint): Promise<void> {
    const exporter = this.options.exporter;
    if (!exporter) {
      await this.run(server, "remove any metrics exporter (none configured)", removeExporterScript(this.paths));
      return;
    }
    await this.run(
      server,
      `install the metrics exporter ${exporter.name} ${exporter.version} (port ${exporter.port})`,
      installExporterScript(this.paths, exporter, this.options.arch ?? "amd64"),
      (this.options.stageTimeoutSeconds ?? 600) * 1000,
    );
  }

  /**
   * The surge server: stop it if it still runs (lame duck, SIGKILL after {@link DEPROVISION_DRAIN_SECONDS}), remove
   * its config, unit and JetStream store, so the VM is as before provision but for the binaries. A member: stop it
   * the same way and remove its config; its unit, binaries and data stay (the VM is the operator's). Both lose the
   * metrics exporter (unit and binaries).
   */
  async deprovision(server: ServerEndpoint, options: DeprovisionOptions = {}): Promise<void> {
    const surge = server.name === this.options.surge;
    const store = surge || options.store === true;
    const what = surge
      ? "remove nats-server (config, unit, JetStream store)"
      : `stop nats-server, remove its config${store ? " and its JetStream store" : ""}`;
    const waits = { drainSeconds: DEPROVISION_DRAIN_SECONDS, killSeconds: this.killWaitSeconds() };
    // The exporter goes with the server: a VM that no longer serves nats exports nothing.
    const script = [
      systemd.removeServerScript(this.paths, { unit: surge, data: store }, waits),
      removeExporterScript(this.paths),
    ].join("\n");
    await this.run(server, what, script, (waits.drainSeconds + waits.killSeconds) * 1000 + this.commandTimeoutMs);
  }

  /** Download and verify on the VM, beside the active binary: the slow part, while the server still serves. */
  async stageBinary(server: ServerEndpoint, version: string): Promise<void> {
    const script = this.releases.stageScript(version, this.paths.installDir);
    await this.run(server, `stage nats-server v${version}`, script, (this.options.stageTimeoutSeconds ?? 600) * 1000);
  }

  releaseProblem(version: string): string | undefined {
    return this.releases.problem(version);
  }

  async activateBinary(server: ServerEndpoint, version: string): Promise<void> {
    await this.run(server, `activate nats-server v${version}`, activateScriptFor(version, this.paths.installDir));
  }

  async installedVersion(server: ServerEndpoint): Promise<string | undefined> {
    const out = await this.run(
      server,
      "read the installed version",
      systemd.installedVersionScript(this.paths),
      undefined,
      true,
    );
    return systemd.versionFromLink(systemd.outputValue(out.stdout, "link") ?? "");
  }

  /**
   * The text travels inside the script on the session's stdin (base64, in a heredoc), never on a command line; the
   * host writes it atomically, 0600 for the nats user, and answers with its digest, checked here.
   */
  async writeConfig(server: ServerEndpoint, configText: string, tls?: DeliveredTls): Promise<void> {
    const out = await this.run(
      server,
      `write ${this.paths.configPath}${tls ? " and its TLS material" : ""}`,
      scripts.writeConfigScript(this.paths, configText, tls),
    );
    if (tls) {
      const cert = systemd.outputValue(out.stdout, "tls_cert_sha256");
      if (cert !== createHash("sha256").update(tls.certPem, "utf8").digest("hex")) {
        throw new SshCommandError(
          this.endpoint(server),
          `write ${tlsDirOf(this.paths)}`,
          "exit",
          `the certificate on the host is not the one sent (sha256 ${cert ?? "missing"})`,
        );
      }
    }
    const written = systemd.outputValue(out.stdout, "config_sha256");
    const sent = createHash("sha256").update(configText, "utf8").digest("hex");
    if (written !== sent) {
      throw new SshCommandError(
        this.endpoint(server),
        `write ${this.paths.configPath}`,
        "exit",
        `the file on the host is not the config sent (sha256 ${written ?? "missing"}, expected ${sent})`,
      );
    }
  }

  /** The exact bytes of the config file, or undefined when there is none. */
  async readConfig(server: ServerEndpoint): Promise<string | undefined> {
    const out = await this.run(
      server,
      `read ${this.paths.configPath}`,
      scripts.readConfigScript(this.paths),
      undefined,
      true,
    );
    const base64 = systemd.outputValue(out.stdout, "config_base64");
    return base64 === undefined ? undefined : Buffer.from(base64, "base64").toString("utf8");
  }

  async start(server: ServerEndpoint): Promise<void> {
    await this.run(server, "start nats-server", systemd.startScript(this.paths));
  }

  /** Whether the unit has a main process (also during lame duck, when the unit is `deactivating`). */
  async isRunning(server: ServerEndpoint): Promise<boolean> {
    const out = await this.run(server, "check whether nats-server runs", systemd.statusScript(), undefined, true);
    return isMainPid(systemd.outputValue(out.stdout, "main_pid"));
  }

  /** The unit is `deactivating` with a main process: a lame-duck stop is draining it. */
  async isStopping(server: ServerEndpoint): Promise<boolean> {
    const out = await this.run(
      server,
      "check whether nats-server is stopping",
      systemd.statusScript(),
      undefined,
      true,
    );
    return (
      isMainPid(systemd.outputValue(out.stdout, "main_pid")) &&
      systemd.outputValue(out.stdout, "active_state") === "deactivating"
    );
  }

  /**
   * One command: raise the unit's stop timeout if lame duck needs more than it has (so systemd never kills the
   * drain), then `systemctl stop --no-block`, whose ExecStop is SIGUSR2.
   */
  async signalLameDuck(server: ServerEndpoint): Promise<void> {
    await this.run(
      server,
      "lame duck (systemctl stop: SIGUSR2)",
      [systemd.lameDuckStopTimeoutScript(this.paths, this.stopTimeoutSeconds), systemd.lameDuckScript()].join("\n"),
    );
  }

  async signalReload(server: ServerEndpoint): Promise<void> {
    await this.run(server, "reload the config (SIGHUP)", systemd.reloadScript(this.paths));
  }

  /** One command that waits on the host (not one command per poll), inside the command's own deadline. */
  async waitForExit(server: ServerEndpoint, timeoutMs: number): Promise<boolean> {
    const waitSeconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    const out = await this.run(
      server,
      `wait up to ${waitSeconds}s for nats-server to exit`,
      systemd.waitForExitScript(waitSeconds),
      waitSeconds * 1000 + this.commandTimeoutMs,
      true,
    );
    return systemd.outputValue(out.stdout, "exited") === "yes";
  }

  async kill(server: ServerEndpoint): Promise<void> {
    await this.run(server, "kill nats-server (SIGKILL)", systemd.killScript(this.killWaitSeconds()));
  }

  async storeUsage(server: ServerEndpoint): Promise<StoreUsage> {
    const out = await this.run(server, "read the JetStream store's free space", systemd.storeUsageScript(this.paths));
    const value = (key: string) => systemd.outputValue(out.stdout, key);
    return {
      path: value("store_path") ?? storeDirOf(this.paths),
      totalBytes: Number(value("store_total") ?? NaN),
      freeBytes: Number(value("store_free") ?? NaN),
    };
  }

  async readLog(server: ServerEndpoint, maxLines: number): Promise<string> {
    const out: SshResult = await this.run(
      server,
      `read the last ${maxLines} journal lines`,
      systemd.logScript(maxLines),
      undefined,
      true,
    );
    return out.stdout.trimEnd();
  }

  /** The rollout lease file beside the data directory (../systemd/lease-script.ts). */
  async lease(server: ServerEndpoint, request: LeaseRequest): Promise<LeaseOnHost> {
    const what = request.op === "read" ? "read the rollout lease" : `${request.op} the rollout lease`;
    const out = await this.run(server, what, leaseScript(this.paths, request), undefined, request.op !== "create");
    return leaseResultOf(out.stdout);
  }

  /** How long the kill and remove scripts wait for the process to go: well inside the command's deadline. */
  private killWaitSeconds(): number {
    return Math.min(30, Math.max(1, Math.floor(this.commandTimeoutMs / 2000)));
  }
}

function isMainPid(value: string | undefined): boolean {
  const pid = Number(value);
  return Number.isInteger(pid) && pid > 0;
}
