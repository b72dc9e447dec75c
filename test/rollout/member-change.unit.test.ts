/**
 * What the planner says a running member needs (engine/rollout/plan.ts `memberChange`): the kind of step and the
 * reason the preview prints beside it. A version change and a setting changed together restart the member once, and
 * the reason names both, so the preview does not hide the setting behind the version.
 */
import { configTextFor } from "../../engine/config/text";
import { memberChange } from "../../engine/rollout/plan";
import { sampleSpec } from "../support/sample-spec";
import { FakeHosts } from "../support/fakes/fake-hosts";

const driver = new FakeHosts();
const at = (version: string, overrides = {}) => sampleSpec("vm", { version, ...overrides });
const [n1] = at("2.15.2").members;
const configOf = (spec: ReturnType<typeof at>) => configTextFor(spec, n1, driver);

describe("memberChange", () => {
  it("a version change alone: the direction and the versions, nothing about the config", () => {
    const running = { version: "2.15.2", configText: configOf(at("2.15.2")) };
    const target = at("2.14.9");
    // The rendered config names no version: a version bump leaves it as it is.
    expect(configOf(target)).toBe(running.configText);
    expect(memberChange(target, running, configOf(target))).toEqual({
      kind: "restart-member",
      reason: "downgrade 2.15.2 → 2.14.9",
    });
    expect(memberChange(at("2.16.0"), running, configOf(at("2.16.0")))?.reason).toBe("upgrade 2.15.2 → 2.16.0");
  });

  it("a version change with a config change: one restart, and the reason says the config changes too", () => {
    const running = { version: "2.15.2", configText: configOf(at("2.15.2")) };
    const target = at("2.14.9", { jetstream: { enabled: false } });
    expect(configOf(target)).not.toBe(running.configText);
    expect(memberChange(target, running, configOf(target))).toEqual({
      kind: "restart-member",
      reason: "downgrade 2.15.2 → 2.14.9, and a config change by the same restart",
    });
  });

  it("a config it could not read is not called a change", () => {
    const target = at("2.14.9");
    expect(memberChange(target, { version: "2.15.2", configText: undefined }, configOf(target))?.reason).toBe(
      "downgrade 2.15.2 → 2.14.9",
    );
  });

  it("the same config at a new setting alone is a restart for the setting", () => {
    const running = { version: "2.15.2", configText: configOf(at("2.15.2")) };
    const target = at("2.15.2", { jetstream: { enabled: false } });
    expect(memberChange(target, running, configOf(target))?.reason).toMatch(/^config change that needs a restart/);
  });
});
