/**
 * How the ssh platform runs one host-side script on one VM: the script goes to `sh -s` on the session's stdin
 * (through `sudo -n` unless the user is root), under a deadline of its own, and stdout, stderr and the exit code come
 * back. An error names the server, the user@address and what was being done.
 *
 * Transport: the `ssh2` npm package (pure JavaScript), not the OpenSSH client. Why:
 * - The private key stays in this process's memory. OpenSSH reads keys only from a file or an agent, so it would
 *   need a key file (0600, but still on disk, and left there if the Pulumi provider is killed) or an agent process
 *   with its socket.
 * - The pinned host key is compared in code with the exact key blob the host presents, and a mismatch is an error
 *   that shows both fingerprints; no known_hosts file to write, no OpenSSH message to parse.
 * - One TCP connection per host carries every command as a channel of its own: what ControlMaster/ControlPersist
 *   give OpenSSH, without a master process and a control socket that outlive the engine. Idle connections close
 *   after 30 s and never keep the process alive (the socket is unref'd while idle).
 * - No child process per command: a deadline closes the channel, and connection failures come as error codes
 *   (refused, reset, timed out, host key, authentication) instead of an exit code 255 and text on stderr.
 * Measured on the lab (4 systemd VMs on this 2-core machine, `sudo -n sh -s` as ops, a 1-line status script,
 * sequential; test/ssh/lab.test.ts prints it): this transport 20-22 ms per command on its open connection (12-16 ms
 * from a plain node process), the first one with the connection 66-90 ms; OpenSSH with ControlMaster 27 ms (first
 * ~220 ms), OpenSSH without it ~225 ms per command.
 * Cost: one dependency, `ssh2` (with `@types/ssh2` for the compiler); its optional native parts are not needed.
 *
 * Retries: connection-level failures (refused, reset, timeout while connecting, dropped before the command was
 * sent) are retried within the deadline: a host whose sshd took the connection and then dropped it (starting,
 * overloaded, over MaxStartups) until the deadline, one that refused a few times, one that answered nothing once
 * more (./connect-retry.ts decides). A command that may have started is never retried.
 */
import * as net from "node:net";
import type { Client, ClientChannel, ParsedKey, ServerHostKeyAlgorithm } from "ssh2";
import { describeError, sleep } from "../../util/async";
import { seconds } from "../../util/duration";
import { ConnectFailureKind, connectRetryDelay } from "./connect-retry";
import { fingerprintOf, hostKeyAlgorithmsFor, matchesPinnedKey, PinnedHostKey } from "./host-key";

/** Where and as whom a script runs. */
export interface SshEndpoint {
  /** The server the VM is for (every message names it). */
  readonly server: string;
  readonly address: string;
  readonly port: number;
  readonly user: string;
  /** Run the script through `sudo -n` (a user that is not root). */
  readonly sudo: boolean;
  /** The only host key this VM may present. */
  readonly hostKey: PinnedHostKey;
}

/** One script to run. */
export interface SshCommand {
  /** What the script is for, e.g. "stage nats-server v2.15.2": it goes in every message. */
  readonly what: string;
  /** The POSIX sh script. It may carry secrets (a config): it never goes on a command line or in a log. */
  readonly script: string;
  /** Deadline for the whole command, connecting included. */
  readonly timeoutMs: number;
  /** Log only failures (status polls that run every second). */
  readonly quiet?: boolean;
}

/** A command that ran to its end with exit code 0. */
export interface SshResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly elapsedMs: number;
}

/**
 * Why a command failed: `connect` (the VM could not be reached), `host-key` (it presented another key than the
 * pinned one), `auth` (it refused the key or the user), `exit` (the script failed), `timeout` (the deadline passed;
 * the session was closed), `lost` (the connection dropped while the script ran: it may or may not have acted).
 */
export type SshFailure = "connect" | "host-key" | "auth" | "exit" | "timeout" | "lost";

/** A command that did not succeed. The message names server, user@address, what was being done and what happened. */
export class SshCommandError extends Error {
  constructor(
    readonly endpoint: SshEndpoint,
    readonly what: string,
    readonly failure: SshFailure,
    /** What happened, without the server and command (the message has those too). */
    readonly problem: string,
    readonly exitCode?: number,
  ) {
    super(`${endpointLabel(endpoint)}: ${what}: ${problem}`);
    this.name = "SshCommandError";
  }
}

