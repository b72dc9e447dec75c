/**
 * What a `pulumi preview` of a local stack loads: neither the program's config decoding nor the RollingUpgrade
 * provider's check and diff may load the aws platform, @pulumi/aws or the AWS SDK (hundreds of modules on every
 * preview). Each case runs in a fresh Node process on the compiled code (dist/, built by `npm run build`), as the
 * program and the dynamic provider do, and lists the modules it loaded.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { NEW_MINOR, OLD_MINOR } from "../support/versions";

const REPO = path.join(__dirname, "..", "..");
const AWS = /components\/platforms\/aws\/|node_modules\/@pulumi\/aws\/|node_modules\/@aws-sdk\//;

/** Run `body` (CommonJS, async allowed) in a fresh node in the repo; the modules it had loaded when it ended. */
function modulesLoadedBy(body: string): string[] {
  const script = `(async () => {\n${body}\n})().then(() => console.log(JSON.stringify(Object.keys(require.cache))));`;
  const out = execFileSync(process.execPath, ["-e", script], { cwd: REPO, encoding: "utf8", env: process.env });
  return JSON.parse(out.trim().split("\n").at(-1)!) as string[];
}

const built = fs.existsSync(path.join(REPO, "dist", "components", "config", "decode.js"));
if (!built) console.warn("test/pulumi/preview-cost.test.ts SKIPPED: dist/ is not built (run `npm run build`)");
const describeBuilt = built ? describe : describe.skip;

describeBuilt("what a preview of a local stack loads", () => {
  it("decoding the local stack's config loads no other platform (the aws one would load @pulumi/aws)", () => {
    const loaded = modulesLoadedBy(`
      const yaml = require("js-yaml");
      const { decodeStackConfig, namespaceEntries } = require("./dist/components/config/decode");
      const doc = yaml.load(require("fs").readFileSync("stacks/Pulumi.local.yaml", "utf8"));
      decodeStackConfig(namespaceEntries(doc.config), { stack: "local", projectDir: process.cwd() });`);
    expect(loaded.some((m) => m.includes("components/platforms/local/"))).toBe(true);
    expect(loaded.filter((m) => AWS.test(m) || m.includes("components/platforms/ssh/"))).toEqual([]);
  });

  it("the RollingUpgrade provider's check and diff for the local platform load no AWS code", () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-preview-cost-"));
    try {
      const endpoint = (name: string, i: number) => ({
        name,
        host: "127.0.0.1",
        clientPort: 1 + i,
        clusterPort: 101 + i,
        monitorPort: 201 + i,
      });
      const inputs = {
        spec: {
          name: "cost",
          version: OLD_MINOR,
          members: ["a", "b", "c"].map(endpoint),
          surge: endpoint("s", 3),
          routes: { kind: "explicit" },
          jetstream: { enabled: true },
          lameDuck: { durationSeconds: 30, gracePeriodSeconds: 1 },
        },
        policy: {},
        platform: "local",
        settings: { stateDir },
      };
      const loaded = modulesLoadedBy(`
        const { rollingUpgradeProvider: p } = require("./dist/components/rolling-upgrade-provider");
        const olds = ${JSON.stringify(inputs)};
        const news = { ...olds, spec: { ...olds.spec, version: ${JSON.stringify(NEW_MINOR)} } };
        const checked = await p.check(olds, news);
        if (checked.failures.length) throw new Error(JSON.stringify(checked.failures));
        const d = await p.diff("cost", { ...olds, versions: {} }, news);
        if (!d.changes) throw new Error("no change seen");`);
      expect(loaded.some((m) => m.includes("dist/engine/hosts/local/"))).toBe(true);
      expect(loaded.filter((m) => AWS.test(m))).toEqual([]);
    } finally {
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
