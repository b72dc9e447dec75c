/**
 * Jest runs the TypeScript tests directly through ts-jest; real nats-server processes make tests slow, hence the
 * generous timeout. This is the full suite (`npm test`, `bash scripts/test.sh`, CI): every *.test.ts under test/, both
 * tiers. jest.unit.config.js (`npm run test:unit`) runs the unit tier alone; test/tiers.js says which file is which.
 */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.test.json" }] },
  // Holds the unit tier's files to its promise (no process, no socket), here as in the unit tier; others untouched.
  setupFilesAfterEnv: ["<rootDir>/test/support/unit-guard.ts"],
  testTimeout: 120000,
  verbose: true,
};