/** `nats-b (ops@10.0.0.12)`, with `:port` when it is not 22. */
export function endpointLabel(endpoint: SshEndpoint): string {
  const port = endpoint.port === 22 ? "" : `:${endpoint.port}`;
  return `${endpoint.server} (${endpoint.user}@${endpoint.address}${port})`;
}

/** Runs scripts on VMs. The driver talks to this, so tests can put a fake in its place. */
export interface SshTransport {
  run(endpoint: SshEndpoint, command: SshCommand): Promise<SshResult>;
  /** Close every connection (the driver's owner is done with the VMs). */
  close(): void;
}

/** The remote command line: nothing but fixed words and the deadline; the script itself comes on stdin. */
export function remoteCommandFor(endpoint: Pick<SshEndpoint, "sudo">, hostTimeoutSeconds: number): string {
  // timeout(1) runs `sh -s` in a process group of its own and ends the whole group (TERM, KILL 5 s later): a script
  // whose session we closed at our deadline cannot go on acting on the host behind the engine's back.
  const seconds = Math.max(1, Math.ceil(hostTimeoutSeconds));
  return `${endpoint.sudo ? "sudo -n " : ""}timeout -k 5 ${seconds} sh -s`;
}

/**
 * The script as `sh -s` receives it: one brace group with stdin from /dev/null. The shell parses the whole group
 * (heredocs included) before it runs any of it, so no command in the script can read the script's own remaining
 * text from stdin (a classic `sh -s` trap).
 */
export function wrapScript(script: string): string {
  return `{\n${script}\n} </dev/null\n`;
}

/** Options of {@link Ssh2Transport}. */
export interface Ssh2TransportOptions {
  /** OpenSSH (or PEM) private key text; in memory only. */
  readonly privateKey?: string;
  /** Its passphrase, when it has one. */
  readonly passphrase?: string;
  /** Progress lines (connected, command done/failed). Never a script, a config or a key. */
  readonly log?: (line: string) => void;
  /** Deadline of one connection attempt (TCP and SSH handshake). Default 10 s. */
  readonly connectTimeoutMs?: number;
  /**
   * Connection attempts per command before giving up on a host that refuses them (no sshd listening). Default 4. A
   * host whose sshd took the connection and dropped it is tried until the command's deadline; a silent one twice.
   */
  readonly connectAttempts?: number;
  /** An idle connection is closed after this long. Default 30 s (a rollout step rarely leaves a VM idle longer). */
  readonly idleCloseMs?: number;
}

const RETRYABLE_SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "ECONNABORTED",
  "EAI_AGAIN",
]);
/** Seconds the host's timeout(1) allows beyond our deadline: ours fires first and reports, the host's is a backstop. */
const HOST_TIMEOUT_SLACK_SECONDS = 2;
/** How long a channel closed at the deadline may take to confirm before its whole connection is dropped. */
const CLOSE_GRACE_MS = 2000;
/** Lines of stderr quoted in an error. */
const STDERR_TAIL_LINES = 10;

/**
 * After a VM could not be reached, further commands to it within this window fail at once with the same reason
 * instead of waiting for connection attempts of their own (a halt report and the observation after it ask a dead
 * VM several things).
 */
const UNREACHABLE_MEMORY_MS = 15_000;

/** A connection attempt that failed: what kind of failure (whether and how often to try again), and what to say. */
class ConnectFailure extends Error {
  constructor(
    readonly failure: SshFailure,
    message: string,
    readonly kind: ConnectFailureKind,
  ) {
    super(message);
  }
}

/** The command was never sent: running it on another connection cannot run it twice. */
class NotStarted extends Error {}

/** One SSH connection to one VM and the commands running on it. */
class Connection {
  private active = 0;
  private idleTimer?: NodeJS.Timeout;
  /** Commands in flight that want to know when the connection goes (one listener on the client for all of them). */
  private readonly closeWatchers = new Set<() => void>();
  closed = false;

