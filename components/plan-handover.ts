/**
 * The plan a provider's `check` made, handed to the `diff` Pulumi calls next for the same resource in the same
 * process, so one preview observes the servers once: both rollout resources (RollingUpgrade, SuperclusterRollout)
 * plan in `check` (the plan document `pulumi preview --json` shows is an input, and only `check` may set inputs)
 * and print the plan in `diff`. Taken once, only while fresh and only for the same key (what the plan depends on),
 * and dropped by `create` and `update`. Kept on `globalThis`: a dynamic provider's functions are serialized one by
 * one, so a module-level variable would not be shared between them.
 */

/** How long a plan `check` made is `diff`'s to take (the two are called in turn; this is ample). */
export const PLAN_HANDOVER_FRESH_MS = 60_000;

interface HandedOver<P> {
  readonly key: string;
  readonly plan: P;
  /** When `check` made it (ms since the epoch). */
  readonly at: number;
}

export interface PlanHandover<P> {
  /** Keep `plan`, made for `key`, for the next `take` of `name`. */
  put(name: string, key: string, plan: P): void;
  /** The plan kept for `name` if it was made for `key` and is fresh; either way, nothing is kept after. */
  take(name: string, key: string): P | undefined;
  /** Forget what is kept for `name` (create and update plan from the servers themselves). */
  drop(name: string): void;
}

/** The handover kept under `slot` on `globalThis` (one slot per resource type). */
export function planHandover<P>(slot: string, now: () => number = Date.now): PlanHandover<P> {
  const all = (): Record<string, HandedOver<P>> => {
    const g = globalThis as unknown as Record<string, Record<string, HandedOver<P>> | undefined>;
    return (g[slot] ??= {});
  };
  return {
    put: (name, key, plan) => {
      all()[name] = { key, plan, at: now() };
    },
    take: (name, key) => {
      const entry = all()[name];
      delete all()[name];
      const fresh = entry !== undefined && now() - entry.at < PLAN_HANDOVER_FRESH_MS;
      return fresh && entry.key === key ? entry.plan : undefined;
    },
    drop: (name) => {
      delete all()[name];
    },
  };
}
