#!/usr/bin/env node
/**
 * `nats-rollout`: the engine's reconcile path from a shell, without `pulumi up`: for the operator at 3 a.m. who
 * wants to see the plan or finish a rollout by hand, for the main job on a machine without a Pulumi engine, and
 * for the tests that must kill a rollout mid-way (it runs in a process of its own).
 *
 * Run `node dist/cli/nats-rollout.js --help` for the commands and options. Exit codes: 0 done, 1 error, 2 halted
 * (a gate failed), 3 refused (nothing touched), 4 interrupted (Ctrl-C between two members).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import {
  ClusterSpec,
  DEFAULT_POLICY,
  describeError,
  EventsFile,
  formatEvent,
  formatPlan,
  formatReport,
  LeaseOutcome,
  loadHostPlatform,
  previewReconcile,
  reconcile,
  RolloutEvent,
  RolloutOptions,
  RolloutPolicy,
  ServerEndpoint,
  observeCluster,
  openEventsFile,
  ReportFiles,
  reportFileProblems,
  writeReportFiles,
  planDocument,
  stopCluster,
  TlsPem,
  withRolloutLease,
} from "../engine";
import { clusterSpecOf, decodeStackConfig, namespaceEntries } from "../components/config/decode";
import { loadClusterPlatform } from "../components/platforms";

const HELP = `nats-rollout: plan, perform or inspect a NATS cluster rollout with the engine Pulumi uses

Usage: node dist/cli/nats-rollout.js <command> <source> [options]

Commands:
  plan       observe the servers and print the plan; touches nothing
  rollout    take the cluster to the spec: start it, recover members found down, roll the rest
  observe    print what every server reports (versions, running, reachable) as JSON
  stop       stop every server of the cluster (lame duck first) and remove their hosts' state; needs --yes

Where the cluster comes from (one of):
  --stack NAME         what \`pulumi up\` recorded for that stack (\`pulumi stack export --show-secrets\`, run in
                       the project directory with the stack's backend and passphrase): any platform
  --stack-file FILE    a stack file (stacks/Pulumi.<stack>.yaml) decoded as \`pulumi preview\` would; no secrets
                       (local and ssh platforms: the hosts must be in the file)
  --spec FILE          a ClusterSpec as JSON (engine form), with --platform and --settings or --state-dir

Options:
  --version V          roll to this version instead of the source's
  --platform NAME      with --spec: the platform (default local)
  --settings JSON      with --spec: the platform's settings as JSON
  --state-dir DIR      with --spec and the local platform: the servers' directory (relative to the current one)
  --secrets-file FILE  with --spec: the platform's secrets as a JSON object, e.g. {"privateKey": "-----BEGIN …"}
                       for the ssh platform; the file must not be readable by group or others (chmod 600)
  --policy JSON        rollout policy overrides, e.g. '{"minHealthySeconds":2}'
  --json               plan: print the plan as one JSON document (schema nats-cluster/plan@1) and nothing else
  --events FILE        rollout: append every event to FILE as it happens, one JSON object a line (schema
                       nats-cluster/event@1: time, elapsedMs, kind, step, server, gate, message); \`tail -f\` it
  --metrics FILE       rollout: write the rollout's figures to FILE (a .prom file) in Prometheus' text format when
                       it ends, whatever the outcome: for node_exporter's textfile collector
  --timeline FILE      rollout: draw the rollout in FILE (an .svg) when it ends: each member's down window, the
                       surge server's life, the clients' longest gap, on one time axis
  --leaving FILE       plan, rollout: servers that were members and left the spec, as a JSON array of endpoints
                       ([{"name","host","clientPort","clusterPort","monitorPort"}]): each one the servers still show
                       (running, in the JetStream meta group, a config on its host) is removed (remove-member)
  --break-lease        rollout, stop: break another roller's lease whose heartbeat is older than the stale limit
                       (its roller is probably dead); a live lease is never broken
  --yes                stop: yes, stop the whole cluster
  -h, --help           this text

rollout and stop hold the cluster's lease (a file on the members' hosts) while they run: a second roller, this
command or \`pulumi up\` from any checkout, is refused, naming the first, and touches nothing.

Ctrl-C during a rollout: the member in progress is finished, then it stops (the surge server keeps serving); run
the same command again to resume. A second Ctrl-C exits at once.

Exit codes: 0 done, 1 error, 2 halted, 3 refused (nothing touched), 4 interrupted.`;

/** What the command works on: the engine's spec and the platform's driver inputs. */
interface Target {
  readonly spec: ClusterSpec;
  readonly platform: string;
  readonly settings: Record<string, unknown>;
  readonly secrets?: Record<string, string>;
  readonly policy: Partial<RolloutPolicy>;
}

