/**
 * The SuperclusterRollout's Check, in the REAL dynamic-provider process over gRPC, refusing a change of a leaf's hub
 * credentials its hub does not accept yet (engine/supercluster/credentials-change.ts), judged against the old inputs
 * Pulumi hands it: a password changed in place is refused under `clusters[1].spec.hub.user` with the two-step way,
 * and never quoted; the second step of that way (switching the leaf to a user the hub already has) passes. A hub
 * `east` of two members and a leaf cluster `edge`, no JetStream, on loopback ports; Check starts no server.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { superclusterRolloutProvider } from "../../components/supercluster-rollout-provider";
import type { PublicClusterSpec } from "../../components/cluster-rollout-inputs";
import { freePorts } from "../support/ports";
import { OLD_MINOR, natsServerBinary } from "../support/versions";
import { ProviderProcess } from "./support/provider-process";

const REPO = path.join(__dirname, "..", "..");
const URN = "urn:pulumi:test::nats-cluster::pulumi-nodejs:dynamic/nats-cluster:SuperclusterRollout::test-rotation";
const SYS = { user: "sys", password: "rotation-sys-pw" };
const APP = { user: "app", password: "rotation-app-pw" };
type User = { readonly user: string; readonly password: string };
type Props = Record<string, unknown>;

describe("a leaf's hub credentials changed, as the provider's Check sees it", () => {
  let provider: ProviderProcess;
  let dir: string;
  let hub: PublicClusterSpec;
  let leaf: PublicClusterSpec;

  /** The provider's inputs: the leaf connecting as `hubUser`, the stack's client users `users`. */
  const inputs = (hubUser: string, users: ReadonlyArray<User>): Props => {
    const settings = { stateDir: path.join(dir, "servers"), binaryCacheDir: path.join(dir, "bins") };
    return {
      clusters: [
        { spec: hub, settings },
        { spec: { ...leaf, hub: { ...leaf.hub!, user: hubUser } }, settings },
      ],
      auth: { users, systemAccount: SYS },
      policy: {},
      platform: "local",
    };
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-sc-rotation-"));
    fs.mkdirSync(path.join(dir, "bins", `v${OLD_MINOR}`), { recursive: true });
    fs.symlinkSync(natsServerBinary(OLD_MINOR), path.join(dir, "bins", `v${OLD_MINOR}`, "nats-server"));
    const ports = await freePorts(20);
    const at = (name: string, i: number) => ({
      name,
      host: "127.0.0.1",
      clientPort: ports[4 * i],
      clusterPort: ports[4 * i + 1],
      monitorPort: ports[4 * i + 2],
      leafnodePort: ports[4 * i + 3],
    });
    const common = {
      version: OLD_MINOR,
      routes: { kind: "explicit" as const },
      jetstream: { enabled: false },
      lameDuck: { durationSeconds: 30, gracePeriodSeconds: 1 },
    };
    hub = {
      ...common,
      name: "east",
      members: [at("east1", 0), at("east2", 1)],
      surge: at("east-surge", 2),
      leafnodes: { expected: [{ name: "edge1" }] },
    };
    leaf = {
      ...common,
      name: "edge",
      members: [at("edge1", 3)],
      surge: at("edge-surge", 4),
      hub: { urls: [`nats-leaf://127.0.0.1:${hub.members[0].leafnodePort}`] },
    };
    provider = await ProviderProcess.start(superclusterRolloutProvider, REPO);
  }, 120_000);

  afterAll(async () => {
    await provider?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("takes the supercluster as first applied", async () => {
    const first = inputs("leaf", [APP, { user: "leaf", password: "old-leaf-pw" }]);
    expect((await provider.check(URN, {}, first)).failures).toEqual([]);
  });

  it("refuses the leaf's password changed in place, naming the field and the two steps, quoting no password", async () => {
    const before = inputs("leaf", [APP, { user: "leaf", password: "old-leaf-pw" }]);
    const after = inputs("leaf", [APP, { user: "leaf", password: "new-leaf-pw" }]);
    const { failures } = await provider.check(URN, before, after);
    expect(failures.map((f) => f.property)).toEqual(["clusters[1].spec.hub.user"]);
    expect(failures[0].reason).toMatch(/the password of "leaf" changes, which east does not accept yet/);
    expect(failures[0].reason).toMatch(/two steps/);
    expect(failures[0].reason).not.toMatch(/leaf-pw/);
  });

  it("takes the second step: the leaf switched to a user its hub already has", async () => {
    const both = [APP, { user: "leaf", password: "old-leaf-pw" }, { user: "leaf2", password: "leaf2-pw" }];
    expect((await provider.check(URN, inputs("leaf", both), inputs("leaf2", both))).failures).toEqual([]);
  });
});
