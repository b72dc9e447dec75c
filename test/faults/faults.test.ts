/**
 * The CI subset of the fault matrix (`npm run faults` runs all of it): on real systemd VMs (the lab), a rolling
 * upgrade of a 3-member JetStream cluster through the real engine and the ssh platform's driver, under acked
 * publishing and request/reply, with
 * - peer-dies: another member's VM powered off between two members: the rollout halts before the next member's lame
 *   duck, naming the dead member; once the VM is back, the next run finishes;
 * - partition: the member being upgraded cut off from its peers during its gates, healed 20 s later: the gates
 *   hold until it is whole again, and the rollout completes.
 * Each row must lose no acked message and never have two members down at once by the rollout's doing.
 * About 5 minutes. Skips, printing why, where the lab cannot run.
 */
import { labSkipReason } from "../support/lab";
import { FAULTS, formatMatrix, machineLine } from "./support/matrix";
import { FaultRow, runFault } from "./support/scenario";

const skip = labSkipReason();
if (skip) console.warn(`[faults] fault matrix subset skipped: ${skip}`);

const CI_FAULTS = ["peer-dies", "partition"];

(skip ? describe.skip : describe)("fault matrix (CI subset) on real systemd VMs", () => {
  const rows: FaultRow[] = [];
  const lines: string[] = [];

  afterAll(() => {
    if (rows.length) process.stdout.write(`\n${formatMatrix(rows)}\n\n${rows.map(machineLine).join("\n")}\n`);
  });

  for (const name of CI_FAULTS) {
    const def = FAULTS.find((f) => f.name === name)!;
    it(`${name}: ${def.summary}`, async () => {
      const row = await runFault(def, (line) => lines.push(line));
      rows.push(row);
      const context = `${machineLine(row)}\n${lines.slice(-60).join("\n")}`;
      expect({ error: row.error, context }).toEqual({ error: undefined, context });
      // A wrong outcome shows the halt (member, gate, what the servers said) and the engine's last lines beside it.
      const expected = expect.stringMatching(new RegExp(`^(${def.expected.join("|")})$`));
      expect({ outcome: row.outcome, halt: row.halt, context }).toEqual({ outcome: expected, halt: row.halt, context });
      expect(row.clients.acked).toBeGreaterThan(100);
      expect(row.clients.lost).toBe(0);
      expect(row.clients.maxDownByRollout).toBeLessThanOrEqual(1);
      expect(row.clients.requestReply.maxGapMs).toBeLessThan(30_000);
      if (name === "peer-dies") {
        // Halted before the next member's lame duck, naming the dead member; the next run finishes.
        expect(row.halt).toMatch(/gate cluster: the cluster is not whole, so nats-\w was not taken down/);
        expect(row.halt).toContain("ready:");
        expect(row.stateAfter).toMatch(/=down/);
        expect(row.rerun).toBe("completed");
        expect(row.stateAfterRerun).toMatch(/^a=\S+ b=\S+ c=\S+ surge gone/);
        expect(row.stateAfterRerun).not.toMatch(/2\.14\.9|down/);
      } else {
        expect(row.stateAfter).not.toMatch(/2\.14\.9|down/);
        expect(row.stateAfter).toMatch(/surge gone/);
      }
      lines.length = 0;
    }, 420_000);
  }
});
