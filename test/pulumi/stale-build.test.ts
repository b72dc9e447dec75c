/**
 * A dist/ older than the sources is refused at preview, naming the command that fixes it (issue 18 item 1): the
 * root program runs the components from source but the providers load the engine compiled in dist/, so an edit
 * without `npm run build` would otherwise run the old engine. In a copy of the project (dist/ linked to the
 * repository's, current); a source file edited in the copy makes it stale, put back makes it current again.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { staleBuildProblem } from "../../components/build-stamp";
import {
  engineUnavailable,
  loopbackServers,
  projectCopy,
  pulumiIn,
  pulumiOk,
  writeStack,
} from "./support/pulumi-project";
import { OLD_MINOR } from "../support/versions";

const unavailable = engineUnavailable();
if (unavailable)
  console.warn(`test/pulumi/stale-build.test.ts SKIPPED: the real Pulumi engine is not available: ${unavailable}`);
const describeEngine = unavailable ? describe.skip : describe;

describeEngine("a stale build through the real Pulumi engine", () => {
  let dir: string;
  let project: string;

  beforeAll(async () => {
    const problem = staleBuildProblem(path.join(__dirname, "..", ".."));
    if (problem) throw new Error(`this test needs a current build: ${problem}`);
    ({ dir, project } = projectCopy("nats-stale-build-"));
    const { members, surge } = await loopbackServers();
    writeStack(project, "local", {
      version: OLD_MINOR,
      members,
      surge,
      local: { stateDir: path.join(dir, "servers") },
    });
    await pulumiOk(dir, project, ["stack", "init", "local"]);
  }, 120_000);

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("an engine source edited after the build: preview fails naming `npm run build`, nothing is planned", async () => {
    const source = path.join(project, "engine", "defaults.ts");
    const original = fs.readFileSync(source, "utf8");
    fs.writeFileSync(source, `${original}\n// an edit not built yet\n`);
    const { code, output } = await pulumiIn(dir, project, ["preview"]);
    fs.writeFileSync(source, original);
    expect(code).not.toBe(0);
    expect(output).toContain(`the compiled engine in ${path.join(project, "dist")} was not built from the sources`);
    expect(output).toContain(`run \`npm run build\` in ${project}, then retry`);
    expect(output).not.toMatch(/RollingUpgrade|LocalNatsProcess/); // refused before any resource was declared
    expect(output).not.toMatch(/\n\s+at [^\n]+:\d+:\d+\)/); // a message, not a stack trace
  });

  it("the same source put back: preview plans the cluster", async () => {
    const out = await pulumiOk(dir, project, ["preview"]);
    expect(out).toMatch(/RollingUpgrade nats-local-rollout create/);
  });
});