class UsageError extends Error {}

function readJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new UsageError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** The RollingUpgrade's recorded inputs in `pulumi stack export --show-secrets` output. */
function fromStack(stack: string): Target {
  let exported: string;
  try {
    exported = execFileSync("pulumi", ["stack", "export", "--show-secrets", "--stack", stack], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new UsageError(`pulumi stack export --stack ${stack} failed: ${stderr || (err as Error).message}`);
  }
  const state = readJson<{ deployment?: { resources?: Array<{ type: string; inputs?: Record<string, unknown> }> } }>(
    exported,
    "the stack export",
  );
  const resource = state.deployment?.resources?.find((r) => r.type.endsWith("RollingUpgrade"));
  if (!resource?.inputs)
    throw new UsageError(`stack ${stack} has no RollingUpgrade resource yet: run \`pulumi up\` first`);
  const inputs = resource.inputs as {
    spec: Omit<ClusterSpec, "auth">;
    auth?: ClusterSpec["auth"];
    policy?: Partial<RolloutPolicy>;
    platform: string;
    settings: Record<string, unknown>;
    platformSecrets?: Record<string, string>;
    tlsPem?: TlsPem;
  };
  if (typeof inputs.platform !== "string" || !inputs.settings) {
    throw new UsageError(`stack ${stack} was recorded by an older version of this program: run \`pulumi up\` once`);
  }
  const withAuth = inputs.auth ? { ...inputs.spec, auth: inputs.auth } : inputs.spec;
  return {
    spec: inputs.tlsPem ? { ...withAuth, tls: { ...withAuth.tls, pem: inputs.tlsPem } } : withAuth,
    platform: inputs.platform,
    settings: inputs.settings,
    secrets: inputs.platformSecrets,
    policy: inputs.policy ?? {},
  };
}

/** A stack file decoded as `pulumi preview` would (no secrets: those live encrypted in the file). */
function fromStackFile(file: string): Target {
  const yaml = require("js-yaml") as { load(text: string): unknown };
  const doc = yaml.load(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> };
  const stack = /Pulumi\.(.+)\.ya?ml$/.exec(path.basename(file))?.[1] ?? "cli";
  const config = decodeStackConfig(namespaceEntries(doc.config ?? {}), {
    stack,
    projectDir: path.dirname(path.dirname(path.resolve(file))),
  });
  if (config.tlsGenerate) {
    throw new UsageError(
      `the certificates of tls.generate are made by \`pulumi up\` and live in the stack's state: use --stack ${stack}`,
    );
  }
  const platform = loadClusterPlatform(config.platform);
  if (platform.members.host === "assigned") {
    throw new UsageError(
      `the ${config.platform} platform's hosts are known only to the stack's state: use --stack ${stack}`,
    );
  }
  const servers = {
    members: config.members,
    surge: config.surge,
    stopTimeoutSeconds: config.rollout.stopTimeoutSeconds ?? DEFAULT_POLICY.stopTimeoutSeconds,
  };
  const settings = platform.driverSettingsFromConfig?.(config.platformSettings, servers);
  if (!settings)
    throw new UsageError(`the ${config.platform} platform cannot be driven from a stack file: use --stack ${stack}`);
  return {
    spec: clusterSpecOf(config),
    platform: config.platform,
    settings,
    secrets: config.platformSecrets,
    policy: config.rollout,
  };
}

function fromSpecFile(file: string, values: Record<string, string | boolean | undefined>): Target {
  const spec = readJson<ClusterSpec>(fs.readFileSync(file, "utf8"), file);
  const platform = (values.platform as string | undefined) ?? "local";
  let settings: Record<string, unknown> = values.settings ? readJson(values.settings as string, "--settings") : {};
  if (values["state-dir"]) settings = { ...settings, stateDir: path.resolve(values["state-dir"] as string) };
  if (platform === "local" && !settings.stateDir)
    throw new UsageError("the local platform needs --state-dir DIR (or --settings)");
  const secretsFile = values["secrets-file"] as string | undefined;
  return { spec, platform, settings, secrets: secretsFile ? readSecretsFile(secretsFile) : undefined, policy: {} };
}

/**
 * The platform's secrets from a file, never from the command line (which `ps` shows to every user): a JSON object
 * of strings, in a file only its owner can read, as OpenSSH demands of a private key.
 */
function readSecretsFile(file: string): Record<string, string> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    throw new UsageError(`--secrets-file ${file}: ${(err as Error).message}`);
  }
  if ((stat.mode & 0o077) !== 0) {
    throw new UsageError(
      `--secrets-file ${file} is readable by group or others (mode ${(stat.mode & 0o777).toString(8)}): chmod 600 it`,
    );
  }
  const secrets = readJson<unknown>(fs.readFileSync(file, "utf8"), `--secrets-file ${file}`);
  if (
    typeof secrets !== "object" ||
    secrets === null ||
    Array.isArray(secrets) ||
    Object.values(secrets).some((v) => typeof v !== "string")
  ) {
    throw new UsageError(`--secrets-file ${file}: expected a JSON object of strings, e.g. {"privateKey": "…"}`);
  }
  return secrets as Record<string, string>;
}

