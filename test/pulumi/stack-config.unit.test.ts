/**
 * The one schema of stack config: every stack file in stacks/ parses, and bad config is refused with an error that
 * names the config key and says how to fix it. Pure parsing: no Pulumi engine, no servers.
 */
import { decodeStackConfig as parseStackConfig, StackConfigError } from "../../components/config/decode";
import { LocalPlatformSettings } from "../../components/platforms/local";
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

  it("Pulumi.lab.yaml needs what only a running lab knows, and parses once it is set", () => {
    const lab = readStackFile("lab");
    const message = errorOf(lab);
    expect(message).toContain("nats-cluster:sshPrivateKey: missing; set the SSH private key as a secret");
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEUHRXK6IxsHQAVvSUmnwcHSLHz3kX0jq5tE7Ah2d0W0";
    const hostKeys = { "nats-a": key, "nats-b": key, "nats-c": key, "nats-surge": key };
    const config = parseStackConfig(
      { ...lab, ssh: { ...(lab.ssh as object), hostKeys }, sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----" },
      { stack: "lab", projectDir: "/project" },
    );
    expect(config.platform).toBe("ssh");
    expect(config.routes).toEqual({ kind: "seed", seeds: ["nats-a"] });
    expect(config.members.map((m) => [m.name, m.host, m.clientPort])).toEqual([
      ["nats-a", "10.213.0.11", 4222],
      ["nats-b", "10.213.0.12", 4222],
      ["nats-c", "10.213.0.13", 4222],
    ]);
    expect(config.platformSecrets).toEqual({ sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----" });
  });

  // The version is not asserted: it is what an operator's `pulumi config set nats-cluster:version` changes.
  it("local: the docs' walkthrough layout", () => {
    const config = parseStackConfig(local(), { stack: "local", projectDir: "/project" });
    expect(config.platform).toBe("local");
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
    // Kept as ~/…: the same stack looks the same from any checkout (no home directory or clone path in state).
    expect((config.platformSettings as LocalPlatformSettings).stateDir).toBe("~/.local/state/nats-cluster/local");
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
    const aws = prod.platformSettings as { subnetIds: string[]; adminCidr: string };
    expect(aws.subnetIds.length).toBeGreaterThan(0);
    expect(aws.adminCidr).toMatch(/\/\d+$/);
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
    expect(message).toMatch(/nats-cluster:platform: "gcp" is not a platform; write one of "aws", "local"/);
    expect(message).toContain("nats-cluster:verison: unknown key (did you mean version?)");
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

  it("release pins: each bad one named under its platform's key; good ones reach the driver settings", () => {
    const sha = "0".repeat(63) + "1";
    const message = errorOf({
      ...local(),
      local: {
        releaseBaseUrl: "http://mirror.lan/nats",
        releaseSha256: { "2.15": { amd64: sha }, "2.15.2": { amd64: "x" } },
      },
    });
    expect(message).toContain('nats-cluster:local.releaseSha256.2.15: "2.15" is not a nats-server version');
    expect(message).toContain("nats-cluster:local.releaseSha256.2.15.2.amd64: is not a SHA-256");
    const config = parseStackConfig(
      { ...local(), local: { releaseBaseUrl: "http://mirror.lan/nats", releaseSha256: { "2.15.2": { amd64: sha } } } },
      { stack: "local", projectDir: "/project" },
    );
    expect(config.platformSettings).toMatchObject({ releaseSha256: { "2.15.2": { amd64: sha } } });
  });

  it("wrong types say what to write", () => {
    const message = errorOf({
      ...local(),
      jetstream: "yes",
      lameDuckGracePeriodSeconds: "ten",
      rollout: { minHealthySeconds: -1, autoRollback: "maybe", watchPublishing: "no", bogus: 1 },
    });
    expect(message).toContain('nats-cluster:jetstream: "yes" is not true or false; write true or false');
    expect(message).toContain('nats-cluster:lameDuckGracePeriodSeconds: "ten" is not a whole number');
    // The rollout's rules are the engine's validatePolicy, reported under the config key.
    expect(message).toContain("nats-cluster:rollout.minHealthySeconds: -1 is below the minimum of 0");
    expect(message).toContain('nats-cluster:rollout.autoRollback: "maybe" is not true or false');
    expect(message).toContain('nats-cluster:rollout.watchPublishing: "no" is not true or false');
    expect(message).toContain("nats-cluster:rollout.bogus: unknown setting");
  });

  it("rollout.watchPublishing: false turns the watch's acked publishing off", () => {
    const config = parseStackConfig(
      { ...local(), rollout: { watchPublishing: false } },
      {
        stack: "test",
        projectDir: "/project",
      },
    );
    expect(config.rollout.watchPublishing).toBe(false);
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

  it("engine problems are reported under the config key they came from", () => {
    const seeds = errorOf({ ...local(), routeMode: "seed", seeds: ["nats-x"] });
    expect(seeds).toMatch(/nats-cluster:seeds\[0\]: seed "nats-x" is not a member/);
    expect(errorOf({ ...local(), clusterName: "bad name" })).toMatch(
      /nats-cluster:clusterName: cluster name "bad name"/,
    );
    expect(errorOf({ ...local(), systemAccount: { user: "sys" } })).toMatch(/nats-cluster:systemAccount\.password:/);
    expect(errorOf({ ...local(), lameDuckGracePeriodSeconds: 40 })).toMatch(
      /nats-cluster:lameDuckGracePeriodSeconds: grace period of 40s must be shorter/,
    );
    // A stop timeout that lame duck outlasts: the server would be killed while moving its clients.
    expect(errorOf({ ...local(), rollout: { stopTimeoutSeconds: 20 } })).toMatch(
      /nats-cluster:rollout\.stopTimeoutSeconds: a stop timeout of 20s does not outlast lame_duck_duration of 30s/,
    );
  });

  it("rollout.eventsFile is where `pulumi up` appends its events, apart from the engine's policy; a bad one is named", () => {
    const rollout = { ...(local().rollout as object), eventsFile: "~/nats-events.ndjson" };
    const config = parseStackConfig({ ...local(), rollout }, { stack: "test", projectDir: "/project" });
    expect(config.eventsFile).toBe("~/nats-events.ndjson");
    expect(config.rollout).not.toHaveProperty("eventsFile");
    expect(config.rollout).toEqual(parseStackConfig(local(), { stack: "test", projectDir: "/project" }).rollout);
    expect(parseStackConfig(local(), { stack: "test", projectDir: "/project" })).not.toHaveProperty("eventsFile");
    expect(errorOf({ ...local(), rollout: { eventsFile: true } })).toContain(
      "nats-cluster:rollout.eventsFile: true is not a text value; write the path of a file to append the rollout's " +
        "events to, e.g. ~/nats-rollout-events.ndjson",
    );
    expect(errorOf({ ...local(), rollout: { eventsFile: "logs/" } })).toContain(
      'nats-cluster:rollout.eventsFile: "logs/" is not a file\'s path',
    );
  });

  it("rollout.metricsFile is where `pulumi up` writes the rollout's figures; not a .prom file is named", () => {
    const rollout = { ...(local().rollout as object), metricsFile: "/var/lib/node_exporter/nats.prom" };
    const config = parseStackConfig({ ...local(), rollout }, { stack: "test", projectDir: "/project" });
    expect(config.metricsFile).toBe("/var/lib/node_exporter/nats.prom");
    expect(config.rollout).not.toHaveProperty("metricsFile");
    expect(errorOf({ ...local(), rollout: { metricsFile: "nats.txt" } })).toContain(
      'nats-cluster:rollout.metricsFile: "nats.txt" does not end in .prom; write the path of a .prom file, in ' +
        "node_exporter's textfile directory",
    );
    const drawn = parseStackConfig(
      { ...local(), rollout: { timelineFile: "~/rollout.svg" } },
      { stack: "test", projectDir: "/project" },
    );
    expect(drawn.timelineFile).toBe("~/rollout.svg");
    expect(errorOf({ ...local(), rollout: { timelineFile: "rollout.png" } })).toContain(
      'nats-cluster:rollout.timelineFile: "rollout.png" does not end in .svg; write the path of a .svg file',
    );
  });

  it("never quotes a secret, even when it is not valid JSON", () => {
    const message = errorOf({ ...local(), auth: '{"users":[{"user":"app","password":"hunter2-secret"}' });
    expect(message).toContain("nats-cluster:auth: expected an object, got text that is not valid JSON");
    expect(message).not.toContain("hunter2-secret");
    const wrongType = errorOf({ ...local(), auth: "hunter2-secret" });
    expect(wrongType).toContain('nats-cluster:auth: expected an object, got "[secret]"');
    expect(wrongType).not.toContain("hunter2-secret");
  });

  it("suggests the nearest key or field for a typo", () => {
    expect(errorOf({ ...local(), lameDuckDuration: 30 })).toContain(
      "unknown key (did you mean lameDuckDurationSeconds?)",
    );
    expect(errorOf({ ...local(), rollout: { minHealthySecond: 2 } })).toMatch(
      /rollout\.minHealthySecond: unknown setting/,
    );
    expect(
      errorOf({
        ...local(),
        surge: { name: "s", host: "127.0.0.1", clientPort: 1, clusterPort: 2, monitorPort: 3, jetstrem: true },
      }),
    ).toContain("nats-cluster:surge.jetstrem: unknown field (did you mean jetstream?)");
  });
});

describe("TLS keys", () => {
  const parse = (extra: Record<string, unknown>) =>
    parseStackConfig({ ...local(), ...extra }, { stack: "test", projectDir: "/project" });

  it("the local stack makes its own CA (tls.generate), clients required and routes on by default", () => {
    const config = parse({});
    expect(config.tlsGenerate).toEqual({});
    expect(config.tls).toEqual({});
    expect(config.tlsPem).toBeUndefined();
  });

  it("reads tls.generate's options, the client mode and route TLS; monitoring", () => {
    const config = parse({
      tls: { generate: { validityDays: 90, rotation: 2 }, clients: "optional", routes: "true" },
      monitoring: "system-account",
      systemAccount: { user: "sys", password: "pw" },
    });
    expect(config.tlsGenerate).toEqual({ validityDays: 90, rotation: 2 });
    expect(config.tls).toEqual({ clients: "optional", routes: true });
    expect(config.monitoring).toBe("system-account");
  });

  it("refuses a typo, a bad mode, generate beside tlsPem, a bad monitoring value: each named with its fix", () => {
    expect(errorOf({ ...local(), tls: { genrate: true } })).toMatch(/nats-cluster:tls\.genrate: unknown.*generate/);
    expect(errorOf({ ...local(), tls: { generate: true, clients: "sometimes" } })).toMatch(
      /nats-cluster:tls\.clients: "sometimes" is not "required", "optional" or "off"/,
    );
    expect(
      errorOf({ ...local(), tlsPem: { certPem: "-----BEGIN CERTIFICATE-----", keyPem: "k", caPem: "c" } }),
    ).toMatch(/nats-cluster:tls\.generate: set either tls\.generate or nats-cluster:tlsPem/);
    expect(errorOf({ ...local(), monitoring: "https" })).toMatch(/nats-cluster:monitoring: "https" is not "http"/);
  });

  it("operator-supplied PEM is checked at preview under nats-cluster:tlsPem, never quoting the key", () => {
    const message = errorOf({
      ...local(),
      tls: {},
      tlsPem: { certPem: "not a cert", keyPem: "-----BEGIN PRIVATE KEY-----\nSECRET\n", caPem: "also not" },
    });
    expect(message).toMatch(/nats-cluster:tlsPem.*must be a PEM certificate/);
    expect(message).not.toContain("SECRET");
  });
});
