/**
 * A copy of the Pulumi project in a temp directory, driven by the real `pulumi` CLI with a file backend of its own:
 * what the engine tests run `up`, `preview`, `refresh`, `destroy` and Ctrl-C against. Servers listen on free
 * loopback ports and keep their directories in the test's temp dir.
 */
import { ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { ServerEndpoint } from "../../../engine/spec";
import { freePorts } from "../../support/ports";
import { BIN_CACHE } from "../../support/versions";
import { readStackFile } from "./stack-files";

const run = promisify(execFile);
/** The repository: found by walking up, so this also works compiled (dist/test/pulumi/support, npm run faults). */
export const REPO = (() => {
  let dir = path.join(__dirname, "..", "..", "..");
  while (!fs.existsSync(path.join(dir, "Pulumi.yaml")) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();

/** Why the engine cannot be used here, or undefined when it can. */
export function engineUnavailable(): string | undefined {
  const status = process.env.PULUMI_ENGINE_STATUS;
  if (status !== "ok") {
    const what =
      status === undefined ? "unset (run through scripts/test.sh, which sources the provisioned env)" : `"${status}"`;
    return `PULUMI_ENGINE_STATUS is ${what}`;
  }
  try {
    execFileSync("pulumi", ["version"], { stdio: "pipe" });
  } catch {
    return "`pulumi` is not on PATH";
  }
  return undefined;
}

/** Three members and a surge server on free loopback ports. */
export async function loopbackServers(): Promise<{ members: ServerEndpoint[]; surge: ServerEndpoint }> {
  const ports = await freePorts(12);
  const at = (name: string, i: number): ServerEndpoint => ({
    name,
    host: "127.0.0.1",
    clientPort: ports[i],
    clusterPort: ports[4 + i],
    monitorPort: ports[8 + i],
  });
  return { members: ["nats-a", "nats-b", "nats-c"].map(at), surge: at("nats-surge", 3) };
}

/** Copy the project's sources into `project` (node_modules and the compiled engine are linked, not copied). */
export function copyProject(project: string): void {
  fs.mkdirSync(path.join(project, "stacks"), { recursive: true });
  for (const f of ["index.ts", "Pulumi.yaml", "package.json", "tsconfig.json"]) {
    fs.copyFileSync(path.join(REPO, f), path.join(project, f));
  }
  for (const d of ["components", "engine"]) fs.cpSync(path.join(REPO, d), path.join(project, d), { recursive: true });
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(project, "node_modules"));
  fs.symlinkSync(path.join(REPO, "dist"), path.join(project, "dist"));
}

/**
 * A new temp directory (`prefix` + random) with a copy of the project in `project` and, beside it, the CLI's backend
 * (`state`) and home (`home`), as {@link pulumiEnv} expects.
 */
export function projectCopy(prefix: string): { dir: string; project: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const project = path.join(dir, "project");
  for (const d of ["state", "home"]) fs.mkdirSync(path.join(dir, d));
  copyProject(project);
  return { dir, project };
}

/** Write stacks/Pulumi.<stack>.yaml: a committed stack's settings (default the local one) with these on top. */
export function writeStack(
  project: string,
  stack: string,
  values: Record<string, unknown>,
  base: "local" | "lab" = "local",
): void {
  // A value of undefined removes the base stack's key (e.g. `tls`, to start a cluster in plaintext).
  const config = Object.entries({ ...readStackFile(base), ...values }).filter(([, v]) => v !== undefined);
  const yaml = ["config:", ...config.map(([k, v]) => `  nats-cluster:${k}: ${JSON.stringify(v)}`)];
  fs.writeFileSync(path.join(project, "stacks", `Pulumi.${stack}.yaml`), `${yaml.join("\n")}\n`);
}

/** The CLI's environment: the test's backend, passphrase and plugin home; offline; transpile only. */
export function pulumiEnv(dir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PULUMI_BACKEND_URL: `file://${path.join(dir, "state")}`,
    PULUMI_CONFIG_PASSPHRASE: "engine-test",
    PULUMI_HOME: path.join(dir, "home"),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    // Type checking is `tsc`'s job (scripts/test.sh); the program only needs transpiling.
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    NATS_SERVER_BIN_CACHE: BIN_CACHE,
  };
}

/**
 * Put among a test's `up` arguments for the operator's whole `pulumi up`: its preview phase, then the update. Any
 * other `up` of the tests skips the preview phase (`--skip-preview`): the update phase calls the providers' check and
 * diff again and prints the same plan, and a test that looks at a plan runs `pulumi preview` for it. That phase cost
 * 3.2 s of CPU per `up` with nothing to change (7.3 s against 4.1 s, 3 runs each), on a suite that is CPU-bound.
 */
export const WITH_PREVIEW = "--nats-test-with-preview";

/** The CLI's arguments for a test's `args`: {@link WITH_PREVIEW} taken out, `--skip-preview` added to other `up`s. */
export function cliArgs(args: ReadonlyArray<string>): string[] {
  const rest = args.filter((a) => a !== WITH_PREVIEW);
  return args[0] === "up" && !args.includes(WITH_PREVIEW) ? [...rest, "--skip-preview"] : rest;
}

/** A pulumi command's output, exit code and all. */
export interface PulumiResult {
  readonly code: number;
  readonly output: string;
}

/**
 * Run a pulumi command in `project`; never throws for a non-zero exit (callers assert on it). `input` goes to its
 * stdin (how a secret such as a private key is set without a command line that shows it).
 */
export async function pulumiIn(dir: string, project: string, args: string[], input?: string): Promise<PulumiResult> {
  try {
    const pending = run("pulumi", [...cliArgs(args), "--non-interactive"], {
      cwd: project,
      env: pulumiEnv(dir),
      maxBuffer: 64 * 1024 * 1024,
      timeout: 600_000,
    });
    pending.child.stdin?.end(input ?? "");
    const { stdout, stderr } = await pending;
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === "number" ? e.code : 1, output: `${e.stdout ?? ""}${e.stderr ?? ""}${e.message}` };
  }
}

/** Run a pulumi command that must succeed; on failure the error carries its whole output. */
export async function pulumiOk(dir: string, project: string, args: string[], input?: string): Promise<string> {
  const result = await pulumiIn(dir, project, args, input);
  if (result.code !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${result.code}:\n${result.output}`);
  return result.output;
}

/** Start a long pulumi command in the background (to interrupt it); its output accumulates in `output`. */
export function pulumiSpawn(
  dir: string,
  project: string,
  args: string[],
): { child: ChildProcess; output: () => string; exit: Promise<number> } {
  const child = spawn("pulumi", [...cliArgs(args), "--non-interactive"], {
    cwd: project,
    env: pulumiEnv(dir),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  const exit = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? 1)));
  return { child, output: () => output, exit };
}

/** The part of a pulumi output after its "Diagnostics:" header of the update (what is kept for the summary). */
export function diagnosticsOf(output: string): string {
  const updating = output.lastIndexOf("Updating (");
  const from = output.indexOf("Diagnostics:", Math.max(0, updating));
  return from < 0 ? "" : output.slice(from);
}

/**
 * What `pulumi preview --json` prints: the steps it would take, each with the resource's new state (its inputs as
 * the provider's check returned them: a preview has no outputs yet), and the diagnostics (what diff printed).
 */
export interface PreviewJson {
  readonly steps?: ReadonlyArray<{
    readonly op: string;
    readonly urn: string;
    readonly newState?: { readonly inputs?: Record<string, unknown> };
  }>;
  readonly diagnostics?: ReadonlyArray<{ readonly message?: string }>;
}
