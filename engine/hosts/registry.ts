/**
 * The platforms the engine can drive, one folder each under engine/hosts/ (local/, aws/, ssh/, …), found by name.
 * Adding a platform is adding a folder whose index exports a {@link HostPlatform}: nothing here changes, and no
 * switch anywhere lists the platforms.
 */
import * as path from "node:path";
import { pluginFolders } from "../util/folders";
import { HostPlatform } from "./driver";

const NAME = /^[a-z][a-z0-9-]*$/;

/** The platform folders present (compiled or source). */
export function hostPlatformNames(): string[] {
  return pluginFolders(__dirname);
}

/** The platform called `name`; throws naming the platforms there are. */
export function loadHostPlatform(name: string): HostPlatform {
  const known = hostPlatformNames();
  if (typeof name !== "string" || !NAME.test(name) || !known.includes(name)) {
    throw new Error(`no platform ${JSON.stringify(name)}; the platforms are ${known.join(", ")}`);
  }
  return require(path.join(__dirname, name)) as HostPlatform;
}
