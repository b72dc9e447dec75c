/**
 * How provider code finds the engine's compiled JavaScript at run time, without recording any path in Pulumi state.
 *
 * Dynamic providers are serialized to source text and run in a separate process whose working directory is the
 * project (Pulumi runs plugins there). The engine is the package's `nats-cluster/engine` export, resolved the way
 * Node resolves any package the project requires: from the project's node_modules where the package is installed
 * (`npm install nats-cluster`), or by self-reference in this repository, whose own package.json is that package (its
 * `exports` map `./engine` to `dist/engine/index.js`). `NATS_CLUSTER_ENGINE` overrides it. A path in the resource's
 * inputs, or captured in this serialized code, would be recorded in state: the same stack run from another checkout
 * would show a change, and a home directory would leak into state. So only the package name is written here.
 * Where the sources are beside the engine (this repository), a `dist/` not built from them is refused
 * (build-stamp.ts), once per process. Only Node built-ins are used, so the serializer can capture this by value.
 */
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import type * as Engine from "../engine";
import { staleBuildProblem } from "./build-stamp";

export type EngineModule = typeof Engine;

/** The package whose `./engine` export is the engine (package.json's `name`). */
export const ENGINE_EXPORT = "nats-cluster/engine";

export function engineEntryPoint(): string {
  const override = process.env.NATS_CLUSTER_ENGINE;
  if (override) {
    if (fs.existsSync(override)) return override;
    throw new Error(`NATS_CLUSTER_ENGINE=${override} does not exist; unset it or point it at dist/engine/index.js`);
  }
  let entry: string;
  try {
    entry = createRequire(path.join(process.cwd(), "package.json")).resolve(ENGINE_EXPORT);
  } catch (err) {
    throw new Error(
      `the rollout engine (${ENGINE_EXPORT}) cannot be resolved from ${process.cwd()} ` +
        `(${(err as Error).message.split("\n")[0]}): in a program that uses the package, \`npm install nats-cluster\`; ` +
        "in the nats-cluster repository, run `npm run build`, then retry",
      { cause: err },
    );
  }
  // Once per process and entry: the digest reads every source file.
  const checked = ((globalThis as { __natsClusterBuildChecked?: Set<string> }).__natsClusterBuildChecked ??=
    new Set<string>());
  if (!checked.has(entry)) {
    const problem = staleBuildProblem(path.resolve(path.dirname(entry), "..", ".."));
    if (problem) throw new Error(problem);
    checked.add(entry);
  }
  return entry;
}

export function loadEngine(): EngineModule {
  return require(engineEntryPoint()) as EngineModule;
}
