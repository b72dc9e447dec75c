/**
 * The real Pulumi engine (CLI, Node language host, dynamic-provider shim) on the local stack, in a copy of the
 * project on free loopback ports: `up` at the oldest pinned version → `config set version` → `preview` prints the
 * per-member plan → `up` performs the rollout (each server's /varz) → `refresh` finds no drift → no plaintext secret
 * in the exported state → `destroy` leaves no process behind.
 * Skipped, with the reason printed, when scripts/provision.sh could not build the engine (PULUMI_ENGINE_STATUS) or
 * `pulumi` is not on PATH.
 */
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { LocalProcessDriver } from "../../engine/hosts/local";
import { MonitorClient } from "../../engine/monitor/client";
import { monitorUrl, ServerEndpoint } from "../../engine/spec";
import { freePorts } from "../support/ports";
import { BIN_CACHE, NEW_MINOR, OLD_MINOR } from "../support/versions";
import { readStackFile } from "./support/stack-files";

const run = promisify(execFile);
const REPO = path.join(__dirname, "..", "..");
const TOKEN = "engine-test-token-7c1e9b";

/** Why the engine cannot be used here, or undefined when it can. */
function engineUnavailable(): string | undefined {
  const status = process.env.PULUMI_ENGINE_STATUS;
  if (status !== "ok")
    return `PULUMI_ENGINE_STATUS is ${status === undefined ? "unset (run through scripts/test.sh, which sources the provisioned env)" : `"${status}"`}`;
  try {
    execFileSync("pulumi", ["version"], { stdio: "pipe" });
  } catch {
    return "`pulumi` is not on PATH";
  }
  return undefined;
}

/**
 * Whether a process is alive. A zombie is not: the servers outlive the provider process that started them, so they
 * are reparented to the container's init, which may never reap them.
 */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = fs.existsSync(`/proc/${pid}/stat`) ? fs.readFileSync(`/proc/${pid}/stat`, "utf8") : "";
  return !/\) Z /.test(stat);
}

const unavailable = engineUnavailable();
if (unavailable)
  console.warn(`test/pulumi/engine.test.ts SKIPPED: the real Pulumi engine is not available: ${unavailable}`);
const describeEngine = unavailable ? describe.skip : describe;

