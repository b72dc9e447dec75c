/**
 * A command line over the engine for the local platform, without Pulumi: for operators debugging a rollout and for
 * the tests that must kill a rollout mid-way (it runs in its own process).
 *
 *   node dist/engine/cli.js plan|rollout|bootstrap|observe --spec spec.json --state-dir DIR [--bin-cache DIR]
 *                                 [--policy '{"minHealthySeconds":2}'] [--listen-host 127.0.0.1]
 *
 * Exit codes: 0 done, 2 halted (a gate failed), 3 refused (nothing touched), 1 anything else.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BinaryStore } from "./binaries";
import { LocalProcessDriver } from "./hosts/local";
import { bootstrapCluster } from "./rollout/bootstrap";
import { formatEvent } from "./rollout/events";
import { previewRollout, RolloutHalted, RolloutRefused, runRollout } from "./rollout/execute";
import { observeCluster } from "./rollout/observe";
import { formatPlan } from "./rollout/plan";
import { formatReport } from "./rollout/report";
import { ClusterSpec, RolloutPolicy } from "./spec";

function flag(args: string[], name: string, fallback?: string): string {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? args[i + 1] : fallback;
  if (value === undefined) throw new Error(`missing --${name}`);
  return value;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  const spec = JSON.parse(fs.readFileSync(flag(args, "spec"), "utf8")) as ClusterSpec;
  const policy = JSON.parse(flag(args, "policy", "{}")) as Partial<RolloutPolicy>;
  const cacheDir = flag(
    args,
    "bin-cache",
    process.env.NATS_SERVER_BIN_CACHE ?? path.join(os.homedir(), ".cache", "nats-cluster", "nats-server"),
  );
  const driver = new LocalProcessDriver({ stateDir: flag(args, "state-dir"), binaries: new BinaryStore({ cacheDir }) });
  const options = {
    spec,
    driver,
    policy,
    listenHost: flag(args, "listen-host", "127.0.0.1"),
    onEvent: (e: Parameters<typeof formatEvent>[0]) => console.log(formatEvent(e)),
  };
  switch (command) {
    case "plan":
      console.log(formatPlan((await previewRollout(options)).plan));
      return 0;
    case "observe":
      console.log(
        JSON.stringify(await observeCluster(spec, driver), (k, v) => (k === "configText" ? undefined : v), 2),
      );
      return 0;
    case "bootstrap":
      await bootstrapCluster(options);
      return 0;
    case "rollout":
      console.log(formatReport(await runRollout(options)));
      return 0;
    default:
      throw new Error(`unknown command ${command ?? "(none)"}: use plan, observe, bootstrap or rollout`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof RolloutHalted) {
      console.error(formatReport(err.report));
      process.exit(2);
    }
    if (err instanceof RolloutRefused) {
      console.error(err.message);
      process.exit(3);
    }
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
