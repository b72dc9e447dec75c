/**
 * How provider code finds the engine's compiled JavaScript at run time, without recording any path in Pulumi state.
 *
 * Dynamic providers are serialized to source text and run in a separate process whose working directory is the
 * project (Pulumi runs plugins there), so the engine is `dist/engine/index.js` under the nearest directory above it
 * that has one; `NATS_CLUSTER_ENGINE` overrides it. A path in the resource's inputs would be compared by `diff`, so
 * the same stack run from another checkout would show a change (and it would leak a home directory into state).
 * Only Node built-ins are used here, so the serializer can capture this function by value.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as Engine from "../engine";

export type EngineModule = typeof Engine;

export function engineEntryPoint(): string {
  const override = process.env.NATS_CLUSTER_ENGINE;
  if (override) {
    if (fs.existsSync(override)) return override;
    throw new Error(`NATS_CLUSTER_ENGINE=${override} does not exist; unset it or point it at dist/engine/index.js`);
  }
  for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "dist", "engine", "index.js");
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) break;
  }
  throw new Error(
    `the rollout engine's compiled JavaScript (dist/engine/index.js) is not under ${process.cwd()} or above it; ` +
      "run `npm run build` in the project, then retry",
  );
}

export function loadEngine(): EngineModule {
  return require(engineEntryPoint()) as EngineModule;
}
