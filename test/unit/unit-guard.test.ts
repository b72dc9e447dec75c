/**
 * The unit tier's guard (test/support/unit-guard.ts) is in force in this file, as in every unit test file: starting a
 * process or opening a socket throws and says why, instead of reaching a server or slowing the tier down.
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";

const { UNIT_TEST_FILE } = require("../tiers") as { UNIT_TEST_FILE: RegExp };

describe("unit tier guard", () => {
  it("refuses to start a process", () => {
    expect(() => execFileSync("true")).toThrow(/unit tier: child_process\.execFileSync\(\) \(starting a process\)/);
    expect(() => execFile("true")).toThrow(/unit tier: child_process\.execFile\(\)/);
    expect(() => spawn("nats-server", ["--version"])).toThrow(/is an integration test/);
  });

  it("refuses to open a socket, as a server or as a client", () => {
    expect(() => http.createServer().listen(0, "127.0.0.1")).toThrow(/unit tier: a server listen/);
    expect(() => net.connect(4222, "127.0.0.1")).toThrow(/unit tier: a socket connect/);
  });

  it("knows the unit files by name (test/tiers.js)", () => {
    const at = (rel: string) => UNIT_TEST_FILE.test(path.join(__dirname, "..", "..", rel));
    expect(at("test/rollout/plan.unit.test.ts")).toBe(true);
    expect(at("test/unit/guard.test.ts")).toBe(true);
    expect(at("test/unit/rollout/halt.test.ts")).toBe(true);
    expect(at("test/rollout/unit-halt.test.ts")).toBe(true);
    expect(at("test/unit-versions.test.ts")).toBe(true);
    expect(at("test/rollout/upgrade.test.ts")).toBe(false);
    expect(at("test/rollout/community.test.ts")).toBe(false);
    expect(at("test/support/unit-guard.ts")).toBe(false);
  });
});
