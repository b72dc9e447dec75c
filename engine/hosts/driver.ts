import { Problem } from "../problem";
import { DeliveredTls, ServerEndpoint } from "../spec";

/** Where a server keeps its files on its host; the rendered config points at these. */
export interface HostLayout {
  /** `pid_file`: lame duck and reload signals go through it. */
  readonly pidFile: string;
  /** `jetstream.store_dir`. */
  readonly storeDir: string;
  /**
   * Directory the platform delivers TLS material into (`tls.pem`: certificate, key, CA; mode 0600, owned by the
   * server's user). Absent on a platform that cannot deliver it yet.
   */
  readonly tlsDir?: string;
  /**
   * Size in GiB of the volume `storeDir` is on, where the platform sizes it from the stack (aws: the member's EBS
   * volume). Written into the config's header, so a grown volume is a change the planner sees: JetStream sizes its
   * store from the free space it finds at start, and the host grows the file system before each start, so the grown
   * volume is used only after a restart through the gates. Undefined elsewhere (nothing written, nothing compared).
   */
  readonly dataVolumeGiB?: number;
}

/** What else {@link HostDriver.deprovision} removes. */
export interface DeprovisionOptions {
  /**
   * The member's JetStream store too: it left the cluster, was peer-removed, and every replica it held is whole on
   * the members that stay. A store left behind would come back as a stale peer's state if a server were ever
   * started on that host again (under its old name, or a new one in the same store directory).
   */
  readonly store?: boolean;
}

/**
 * How the engine touches one host. One implementation per platform, each in a folder of its own under
 * engine/hosts/ (local processes, AWS EC2 through SSM, any Linux VM through SSH). Every method is idempotent and
 * every wait takes a deadline, so a re-run after a crash can call any of them again.
 *
 * Binaries come in two steps on purpose: {@link stageBinary} (the slow part: download and verify) runs while the
 * server still serves clients, and {@link activateBinary} (a link switch on the host) runs only once it has left
 * lame duck, so a failed download never leaves a member down.
 */
export interface HostDriver {
  /** Short platform name for messages ("local", "aws", "ssh"). */
  readonly platform: string;
  /** File locations on the server's host. */
  layout(server: ServerEndpoint): HostLayout;
  /** Create the host if the platform needs one (the surge VM); the local driver makes its directory. */
  provision(server: ServerEndpoint): Promise<void>;
  /**
   * Remove the server from its host: stop it, remove its config and TLS material (the surge server: everything).
   * A member's JetStream store stays (`pulumi destroy` must not lose data) unless `what.store` says it may go.
   */
  deprovision(server: ServerEndpoint, what?: DeprovisionOptions): Promise<void>;
  /**
   * Fetch and verify `version`'s binary onto the host, without changing what runs now or what the next start runs.
   * Safe while the server serves clients; a failure leaves the host as it was.
   */
  stageBinary(server: ServerEndpoint, version: string): Promise<void>;
  /** Make a staged `version` the binary the next start runs (a link switch on the host: no download). */
  activateBinary(server: ServerEndpoint, version: string): Promise<void>;
  /** The version the next start runs, or undefined when nothing is installed. */
  installedVersion(server: ServerEndpoint): Promise<string | undefined>;
  /**
   * Replace the server's config file, and first the TLS material it refers to when there is some (into
   * `layout().tlsDir`, mode 0600: the certificate, key and CA, and the gateway's CA bundle when there is one). Text
   * and material can hold secrets: never log them, never put them on a command line.
   */
  writeConfig(server: ServerEndpoint, configText: string, tls?: DeliveredTls): Promise<void>;
  /** The config file as it is on the host now, or undefined. */
  readConfig(server: ServerEndpoint): Promise<string | undefined>;
  /** Start the server from its installed binary and config; resolves once the process is running. */
  start(server: ServerEndpoint): Promise<void>;
  /** Whether the server's process is alive now. */
  isRunning(server: ServerEndpoint): Promise<boolean>;
  /** Enter lame duck mode (`nats-server --signal ldm`, SIGUSR2). */
  signalLameDuck(server: ServerEndpoint): Promise<void>;
  /** Reload the config (`nats-server --signal reload`, SIGHUP). */
  signalReload(server: ServerEndpoint): Promise<void>;
  /** Wait until the process has exited; true when it did within the timeout. */
  waitForExit(server: ServerEndpoint, timeoutMs: number): Promise<boolean>;
  /** Last resort when lame duck did not end in time: kill the process (SIGKILL) and wait for it to go. */
  kill(server: ServerEndpoint): Promise<void>;
  /** The last lines of the server's log, for failure reports. */
  readLog(server: ServerEndpoint, maxLines: number): Promise<string>;
  /**
   * What would stop these servers from starting on their hosts (a port another process holds, …), checked before
   * anything starts so a first deployment never leaves half a cluster running. Optional: platforms whose hosts
   * are fresh VMs have nothing to check.
   */
  startProblems?(servers: ReadonlyArray<ServerEndpoint>): Promise<string[]>;
  /**
   * Space on the file system of the server's JetStream store (a full volume makes nats-server disable JetStream),
   * so pre-flight and the check before each member's lame duck can name it. Optional.
   */
  storeUsage?(server: ServerEndpoint): Promise<StoreUsage>;
  /**
   * Why `version` must not be downloaded onto this platform's hosts (a plain-http mirror with no pinned SHA-256 for
   * it: engine/release.ts), or undefined. The planner asks it for every version a plan stages, so `pulumi preview`
   * refuses before anything is touched. Optional: a platform that never downloads has nothing to say.
   */
  releaseProblem?(version: string): string | undefined;
  /**
   * Whether the server is in the middle of a stop (lame duck draining: systemd's `deactivating`), e.g. left so by a
   * rollout that was killed during a drain. Optional.
   */
  isStopping?(server: ServerEndpoint): Promise<boolean>;
  /**
   * One operation on the rollout lease file of the server's host (engine/rollout/lease.ts decides; this only
   * reads and writes, each write atomic on the host): `create` only when there is none (link of a temp file),
   * `replace` and `release` only when the file holds `expectId`. Answers with the file as it is afterwards.
   * Optional: a platform without it has no lease (the engine says so and rolls without one).
   */
  lease?(server: ServerEndpoint, request: LeaseRequest): Promise<LeaseOnHost>;
}

