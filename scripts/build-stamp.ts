/**
 * The last step of `npm run build`: record the digest of the sources just compiled in dist/build-stamp.json, which
 * loading the engine compares with the sources (components/build-stamp.ts) so a stale dist/ is refused.
 * Run from the compiled output: `node dist/scripts/build-stamp.js` (the repository is two levels up).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { BUILD_STAMP, BuildStamp, sourceDigest } from "../components/build-stamp";

const root = path.resolve(__dirname, "..", "..");
const sources = sourceDigest(root);
if (sources === undefined) throw new Error(`build-stamp: no sources under ${root}`);
const stamp: BuildStamp = { sources };
fs.writeFileSync(path.join(root, BUILD_STAMP), `${JSON.stringify(stamp)}\n`);