  constructor(
    readonly client: Client,
    readonly socket: net.Socket,
    private readonly idleCloseMs: number,
  ) {
    client.on("close", () => {
      this.closed = true;
      clearTimeout(this.idleTimer);
      for (const watcher of [...this.closeWatchers]) watcher();
    });
    // Errors of a connection that is already up surface through the commands on it (their channels close).
    client.on("error", () => undefined);
  }

  /** Calls `watcher` when the connection closes; returns how to stop watching. */
  onClose(watcher: () => void): () => void {
    this.closeWatchers.add(watcher);
    return () => this.closeWatchers.delete(watcher);
  }

  acquire(): void {
    this.active++;
    clearTimeout(this.idleTimer);
    this.socket.ref();
  }

  release(): void {
    this.active = Math.max(0, this.active - 1);
    if (this.active > 0 || this.closed) return;
    // Idle: never keep the process alive for this connection, and close it soon.
    this.socket.unref();
    this.idleTimer = setTimeout(() => this.end(), this.idleCloseMs);
    this.idleTimer.unref();
  }

  end(): void {
    clearTimeout(this.idleTimer);
    this.client.end();
  }

  destroy(): void {
    clearTimeout(this.idleTimer);
    this.client.destroy();
    this.socket.destroy();
  }
}

/** The SSH transport over `ssh2`: one connection per VM, reused by every command while it is open. */
export class Ssh2Transport implements SshTransport {
  private readonly pool = new Map<string, Promise<Connection>>();
  /** VMs that could not be reached lately: when, and why. */
  private readonly unreachable = new Map<string, { at: number; problem: string }>();
  private readonly log: (line: string) => void;
  private readonly connectTimeoutMs: number;
  private readonly connectAttempts: number;
  private readonly idleCloseMs: number;

  constructor(private readonly options: Ssh2TransportOptions) {
    this.log = options.log ?? (() => undefined);
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.connectAttempts = Math.max(1, options.connectAttempts ?? 4);
    this.idleCloseMs = options.idleCloseMs ?? 30_000;
  }

  async run(endpoint: SshEndpoint, command: SshCommand): Promise<SshResult> {
    const started = Date.now();
    const deadline = started + command.timeoutMs;
    const label = endpointLabel(endpoint);
    try {
      for (let attempt = 1; ; attempt++) {
        const connection = await this.connection(endpoint, deadline, command.what);
        try {
          const result = await this.exec(connection, endpoint, command, deadline, started);
          if (!command.quiet) this.log(`${label}: ${command.what}: done in ${seconds(Date.now() - started, "fine")}`);
          return result;
        } catch (err) {
          if (!(err instanceof NotStarted)) throw err;
          const problem = `the connection was gone before the command was sent (${err.message})`;
          if (attempt >= this.connectAttempts || Date.now() >= deadline) {
            throw new SshCommandError(endpoint, command.what, "connect", problem);
          }
          this.forget(endpoint, connection);
          this.log(`${label}: ${command.what}: ${problem}; reconnecting`);
        }
      }
    } catch (err) {
      const failure =
        err instanceof SshCommandError
          ? err
          : new SshCommandError(endpoint, command.what, "connect", `could not run the command: ${describeError(err)}`);
      this.log(failure.message);
      throw failure;
    }
  }

  close(): void {
    for (const pending of this.pool.values()) pending.then((c) => c.end()).catch(() => undefined);
    this.pool.clear();
  }

  private poolKey(endpoint: SshEndpoint): string {
    return `${endpoint.user}@${endpoint.address}:${endpoint.port}#${endpoint.hostKey.fingerprint}`;
  }

  /** Drop a connection from the pool (the next command opens a new one); it closes by itself once idle. */
  private forget(endpoint: SshEndpoint, connection: Connection): void {
    const key = this.poolKey(endpoint);
    const pending = this.pool.get(key);
    if (pending) {
      pending
        .then((c) => {
          if (c === connection && this.pool.get(key) === pending) this.pool.delete(key);
        })
        .catch(() => undefined);
    }
  }

