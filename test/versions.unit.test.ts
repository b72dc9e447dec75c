import { compareVersions, downgradeProblem, parseVersion, versionProblem } from "../engine/versions";
import { NATS_VERSIONS } from "./support/versions";

describe("parseVersion / compareVersions", () => {
  test("parses MAJOR.MINOR.PATCH", () => {
    expect(parseVersion("2.15.2")).toEqual({ major: 2, minor: 15, patch: 2 });
    expect(parseVersion("2.12.0-RC.1")).toEqual({ major: 2, minor: 12, patch: 0, prerelease: "RC.1" });
  });

  test("refuses a leading v with the fix, and other garbage", () => {
    expect(() => parseVersion("v2.15.2")).toThrow('"v2.15.2" is not a version; write 2.15.2');
    expect(versionProblem("2.15.2")).toBeUndefined();
    expect(versionProblem(undefined)).toMatch(/no nats-server version/);
    expect(() => parseVersion("2.15")).toThrow(/MAJOR\.MINOR\.PATCH/);
    expect(() => parseVersion("")).toThrow();
  });

  test("compares numerically, not as text; a pre-release sorts before its release", () => {
    expect(compareVersions("2.9.22", "2.10.0")).toBeLessThan(0);
    expect(compareVersions("2.15.10", "2.15.2")).toBeGreaterThan(0);
    expect(compareVersions("2.15.2", "2.15.2")).toBe(0);
    expect(compareVersions("2.12.0-RC.1", "2.12.0")).toBeLessThan(0);
    // Numeric pre-release identifiers compare as numbers (semver §11): RC.9 before RC.10.
    expect(compareVersions("2.12.0-RC.9", "2.12.0-RC.10")).toBeLessThan(0);
    expect(compareVersions("2.12.0-RC.10", "2.12.0-RC.9")).toBeGreaterThan(0);
    expect(["2.15.2", "2.9.22", "2.14.9", "2.15.1"].sort(compareVersions)).toEqual([
      "2.9.22",
      "2.14.9",
      "2.15.1",
      "2.15.2",
    ]);
  });
});

describe("downgradeProblem", () => {
  test.each([
    ["upgrade", "2.14.9", "2.15.2"],
    ["same version", "2.15.2", "2.15.2"],
    ["patch downgrade in one line", "2.15.2", "2.15.1"],
    ["one line back, no boundary (2.15 → 2.14)", "2.15.2", "2.14.9"],
    ["one line back, no boundary (2.14 → 2.13)", "2.14.9", "2.13.0"],
    ["2.10 → 2.9 at 2.9.22", "2.10.7", "2.9.22"],
    ["2.12 → 2.11 at 2.11.9", "2.12.1", "2.11.9"],
  ])("%s is fine", (_label, from, to) => {
    expect(downgradeProblem(from, to)).toBeUndefined();
  });

  test.each([
    ["2.10 → 2.9 below 2.9.22", "2.10.7", "2.9.21", /2\.9\.22/],
    ["2.11 → 2.10 (stream state rebuilt)", "2.11.1", "2.10.26", /rebuilds every stream/],
    ["2.12 → 2.11 below 2.11.9", "2.12.1", "2.11.8", /2\.11\.9/],
    ["2.14 → 2.12 (feature_flags)", "2.14.9", "2.12.5", /feature_flags/],
    [
      "2.15 → 2.13 (support policy)",
      "2.15.2",
      "2.13.0",
      /support policy covers only the current release and one prior/,
    ],
    ["major version", "3.0.0", "2.15.2", /major/],
  ])("%s is refused", (_label, from, to, reason) => {
    const problem = downgradeProblem(from, to);
    expect(problem).toMatch(reason);
    expect(problem).toContain(`${from} → ${to}`);
  });

  test("a downgrade over several lines names every boundary and the policy", () => {
    const problem = downgradeProblem("2.14.9", "2.12.5") ?? "";
    expect(problem).toMatch(/feature_flags/);
    expect(problem).toMatch(/support policy/);
    const far = downgradeProblem("2.12.3", "2.9.25") ?? "";
    expect(far).toMatch(/2\.11\.9/);
    expect(far).toMatch(/rebuilds every stream/);
  });

  test("every downgrade between the pinned versions is allowed", () => {
    for (const from of NATS_VERSIONS) {
      for (const to of NATS_VERSIONS) expect([from, to, downgradeProblem(from, to)]).toEqual([from, to, undefined]);
    }
  });
});
