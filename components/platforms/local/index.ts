/**
 * The local platform: every "VM" is a nats-server process on this machine (the embedded default: a whole rollout on
 * a laptop, no cloud account). Members are written with a host (default 127.0.0.1) and ports of their own; the
 * engine's local driver (engine/hosts/local) runs them, and a LocalNatsProcess per member stops its process when
 * the member is deleted.
 *
 * `nats-cluster:local`: `{ stateDir?, binaryCacheDir?, releaseBaseUrl?, releaseSha256? }`. The default state
 * directory is `~/.local/state/nats-cluster/<stack>`, kept with its `~/` so the same stack looks the same from any
 * checkout; a relative path is resolved against the project directory (the cluster then belongs to that checkout).
 */
import * as path from "node:path";
import { LOCAL_LISTEN_HOST } from "../../../engine/defaults";
import { ReleasePins } from "../../../engine/release";
import { readReleaseSettings, RELEASE_SETTING_FIELDS } from "../../config/release";
import { Problems, readObject, readString, refuseUnknownFields } from "../../config/values";
import { ClusterPlatform } from "../platform";
import { LocalNatsProcess } from "./process";

/** The decoded `nats-cluster:local` block. */
export interface LocalPlatformSettings {
  /** Directory with one directory per server: absolute, or `~/…`. */
  readonly stateDir: string;
  /** nats-server binary cache; default (unset) is the machine's ($NATS_SERVER_BIN_CACHE or ~/.cache/nats-cluster). */
  readonly binaryCacheDir?: string;
  /** Where versions missing from the cache are downloaded from (a mirror); default the official GitHub releases. */
  readonly releaseBaseUrl?: string;
  /** Version → arch → SHA-256 of the release tarball; required when releaseBaseUrl is plain http. */
  readonly releaseSha256?: ReleasePins;
}

const FIELDS = ["stateDir", "binaryCacheDir", ...RELEASE_SETTING_FIELDS];

function pathSetting(value: string, projectDir: string): string {
  return value === "~" || value.startsWith("~/") || path.isAbsolute(value) ? value : path.resolve(projectDir, value);
}

export const platform: ClusterPlatform<LocalPlatformSettings, undefined> = {
  name: "local",
  members: {
    host: "loopback",
    portsRequired: true,
    countAllowed: false,
    memberExample: "{ name, host?, clientPort, clusterPort, monitorPort } (host defaults to 127.0.0.1)",
    surgeExample: "{ name, host?, clientPort, clusterPort, monitorPort, jetstream? }",
  },

  decodeSettings(raw, p: Problems, context) {
    const obj = readObject(p, "local", raw, `write { ${FIELDS.map((f) => `${f}?`).join(", ")} }`) ?? {};
    refuseUnknownFields(p, "local", obj, FIELDS);
    const stateDir = readString(p, "local.stateDir", obj.stateDir, "write a directory path");
    const binaryCacheDir = readString(p, "local.binaryCacheDir", obj.binaryCacheDir, "write a directory path");
    const release = readReleaseSettings(p, "local", obj);
    return {
      stateDir: pathSetting(stateDir ?? `~/.local/state/nats-cluster/${context.stack}`, context.projectDir),
      ...(binaryCacheDir ? { binaryCacheDir: pathSetting(binaryCacheDir, context.projectDir) } : {}),
      ...release,
    };
  },

  createShared: () => undefined,

  createMemberHost(name, member, _index, { facts, settings }, parent) {
    const process = new LocalNatsProcess(
      `${name}-process`,
      {
        endpoint: { ...member, host: member.host ?? LOCAL_LISTEN_HOST },
        stateDir: settings.stateDir,
        stopTimeoutSeconds: facts.stopTimeoutSeconds,
      },
      { parent },
    );
    return { endpoint: process.endpoint };
  },

  driverSettingsFromConfig: (settings) => ({ ...settings }),

  driverInputs: (_facts, settings) => ({ settings: { ...settings } }),
};
