/**
 * The local platform: every "VM" is a nats-server process on this machine (the embedded default, no cloud account).
 * Settings are what the Pulumi layer records: `stateDir` (one directory per server) and, optionally,
 * `binaryCacheDir` and `releaseBaseUrl`. A leading `~/` stays in the settings and is resolved here, on the machine
 * that runs the engine, so no home directory ends up in Pulumi state.
 */
import * as os from "node:os";
import * as path from "node:path";
import { BinaryStore } from "../../binaries";
import { LOCAL_LISTEN_HOST } from "../../defaults";
import { Problem } from "../../problem";
import { ReleasePins, releaseSettingsProblems } from "../../release";
import { assertSettings, HostDriver, HostDriverContext, HostPlatform } from "../driver";
import { LocalProcessDriver } from "./driver";

export { LocalProcessDriver, type LocalDriverOptions, type BinarySource } from "./driver";

/** Settings of the local platform, as recorded in the RollingUpgrade's inputs. */
export interface LocalSettings {
  /** Directory with one directory per server; absolute or `~/…`. */
  readonly stateDir: string;
  /** nats-server binary cache (`<dir>/v<version>/nats-server`); default $NATS_SERVER_BIN_CACHE or
   * ~/.cache/nats-cluster/nats-server. */
  readonly binaryCacheDir?: string;
  /** Release download base URL for versions not in the cache; default the official GitHub releases. */
  readonly releaseBaseUrl?: string;
  /** Pinned SHA-256s per version and arch (engine/release.ts): required for a plain-http mirror. */
  readonly releaseSha256?: ReleasePins;
}

/** `~/x` → `<home>/x`; anything else unchanged. */
export function expandHome(p: string): string {
  return p === "~" ? os.homedir() : p.startsWith("~/") ? path.join(os.homedir(), p.slice(2)) : p;
}

/** The binary cache the machine running the engine uses. */
export function defaultBinaryCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.NATS_SERVER_BIN_CACHE ??
    path.join(env.NATS_CLUSTER_CACHE ?? path.join(os.homedir(), ".cache", "nats-cluster"), "nats-server")
  );
}

function isPathSetting(value: unknown): value is string {
  return typeof value === "string" && (path.isAbsolute(value) || value === "~" || value.startsWith("~/"));
}

export const settingsProblems: HostPlatform["settingsProblems"] = (settings) => {
  const s = (settings ?? {}) as Partial<LocalSettings>;
  const problems: Problem[] = [];
  if (!isPathSetting(s.stateDir)) {
    problems.push({ field: "stateDir", message: `${JSON.stringify(s.stateDir)} is not an absolute or ~/ path` });
  }
  if (s.binaryCacheDir !== undefined && !isPathSetting(s.binaryCacheDir)) {
    problems.push({
      field: "binaryCacheDir",
      message: `${JSON.stringify(s.binaryCacheDir)} is not an absolute or ~/ path`,
    });
  }
  problems.push(...releaseSettingsProblems(s.releaseBaseUrl, s.releaseSha256));
  return problems;
};

export function createHostDriver(
  settings: Readonly<Record<string, unknown>>,
  context: HostDriverContext = {},
): HostDriver {
  assertSettings("local", settingsProblems(settings));
  const s = settings as unknown as LocalSettings;
  const binaries = new BinaryStore({
    cacheDir: expandHome(s.binaryCacheDir ?? defaultBinaryCacheDir()),
    releaseBaseUrl: s.releaseBaseUrl,
    releaseSha256: s.releaseSha256,
    onProgress: context.log,
  });
  return new LocalProcessDriver({ stateDir: expandHome(s.stateDir), binaries });
}

export const listenHost = LOCAL_LISTEN_HOST;
