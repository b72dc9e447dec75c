/**
 * Real nats-server processes with TLS on the client port and on the route port, for the TLS tests: each with its
 * own config and log in the test's temp directory, on free loopback ports, stopped by pid in `stop()` (even when a
 * test failed: callers run it in afterAll).
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { freePorts } from "../../support/ports";
import { natsServerBinary } from "../../support/versions";
import { writePrivate } from "./files";

/** Paths of the TLS files a server reads (written by the caller, keys with mode 0600). */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

export interface TlsServer {
  readonly name: string;
  readonly clientPort: number;
  readonly clusterPort: number;
  readonly monitorPort: number;
  readonly logFile: string;
}

/** `/varz`-style JSON from a server's monitoring port. */
export async function monitor<T>(server: TlsServer, endpoint: string): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${server.monitorPort}/${endpoint}`);
  if (!response.ok) throw new Error(`${server.name} /${endpoint}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Servers of one cluster, each routing to every other, all with client TLS and mutual route TLS. */
export class TlsCluster {
  readonly servers: TlsServer[] = [];
  private readonly children: ChildProcess[] = [];

  constructor(
    private readonly dir: string,
    private readonly version: string,
  ) {}

  /** Start `names.length` servers with these TLS files and wait until each one's /healthz says ok. */
  async start(names: string[], tls: TlsFiles, clusterName = "tls-test"): Promise<TlsServer[]> {
    const ports = await freePorts(names.length * 3);
    const servers = names.map((name, i) => ({
      name,
      clientPort: ports[3 * i],
      clusterPort: ports[3 * i + 1],
      monitorPort: ports[3 * i + 2],
      logFile: path.join(this.dir, `${name}.log`),
    }));
    const q = JSON.stringify;
    for (const server of servers) {
      const routes = servers.filter((s) => s !== server).map((s) => q(`nats://127.0.0.1:${s.clusterPort}`));
      const config = [
        `server_name: ${q(server.name)}`,
        `listen: "127.0.0.1:${server.clientPort}"`,
        `http: "127.0.0.1:${server.monitorPort}"`,
        `tls {`,
        `  cert_file: ${q(tls.certFile)}`,
        `  key_file: ${q(tls.keyFile)}`,
        `  ca_file: ${q(tls.caFile)}`,
        `  timeout: 2`,
        `}`,
        `cluster {`,
        `  name: ${q(clusterName)}`,
        `  listen: "127.0.0.1:${server.clusterPort}"`,
        `  routes: [${routes.join(", ")}]`,
        `  tls {`,
        `    cert_file: ${q(tls.certFile)}`,
        `    key_file: ${q(tls.keyFile)}`,
        `    ca_file: ${q(tls.caFile)}`,
        `    verify: true`,
        `    timeout: 2`,
        `  }`,
        `}`,
      ].join("\n");
      const configFile = writePrivate(this.dir, `${server.name}.conf`, `${config}\n`);
      const log = fs.openSync(server.logFile, "a", 0o600);
      const child = spawn(natsServerBinary(this.version), ["-c", configFile], { stdio: ["ignore", log, log] });
      fs.closeSync(log);
      this.children.push(child);
      this.servers.push(server);
    }
    for (const server of servers) await this.waitHealthy(server);
    return servers;
  }

  private async waitHealthy(server: TlsServer): Promise<void> {
    const deadline = Date.now() + 20_000;
    let last: string;
    for (;;) {
      try {
        const health = await monitor<{ status: string }>(server, "healthz");
        if (health.status === "ok") return;
        last = `/healthz said ${JSON.stringify(health)}`;
      } catch (err) {
        // Not listening yet, or a port the client refuses: the cause is kept for the message.
        const cause = (err as { cause?: { message?: string } }).cause?.message;
        last = `${(err as Error).message}${cause ? ` (${cause})` : ""}`;
      }
      if (Date.now() > deadline) {
        const log = fs.existsSync(server.logFile) ? fs.readFileSync(server.logFile, "utf8") : "";
        throw new Error(`${server.name} did not become healthy within 20 s (last: ${last}); its log:\n${log}`);
      }
      await sleep(100);
    }
  }

  /** The server's log so far. */
  log(server: TlsServer): string {
    return fs.readFileSync(server.logFile, "utf8");
  }

  /** SIGKILL every server by pid and wait until each has exited. */
  async stop(): Promise<void> {
    const exits = this.children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
        }),
    );
    for (const child of this.children) {
      try {
        if (child.pid) process.kill(child.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, 10_000)));
    await Promise.race([Promise.all(exits), deadline]);
    clearTimeout(timer);
  }
}
