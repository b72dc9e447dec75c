#!/usr/bin/env node
/**
 * Refreshes test/durations.json (the order test/support/sequencer.js gives jest on a machine that has not run the
 * suite before) from a full run's jest results:
 *
 *   npx jest --json --outputFile=/tmp/results.json && node scripts/test-durations.js /tmp/results.json
 *
 * Only the order matters (longest first), so the figures are rounded to whole seconds. Files the results do not cover
 * keep their recorded time; files that no longer exist are dropped.
 */
const fs = require("node:fs");
const path = require("node:path");

const repo = path.resolve(__dirname, "..");
const table = path.join(repo, "test", "durations.json");
const resultsFile = process.argv[2];
if (!resultsFile) {
  console.error("usage: node scripts/test-durations.js RESULTS.json  (from `npx jest --json --outputFile=RESULTS.json`)");
  process.exit(2);
}
const results = JSON.parse(fs.readFileSync(resultsFile, "utf8"));
const previous = fs.existsSync(table) ? (JSON.parse(fs.readFileSync(table, "utf8")).seconds ?? {}) : {};
const seconds = {};
for (const [file, s] of Object.entries(previous)) if (fs.existsSync(path.join(repo, file))) seconds[file] = s;
for (const r of results.testResults) {
  const file = path.relative(repo, r.name);
  seconds[file] = Math.max(1, Math.round((r.endTime - r.startTime) / 1000));
}
const sorted = Object.fromEntries(Object.entries(seconds).sort(([a, x], [b, y]) => y - x || a.localeCompare(b)));
const note = "Seconds per test file in a full run (bash scripts/test.sh); only the order is used. See scripts/test-durations.js.";
fs.writeFileSync(table, JSON.stringify({ note, seconds: sorted }, null, 2) + "\n");
console.log(`${Object.keys(sorted).length} files recorded in ${path.relative(repo, table)}`);
