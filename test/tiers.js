/**
 * Which tier a test file is in, decided by its name alone, so a new file falls into its tier by itself. A test file
 * is a UNIT test when its path in the repo is
 *   test/**\/*.unit.test.ts    (beside the integration tests of the same part: test/rollout/plan.unit.test.ts)
 *   test/unit/**\/*.test.ts    (a folder of unit tests)
 *   test/**\/unit-*.test.ts    (test/rollout/unit-halt.test.ts)
 * Every other *.test.ts is an INTEGRATION test (real nats-server processes, openssl, sshd, the lab, the Pulumi CLI).
 *
 * A unit test runs in the jest process alone: it starts no process and opens no socket (no server, no client, not
 * even on loopback), needs no root, and takes milliseconds. test/support/unit-guard.ts holds every unit file to that
 * in both configs. Used by jest.unit.config.js (`npm run test:unit`: the unit files only) and jest.config.js (`npm
 * test`, `bash scripts/test.sh`, CI: every file, both tiers).
 */
const path = require("node:path");

const repo = path.resolve(__dirname, "..");
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Matches the absolute path of a unit test file (jest's testRegex is matched against absolute paths). */
const UNIT_TEST_FILE = new RegExp(`^${escape(repo)}/test/(?:unit/.+|.+\\.unit|(?:.+/)?unit-[^/]+)\\.test\\.ts$`);

module.exports = { UNIT_TEST_FILE };
