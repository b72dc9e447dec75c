/**
 * The order jest hands test files to its workers: longest first, so that no long file starts last and keeps the run
 * going alone at the end (jest's workers take the next file as they free up: longest-first list scheduling).
 *
 * Jest orders by the durations it cached from the previous run on this machine, and without them (a fresh clone, CI)
 * by file size, which put the lab's 8-minute file 21st of 68 and the 4-minute fault matrix last: the suite's wall
 * time then depended on whether the machine had run it before. A file jest has no time for takes its time from
 * test/durations.json, checked in and refreshed from a full run's results (`node scripts/test-durations.js`, see the
 * README's Tests section). A file in neither (a new one) runs first, as jest itself does, so it is never the tail.
 */
const fs = require("node:fs");
const path = require("node:path");
const Sequencer = require("@jest/test-sequencer").default;

const repo = path.resolve(__dirname, "..", "..");
const TABLE = path.join(repo, "test", "durations.json");

/** `{ "test/lab/lab-stack.test.ts": 473 }`, seconds by path in the repo; empty when the file is missing or unreadable. */
function recordedSeconds() {
  try {
    return JSON.parse(fs.readFileSync(TABLE, "utf8")).seconds ?? {};
  } catch {
    return {};
  }
}

class LongestFirstSequencer extends Sequencer {
  constructor(...args) {
    super(...args);
    this.recorded = recordedSeconds();
  }

  /** Jest's cached milliseconds when it has them, else the table's; undefined for a file in neither. */
  time(test) {
    const cached = super.time(test);
    if (cached != null) return cached;
    const seconds = this.recorded[path.relative(repo, test.path)];
    return seconds == null ? undefined : seconds * 1000;
  }
}

module.exports = LongestFirstSequencer;
