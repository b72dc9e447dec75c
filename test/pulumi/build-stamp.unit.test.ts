/**
 * The build stamp (components/build-stamp.ts): the digest the build records and what loading the engine compares it
 * with. On files in a temp directory (no process, no socket).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BUILD_STAMP, sourceDigest, staleBuildProblem } from "../../components/build-stamp";

let root: string;
const write = (rel: string, text: string) => {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), text);
};
const stamp = () => write(BUILD_STAMP, JSON.stringify({ sources: sourceDigest(root) }));

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "nats-build-stamp-"));
  write("engine/index.ts", "export const a = 1;\n");
  write("engine/hosts/local/driver.ts", "export const b = 2;\n");
  write("components/index.ts", "export const c = 3;\n");
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

it("a build of these sources is current", () => {
  stamp();
  expect(staleBuildProblem(root)).toBeUndefined();
});

it("an edit, a new file or a removed one after the build is stale, and the message names the fix", () => {
  stamp();
  write("engine/hosts/local/driver.ts", "export const b = 3;\n");
  expect(staleBuildProblem(root)).toMatch(/was not built from the sources beside it .* run `npm run build` in /);
  stamp();
  write("components/new.ts", "export {};\n");
  expect(staleBuildProblem(root)).toBeDefined();
  stamp();
  fs.rmSync(path.join(root, "components", "new.ts"));
  expect(staleBuildProblem(root)).toBeDefined();
});

it("a file moved to another folder changes the digest (paths count, not only bytes)", () => {
  const before = sourceDigest(root);
  fs.renameSync(path.join(root, "engine", "index.ts"), path.join(root, "engine", "hosts", "index.ts"));
  expect(sourceDigest(root)).not.toBe(before);
});

it("files other than TypeScript sources do not count (declarations, maps, notes)", () => {
  const before = sourceDigest(root);
  write("engine/index.d.ts", "export declare const a: number;\n");
  write("components/README.md", "notes\n");
  expect(sourceDigest(root)).toBe(before);
});

it("no stamp, or one from a bare tsc, is stale", () => {
  expect(staleBuildProblem(root)).toBeDefined();
  write(BUILD_STAMP, "not json");
  expect(staleBuildProblem(root)).toBeDefined();
});

it("an installed package (compiled output only, no sources) is never called stale", () => {
  fs.rmSync(path.join(root, "engine"), { recursive: true });
  fs.rmSync(path.join(root, "components"), { recursive: true });
  write("dist/engine/index.js", "exports.a = 1;\n");
  expect(sourceDigest(root)).toBeUndefined();
  expect(staleBuildProblem(root)).toBeUndefined();
});
