/**
 * The SSH transport against an SSH server inside the test process (support/local-sshd.ts) that runs each command on
 * this machine: host key pinning, authentication, the script on stdin, deadlines, connection reuse and which
 * failures are retried. The same transport against real VMs is in lab.test.ts.
 */
import { execFileSync } from "node:child_process";
import * as net from "node:net";
import { fingerprintOf, parsePinnedHostKey } from "../../engine/hosts/ssh/host-key";
import {
  remoteCommandFor,
  Ssh2Transport,
  SshCommandError,
  SshEndpoint,
  wrapScript,
} from "../../engine/hosts/ssh/transport";
import { generateKeyPair, LocalSshd } from "./support/local-sshd";

const hostKey = generateKeyPair("host");
const clientKey = generateKeyPair("client");

describe("Ssh2Transport against a local SSH server", () => {
  let sshd: LocalSshd;
  let transport: Ssh2Transport | undefined;
  const log: string[] = [];

  const endpoint = (overrides: Partial<SshEndpoint> = {}): SshEndpoint => ({
    server: "nats-a",
    address: "127.0.0.1",
    port: sshd.port,
    user: "root",
    sudo: false,
    hostKey: parsePinnedHostKey(hostKey.publicKey),
    ...overrides,
  });
  const newTransport = (options: Partial<ConstructorParameters<typeof Ssh2Transport>[0]> = {}) => {
    transport?.close();
    transport = new Ssh2Transport({ privateKey: clientKey.privateKey, log: (l) => log.push(l), ...options });
    return transport;
  };

  beforeAll(async () => {
    sshd = await new LocalSshd({ hostKey, clientPublicKey: clientKey.publicKey }).start();
  });
  afterAll(async () => {
    transport?.close();
    await sshd?.stop();
  });
  beforeEach(() => {
    log.length = 0;
    sshd.onExec = undefined;
  });

  it("runs the script from stdin and returns stdout and stderr; the command line is fixed words only", async () => {
    const t = newTransport();
    const secret = "password: s3cr3t-in-the-script";
    const out = await t.run(endpoint(), {
      what: "echo",
      script: `# ${secret}\necho "out=$((6 * 7))"\necho warn >&2`,
      timeoutMs: 10_000,
    });
    expect(out.stdout).toBe("out=42\n");
    expect(out.stderr).toBe("warn\n");
    const seen = sshd.execs.at(-1)!;
    expect(seen.command).toMatch(/^timeout -k 5 \d+ sh -s$/);
    expect(seen.stdin).toContain(secret);
    expect(log.join("\n")).not.toContain("s3cr3t");
  });

  it("no command in the script can read the rest of the script from stdin", async () => {
    const out = await newTransport().run(endpoint(), {
      what: "stdin",
      script: 'cat >/dev/null\nread -r line || true\necho "after: ${line:-nothing}"',
      timeoutMs: 10_000,
    });
    expect(out.stdout).toBe("after: nothing\n");
  });

  it("a failing script is an error naming the server, the address, the step, the exit code and stderr", async () => {
    const err = await newTransport()
      .run(endpoint(), {
        what: "stage nats-server v9.9.9",
        script: "echo 'no such release' >&2; exit 3",
        timeoutMs: 10_000,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshCommandError);
    expect((err as SshCommandError).failure).toBe("exit");
    expect((err as SshCommandError).exitCode).toBe(3);
    expect((err as Error).message).toBe(
      `nats-a (root@127.0.0.1:${sshd.port}): stage nats-server v9.9.9: exit code 3: no such release`,
    );
  });

  it("refuses a host whose key is not the pinned one, showing both fingerprints, and runs nothing", async () => {
    const other = generateKeyPair("other");
    const execsBefore = sshd.execs.length;
    const err = await newTransport()
      .run(endpoint({ hostKey: parsePinnedHostKey(other.publicKey) }), {
        what: "status",
        script: "true",
        timeoutMs: 10_000,
      })
      .catch((e: unknown) => e);
    expect((err as SshCommandError).failure).toBe("host-key");
    const presented = fingerprintOf(Buffer.from(hostKey.publicKey.split(" ")[1], "base64"));
    const pinned = parsePinnedHostKey(other.publicKey).fingerprint;
    expect((err as Error).message).toContain(`host key mismatch: the host presented ssh-ed25519 ${presented}`);
    expect((err as Error).message).toContain(`pin ssh-ed25519 ${pinned}`);
    expect(sshd.execs.length).toBe(execsBefore);
    // Not retried: one attempt, no "retrying" line.
    expect(log.filter((l) => l.includes("retrying"))).toEqual([]);
  });

  it("a key the host does not accept is an authentication error, not retried", async () => {
    const t = newTransport({ privateKey: generateKeyPair("stranger").privateKey });
    const err = await t.run(endpoint(), { what: "status", script: "true", timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect((err as SshCommandError).failure).toBe("auth");
    expect((err as Error).message).toContain("the host refused the private key for user root");
    expect(log.filter((l) => l.includes("retrying"))).toEqual([]);
  });

  it("retries a refused connection a few times within the deadline, then says so", async () => {
    const port = await closedPort();
    const started = Date.now();
    const err = await newTransport({ connectAttempts: 3 })
      .run(endpoint({ port }), { what: "status", script: "true", timeoutMs: 20_000 })
      .catch((e: unknown) => e);
    expect((err as SshCommandError).failure).toBe("connect");
    expect((err as Error).message).toMatch(/cannot connect: connection refused \(is sshd running\?\) \(3 attempts\)/);
    expect(log.filter((l) => l.includes("retrying"))).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("keeps trying a host whose sshd takes connections and drops them, past connectAttempts, until one gets through", async () => {
    // sshd past MaxStartups (a line, then close, before its banner) and sshd's child giving up after its banner (as
    // pam_nologin makes it for a user other than root while the VM boots): three drops, connectAttempts 2.
    const front = await droppingFront(sshd.port, ["Exceeded MaxStartups\r\n", BANNER, BANNER]);
    try {
      const out = await newTransport({ connectAttempts: 2 }).run(endpoint({ port: front.port }), {
        what: "status",
        script: "echo through",
        timeoutMs: 30_000,
      });
      expect(out.stdout).toBe("through\n");
      expect(front.dropped()).toBe(3);
      expect(log.filter((l) => / failed \(.*\); retrying in /.test(l))).toEqual([
        expect.stringContaining("attempt 1 failed (Connection lost before handshake); retrying in 0.50s"),
        expect.stringContaining(
          "attempt 2 failed (the host closed the connection during the handshake); retrying in 1.00s",
        ),
        expect.stringContaining(
          "attempt 3 failed (the host closed the connection during the handshake); retrying in 2.00s",
        ),
      ]);
    } finally {
      front.close();
    }
  });

  it("a refused connection is still given up after connectAttempts, even after the host had answered", async () => {
    // The first attempt is answered and dropped; then nothing listens any more (the VM went down).
    const front = await droppingFront(sshd.port, [BANNER], { thenStop: true });
    const err = await newTransport({ connectAttempts: 3 })
      .run(endpoint({ port: front.port }), { what: "status", script: "true", timeoutMs: 20_000 })
      .catch((e: unknown) => e);
    front.close();
    expect(front.dropped()).toBe(1);
    expect((err as Error).message).toMatch(/cannot connect: connection refused \(is sshd running\?\) \(3 attempts\)/);
  });

  it("ends a command at its deadline, and the host's timeout ends what it started", async () => {
    const marker = `sleep 3${Math.floor(Math.random() * 1000) + 1000}`;
    const started = Date.now();
    const err = await newTransport()
      .run(endpoint(), { what: "hang", script: `${marker}\necho never`, timeoutMs: 1500 })
      .catch((e: unknown) => e);
    const took = Date.now() - started;
    expect((err as SshCommandError).failure).toBe("timeout");
    expect((err as Error).message).toContain("hang: did not finish within 1.50s");
    expect(took).toBeGreaterThanOrEqual(1400);
    expect(took).toBeLessThan(4000);
    // timeout(1) on the "host" (here) is at most the remaining deadline + 2 s; give it its 5 s kill grace too.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && processesMatching(marker).length > 0) await new Promise((r) => setTimeout(r, 200));
    expect(processesMatching(marker)).toEqual([]);
  }, 20_000);

  it("sends every command over one connection", async () => {
    const t = newTransport();
    const before = sshd.connections.length;
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        t.run(endpoint(), { what: `n${i}`, script: `echo ${i}`, timeoutMs: 10_000 }),
      ),
    );
    for (let i = 0; i < 8; i++) await t.run(endpoint(), { what: `m${i}`, script: "true", timeoutMs: 10_000 });
    expect(sshd.connections.length - before).toBe(1);
  });

  it("reconnects when the open connection was dropped while idle (the command had not been sent)", async () => {
    const t = newTransport();
    await t.run(endpoint(), { what: "first", script: "true", timeoutMs: 10_000 });
    const before = sshd.connections.length;
    sshd.dropAll();
    await new Promise((r) => setTimeout(r, 100));
    const out = await t.run(endpoint(), { what: "second", script: "echo ok", timeoutMs: 10_000 });
    expect(out.stdout).toBe("ok\n");
    expect(sshd.connections.length - before).toBe(1);
  });

  it("never retries a command that started: a connection lost mid-command is an error", async () => {
    const t = newTransport();
    sshd.onExec = () => "drop";
    const before = sshd.execs.length;
    const err = await t
      .run(endpoint(), { what: "activate", script: "echo started", timeoutMs: 10_000 })
      .catch((e: unknown) => e);
    expect((err as SshCommandError).failure).toBe("lost");
    expect((err as Error).message).toContain("it may or may not have acted (not retried)");
    expect(sshd.execs.length - before).toBe(1);
  });

  it("reports a missing private key without trying to log in", async () => {
    const t = newTransport({ privateKey: undefined });
    const err = await t.run(endpoint(), { what: "status", script: "true", timeoutMs: 5000 }).catch((e: unknown) => e);
    expect((err as Error).message).toContain("no SSH private key: the ssh platform needs its secret privateKey");
  });

  it("never logs the private key", () => {
    const body = clientKey.privateKey.split("\n")[1];
    expect(log.join("\n")).not.toContain(body);
  });
});

describe("remote command and script wrapping", () => {
  it("uses sudo -n only for a user that is not root, and nothing from the script", () => {
    expect(remoteCommandFor({ sudo: true }, 61.2)).toBe("sudo -n timeout -k 5 62 sh -s");
    expect(remoteCommandFor({ sudo: false }, 0.1)).toBe("timeout -k 5 1 sh -s");
  });

  it("a wrapped script is still valid sh, heredocs included", () => {
    const script = "set -eu\ncat <<'EOF'\n} not the end\nEOF\necho done";
    expect(execFileSync("sh", ["-s"], { input: wrapScript(script) }).toString()).toBe("} not the end\ndone\n");
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** An OpenSSH server's first line. */
const BANNER = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";

/**
 * A TCP front for `port` that answers its first connections with `drops` (one text each, then close: what sshd
 * does when it will not serve a connection) and passes every later one through; `thenStop`: stops listening instead.
 */
function droppingFront(
  port: number,
  drops: string[],
  { thenStop = false } = {},
): Promise<{ port: number; dropped(): number; close(): void }> {
  let dropped = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    if (dropped < drops.length) {
      socket.end(drops[dropped++]);
      if (thenStop && dropped === drops.length) server.close();
      return;
    }
    const upstream = net.connect(port, "127.0.0.1");
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => socket.destroy());
    socket.pipe(upstream).pipe(socket);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        dropped: () => dropped,
        close: () => {
          for (const s of sockets) s.destroy();
          server.close();
        },
      }),
    );
  });
}

function processesMatching(text: string): string[] {
  try {
    return execFileSync("pgrep", ["-f", text]).toString().trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
}