/** What a lease operation asks of one host. The record travels as JSON text (no secrets: names, a pid, a time). */
export type LeaseRequest =
  | { readonly op: "read" }
  | { readonly op: "create"; readonly text: string }
  | { readonly op: "replace"; readonly text: string; readonly expectId: string }
  | { readonly op: "release"; readonly expectId: string };

/** The lease file of one host after an operation. */
export interface LeaseOnHost {
  /** Whether the write asked for happened (create: there was no file; replace, release: it held expectId). */
  readonly done: boolean;
  /** The file's text now; undefined when there is none. */
  readonly text?: string;
  /** Seconds since the file was last written, by the host's clock (so two rollers' clocks never matter). */
  readonly ageSeconds?: number;
}

/**
 * The id a lease file's text names, read the way the host-side script reads it (`"id":"<hex>"`), so both agree on
 * whose a file is even when the rest of it is unreadable.
 */
export function leaseIdOf(text: string | undefined): string | undefined {
  return text ? /"id":"([0-9a-f]+)"/.exec(text)?.[1] : undefined;
}

/** The file system that holds a server's JetStream store. */
export interface StoreUsage {
  /** The directory asked about (the store, or the nearest existing parent). */
  readonly path: string;
  readonly totalBytes: number;
  readonly freeBytes: number;
}

/** Stage then activate: for first installs (bootstrap, a surge server), where nothing runs yet. */
export async function installBinary(driver: HostDriver, server: ServerEndpoint, version: string): Promise<void> {
  await driver.stageBinary(server, version);
  await driver.activateBinary(server, version);
}

/** What a platform's driver factory gets besides its settings. */
export interface HostDriverContext {
  /**
   * The platform's secrets (an SSH private key, …) from the resource's secret input: in memory only, never in
   * settings, state in plain text, command lines or logs.
   */
  readonly secrets?: Readonly<Record<string, string>>;
  /** Progress lines of the driver (commands sent, downloads). Never carries a secret. */
  readonly log?: (line: string) => void;
}

/**
 * What a platform folder under engine/hosts/ exports (its index.ts): the driver factory for the settings the Pulumi
 * layer recorded, and the listen address its servers bind to. Settings are plain JSON (they live in Pulumi state):
 * no secrets, nothing machine-specific that another checkout of the same stack would see differently.
 */
export interface HostPlatform {
  /** Build the driver from the platform's settings; throws naming the bad setting. */
  createHostDriver(settings: Readonly<Record<string, unknown>>, context?: HostDriverContext): HostDriver;
  /** Problems with the settings (field paths inside the settings object), for `check` before anything runs. */
  settingsProblems(settings: unknown): Problem[];
  /** The address servers on this platform listen on. */
  readonly listenHost: string;
}

/** Throws one error listing every settings problem of `platform` (each `field: message`); nothing when none. */
export function assertSettings(platform: string, problems: ReadonlyArray<Problem>): void {
  if (problems.length)
    throw new Error(`${platform} platform settings: ${problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`);
}