  /** The open connection to the VM, or a new one (concurrent commands share one connection attempt). */
  private async connection(endpoint: SshEndpoint, deadline: number, what: string): Promise<Connection> {
    const key = this.poolKey(endpoint);
    const recent = this.unreachable.get(key);
    if (recent && Date.now() - recent.at < UNREACHABLE_MEMORY_MS) {
      const ago = seconds(Date.now() - recent.at, "fine");
      throw new SshCommandError(endpoint, what, "connect", `${recent.problem} (${ago} ago; not tried again yet)`);
    }
    this.unreachable.delete(key);
    let pending = this.pool.get(key);
    if (pending) {
      let existing: Connection;
      try {
        existing = await pending;
      } catch (err) {
        // Joined an attempt that failed: the same answer, for this command.
        if (err instanceof SshCommandError) throw new SshCommandError(endpoint, what, err.failure, err.problem);
        throw err;
      }
      if (!existing.closed) return existing;
      if (this.pool.get(key) === pending) this.pool.delete(key);
    }
    pending = this.connectWithRetries(endpoint, deadline, what);
    this.pool.set(key, pending);
    const forgetIfCurrent = () => {
      if (this.pool.get(key) === pending) this.pool.delete(key);
    };
    pending.then((c) => c.client.once("close", forgetIfCurrent)).catch(forgetIfCurrent);
    return pending;
  }

  private async connectWithRetries(endpoint: SshEndpoint, deadline: number, what: string): Promise<Connection> {
    const label = endpointLabel(endpoint);
    for (let attempt = 1; ; attempt++) {
      const started = Date.now();
      try {
        const connection = await this.connectOnce(endpoint, deadline);
        this.log(
          `${label}: connected in ${seconds(Date.now() - started, "fine")} (host key ${endpoint.hostKey.fingerprint} as pinned)`,
        );
        return connection;
      } catch (err) {
        const failure =
          err instanceof ConnectFailure ? err : new ConnectFailure("connect", describeError(err), "final");
        const backoffMs = connectRetryDelay({
          attempt,
          kind: failure.kind,
          connectAttempts: this.connectAttempts,
          msLeft: deadline - Date.now(),
        });
        if (backoffMs === undefined) {
          const tries = attempt > 1 ? ` (${attempt} attempts)` : "";
          const problem = `cannot connect: ${failure.message}${tries}`;
          if (failure.failure === "connect") {
            this.unreachable.set(this.poolKey(endpoint), { at: Date.now(), problem });
          }
          throw new SshCommandError(endpoint, what, failure.failure, problem);
        }
        this.log(
          `${label}: connection attempt ${attempt} failed (${failure.message}); retrying in ${seconds(backoffMs, "fine")}`,
        );
        await sleep(backoffMs);
      }
    }
  }

