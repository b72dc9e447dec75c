/**
 * Which watch streams a rollout deletes before it makes its own: only the watch's (by prefix), only those made more
 * than a day ago by the time in their names, never one that does not parse. Pure: no server.
 */
import { WATCH_STREAM_LEFTOVER_MS, WATCH_STREAM_PREFIX } from "../../engine/defaults";
import { leftoverWatchStreams } from "../../engine/rollout/publish-watch";

/** A name as PublishWatch.start() makes one at `at`. */
const watchStream = (at: number) => `${WATCH_STREAM_PREFIX}${at.toString(36).toUpperCase()}_4242_ABC123`;

test("a watch stream over a day old is a leftover; one of a rollout still running is not", () => {
  const now = Date.UTC(2026, 11, 7, 4, 0, 0);
  const old = watchStream(now - WATCH_STREAM_LEFTOVER_MS - 60_000);
  const running = watchStream(now - 3 * 60 * 60 * 1000);
  const justUnder = watchStream(now - WATCH_STREAM_LEFTOVER_MS + 1000);
  expect(leftoverWatchStreams([old, running, justUnder], now)).toEqual([old]);
});

test("other streams, and watch-like names that do not parse, are never touched", () => {
  const now = Date.UTC(2026, 11, 7, 4, 0, 0);
  const names = ["ORDERS", "NATS_ROLLOUT_WATCHER", `${WATCH_STREAM_PREFIX}`, `${WATCH_STREAM_PREFIX}!!_1_2`];
  expect(leftoverWatchStreams(names, now)).toEqual([]);
});
