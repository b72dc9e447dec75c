/**
 * The unit tier, `npm run test:unit`: the test files that test/tiers.js calls unit tests (named *.unit.test.ts, or
 * under test/unit/, or named unit-*.test.ts). No nats-server, no other process, no socket, no root, no lab, no Pulumi
 * CLI: they need only Node.js and the npm packages (`bash scripts/provision.sh --for unit` installs just those) and
 * all run in well under a minute. The full suite (jest.config.js) runs them too, with every integration test.
 */
const { testMatch: _everyTestFile, ...base } = require("./jest.config");
const { UNIT_TEST_FILE } = require("./test/tiers");

module.exports = {
  ...base,
  testRegex: UNIT_TEST_FILE.source,
  // A unit test takes milliseconds; a wait this long is a hang or a test of the other tier.
  testTimeout: 30000,
};
