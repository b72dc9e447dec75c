/**
 * `npm run faults [-- name …]`: the fault matrix (issue 9). For each fault a fresh lab of real systemd VMs, a
 * 3-member JetStream cluster under acked publishing and request/reply, a rolling upgrade through the real engine
 * with the ssh platform's driver, the fault injected at a chosen moment of the rollout; then one table row per
 * fault and one `fault=<name> outcome=… acked=N lost=N max_down=N gap_ms=N seconds=N` line per fault.
 * Root only (the lab). Names restrict the run to those faults. Exit 1 when a row lost an acked message or had
 * two members down at once by the rollout's doing.
 * Not a test: the CI subset is test/faults/faults.test.ts.
 */
import { FAULTS, formatMatrix, machineLine } from "../test/faults/support/matrix";
import { FaultRow, runFault } from "../test/faults/support/scenario";

async function main(names: string[]): Promise<number> {
  const unknown = names.filter((n) => !FAULTS.some((f) => f.name === n));
  if (unknown.length) {
    console.error(`unknown fault(s) ${unknown.join(", ")}; known: ${FAULTS.map((f) => f.name).join(", ")}`);
    return 2;
  }
  const chosen = names.length ? FAULTS.filter((f) => names.includes(f.name)) : FAULTS;
  const rows: FaultRow[] = [];
  const started = Date.now();
  for (const def of chosen) {
    if (stopping) break;
    console.log(`\n[faults] === ${def.name}: ${def.summary} (at: ${def.when})`);
    const row = await runFault(def, (line) => console.log(line));
    rows.push(row);
    console.log(machineLine(row));
  }
  console.log(`\n[faults] matrix of ${rows.length} faults in ${Math.round((Date.now() - started) / 1000)} s\n`);
  console.log(formatMatrix(rows));
  console.log("");
  for (const row of rows) console.log(machineLine(row));
  const bad = rows.filter((r) => r.error || r.clients.lost !== 0 || r.clients.maxDownByRollout > 1);
  return bad.length ? 1 : 0;
}

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    // runFault's finally removes its lab; a second signal leaves at once (test/support/lab.ts sweeps it next time).
    if (stopping) process.exit(130);
    stopping = true;
    console.error(
      `\n[faults] ${signal}: stopping after the current fault (its lab is removed); again to leave at once`,
    );
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
