import * as fs from "node:fs";
import * as path from "node:path";
import { namespaceEntries } from "../../../components/config/decode";

/** js-yaml ships with @pulumi/pulumi (a dependency of it); only its load function is needed here. */
const yaml = require("js-yaml") as { load(text: string): unknown };

export const STACKS = ["local", "dev", "staging", "prod"] as const;
export type StackName = (typeof STACKS)[number] | "lab" | "local-supercluster";

/** Found by walking up, so this also works compiled (dist/test/pulumi/support, npm run faults). */
export const STACKS_DIR = (() => {
  let dir = path.join(__dirname, "..", "..", "..");
  while (!fs.existsSync(path.join(dir, "stacks", "Pulumi.lab.yaml")) && path.dirname(dir) !== dir) {
    dir = path.dirname(dir);
  }
  return path.join(dir, "stacks");
})();

/** The `nats-cluster:*` values of stacks/Pulumi.<stack>.yaml, keyed without the namespace, as YAML typed them. */
export function readStackFile(stack: StackName): Record<string, unknown> {
  const doc = yaml.load(fs.readFileSync(path.join(STACKS_DIR, `Pulumi.${stack}.yaml`), "utf8")) as {
    config?: Record<string, unknown>;
  };
  return namespaceEntries(doc.config ?? {});
}
