/**
 * The real Pulumi engine (CLI, Node language host, dynamic-provider shim) on the local stack, in a copy of the
 * project on free loopback ports, driven the way an operator drives it:
 * - `up` at the oldest pinned version → `config set version` → `preview` prints the per-member plan → `up` performs
 *   the rollout with live progress (kept out of the closing Diagnostics) → `refresh` finds no drift → no
 *   plaintext secret in the exported state;
 * - the same stack from a second checkout at another path previews with no changes (nothing machine-specific);
 * - a member killed behind Pulumi's back: `preview` shows its recovery without `--refresh`, `up` heals it;
 * - Ctrl-C (SIGINT to the CLI) during a rollout: the member in progress is finished, the surge server kept, the
 *   report says how to resume; the next `up` finishes;
 * - a malformed secret: `preview` fails naming the key, never printing the secret or a stack trace;
 * - a first `up` with a port already taken: refused before anything starts, naming the port;
 * - `destroy` leaves no process behind.
 * Skipped, with the reason printed, when scripts/provision.sh could not build the engine or `pulumi` is missing.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { LocalProcessDriver } from "../../engine/hosts/local";
import { MonitorClient } from "../../engine/monitor/client";
import { monitorUrl, ServerEndpoint } from "../../engine/spec";
import { NEW_MINOR, OLD_MINOR } from "../support/versions";
import {
  copyProject,
  diagnosticsOf,
  engineUnavailable,
  loopbackServers,
  projectCopy,
  pulumiIn,
  pulumiOk,
  pulumiSpawn,
  WITH_PREVIEW,
  writeStack,
} from "./support/pulumi-project";
import { OwnedPids } from "../support/owned-pids";

const TOKEN = "engine-test-token-7c1e9b";
const SECRET_PASSWORD = "engine-test-password-4d2f88";
const FAST = { lameDuckGracePeriodSeconds: 1, rollout: { minHealthySeconds: 1, pollIntervalMs: 250 } };

const unavailable = engineUnavailable();
if (unavailable)
  console.warn(`test/pulumi/engine.test.ts SKIPPED: the real Pulumi engine is not available: ${unavailable}`);
const describeEngine = unavailable ? describe.skip : describe;

const varz = (s: ServerEndpoint) => new MonitorClient(monitorUrl(s)).varz();
const noDriverBinaries = { resolve: () => Promise.reject(new Error("unused")) };

describeEngine("the local stack through the real Pulumi engine", () => {
  let dir: string;
  let project: string;
  let members: ServerEndpoint[];
  let surge: ServerEndpoint;
  let driver: LocalProcessDriver;
  /** Every server seen, for the teardown and the destroy test (killed only while still itself: owned-pids.ts). */
  const pids = new OwnedPids();
  const pulumi = (...args: string[]) => pulumiOk(dir, project, args);
  const recordPids = () => [...members, surge].forEach((s) => pids.add(driver.pid(s)));

  beforeAll(async () => {
    ({ dir, project } = projectCopy("nats-pulumi-engine-"));
    ({ members, surge } = await loopbackServers());
    const stateDir = path.join(dir, "servers");
    writeStack(project, "local", { version: OLD_MINOR, members, surge, ...FAST, local: { stateDir } });
    driver = new LocalProcessDriver({ stateDir, binaries: noDriverBinaries });
  }, 120_000);

  afterAll(async () => {
    if (!dir) return;
    recordPids();
    pids.killAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("up at the oldest pinned version starts 3 members (with a secret token)", async () => {
    await pulumi("stack", "init", "local");
    await pulumi("config", "set", "--secret", "nats-cluster:auth", JSON.stringify({ token: TOKEN }));
    const out = await pulumi("up", "--yes");
    expect(out).toContain(`Start of the cluster at ${OLD_MINOR}: SUCCEEDED`);
    recordPids();
    for (const m of members) expect((await varz(m)).version).toBe(OLD_MINOR);
    const outputs = JSON.parse(await pulumi("stack", "output", "--json")) as {
      versions: Record<string, string>;
      clientUrls: string[];
      clientUrl: string;
    };
    expect(outputs.versions).toEqual({ "nats-a": OLD_MINOR, "nats-b": OLD_MINOR, "nats-c": OLD_MINOR });
    expect(outputs.clientUrls).toEqual(members.map((m) => `nats://127.0.0.1:${m.clientPort}`));
    expect(outputs.clientUrl).toBe(outputs.clientUrls.join(","));
  });

  it("after `config set version`, preview prints the per-member plan and touches nothing", async () => {
    await pulumi("config", "set", "nats-cluster:version", NEW_MINOR);
    const out = await pulumi("preview");
    expect(out).toContain(`Rollout to nats-server ${NEW_MINOR}`);
    expect(out).toMatch(/surge-up\s+nats-surge/);
    const [from, to] = [OLD_MINOR, NEW_MINOR].map((v) => v.replace(/\./g, "\\."));
    for (const m of members) expect(out).toMatch(new RegExp(`restart-member\\s+${m.name}\\s+${from} → ${to}`));
    expect(out).toMatch(/surge-down\s+nats-surge/);
    expect(out).toMatch(/RollingUpgrade nats-local-rollout update/);
    for (const m of members) expect((await varz(m)).version).toBe(OLD_MINOR);
  });

  it("up performs the rollout with live progress, kept out of the closing Diagnostics", async () => {
    // The operator's whole `pulumi up`: its preview phase too (the other tests' `up`s skip it).
    const out = await pulumi("up", "--yes", WITH_PREVIEW);
    // Each member's gates line appears live, once; the summary keeps the plan and the report, not the progress.
    expect(out.match(/restart-member: gates passed in [0-9.]+s \(ready [0-9.]+s, version [0-9.]+s/g)).toHaveLength(3);
    const summary = diagnosticsOf(out);
    expect(summary).toContain(`Rollout to ${NEW_MINOR}: SUCCEEDED`);
    expect(summary).not.toMatch(/gates passed in/);
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

  it("the same stack from another checkout, at another path, previews with no changes", async () => {
    const second = path.join(dir, "elsewhere", "another-clone");
    copyProject(second);
    fs.copyFileSync(
      path.join(project, "stacks", "Pulumi.local.yaml"),
      path.join(second, "stacks", "Pulumi.local.yaml"),
    );
    const out = await pulumiOk(dir, second, ["preview", "--stack", "local", "--expect-no-changes"]);
    expect(out).toMatch(/10 unchanged/);
    // And the state holds no path of either checkout.
    const state = await pulumi("stack", "export");
    expect(state).not.toContain(project);
  });

  it("a member killed behind Pulumi's back: preview shows its recovery without --refresh, up heals it", async () => {
    const victim = members[2];
    await driver.kill(victim);
    const preview = await pulumi("preview");
    expect(preview).toContain("the servers differ from the stack (drift)");
    expect(preview).toMatch(new RegExp(`recover-member\\s+${victim.name}\\s+${NEW_MINOR.replace(/\./g, "\\.")}`));
    const out = await pulumi("up", "--yes");
    console.log(`pulumi up after ${victim.name} was killed (issue 12, item 2):\n${diagnosticsOf(out)}`);
    expect(diagnosticsOf(out)).toMatch(new RegExp(`${victim.name}\\s+done .*was found down; serving again after`));
    recordPids();
    for (const m of members) expect((await varz(m)).version).toBe(NEW_MINOR);
    await pulumi("preview", "--expect-no-changes");
  });

  it("Ctrl-C during a rollout finishes the member in progress, keeps the surge server; the next up finishes", async () => {
    await pulumi("config", "set", "nats-cluster:version", OLD_MINOR);
    const up = pulumiSpawn(dir, project, ["up", "--yes"]);
    const deadline = Date.now() + 120_000;
    while (!/restart-member: (upgrade|downgrade|lame duck)/.test(up.output()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    up.child.kill("SIGINT"); // what Ctrl-C sends the CLI
    const code = await up.exit;
    const out = up.output();
    console.log(`pulumi up interrupted by Ctrl-C (issue 12, item 4):\n${diagnosticsOf(out)}`);
    expect(code).not.toBe(0);
    expect(out).toContain("the rollout was INTERRUPTED");
    expect(out).toMatch(/INTERRUPTED before restart-member nats-\w: stopped on request \(Ctrl-C/);
    expect(out).toContain("run the same command again (`pulumi up`) to resume");
    recordPids();
    const versions = await Promise.all(members.map(async (m) => (await varz(m)).version));
    expect(versions.filter((v) => v === OLD_MINOR)).toHaveLength(1); // the member in progress, finished
    expect(await driver.isRunning(surge)).toBe(true); // still carrying clients

    const resumed = await pulumi("up", "--yes");
    expect(diagnosticsOf(resumed)).toMatch(/already running \(interrupted rollout\): adopted/);
    expect(diagnosticsOf(resumed)).toContain(`Rollout to ${OLD_MINOR}: SUCCEEDED`);
    recordPids();
    for (const m of members) expect((await varz(m)).version).toBe(OLD_MINOR);
    expect(await driver.isRunning(surge)).toBe(false);
  });

  it("a malformed secret is refused naming the key, without printing it or a stack trace", async () => {
    const malformed = `{"users":[{"user":"app","password":"${SECRET_PASSWORD}"}`; // one closing brace short
    await pulumi("config", "set", "--secret", "nats-cluster:auth", malformed);
    const result = await pulumiIn(dir, project, ["preview"]);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("nats-cluster:auth: expected an object, got text that is not valid JSON");
    expect(result.output).not.toContain(SECRET_PASSWORD);
    expect(result.output).not.toMatch(/\n\s+at .*\.(ts|js):\d+/); // no stack trace
    expect(result.output).not.toMatch(/problems:|StackConfigError/);
    // eslint-disable-next-line no-control-regex -- looking for colour codes is the point
    expect(result.output).not.toMatch(/\u001b\[/); // no colour codes when the output is not a terminal
    await pulumi("config", "set", "--secret", "nats-cluster:auth", JSON.stringify({ token: TOKEN }));
  });

  it("destroy stops every process and removes the servers' directories", async () => {
    recordPids();
    expect(pids.size).toBeGreaterThanOrEqual(3);
    await pulumi("destroy", "--yes");
    expect(pids.alive()).toEqual([]);
    for (const m of members) expect(fs.existsSync(driver.dir(m))).toBe(false);
  });
});

describeEngine("a first up with a port already taken", () => {
  let dir: string;
  let project: string;
  let members: ServerEndpoint[];
  let surge: ServerEndpoint;
  let driver: LocalProcessDriver;
  let holder: net.Server | undefined;

  beforeAll(async () => {
    ({ dir, project } = projectCopy("nats-pulumi-port-"));
    ({ members, surge } = await loopbackServers());
    const stateDir = path.join(dir, "servers");
    writeStack(project, "ports", { version: OLD_MINOR, members, surge, ...FAST, local: { stateDir } });
    driver = new LocalProcessDriver({ stateDir, binaries: noDriverBinaries });
  }, 120_000);

  afterAll(async () => {
    holder?.close();
    if (!dir) return;
    for (const s of [...members, surge]) await driver.kill(s).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("is refused before any member starts, naming the member, the port and the fix; then up works", async () => {
    const taken = members[1];
    holder = net.createServer();
    await new Promise<void>((resolve) => holder!.listen(taken.clientPort, "127.0.0.1", resolve));
    await pulumiOk(dir, project, ["stack", "init", "ports"]);
    const refused = await pulumiIn(dir, project, ["up", "--yes"]);
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain(
      `${taken.name}.clientPort: 127.0.0.1:${taken.clientPort} is already in use by another process; stop it or give this server another port`,
    );
    expect(refused.output).toContain("nothing was started");
    for (const m of members) expect(await driver.isRunning(m)).toBe(false);

    await new Promise<void>((resolve) => holder!.close(() => resolve()));
    holder = undefined;
    await pulumiOk(dir, project, ["up", "--yes"]);
    for (const m of members) expect((await varz(m)).version).toBe(OLD_MINOR);
    await pulumiOk(dir, project, ["destroy", "--yes"]);
    for (const m of members) expect(await driver.isRunning(m)).toBe(false);
  });
});