  /** One TCP connection and SSH handshake (host key, then the user's key), within its own deadline. */
  private connectOnce(endpoint: SshEndpoint, deadline: number): Promise<Connection> {
    const budgetMs = Math.max(1, Math.min(this.connectTimeoutMs, deadline - Date.now()));
    const { privateKey, passphrase } = this.options;
    if (!privateKey) {
      return Promise.reject(
        new ConnectFailure("auth", "no SSH private key: the ssh platform needs its secret privateKey", "final"),
      );
    }
    const { Client } = loadSsh2();
    return new Promise<Connection>((resolve, reject) => {
      const socket = new net.Socket();
      // Small request/answer packets: Nagle's algorithm would hold each one back for the previous one's ACK.
      socket.setNoDelay(true);
      const client = new Client();
      let settled = false;
      /** The TCP connection was up: from then on a failure means sshd (or the host's stack) answered. */
      let established = false;
      let presented: Buffer | undefined;
      let keyRefused = false;
      const timer = setTimeout(
        () =>
          fail(
            new ConnectFailure(
              "connect",
              `no SSH session within ${seconds(budgetMs, "fine")}`,
              socket.connecting || socket.bytesRead === 0 ? "silent" : "answered",
            ),
          ),
        budgetMs,
      );
      const fail = (failure: ConnectFailure) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        client.destroy();
        socket.destroy();
        reject(failure);
      };
      socket.once("error", (err) => fail(socketFailure(err, established)));
      client.on("error", (err) =>
        fail(handshakeFailure(err, endpoint, keyRefused ? presented : undefined, established)),
      );
      client.on("close", () =>
        fail(new ConnectFailure("connect", "the host closed the connection during the handshake", "answered")),
      );
      client.once("ready", () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(new Connection(client, socket, this.idleCloseMs));
      });
      socket.connect(endpoint.port, endpoint.address, () => {
        if (settled) return;
        established = true;
        client.connect({
          sock: socket,
          username: endpoint.user,
          privateKey,
          passphrase,
          // Our own timer bounds the handshake; ssh2's would race it.
          readyTimeout: 0,
          algorithms: { serverHostKey: hostKeyAlgorithmsFor(endpoint.hostKey.type) as ServerHostKeyAlgorithm[] },
          hostVerifier: (key: Buffer) => {
            presented = key;
            keyRefused = !matchesPinnedKey(key, endpoint.hostKey);
            return !keyRefused;
          },
        });
      });
    });
  }

  /** Runs the script on an open connection; rejects NotStarted when it was certainly never sent. */
  private exec(
    connection: Connection,
    endpoint: SshEndpoint,
    command: SshCommand,
    deadline: number,
    started: number,
  ): Promise<SshResult> {
    const remainingMs = deadline - Date.now();
    if (remainingMs <= 0) {
      const problem = `did not finish within ${seconds(command.timeoutMs, "fine")} (no time left after connecting)`;
      return Promise.reject(new SshCommandError(endpoint, command.what, "timeout", problem));
    }
    const remote = remoteCommandFor(endpoint, remainingMs / 1000 + HOST_TIMEOUT_SLACK_SECONDS);
    // Bytes the server sent before we asked: if none arrive before the connection dies, it never opened our
    // channel, so the exec request (sent only after that) never left and the command cannot have started.
    const bytesBefore = connection.socket.bytesRead;
    connection.acquire();
    return new Promise<SshResult>((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let channel: ClientChannel | undefined;
      let exitCode: number | undefined;
      let exitSignal: string | undefined;
      let timedOut = false;
      let settled = false;

      const finish = (outcome: SshResult | Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stopWatching();
        connection.release();
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const error = (failure: SshFailure, problem: string, code?: number) =>
        new SshCommandError(endpoint, command.what, failure, problem, code);
      const onConnectionClose = () => {
        if (!channel && connection.socket.bytesRead === bytesBefore) {
          finish(new NotStarted("connection closed"));
        } else {
          finish(
            error("lost", "the connection dropped while the command ran; it may or may not have acted (not retried)"),
          );
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        if (channel) {
          try {
            channel.signal("KILL");
          } catch {
            /* the host's timeout(1) ends it anyway */
          }
          channel.close();
          // A channel that does not confirm its close is on a dead connection: drop the connection.
          setTimeout(() => connection.closed || channel?.destroyed || connection.destroy(), CLOSE_GRACE_MS).unref();
        }
        const problem = `did not finish within ${seconds(command.timeoutMs, "fine")}; the session was closed (the host's timeout ends what is left)`;
        finish(error("timeout", problem));
      }, remainingMs);
      const stopWatching = connection.onClose(onConnectionClose);

      try {
        connection.client.exec(remote, (err, ch) => {
          if (err) {
            // The server refused the channel or the exec request: nothing ran.
            finish(new NotStarted(describeError(err)));
            return;
          }
          if (timedOut || settled) {
            ch.close();
            return;
          }
          channel = ch;
          ch.on("data", (chunk: Buffer) => stdout.push(chunk));
          ch.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
          ch.on("exit", (code: number | null, signal?: string) => {
            exitCode = code ?? undefined;
            exitSignal = signal;
          });
          ch.on("close", () => {
            const out = Buffer.concat(stdout).toString("utf8");
            const err = Buffer.concat(stderr).toString("utf8");
            const elapsedMs = Date.now() - started;
            if (exitCode === 0) return finish({ stdout: out, stderr: err, elapsedMs });
            if (exitCode === undefined) {
              const how = exitSignal ? `was killed by SIG${exitSignal}` : "ended without an exit status";
              return finish(error("lost", `the command ${how}${stderrSuffix(err)}`));
            }
            if (exitCode === 124) {
              return finish(error("timeout", `the host's timeout ended the command${stderrSuffix(err)}`, exitCode));
            }
            finish(error("exit", `exit code ${exitCode}${stderrSuffix(err)}${sudoHint(endpoint, err)}`, exitCode));
          });
          ch.on("error", () => undefined);
          ch.end(wrapScript(command.script));
        });
      } catch (err) {
        // ssh2 throws "Not connected" synchronously when the socket is already gone.
        finish(new NotStarted(describeError(err)));
      }
    });
  }
}

