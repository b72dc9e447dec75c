import { ServerEndpoint } from "../spec";

/** Where a server keeps its files on its host; the rendered config points at these. */
export interface HostLayout {
  /** `pid_file`: lame duck and reload signals go through it. */
  readonly pidFile: string;
  /** `jetstream.store_dir`. */
  readonly storeDir: string;
}

/**
 * How the engine touches one host. One implementation per platform: local processes (hosts/local.ts, the embedded
 * default and the one tested against real servers) and AWS EC2 through SSM (components/aws). Every method is
 * idempotent and every wait takes a deadline, so a re-run after a crash can call any of them again.
 */
export interface HostDriver {
  /** Short platform name for messages ("local", "aws"). */
  readonly platform: string;
  /** File locations on the server's host. */
  layout(server: ServerEndpoint): HostLayout;
  /** Create the host if the platform needs one (the surge VM); the local driver makes its directory. */
  provision(server: ServerEndpoint): Promise<void>;
  /** Remove the host and everything on it (the surge server when it leaves). */
  deprovision(server: ServerEndpoint): Promise<void>;
  /** Make `version` the binary the server starts with next. */
  install(server: ServerEndpoint, version: string): Promise<void>;
  /** The version the next start runs, or undefined when nothing is installed. */
  installedVersion(server: ServerEndpoint): Promise<string | undefined>;
  /** Replace the server's config file. The text can hold secrets: never log it. */
  writeConfig(server: ServerEndpoint, configText: string): Promise<void>;
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
}
