/**
 * The Pulumi program under mocks for a stack without TLS (the local stack with its `tls` key taken out): no
 * certificates are made, and `caPem` is exported as null. An undefined stack output made Pulumi print "Undefined
 * value (caPem) will not show as a stack output" on every preview and up of such a stack, a warning an operator can do
 * nothing about. (The program runs once per jest file, hence a file of its own.)
 */
import * as pulumi from "@pulumi/pulumi";
import { readStackFile } from "./support/stack-files";
import { asPulumiConfig, ofType, setProgramMocks, valueOf } from "./support/mock-program";

beforeAll(() =>
  setProgramMocks("plaintext", {
    "pulumi-nodejs:dynamic/nats-cluster:RollingUpgrade": (inputs) => ({ ...inputs, versions: {}, surgeRunning: false }),
  }),
);

describe("a stack without TLS", () => {
  let program: Record<string, unknown>;

  beforeAll(async () => {
    const { tls, ...plaintext } = readStackFile("local");
    expect(tls).toBeDefined(); // the committed local stack has TLS: this test takes it out
    pulumi.runtime.setAllConfig(asPulumiConfig(plaintext), []);
    program = require("../../index") as Record<string, unknown>;
    await valueOf(program.versions as pulumi.Output<unknown>);
  });

  it("makes no certificates and exports caPem as null, not undefined (which Pulumi warns of on every run)", () => {
    expect(ofType(":ClusterCertificates")).toHaveLength(0);
    expect(Object.keys(program)).toContain("caPem");
    expect(program.caPem).toBeNull();
  });
});