/** Loads ssh2 on first use: importing the ssh platform (the registry, a settings check) does not need it. */
function loadSsh2(): typeof import("ssh2") {
  try {
    return require("ssh2") as typeof import("ssh2");
  } catch (err) {
    throw new Error(`the ssh platform needs the ssh2 package (npm install ssh2): ${describeError(err)}`, {
      cause: err,
    });
  }
}

/**
 * What is wrong with a private key's text (unparseable, public only, wrong passphrase), or undefined. The message
 * never quotes the key.
 */
export function privateKeyProblem(privateKey: string, passphrase?: string): string | undefined {
  const parsed = loadSsh2().utils.parseKey(privateKey, passphrase) as ParsedKey | ParsedKey[] | Error;
  if (parsed instanceof Error) return `not a usable private key (${parsed.message.split("\n")[0]})`;
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || !key.isPrivateKey()) return "not a private key (a public key was given)";
  return undefined;
}

/** `established`: the TCP connection was up (a reset then comes from the host's sshd, not from an empty address). */
function socketFailure(err: Error, established: boolean): ConnectFailure {
  const code = (err as NodeJS.ErrnoException).code ?? "";
  if (code === "ENOTFOUND") return new ConnectFailure("connect", `no such host (${err.message})`, "final");
  const reason = code === "ECONNREFUSED" ? "connection refused (is sshd running?)" : err.message;
  const kind = !RETRYABLE_SOCKET_CODES.has(code) ? "final" : established ? "answered" : "refused";
  return new ConnectFailure("connect", reason, kind);
}

/** Classifies an ssh2 error during connect; `refusedKey` is the key the host showed when it was not the pinned one. */
function handshakeFailure(
  err: Error,
  endpoint: SshEndpoint,
  refusedKey: Buffer | undefined,
  established: boolean,
): ConnectFailure {
  const level = (err as { level?: string }).level;
  if (refusedKey) {
    return new ConnectFailure(
      "host-key",
      `host key mismatch: the host presented ${keyTypeOf(refusedKey)} ${fingerprintOf(refusedKey)}, but the settings ` +
        `pin ${endpoint.hostKey.type} ${endpoint.hostKey.fingerprint} for it; refusing to connect (if the VM was ` +
        `rebuilt, check its new key out of band and update hostKeys)`,
      "final",
    );
  }
  if (level === "client-authentication") {
    return new ConnectFailure(
      "auth",
      `the host refused the private key for user ${endpoint.user} (is its public key in ~${endpoint.user}/.ssh/authorized_keys?)`,
      "final",
    );
  }
  if (level === "handshake") {
    return new ConnectFailure(
      "host-key",
      `SSH handshake failed (${err.message}); does the host have a ${endpoint.hostKey.type} host key, the type pinned?`,
      "final",
    );
  }
  if (level === "client-socket") return socketFailure(err, established);
  // Connections lost before the handshake finished (sshd starting, MaxStartups): worth another try.
  return new ConnectFailure("connect", err.message, established ? "answered" : "refused");
}

/** The type a key blob names (its first SSH string). */
function keyTypeOf(blob: Buffer): string {
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  return length > 0 && length + 4 <= blob.length ? blob.subarray(4, 4 + length).toString("latin1") : "unknown-type";
}

function stderrSuffix(stderr: string): string {
  const tail = stderr.trim().split("\n").slice(-STDERR_TAIL_LINES).join("\n");
  return tail ? `: ${tail}` : "";
}

function sudoHint(endpoint: SshEndpoint, stderr: string): string {
  if (!endpoint.sudo || !/sudo: .*password/i.test(stderr)) return "";
  return (
    ` (user ${endpoint.user} needs passwordless sudo, e.g. a sudoers line "${endpoint.user} ALL=(ALL) NOPASSWD:ALL",` +
    " or log in as root)"
  );
}
