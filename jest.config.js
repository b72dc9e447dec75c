/** Jest runs the TypeScript tests directly through ts-jest; real nats-server processes make tests slow, hence the generous timeout. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.test.json" }] },
  testTimeout: 120000,
  verbose: true,
};
