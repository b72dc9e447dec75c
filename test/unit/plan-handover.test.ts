/**
 * The plan a provider's check hands to the diff that follows (components/plan-handover.ts): taken once, only for
 * the key it was made for and only while fresh; dropped by create and update. Each resource type has its own slot.
 */
import { PLAN_HANDOVER_FRESH_MS, planHandover } from "../../components/plan-handover";

describe("planHandover", () => {
  let clock = 1_000_000;
  const now = () => clock;

  it("gives the plan to the next take with the same key, once", () => {
    const h = planHandover<string>("__testHandoverOnce", now);
    h.put("east", "key-1", "plan-1");
    expect(h.take("east", "key-1")).toBe("plan-1");
    expect(h.take("east", "key-1")).toBeUndefined();
  });

  it("never gives a plan made for other inputs, and forgets it", () => {
    const h = planHandover<string>("__testHandoverKey", now);
    h.put("east", "key-1", "plan-1");
    expect(h.take("east", "key-2")).toBeUndefined();
    expect(h.take("east", "key-1")).toBeUndefined();
  });

  it("never gives a stale plan", () => {
    const h = planHandover<string>("__testHandoverStale", now);
    h.put("east", "key-1", "plan-1");
    clock += PLAN_HANDOVER_FRESH_MS;
    expect(h.take("east", "key-1")).toBeUndefined();
  });

  it("keeps one plan per name; drop forgets one; two slots never mix, and a slot is shared by name", () => {
    const a = planHandover<string>("__testHandoverA", now);
    const b = planHandover<string>("__testHandoverB", now);
    a.put("east", "k", "a-east");
    a.put("west", "k", "a-west");
    b.put("east", "k", "b-east");
    a.drop("west");
    expect(a.take("west", "k")).toBeUndefined();
    // Another handle on the same slot (as each serialized provider function makes) sees the same plans.
    expect(planHandover<string>("__testHandoverA", now).take("east", "k")).toBe("a-east");
    expect(b.take("east", "k")).toBe("b-east");
  });
});