describeEngine("the local stack through the real Pulumi engine", () => {
  let dir: string;
  let project: string;
  let members: ServerEndpoint[];
  let surge: ServerEndpoint;
  let driver: LocalProcessDriver;
  const pids = new Set<number>();

  const env = (): NodeJS.ProcessEnv => ({
    ...process.env,
    PULUMI_BACKEND_URL: `file://${path.join(dir, "state")}`,
    PULUMI_CONFIG_PASSPHRASE: "engine-test",
    PULUMI_HOME: path.join(dir, "home"),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    // Type checking is `tsc`'s job (scripts/test.sh); the program only needs transpiling.
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    NATS_SERVER_BIN_CACHE: BIN_CACHE,
  });

  /** Run a pulumi command in the project copy; on failure, the error carries its whole output. */
  async function pulumi(...args: string[]): Promise<string> {
    try {
      const { stdout, stderr } = await run("pulumi", [...args, "--non-interactive"], {
        cwd: project,
        env: env(),
        maxBuffer: 64 * 1024 * 1024,
        timeout: 600_000,
      });
      return stdout + stderr;
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`pulumi ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`, {
        cause: err,
      });
    }
  }

  const varz = (s: ServerEndpoint) => new MonitorClient(monitorUrl(s)).varz();
  const recordPids = () => [...members, surge].forEach((s) => driver.pid(s) && pids.add(driver.pid(s)!));

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-pulumi-engine-"));
    project = path.join(dir, "project");
    fs.mkdirSync(path.join(project, "stacks"), { recursive: true });
    fs.mkdirSync(path.join(dir, "state"));
    fs.mkdirSync(path.join(dir, "home"));
    for (const f of ["index.ts", "Pulumi.yaml", "package.json", "tsconfig.json"])
      fs.copyFileSync(path.join(REPO, f), path.join(project, f));
    for (const d of ["components", "engine"]) fs.cpSync(path.join(REPO, d), path.join(project, d), { recursive: true });
    // The repo's packages and compiled engine (the provider require()s dist/engine/index.js).
    fs.symlinkSync(path.join(REPO, "node_modules"), path.join(project, "node_modules"));
    fs.symlinkSync(path.join(REPO, "dist"), path.join(project, "dist"));

    const ports = await freePorts(12);
    const at = (name: string, i: number): ServerEndpoint => ({
      name,
      host: "127.0.0.1",
      clientPort: ports[i],
      clusterPort: ports[4 + i],
      monitorPort: ports[8 + i],
    });
    members = ["nats-a", "nats-b", "nats-c"].map(at);
    surge = at("nats-surge", 3);
    // The local stack file, on free ports, with the shortest lame duck grace and soak that keep the suite fast.
    const stack = {
      ...readStackFile("local"),
      version: OLD_MINOR,
      members,
      surge,
      lameDuckGracePeriodSeconds: 1,
      rollout: { minHealthySeconds: 1, pollIntervalMs: 250 },
    };
    const yaml = [
      "config:",
      ...Object.entries(stack).map(([k, v]) => `  nats-cluster:${k}: ${JSON.stringify(v)}`),
    ].join("\n");
    fs.writeFileSync(path.join(project, "stacks", "Pulumi.local.yaml"), `${yaml}\n`);
    driver = new LocalProcessDriver({
      stateDir: path.join(project, ".state", "local", "servers"),
      binaries: { resolve: () => Promise.reject(new Error("unused")) },
    });
  }, 120_000);

  afterAll(async () => {
    if (!dir) return;
    recordPids();
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("up at the oldest pinned version brings up 3 members (with a secret token)", async () => {
    await pulumi("stack", "init", "local");
    await pulumi("config", "set", "--secret", "nats-cluster:auth", JSON.stringify({ token: TOKEN }));
    const out = await pulumi("up", "--yes");
    expect(out).toContain(`starting 3 members at nats-server ${OLD_MINOR}`);
    recordPids();
    for (const m of members) expect((await varz(m)).version).toBe(OLD_MINOR);
    const outputs = JSON.parse(await pulumi("stack", "output", "--json")) as {
      versions: Record<string, string>;
      clientUrls: string[];
    };
    expect(outputs.versions).toEqual({ "nats-a": OLD_MINOR, "nats-b": OLD_MINOR, "nats-c": OLD_MINOR });
    expect(outputs.clientUrls).toEqual(members.map((m) => `nats://127.0.0.1:${m.clientPort}`));
  });

  it("after `config set version`, preview prints the per-member plan and touches nothing", async () => {
    await pulumi("config", "set", "nats-cluster:version", NEW_MINOR);
    const out = await pulumi("preview");
    expect(out).toContain(`Rollout to nats-server ${NEW_MINOR}`);
    expect(out).toMatch(/surge-up\s+nats-surge/);
    for (const m of members)
      expect(out).toMatch(
        new RegExp(
          `restart-member\\s+${m.name}\\s+${OLD_MINOR.replace(/\./g, "\\.")} → ${NEW_MINOR.replace(/\./g, "\\.")}`,
        ),
      );
    expect(out).toMatch(/surge-down\s+nats-surge/);
    expect(out).toMatch(/RollingUpgrade nats-local-rollout update/);
    for (const m of members) expect((await varz(m)).version).toBe(OLD_MINOR);
  });

  it("up performs the rollout with live progress; every server's /varz reports the newer version", async () => {
    const out = await pulumi("up", "--yes");
    expect(out).toMatch(/restart-member: gates passed in [0-9.]+s \(ready [0-9.]+s, version [0-9.]+s/);
    expect(out).toContain(`Rollout to ${NEW_MINOR}: SUCCEEDED`);
    recordPids();
    for (const m of members) expect((await varz(m)).version).toBe(NEW_MINOR);
    expect(await driver.isRunning(surge)).toBe(false);
    const outputs = JSON.parse(await pulumi("stack", "output", "--json", "--show-secrets")) as {
      versions: Record<string, string>;
      lastRolloutReport: string;
    };
    expect(outputs.versions).toEqual({ "nats-a": NEW_MINOR, "nats-b": NEW_MINOR, "nats-c": NEW_MINOR });
    expect(outputs.lastRolloutReport).toContain(`Rollout to ${NEW_MINOR}: SUCCEEDED`);
  });

  it("refresh finds no drift, and the state holds no plaintext secret", async () => {
    await pulumi("refresh", "--yes", "--expect-no-changes");
    await pulumi("preview", "--expect-no-changes");
    const state = await pulumi("stack", "export");
    expect(state).not.toContain(TOKEN);
    expect(state).toContain("ciphertext");
  });

  it("destroy stops every process and removes the servers' directories", async () => {
    recordPids();
    expect(pids.size).toBeGreaterThanOrEqual(3);
    await pulumi("destroy", "--yes");
    expect([...pids].filter(isAlive)).toEqual([]);
    for (const m of members) expect(fs.existsSync(driver.dir(m))).toBe(false);
  });
});
