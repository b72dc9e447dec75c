/**
 * How long the executor waits, holds and pauses outside the policy's own settings. One object, so the unit tests
 * (test/unit/) can run every branch in milliseconds against fake hosts with a pace of zeros; a real rollout always
 * runs at {@link REAL_PACE}.
 */
import { FINAL_CHECK_DEADLINE_MS, PREFLIGHT_DEADLINE_MS } from "../defaults";

/** How long a member may take to look whole again before the check fails (a blip must not halt a rollout). */
export const CLUSTER_CHECK_DEADLINE_MS = 20_000;
/**
 * The check holds every other member's gates green this long, not one look: a member cut off by a network that
 * drops its packets still shows its routes and stays `current` at the meta leader for seconds (measured on the lab:
 * `current=true` for 8-10 s after a silent partition began, `active` growing), so a single look taken just after
 * the cut passes and the next member's lame duck leaves the cluster without a quorum. Over the hold, the client
 * probe (a message through the member must reach another) and the leader's `active` catch it.
 */
export const CLUSTER_CHECK_HOLD_MS = 3000;
/** A watch that ended longer ago than this says nothing about now. */
export const CLUSTER_WATCH_FRESH_MS = 2000;
/** How often the cluster watch looks (each look: every watched member's ready, routes, JetStream and probe gates). */
export const CLUSTER_WATCH_POLL_MS = 1000;

export interface RolloutPace {
  readonly clusterCheckDeadlineMs: number;
  readonly clusterCheckHoldMs: number;
  readonly clusterWatchFreshMs: number;
  readonly clusterWatchPollMs: number;
  readonly preflightDeadlineMs: number;
  readonly finalCheckDeadlineMs: number;
  /** Between the few looks at a server that did not answer (is the surge server, another member, really down?). */
  readonly lookAgainMs: number;
  /** After the surge server left: members drop their routes to it before the final check reads /routez. */
  readonly routesDropMs: number;
}

export const REAL_PACE: RolloutPace = {
  clusterCheckDeadlineMs: CLUSTER_CHECK_DEADLINE_MS,
  clusterCheckHoldMs: CLUSTER_CHECK_HOLD_MS,
  clusterWatchFreshMs: CLUSTER_WATCH_FRESH_MS,
  clusterWatchPollMs: CLUSTER_WATCH_POLL_MS,
  preflightDeadlineMs: PREFLIGHT_DEADLINE_MS,
  finalCheckDeadlineMs: FINAL_CHECK_DEADLINE_MS,
  lookAgainMs: 1000,
  routesDropMs: 200,
};