function targetOf(values: Record<string, string | boolean | undefined>): Target {
  const sources = ["stack", "stack-file", "spec"].filter((k) => values[k] !== undefined);
  if (sources.length !== 1) throw new UsageError("give exactly one of --stack NAME, --stack-file FILE, --spec FILE");
  const target =
    values.stack !== undefined
      ? fromStack(values.stack as string)
      : values["stack-file"] !== undefined
        ? fromStackFile(values["stack-file"] as string)
        : fromSpecFile(values.spec as string, values);
  const policy = values.policy
    ? { ...target.policy, ...readJson<Partial<RolloutPolicy>>(values.policy as string, "--policy") }
    : target.policy;
  const spec = values.version ? { ...target.spec, version: values.version as string } : target.spec;
  return { ...target, spec, policy };
}

/** `--leaving FILE`: the endpoints of servers that left the spec (same platform settings as the members). */
function readLeaving(file: string): ServerEndpoint[] {
  const list = readJson<unknown>(fs.readFileSync(file, "utf8"), `--leaving ${file}`);
  const ok = (e: unknown): e is ServerEndpoint =>
    typeof e === "object" &&
    e !== null &&
    typeof (e as ServerEndpoint).name === "string" &&
    typeof (e as ServerEndpoint).host === "string" &&
    ["clientPort", "clusterPort", "monitorPort"].every((k) => Number.isInteger((e as Record<string, unknown>)[k]));
  if (!Array.isArray(list) || !list.every(ok))
    throw new UsageError(
      `--leaving ${file}: expected a JSON array of {name, host, clientPort, clusterPort, monitorPort}`,
    );
  return list;
}

