/**
 * One roller at a time through the real Pulumi engine: two copies of the project, each with a backend of its own (so
 * Pulumi's stack lock cannot keep them apart), point at the same local cluster and both `pulumi up` a new version.
 * The first to take the lease rolls the cluster; the other fails naming it, and touches nothing (no step of its own);
 * so is `nats-rollout rollout` run beside it.
 * Skipped, with the reason printed, when the real Pulumi engine is not available.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { LocalProcessDriver } from "../../engine/hosts/local";
import { LEASE_FILE_NAME } from "../../engine/hosts/local/lease-file";
import { MonitorClient } from "../../engine/monitor/client";
import { monitorUrl, ServerEndpoint } from "../../engine/spec";
import { BIN_CACHE, NEW_MINOR, OLD_MINOR } from "../support/versions";
import {
  copyProject,
  diagnosticsOf,
  engineUnavailable,
  loopbackServers,
  pulumiOk,
  pulumiSpawn,
  REPO,
  writeStack,
} from "./support/pulumi-project";

const CLI = path.join(REPO, "dist", "cli", "nats-rollout.js");

/** The compiled command line in `cwd`; its exit code and output, never a throw. */
async function runCli(cwd: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, NATS_SERVER_BIN_CACHE: BIN_CACHE },
      timeout: 300_000,
    });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

// A soak long enough that the second `pulumi up` reaches the cluster while the first still rolls it.
const SLOW = { lameDuckGracePeriodSeconds: 1, rollout: { minHealthySeconds: 8, pollIntervalMs: 250 } };

const unavailable = engineUnavailable();
if (unavailable)
  console.warn(`test/pulumi/lease.test.ts SKIPPED: the real Pulumi engine is not available: ${unavailable}`);
const describeEngine = unavailable ? describe.skip : describe;

describeEngine("two `pulumi up` of one cluster from two checkouts", () => {
  let dir: string;
  let members: ServerEndpoint[];
  let surge: ServerEndpoint;
  let driver: LocalProcessDriver;
  const checkouts: Array<{ root: string; project: string; stack: string }> = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-pulumi-lease-"));
    ({ members, surge } = await loopbackServers());
    const stateDir = path.join(dir, "servers");
    driver = new LocalProcessDriver({ stateDir, binaries: { resolve: () => Promise.reject(new Error("unused")) } });
    for (const name of ["one", "two"]) {
      const root = path.join(dir, name);
      const project = path.join(root, "project");
      for (const d of ["state", "home"]) fs.mkdirSync(path.join(root, d), { recursive: true });
      copyProject(project);
      // Plaintext: each checkout's tls.generate would make a CA of its own.
      writeStack(project, `lease-${name}`, {
        version: OLD_MINOR,
        members,
        surge,
        ...SLOW,
        local: { stateDir },
        tls: undefined,
      });
      checkouts.push({ root, project, stack: `lease-${name}` });
    }
  }, 120_000);

  afterAll(async () => {
    if (!dir) return;
    for (const s of [...members, surge]) {
      const pid = driver.pid(s);
      if (pid) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("one rolls the cluster; the other, and nats-rollout beside it, fail naming the first and touch nothing", async () => {
    const [one, two] = checkouts;
    for (const c of checkouts) await pulumiOk(c.root, c.project, ["stack", "init", c.stack]);
    await pulumiOk(one.root, one.project, ["up", "--yes"]);
    for (const c of checkouts) await pulumiOk(c.root, c.project, ["config", "set", "nats-cluster:version", NEW_MINOR]);

    const first = pulumiSpawn(one.root, one.project, ["up", "--yes"]);
    const deadline = Date.now() + 120_000;
    while (!/lease: held on/.test(first.output()) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const second = pulumiSpawn(two.root, two.project, ["up", "--yes"]);
    // And the command line against the same `pulumi up`, from the second checkout's stack file.
    const cli = await runCli(two.project, ["rollout", "--stack-file", path.join("stacks", `Pulumi.${two.stack}.yaml`)]);
    const [codeOne, codeTwo] = await Promise.all([first.exit, second.exit]);
    const [outOne, outTwo] = [first.output(), second.output()];
    console.log(`the second pulumi up:\n${diagnosticsOf(outTwo) || outTwo}`);

    expect(codeOne).toBe(0);
    expect(diagnosticsOf(outOne)).toContain(`Rollout to ${NEW_MINOR}: SUCCEEDED`);
    expect(codeTwo).not.toBe(0);
    expect(outTwo).toMatch(
      /RollingUpgrade nats-local: refused: another rollout holds the lease of cluster nats-local: \S+@\S+ pid \d+, stack nats-cluster\/lease-one, started \S+; last heartbeat \d+s ago \(lease on nats-a\)\. Nothing was touched/,
    );
    console.log(`nats-rollout beside it:\n${cli.out}`);
    expect(cli.code).toBe(3);
    expect(cli.out).toMatch(
      /nats-rollout: refused: another rollout holds the lease of cluster nats-local: \S+@\S+ pid \d+, stack nats-cluster\/lease-one, /,
    );
    expect(cli.out).not.toMatch(/surge-up: |restart-member: /);
    // The second touched nothing: none of its own steps ran.
    expect(outTwo).not.toMatch(/surge-up: |restart-member: |lame duck/);
    for (const m of members) expect((await new MonitorClient(monitorUrl(m)).varz()).version).toBe(NEW_MINOR);
    for (const m of members) expect(fs.existsSync(path.join(driver.dir(m), LEASE_FILE_NAME))).toBe(false);
  }, 600_000);
});
