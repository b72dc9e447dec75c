import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ClusterSpec, RolloutPolicy } from "../../engine/spec";
import { BIN_CACHE } from "./versions";

const REPO = path.join(__dirname, "..", "..");
const CLI = path.join(REPO, "dist", "cli", "nats-rollout.js");

/** Newest modification time of the TypeScript sources under `dir`. */
function newestSourceIn(dir: string): number {
  return Math.max(
    0,
    ...fs
      .readdirSync(dir, { withFileTypes: true })
      .map((e) =>
        e.isDirectory()
          ? newestSourceIn(path.join(dir, e.name))
          : e.name.endsWith(".ts")
            ? fs.statSync(path.join(dir, e.name)).mtimeMs
            : 0,
      ),
  );
}

/** Newest modification time of the sources the command line is compiled from. */
function newestSource(): number {
  return Math.max(...["engine", "cli", "components"].map((d) => newestSourceIn(path.join(REPO, d))));
}

/** The engine CLI runs from the compiled JavaScript: (re)build it when it is missing or older than the sources. */
export function ensureBuilt(): void {
  if (!fs.existsSync(CLI) || fs.statSync(CLI).mtimeMs < newestSource())
    execFileSync(
      process.execPath,
      [path.join(REPO, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(REPO, "tsconfig.json")],
      { stdio: "inherit" },
    );
}

/**
 * Run `cli.js rollout` in its own process and SIGKILL it (by pid) the moment a line of its progress matches
 * `killWhen`: the engine dies mid-rollout with no chance to clean up, as after a crash or a lost CI runner.
 */
export function rolloutKilledWhen(
  spec: ClusterSpec,
  stateDir: string,
  policy: Partial<RolloutPolicy>,
  killWhen: RegExp,
): Promise<{ killed: boolean; output: string }> {
  ensureBuilt();
  const specFile = path.join(stateDir, "spec.json");
  fs.writeFileSync(specFile, JSON.stringify(spec), { mode: 0o600 });
  const child: ChildProcess = spawn(
    process.execPath,
    [
      CLI,
      "rollout",
      "--spec",
      specFile,
      "--settings",
      JSON.stringify({ stateDir, binaryCacheDir: BIN_CACHE }),
      "--policy",
      JSON.stringify(policy),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  let killed = false;
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (!killed && killWhen.test(output)) {
        killed = true;
        process.kill(child.pid!, "SIGKILL");
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("error", reject);
    child.on("exit", () => resolve({ killed, output }));
  });
}
