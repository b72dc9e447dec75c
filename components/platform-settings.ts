/**
 * A platform's settings for a program that builds {@link NatsClusterArgs} itself (the package's users), decoded and
 * checked by the same decoder as the stack config's `nats-cluster:<platform>` block: defaults filled in, and every
 * bad field named with its fix before anything is created.
 */
import * as pulumi from "@pulumi/pulumi";
import { loadClusterPlatform } from "./platforms";
import type { AwsPlatformSettings } from "./platforms/aws";
import type { LocalPlatformSettings } from "./platforms/local";
import type { SshPlatformSettings } from "./platforms/ssh";
import { Problems } from "./config/values";

/** Where relative paths and per-stack defaults are resolved. */
export interface PlatformSettingsContext {
  /** The stack (the local platform's default state directory is per stack). Default: the running stack. */
  readonly stack?: string;
  /** Relative paths are resolved against it. Default: the working directory (the Pulumi project's). */
  readonly projectDir?: string;
}

/** Settings a platform refused: the message names every field (`local.stateDir: …`) and how to fix it. */
export class PlatformSettingsError extends Error {
  constructor(platform: string, problems: ReadonlyArray<{ field: string; message: string }>) {
    super(
      `NatsClusterArgs.platformSettings for platform "${platform}" (${problems.length} problem` +
        `${problems.length === 1 ? "" : "s"}):\n${problems.map((p) => `  ${p.field}: ${p.message}`).join("\n")}`,
    );
    this.name = "PlatformSettingsError";
  }
}

/**
 * Decode `raw` (what a stack would write under `nats-cluster:<platform>`) into the platform's settings, or throw a
 * {@link PlatformSettingsError} naming each bad field. An unknown platform throws naming the ones there are.
 */
export function decodePlatformSettings(
  platform: "local",
  raw: unknown,
  context?: PlatformSettingsContext,
): LocalPlatformSettings;
export function decodePlatformSettings(
  platform: "aws",
  raw: unknown,
  context?: PlatformSettingsContext,
): AwsPlatformSettings;
export function decodePlatformSettings(
  platform: "ssh",
  raw: unknown,
  context?: PlatformSettingsContext,
): SshPlatformSettings;
export function decodePlatformSettings(platform: string, raw: unknown, context?: PlatformSettingsContext): unknown;
export function decodePlatformSettings(platform: string, raw: unknown, context: PlatformSettingsContext = {}): unknown {
  const found = loadClusterPlatform(platform);
  const problems = new Problems(found.secretKeys ?? []);
  const settings = found.decodeSettings(raw, problems, {
    stack: context.stack ?? pulumi.getStack(),
    projectDir: context.projectDir ?? process.cwd(),
  });
  if (problems.list.length > 0) throw new PlatformSettingsError(platform, problems.list);
  return settings;
}
