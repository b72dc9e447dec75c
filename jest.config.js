/**
 * Jest runs the TypeScript tests directly through ts-jest; real nats-server processes make tests slow, hence the
 * generous timeout. This is the full suite (`npm test`, `bash scripts/test.sh`, CI): every *.test.ts under test/, both
 * tiers. jest.unit.config.js (`npm run test:unit`) runs the unit tier alone; test/tiers.js says which file is which.
 */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  // Transpile only (tsconfig.json sets isolatedModules, so ts-jest compiles each file alone). A type-checking ts-jest
  // builds the whole program in every worker for every file, about 14 s of CPU each: 68 files on 2 cores was the
  // largest single cost of the suite. The types are checked once instead, by `tsc -p tsconfig.test.json --noEmit` (scripts/test.sh runs it
  // before jest, and fails the run on a type error).
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.test.json" }] },
  // Longest file first, from jest's own cache or, on a machine that never ran the suite, test/durations.json.
  testSequencer: "<rootDir>/test/support/sequencer.js",
  // The examples import the package by name (examples/*/index.ts); run under mocks here, that is its source.
  moduleNameMapper: { "^nats-cluster$": "<rootDir>/components/index.ts" },
  // Holds the unit tier's files to its promise (no process, no socket), here as in the unit tier; others untouched.
  setupFilesAfterEnv: ["<rootDir>/test/support/unit-guard.ts"],
  testTimeout: 120000,
  verbose: true,
};
