/**
 * The Pulumi layer's platforms, one folder each (local/, aws/, ssh/, …), found by name: adding a platform is adding
 * a folder here and its engine driver in engine/hosts/<name>/. No switch anywhere lists them.
 */
import * as path from "node:path";
import { pluginFolders } from "../../engine/util/folders";
import { ClusterPlatform } from "./platform";

/** The platform folders present (compiled or source). */
export function clusterPlatformNames(): string[] {
  return pluginFolders(__dirname);
}

/** The platform called `name`, or undefined when there is none (callers name the choices). */
export function findClusterPlatform(name: string): ClusterPlatform | undefined {
  if (!/^[a-z][a-z0-9-]*$/.test(name) || !clusterPlatformNames().includes(name)) return undefined;
  return (require(path.join(__dirname, name)) as { platform: ClusterPlatform }).platform;
}

/** The platform called `name`; throws naming the platforms there are. */
export function loadClusterPlatform(name: string): ClusterPlatform {
  const found = findClusterPlatform(name);
  if (!found)
    throw new Error(`no platform ${JSON.stringify(name)}; the platforms are ${clusterPlatformNames().join(", ")}`);
  return found;
}