/** First Ctrl-C: stop between two steps. Second: leave now. */
function stopOnCtrlC(): () => string | undefined {
  let requested: string | undefined;
  process.on("SIGINT", () => {
    if (requested) process.exit(130);
    requested = "Ctrl-C";
    console.error("\nCtrl-C: finishing the step in progress, then stopping (press Ctrl-C again to leave at once)");
  });
  return () => requested;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      stack: { type: "string" },
      "stack-file": { type: "string" },
      spec: { type: "string" },
      version: { type: "string" },
      platform: { type: "string" },
      settings: { type: "string" },
      "state-dir": { type: "string" },
      "secrets-file": { type: "string" },
      policy: { type: "string" },
      leaving: { type: "string" },
      json: { type: "boolean" },
      events: { type: "string" },
      metrics: { type: "string" },
      timeline: { type: "string" },
      "break-lease": { type: "boolean" },
      yes: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(HELP);
    return values.help ? 0 : 1;
  }
  if (!["plan", "rollout", "observe", "stop"].includes(command))
    throw new UsageError(`unknown command ${command}; see --help`);
  if (values.json && command !== "plan" && command !== "observe")
    throw new UsageError(
      `--json goes with plan (observe always prints JSON); for ${command}'s events use --events FILE`,
    );
  if (values.events !== undefined && command !== "rollout") throw new UsageError("--events FILE goes with rollout");
  const reportFiles: ReportFiles = { metricsFile: values.metrics, timelineFile: values.timeline };
  for (const [option, file] of [
    ["--metrics", values.metrics],
    ["--timeline", values.timeline],
  ] as const)
    if (file !== undefined && command !== "rollout") throw new UsageError(`${option} FILE goes with rollout`);
  for (const { key, problem } of reportFileProblems(reportFiles))
    throw new UsageError(`${key === "metricsFile" ? "--metrics" : "--timeline"} ${reportFiles[key]}: ${problem}`);
  const target = targetOf(values);
  if (command === "stop" && !values.yes) {
    throw new UsageError(
      `stop stops every server of cluster ${target.spec.name} (lame duck first) and removes their hosts' state: ` +
        "add --yes to do it",
    );
  }
  // With --json, stdout holds the document alone: every line for people goes to stderr.
  const say = values.json ? (line: string) => console.error(line) : (line: string) => console.log(line);
  const platform = loadHostPlatform(target.platform);
  const driver = platform.createHostDriver(target.settings, { secrets: target.secrets, log: say });
  const options: RolloutOptions = {
    spec: target.spec,
    driver,
    policy: target.policy,
    listenHost: platform.listenHost,
    onEvent: (e: RolloutEvent) => say(formatEvent(e)),
    ...(values.leaving ? { leaving: { members: readLeaving(values.leaving) } } : {}),
  };
  /** rollout and stop run holding the cluster's lease (engine/rollout/lease.ts). */
  const leased = <T>(fn: Parameters<typeof withRolloutLease<T>>[2]) =>
    withRolloutLease(
      { spec: target.spec, driver, breakLease: values["break-lease"] ? true : undefined, log: say },
      { stack: "cli" },
      fn,
    );
  switch (command) {
    case "plan": {
      const { plan } = await previewReconcile(options);
      console.log(values.json ? JSON.stringify(planDocument(plan, target.spec.name), null, 2) : formatPlan(plan));
      return 0;
    }
    case "observe":
      console.log(
        JSON.stringify(await observeCluster(target.spec, driver), (k, v) => (k === "configText" ? undefined : v), 2),
      );
      return 0;
    case "stop": {
      const stopped = await leased(() =>
        stopCluster(target.spec, driver, { stopTimeoutSeconds: target.policy.stopTimeoutSeconds }),
      );
      if (stopped.status === "refused") return refused(stopped);
      console.log(`stopped every server of ${target.spec.name}`);
      return 0;
    }
    default: {
      const events = values.events === undefined ? undefined : eventsFile(values.events, target.spec.name);
      const ctrlC = stopOnCtrlC();
      const leasedOutcome = await leased((lease) =>
        reconcile({
          ...options,
          stopRequested: () => ctrlC() ?? lease.lost(),
          onEvent: (e) => {
            options.onEvent?.(e);
            events?.sink(e);
          },
        }),
      ).finally(() => events?.close());
      if (leasedOutcome.status === "refused") return refused(leasedOutcome);
      const outcome = leasedOutcome.result;
      if (outcome.status !== "refused") {
        await writeReportFiles(
          reportFiles,
          outcome.report,
          target.spec.name,
          (line) => console.error(`nats-rollout: ${line}`),
          (line) => console.error(`nats-rollout: warning: ${line}`),
        );
      }
      switch (outcome.status) {
        case "done":
          console.log(formatReport(outcome.report));
          return 0;
        case "refused":
          console.error(formatPlan(outcome.plan));
          return 3;
        case "halted":
          console.error(formatReport(outcome.report));
          return 2;
        case "interrupted":
          console.error(formatReport(outcome.report));
          return 4;
      }
    }
  }
}

/** `--events FILE`, open for appending before anything is touched. */
function eventsFile(file: string, cluster: string): EventsFile {
  try {
    return openEventsFile(file, cluster, (message) => console.error(`nats-rollout: warning: ${message}`));
  } catch (err) {
    throw new UsageError(`--events ${file}: ${describeError(err)}`);
  }
}

/** A lease refusal: nothing was touched, so the exit code of a refusal. */
function refused(outcome: Extract<LeaseOutcome<unknown>, { status: "refused" }>): number {
  console.error(`nats-rollout: refused: ${outcome.refusal.message}`);
  return 3;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`nats-rollout: ${describeError(err)}`);
    if (err instanceof UsageError) console.error("see --help");
    process.exit(1);
  },
);
