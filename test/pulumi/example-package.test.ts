/**
 * The package as another program gets it (issue 18 item 1): `npm pack` of this repository, then examples/local-cluster
 * copied into a temp directory beside the tarball (its package.json names `file:../../nats-cluster-<v>.tgz`), its
 * dependencies installed by npm (the tarball, and @pulumi/pulumi & co. from npm's cache or the registry), and its own
 * local stack driven by the real Pulumi CLI with a file backend of its own:
 * - the tarball ships the compiled components, engine and command line with their declarations, and no tests or
 *   TypeScript sources;
 * - `preview` plans the cluster, `up` starts 3 nats-server processes that answer /healthz at the version asked for,
 *   and the stack outputs say where they are; the engine the providers ran is the installed package's (nothing of
 *   this repository is reachable from the temp directory, and the state's provider code requires the package by
 *   name), and no path of this machine is in state but the servers' directory the stack config names;
 * - the component renamed with an alias (`aliases` in its options): `preview` shows no change;
 * - `destroy` stops every server.
 * Skipped, with the reason printed, when the Pulumi engine is missing.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { staleBuildProblem } from "../../components/build-stamp";
import { LocalProcessDriver } from "../../engine/hosts/local";
import { MonitorClient } from "../../engine/monitor/client";
import { monitorUrl, ServerEndpoint } from "../../engine/spec";
import { OLD_MINOR } from "../support/versions";
import { engineUnavailable, loopbackServers, pulumiIn, pulumiOk, REPO } from "./support/pulumi-project";
import { OwnedPids } from "../support/owned-pids";

const run = promisify(execFile);
const PASSWORD = "example-test-password-91c3e0";

const unavailable = engineUnavailable();
if (unavailable)
  console.warn(`test/pulumi/example-package.test.ts SKIPPED: the real Pulumi engine is not available: ${unavailable}`);
const describeEngine = unavailable ? describe.skip : describe;

const packageJson = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as {
  name: string;
  version: string;
};
const TARBALL = `${packageJson.name}-${packageJson.version}.tgz`;

describeEngine("examples/local-cluster, using the packed package, through the real Pulumi engine", () => {
  let dir: string;
  let project: string;
  let members: ServerEndpoint[];
  let surge: ServerEndpoint;
  let driver: LocalProcessDriver;
  let stackMade = false;
  /** Every server seen, for the teardown and the destroy test (killed only while still itself: owned-pids.ts). */
  const pids = new OwnedPids();
  const pulumi = (...args: string[]) => pulumiOk(dir, project, args);
  const recordPids = () => [...members, surge].forEach((s) => pids.add(driver.pid(s)));

  beforeAll(async () => {
    // `npm pack` runs `npm run build` (prepack); here the suite has built already (scripts/test.sh), and rebuilding
    // dist/ under the other test files running beside this one could hand them half-written files: pack what is
    // built, after checking it is current.
    delete process.env.NATS_CLUSTER_ENGINE; // the override would bypass the package's own engine
    const stale = staleBuildProblem(REPO);
    if (stale) throw new Error(`this test packs dist/ as it is: ${stale}`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-example-package-"));
    for (const d of ["state", "home"]) fs.mkdirSync(path.join(dir, d));
    await run("npm", ["pack", "--ignore-scripts", "--pack-destination", dir], { cwd: REPO });
    project = path.join(dir, "examples", "local-cluster");
    fs.cpSync(path.join(REPO, "examples", "local-cluster"), project, { recursive: true });
    // From npm's cache where it has them (`npm ci` of this repository put most there), else from the registry.
    const started = Date.now();
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], {
      cwd: project,
      maxBuffer: 16 * 1024 * 1024,
      timeout: 540_000,
    });
    console.log(`examples/local-cluster: npm install took ${Math.round((Date.now() - started) / 1000)} s`);

    ({ members, surge } = await loopbackServers());
    const stateDir = path.join(dir, "servers");
    const stack = [
      "config:",
      `  local-cluster:version: ${OLD_MINOR}`,
      "  local-cluster:clusterName: nats-example",
      `  local-cluster:stateDir: ${stateDir}`,
      `  local-cluster:members: ${JSON.stringify(members)}`,
      `  local-cluster:surge: ${JSON.stringify(surge)}`,
    ];
    fs.writeFileSync(path.join(project, "Pulumi.local.yaml"), `${stack.join("\n")}\n`);
    driver = new LocalProcessDriver({ stateDir, binaries: { resolve: () => Promise.reject(new Error("unused")) } });
  }, 600_000);

  afterAll(async () => {
    if (!dir) return;
    if (stackMade) await pulumiIn(dir, project, ["destroy", "--yes", "--stack", "local"]);
    if (driver) recordPids();
    pids.killAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it("the tarball holds the compiled components, engine and command line, with declarations; no tests or sources", async () => {
    const { stdout } = await run("tar", ["-tzf", path.join(dir, TARBALL)], { maxBuffer: 16 * 1024 * 1024 });
    const files = stdout.split("\n").filter(Boolean);
    for (const f of [
      "package/package.json",
      "package/dist/components/index.js",
      "package/dist/components/index.d.ts",
      "package/dist/components/nats-cluster.d.ts",
      "package/dist/engine/index.js",
      "package/dist/engine/hosts/local/index.js",
      "package/dist/components/platforms/aws/index.js",
      "package/dist/cli/nats-rollout.js",
    ])
      expect(files).toContain(f);
    expect(files.filter((f) => /\/test\/|\.test\.|(?<!\.d)\.ts$|\.map$|dist\/(bench|scripts)\//.test(f))).toEqual([]);
  });

  it("the example's package is the installed tarball, its engine inside it", () => {
    const installed = path.join(project, "node_modules", "nats-cluster");
    expect(fs.lstatSync(installed).isSymbolicLink()).toBe(false);
    expect(fs.existsSync(path.join(installed, "dist", "engine", "index.js"))).toBe(true);
    expect(fs.existsSync(path.join(installed, "engine"))).toBe(false);
  });

  it("the example type-checks against the package's declarations", async () => {
    await run(path.join(project, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json", "--noEmit"], { cwd: project });
  });

  it("preview plans the cluster: 3 servers with their processes, the certificates, the RollingUpgrade", async () => {
    await pulumi("stack", "init", "local");
    stackMade = true;
    await pulumi("config", "set", "--secret", "appPassword", PASSWORD);
    const out = await pulumi("preview");
    expect(out).toMatch(/NatsCluster nats create/);
    for (const m of members) expect(out).toMatch(new RegExp(`LocalNatsProcess nats-${m.name}-process create`));
    expect(out).toMatch(/ClusterCertificates nats-certificates create/);
    expect(out).toMatch(/RollingUpgrade nats-rollout create/);
    for (const m of members) expect(await driver.isRunning(m)).toBe(false);
  });

  it("up starts 3 members that answer /healthz at the version asked for; the outputs say where", async () => {
    const out = await pulumi("up", "--yes");
    expect(out).toContain(`Start of the cluster at ${OLD_MINOR}: SUCCEEDED`);
    recordPids();
    for (const m of members) {
      const health = await fetch(`${monitorUrl(m)}/healthz`);
      expect(`${m.name}: ${health.status}`).toBe(`${m.name}: 200`);
      expect((await new MonitorClient(monitorUrl(m)).varz()).version).toBe(OLD_MINOR);
    }
    // caPem is public but derived from the secret TLS material, so Pulumi keeps it secret: shown on request.
    const shown = await pulumi("stack", "output", "--json", "--show-secrets");
    expect(shown).not.toContain(PASSWORD);
    const outputs = JSON.parse(shown) as Record<string, unknown>;
    expect(outputs.clientUrls).toEqual(members.map((m) => `nats://127.0.0.1:${m.clientPort}`));
    expect(outputs.monitorUrls).toEqual(members.map((m) => `http://127.0.0.1:${m.monitorPort}`));
    expect(outputs.versions).toEqual(Object.fromEntries(members.map((m) => [m.name, OLD_MINOR])));
    expect(outputs.caPem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(outputs.lastRolloutReport).toContain(`Start of the cluster at ${OLD_MINOR}: SUCCEEDED`);
    const state = await pulumi("stack", "export");
    expect(state).not.toContain(PASSWORD);
    // The providers' code names the package, resolved from the project when it runs; the only path of this machine
    // in state is the servers' directory, which the stack config names.
    expect(state).toContain('require(\\"nats-cluster/dist/components/engine-module.js\\")');
    expect(state.split(path.join(dir, "servers")).join("")).not.toContain(dir);
  });

  it("renamed with an alias in its options, the cluster previews with no change", async () => {
    await pulumi("config", "set", "resourceName", "nats-renamed");
    await pulumi("config", "set", "previousResourceName", "nats");
    const out = await pulumi("preview", "--expect-no-changes");
    expect(out).toMatch(/10 unchanged/);
    // Without the alias, the same rename would replace every resource: the alias is what keeps them.
    await pulumi("config", "rm", "previousResourceName");
    const renamedOnly = await pulumiIn(dir, project, ["preview", "--expect-no-changes"]);
    expect(renamedOnly.code).not.toBe(0);
    expect(renamedOnly.output).toMatch(/RollingUpgrade nats-renamed-rollout create/);
    await pulumi("config", "rm", "resourceName");
  });

  it("destroy stops every server", async () => {
    await pulumi("destroy", "--yes");
    stackMade = false;
    expect(pids.alive()).toEqual([]);
    for (const m of members) expect(await driver.isRunning(m)).toBe(false);
  });
});
