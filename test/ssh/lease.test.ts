/**
 * The rollout lease on systemd hosts (engine/hosts/systemd/lease-script.ts) through SshHostDriver.lease, with a
 * fake transport that really runs each script in `sh` on this machine, each "host" in a directory of its own (the
 * script's absolute paths are moved under it). So the script's create-by-link, compare-the-id, replace and release
 * are tested as the shell does them, not as the driver hopes; every script must also parse as POSIX sh.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHostDriver } from "../../engine/hosts/ssh";
import { SshHostDriver } from "../../engine/hosts/ssh/driver";
import { leaseIdOf } from "../../engine/hosts/driver";
import { withRolloutLease } from "../../engine/rollout/lease";
import { leaseText } from "../../engine/rollout/lease-decision";
import { ClusterSpec, ServerEndpoint } from "../../engine/spec";
import { assertParses, FakeTransport } from "./support/fake-transport";
import { generateKeyPair } from "./support/local-sshd";

const ROOT = "/lease-test";
const names = ["nats-a", "nats-b", "nats-c"];
const member = (name: string): ServerEndpoint => ({
  name,
  host: "10.0.0.1",
  clientPort: 4222,
  clusterPort: 6222,
  monitorPort: 8222,
});
const spec = { name: "lab", members: names.map(member) } as unknown as ClusterSpec;

let tmp: string;
const scripts: string[] = [];

function sshDriver(): SshHostDriver {
  const transport = new FakeTransport();
  transport.reply = (command) => {
    scripts.push(command.script);
    const script = command.script.split(`${ROOT}/`).join(`${tmp}/${command.endpoint.server}/`);
    return execFileSync("sh", ["-s"], { input: script, encoding: "utf8" });
  };
  const settings = {
    hosts: Object.fromEntries(names.map((n, i) => [n, { address: `10.0.0.${i + 1}`, user: "root" }])),
    hostKeys: Object.fromEntries(names.map((n) => [n, generateKeyPair(n).publicKey])),
    paths: { dataDir: `${ROOT}/nats` },
  };
  return createHostDriver(settings, {}, transport) as SshHostDriver;
}

const leaseFile = (server: string) => path.join(tmp, server, "nats-rollout.lease");
const record = (id: string) => ({ id, owner: "ops@box", pid: 7, stack: "cli", startedAt: "2026-12-06T06:00:00Z" });

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nats-lease-"));
  for (const n of names) fs.mkdirSync(path.join(tmp, n));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));
afterAll(() => {
  expect(scripts.length).toBeGreaterThan(10);
  for (const script of new Set(scripts)) assertParses(script);
});

describe("the systemd lease script, run by sh", () => {
  it("creates only when there is no lease, beside the data directory, and reads it back with its age", async () => {
    const driver = sshDriver();
    const a = member("nats-a");
    expect(await driver.lease(a, { op: "read" })).toEqual({ done: false });
    const first = await driver.lease(a, { op: "create", text: leaseText(record("aa11")) });
    expect(first).toMatchObject({ done: true, text: leaseText(record("aa11")) });
    expect(first.ageSeconds).toBeLessThanOrEqual(1);
    expect(fs.readFileSync(leaseFile("nats-a"), "utf8")).toBe(leaseText(record("aa11")));
    const second = await driver.lease(a, { op: "create", text: leaseText(record("bb22")) });
    expect(second).toMatchObject({ done: false, text: leaseText(record("aa11")) });
    // No temp file is left behind by either.
    expect(fs.readdirSync(path.join(tmp, "nats-a"))).toEqual(["nats-rollout.lease"]);
  });

  it("replaces and releases only the lease that holds the expected id", async () => {
    const driver = sshDriver();
    const a = member("nats-a");
    await driver.lease(a, { op: "create", text: leaseText(record("aa11")) });
    expect((await driver.lease(a, { op: "replace", text: leaseText(record("bb22")), expectId: "cc33" })).done).toBe(
      false,
    );
    expect((await driver.lease(a, { op: "release", expectId: "bb22" })).done).toBe(false);
    const replaced = await driver.lease(a, { op: "replace", text: leaseText(record("bb22")), expectId: "aa11" });
    expect(replaced.done).toBe(true);
    expect(leaseIdOf(replaced.text)).toBe("bb22");
    expect(await driver.lease(a, { op: "release", expectId: "bb22" })).toEqual({ done: true });
    expect(fs.existsSync(leaseFile("nats-a"))).toBe(false);
  });

  it("ages the lease by the file's mtime on the host", async () => {
    const driver = sshDriver();
    const a = member("nats-a");
    await driver.lease(a, { op: "create", text: leaseText(record("aa11")) });
    const tenMinutesAgo = new Date(Date.now() - 600_000);
    fs.utimesSync(leaseFile("nats-a"), tenMinutesAgo, tenMinutesAgo);
    const read = await driver.lease(a, { op: "read" });
    expect(read.ageSeconds).toBeGreaterThanOrEqual(600);
    expect(read.ageSeconds).toBeLessThan(610);
  });

  it("lets one of two rollers hold the cluster; the other is refused naming it, and a stale one is broken on request", async () => {
    const first = sshDriver();
    const second = sshDriver();
    let refusal: unknown;
    await withRolloutLease({ spec, driver: first }, { stack: "nats/lab" }, async () => {
      for (const n of names) expect(fs.existsSync(leaseFile(n))).toBe(true);
      refusal = await withRolloutLease({ spec, driver: second }, { stack: "cli" }, async () => "ran");
    });
    expect(refusal).toMatchObject({ status: "refused", refusal: { code: "held" } });
    expect((refusal as { refusal: { message: string } }).refusal.message).toContain("stack nats/lab");
    for (const n of names) expect(fs.existsSync(leaseFile(n))).toBe(false);

    // A roller that died: its files are left, ten minutes old.
    for (const n of names) {
      fs.writeFileSync(leaseFile(n), leaseText(record("dead01")));
      const old = new Date(Date.now() - 600_000);
      fs.utimesSync(leaseFile(n), old, old);
    }
    const stale = await withRolloutLease({ spec, driver: second }, { stack: "cli" }, async () => "ran");
    expect(stale).toMatchObject({ status: "refused", refusal: { code: "stale" } });
    expect(leaseIdOf(fs.readFileSync(leaseFile("nats-a"), "utf8"))).toBe("dead01");
    const broken = await withRolloutLease(
      { spec, driver: second, breakLease: "dead01" },
      { stack: "cli" },
      async () => "ran",
    );
    expect(broken).toEqual({ status: "ran", result: "ran" });
    for (const n of names) expect(fs.existsSync(leaseFile(n))).toBe(false);
  });
});
