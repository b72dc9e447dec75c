/**
 * The one schema of stack config: every stack file in stacks/ parses, and bad config is refused with an error that
 * names the config key and says how to fix it. Pure parsing: no Pulumi engine, no servers.
 */
import * as path from "node:path";
import { configKeyForField, parseStackConfig, StackConfigError } from "../../components/stack-config";
import { OLD_MINOR } from "../support/versions";
import { readStackFile, STACKS } from "./support/stack-files";

const local = () => readStackFile("local");

/** The error's message for `raw`, or a failure when it parses. */
function errorOf(raw: Record<string, unknown>): string {
  try {
    parseStackConfig(raw, { stack: "test", projectDir: "/project" });
  } catch (err) {
    expect(err).toBeInstanceOf(StackConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a StackConfigError");
}

describe("stack files", () => {
  it.each(STACKS)("Pulumi.%s.yaml parses and validates", (stack) => {
    const config = parseStackConfig(readStackFile(stack), { stack, projectDir: "/project" });
    expect(config.jetstream.enabled).toBe(true);
    expect(config.lameDuck).toEqual({ durationSeconds: 30, gracePeriodSeconds: 10 });
    expect(config.members.length).toBe({ local: 3, dev: 3, staging: 3, prod: 5 }[stack]);
  });

  it("local: the docs' walkthrough layout at the oldest pinned version", () => {
    const config = parseStackConfig(local(), { stack: "local", projectDir: "/project" });
    expect(config.platform).toBe("local");
    expect(config.version).toBe(OLD_MINOR);
    expect(config.members.map((m) => [m.name, m.host, m.clientPort, m.clusterPort, m.monitorPort])).toEqual([
      ["nats-a", "127.0.0.1", 4222, 6222, 8222],
      ["nats-b", "127.0.0.1", 4333, 6333, 8333],
      ["nats-c", "127.0.0.1", 4555, 6555, 8555],
    ]);
    expect(config.surge).toEqual({
      name: "nats-surge",
      host: "127.0.0.1",
      clientPort: 4444,
      clusterPort: 6444,
      monitorPort: 8444,
    });
    expect(config.local?.stateDir).toBe(path.join("/project", ".state", "local", "servers"));
    expect(config.rollout.minHealthySeconds).toBeLessThanOrEqual(5);
  });

  it("aws stacks: members named from the cluster on the default ports, aws settings present", () => {
    const prod = parseStackConfig(readStackFile("prod"), { stack: "prod", projectDir: "/project" });
    expect(prod.platform).toBe("aws");
    expect(prod.members.map((m) => m.name)).toEqual([
      "nats-prod-1",
      "nats-prod-2",
      "nats-prod-3",
      "nats-prod-4",
      "nats-prod-5",
    ]);
    expect(
      prod.members.every(
        (m) => m.clientPort === 4222 && m.clusterPort === 6222 && m.monitorPort === 8222 && m.host === undefined,
      ),
    ).toBe(true);
    expect(prod.aws?.subnetIds.length).toBeGreaterThan(0);
    expect(prod.aws?.adminCidr).toMatch(/\/\d+$/);
    expect(prod.auth).toBeUndefined(); // secrets are set with `pulumi config set --secret`, never in the file
  });
});

describe("bad config names the key and the fix", () => {
  it("a leading v on the version", () => {
    expect(errorOf({ ...local(), version: "v2.15.2" })).toContain(
      'nats-cluster:version: "v2.15.2" is not a version; write 2.15.2',
    );
  });

  it("a missing version says how to set it", () => {
    const { version: _v, ...raw } = local();
    expect(errorOf(raw)).toMatch(/nats-cluster:version: missing; .*pulumi config set nats-cluster:version/);
  });

  it("an unknown platform and a typo'd key", () => {
    const message = errorOf({ ...local(), platform: "gcp", verison: "2.15.2" });
    expect(message).toContain('nats-cluster:platform: "gcp" is not a platform; write "local" or "aws"');
    expect(message).toContain("nats-cluster:verison: unknown key");
  });

  it("lame duck below nats-server's 30 s minimum maps to lameDuckDurationSeconds", () => {
    expect(errorOf({ ...local(), lameDuckDurationSeconds: 5 })).toMatch(
      /nats-cluster:lameDuckDurationSeconds: invalid lame_duck_duration of 5s, minimum is 30 seconds/,
    );
  });

  it("duplicate member names and port clashes name the member field", () => {
    const members = (local().members as Array<Record<string, unknown>>).map((m) => ({ ...m }));
    members[1].name = "nats-a";
    members[2].clientPort = 4222;
    const message = errorOf({ ...local(), members });
    expect(message).toMatch(/nats-cluster:members\[1\]\.name: server name "nats-a" is already members\[0\]\.name/);
    expect(message).toMatch(
      /nats-cluster:members\[2\]\.clientPort: port 4222 on 127\.0\.0\.1 is already members\[0\]\.clientPort/,
    );
  });

  it("a local member without ports", () => {
    expect(errorOf({ ...local(), members: [{ name: "x" }] })).toMatch(/nats-cluster:members\[0\]\.clientPort: missing/);
  });

  it("wrong types say what to write", () => {
    const message = errorOf({
      ...local(),
      jetstream: "yes",
      lameDuckGracePeriodSeconds: "ten",
      rollout: { minHealthySeconds: -1, autoRollback: "maybe", bogus: 1 },
    });
    expect(message).toContain('nats-cluster:jetstream: "yes" is not true or false; write true or false');
    expect(message).toContain('nats-cluster:lameDuckGracePeriodSeconds: "ten" is not a whole number');
    expect(message).toContain("nats-cluster:rollout.minHealthySeconds: -1 is not a number of 0 or more");
    expect(message).toContain('nats-cluster:rollout.autoRollback: "maybe" is not true or false');
    expect(message).toContain("nats-cluster:rollout.bogus: unknown field");
  });

  it("auth problems map to auth and systemAccount keys without echoing secrets", () => {
    const message = errorOf({
      ...local(),
      auth: { token: "tok-secret-1" },
      systemAccount: { user: "sys", password: "" },
    });
    expect(message).toMatch(/nats-cluster:auth\.token: nats-server refuses a token together with accounts/);
    expect(message).toMatch(/nats-cluster:systemAccount\.password: system-account password must be a non-empty string/);
    expect(message).not.toContain("tok-secret-1");
  });

  it("aws: placeholders must still look like ids; missing settings are named", () => {
    const prod = readStackFile("prod");
    const aws: Record<string, unknown> = {
      ...(prod.aws as Record<string, unknown>),
      vpcId: "my-vpc",
      adminCidr: "10.0.0.0/33",
    };
    delete aws.region;
    const message = errorOf({ ...prod, aws, memberCount: 0 });
    expect(message).toContain('nats-cluster:aws.vpcId: "my-vpc" is not a VPC id');
    expect(message).toContain('nats-cluster:aws.adminCidr: "10.0.0.0/33" is not an IPv4 CIDR');
    expect(message).toContain("nats-cluster:aws.region: missing");
    expect(message).toContain("nats-cluster:memberCount: 0 members is not a cluster size this supports");
  });

  it("values arrive from Pulumi as strings (JSON for structured ones) and parse the same", () => {
    const raw = Object.fromEntries(
      Object.entries(local()).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
    );
    expect(parseStackConfig(raw, { stack: "local", projectDir: "/project" })).toEqual(
      parseStackConfig(local(), { stack: "local", projectDir: "/project" }),
    );
  });

  it("engine field paths map to config keys", () => {
    expect(configKeyForField("name", "local")).toBe("clusterName");
    expect(configKeyForField("lameDuck.gracePeriodSeconds", "local")).toBe("lameDuckGracePeriodSeconds");
    expect(configKeyForField("routes.seeds[0]", "local")).toBe("seeds[0]");
    expect(configKeyForField("auth.systemAccount.user", "aws")).toBe("systemAccount.user");
    expect(configKeyForField("members", "aws")).toBe("memberCount");
    expect(configKeyForField("surge.clientPort", "local")).toBe("surge.clientPort");
  });
});
