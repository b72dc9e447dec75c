/**
 * The unit tier's promise, enforced (both jest configs load this before each test file; test/tiers.js says which
 * files are unit tests). A unit test runs in the jest process alone: it starts no process (nats-server, openssl, sh,
 * the Pulumi CLI, …) and opens no socket (no server, no client, not even on loopback), so it needs nothing but Node.js
 * and the npm packages and takes milliseconds. In a unit test file every way to do either throws, naming the file: a
 * file that is a unit test by its name but needs more fails at once with the reason, in `npm run test:unit` and in the
 * full suite alike. Integration test files are left alone. Everything is put back after the file.
 */
const { UNIT_TEST_FILE } = require("../tiers") as { UNIT_TEST_FILE: RegExp };
// The real module objects (an `import * as` would be a copy): what the code under test calls at run time.
const childProcess = require("node:child_process") as Record<string, unknown>;
const net = require("node:net") as typeof import("node:net");

const testFile = expect.getState().testPath ?? "";

if (UNIT_TEST_FILE.test(testFile)) {
  const refuse = (what: string) => (): never => {
    throw new Error(
      `unit tier: ${what} in ${testFile}. A unit test starts no process and opens no socket; a test that needs ` +
        "one is an integration test: name it *.test.ts, not *.unit.test.ts (see test/tiers.js).",
    );
  };
  const patched: Array<[Record<string, unknown>, string, unknown]> = [];
  const replace = (target: Record<string, unknown>, name: string, what: string) => {
    patched.push([target, name, target[name]]);
    target[name] = refuse(what);
  };
  for (const fn of ["spawn", "spawnSync", "exec", "execSync", "execFile", "execFileSync", "fork"]) {
    replace(childProcess, fn, `child_process.${fn}() (starting a process)`);
  }
  replace(net.Socket.prototype as unknown as Record<string, unknown>, "connect", "a socket connect (a network client)");
  replace(net.Server.prototype as unknown as Record<string, unknown>, "listen", "a server listen (a network server)");

  afterAll(() => {
    for (const [target, name, original] of patched.reverse()) target[name] = original;
  });
}
