/**
 * The main job without a Pulumi engine: the same RollingUpgrade provider object the Pulumi program registers
 * (components/rolling-upgrade-provider.ts), driven directly in the order the engine would call it on the local stack
 * (stacks/Pulumi.local.yaml): check → create at the older version; then, for the version bump, check → diff (prints
 * the plan, as `pulumi preview` would) → update (the rolling upgrade, with live progress). The outputs are kept in
 * .state/direct/local.json the way Pulumi keeps state, so a second run continues from them.
 *
 * Usage: node dist/scripts/local-rollout-direct.js [OLD NEW]    (default: oldest and newest pinned versions)
 *        node dist/scripts/local-rollout-direct.js --destroy    (stops every server, as `pulumi destroy` would)
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { localNatsProcessProvider } from "../components/local-host";
import { defaultEnginePath } from "../components/rolling-upgrade";
import {
  RollingUpgradeInputs,
  RollingUpgradeOutputs,
  rollingUpgradeProvider,
} from "../components/rolling-upgrade-provider";
import { clusterSpecOf, namespaceEntries, parseStackConfig, ParsedStackConfig } from "../components/stack-config";

const ENGINE = defaultEnginePath(__dirname);
const REPO = path.dirname(path.dirname(path.dirname(ENGINE)));
const STATE = path.join(REPO, ".state", "direct", "local.json");

/** js-yaml ships with @pulumi/pulumi; only its load function is needed. */
const yaml = require("js-yaml") as { load(text: string): unknown };

function say(text: string): void {
  console.log(`\n\x1b[1m[local-rollout] ${text}\x1b[0m`);
}

function pinnedVersions(): string[] {
  const text = fs.readFileSync(path.join(REPO, "versions.env"), "utf8");
  return (/^NATS_SERVER_VERSIONS="([^"]*)"/m.exec(text)?.[1] ?? "").split(/\s+/).filter(Boolean);
}

function localStack(): ParsedStackConfig {
  const doc = yaml.load(fs.readFileSync(path.join(REPO, "stacks", "Pulumi.local.yaml"), "utf8")) as {
    config?: Record<string, unknown>;
  };
  return parseStackConfig(namespaceEntries(doc.config ?? {}), { stack: "local", projectDir: REPO });
}

/** The RollingUpgrade's inputs as NatsCluster builds them for the local platform, at `version`. */
function inputsAt(config: ParsedStackConfig, version: string): RollingUpgradeInputs {
  const { auth: _auth, ...spec } = clusterSpecOf({ ...config, version });
  return {
    spec,
    policy: config.rollout,
    platform: "local",
    driver: { kind: "local", stateDir: config.local!.stateDir, binaryCacheDir: config.local!.binaryCacheDir },
    enginePath: ENGINE,
    listenHost: "127.0.0.1",
  };
}

function saved(): RollingUpgradeOutputs | undefined {
  return fs.existsSync(STATE) ? (JSON.parse(fs.readFileSync(STATE, "utf8")) as RollingUpgradeOutputs) : undefined;
}

function save(outs: RollingUpgradeOutputs): void {
  fs.mkdirSync(path.dirname(STATE), { recursive: true });
  fs.writeFileSync(STATE, `${JSON.stringify(outs, null, 2)}\n`);
}

async function checked(olds: RollingUpgradeInputs | undefined, news: RollingUpgradeInputs): Promise<void> {
  const { failures } = await rollingUpgradeProvider.check(olds, news);
  if (failures.length)
    throw new Error(`check refused the inputs:\n${failures.map((f) => `  ${f.property}: ${f.reason}`).join("\n")}`);
}

/** diff, then update when it reports a change: what `pulumi up` does with the resource. */
async function up(outs: RollingUpgradeOutputs, news: RollingUpgradeInputs): Promise<RollingUpgradeOutputs> {
  await checked(outs, news);
  console.log("> provider.diff (what `pulumi preview` prints):");
  const { changes } = await rollingUpgradeProvider.diff(outs.spec.name, outs, news);
  if (!changes) {
    console.log(`no change: every member runs ${news.spec.version}`);
    return outs;
  }
  console.log("> provider.update (what `pulumi up` runs):");
  const { outs: next } = await rollingUpgradeProvider.update(outs.spec.name, outs, news);
  save(next);
  return next;
}

async function destroy(config: ParsedStackConfig): Promise<void> {
  const inputs = inputsAt(config, config.version);
  const nothing = {
    kind: "bootstrap" as const,
    result: "none",
    targetVersion: config.version,
    finishedAt: "",
    totalSeconds: 0,
    members: [],
    text: "",
  };
  const outs = saved() ?? { ...inputs, versions: {}, surgeRunning: false, lastReport: nothing };
  say(
    "destroy: provider.delete (a left-over surge server), then each member's LocalNatsProcess delete (lame duck, then remove)",
  );
  await rollingUpgradeProvider.delete(outs.spec.name, outs);
  await Promise.all(
    inputs.spec.members.map((m) =>
      localNatsProcessProvider.delete(path.join(config.local!.stateDir, m.name), {
        endpoint: m,
        stateDir: config.local!.stateDir,
        enginePath: ENGINE,
        stopTimeoutSeconds: config.lameDuck.durationSeconds + 30,
      }),
    ),
  );
  fs.rmSync(STATE, { force: true });
  say("destroyed: no nats-server of the local stack is running");
}

async function main(): Promise<void> {
  const config = localStack();
  if (process.argv[2] === "--destroy") return destroy(config);
  const pinned = pinnedVersions();
  const [oldVersion, newVersion] = [process.argv[2] ?? pinned[0], process.argv[3] ?? pinned[pinned.length - 1]];
  say(
    "NO PULUMI ENGINE: this run drives the RollingUpgrade provider's own methods (check, create, read, diff, update) " +
      "directly, in the order the Pulumi engine calls them, on the local stack's settings (stacks/Pulumi.local.yaml)",
  );

  const old = inputsAt(config, oldVersion);
  let outs = saved();
  if (outs) {
    say(`state from an earlier run (${path.relative(REPO, STATE)}): provider.read (what \`pulumi refresh\` does)`);
    outs = (await rollingUpgradeProvider.read(outs.spec.name, outs)).props;
    save(outs);
    console.log(`servers now: ${JSON.stringify(outs.versions)}`);
    if (Object.values(outs.versions).some((v) => v !== oldVersion))
      say(`1/3 rolling the cluster back to ${oldVersion} first (a downgrade takes the same safe path)`);
    else say(`1/3 the cluster already runs ${oldVersion}`);
    outs = await up(outs, old);
  } else {
    say(`1/3 provider.check + provider.create: 3 members come up at nats-server ${oldVersion}`);
    await checked(undefined, old);
    outs = (await rollingUpgradeProvider.create(old)).outs;
    save(outs);
  }

  say(`2/3 + 3/3 the version bump to ${newVersion}: provider.diff prints the plan, provider.update rolls it`);
  outs = await up(outs, inputsAt(config, newVersion));

  say("the final state and report");
  console.log(
    JSON.stringify(
      {
        versions: outs.versions,
        surgeRunning: outs.surgeRunning,
        clientUrls: outs.spec.members.map((m) => `nats://${m.host}:${m.clientPort}`),
      },
      null,
      2,
    ),
  );
  console.log(outs.lastReport.text);
  console.log(
    `\nTo tear it down (stops every nats-server process): node dist/scripts/local-rollout-direct.js --destroy`,
  );
}

main().catch((err: unknown) => {
  console.error(`\n[local-rollout] FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
