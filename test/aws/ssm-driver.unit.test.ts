/**
 * SsmHostDriver against a fake at the AWS SDK boundary (fake-aws.ts): the driver builds real SDK command objects,
 * the fake records them and simulates the SSM agent, Parameter Store and EC2. Verified only with this mock: nothing
 * here has run against AWS.
 */
import type { RunInstancesCommandInput } from "@aws-sdk/client-ec2";
import type { PutParameterCommandInput, SendCommandCommandInput } from "@aws-sdk/client-ssm";
import { TAG_CLUSTER, TAG_ROLE, TAG_SERVER } from "../../engine/hosts/aws/names";
import { SsmCommandError, SsmHostDriver, SsmHostDriverOptions } from "../../engine/hosts/aws/ssm-driver";
import { ServerEndpoint } from "../../engine/spec";
import { createHostDriver, settingsProblems } from "../../engine/hosts/aws";
import {
  assumedRoleCredentials,
  AwsClientConfig,
  AwsClientFactory,
  AwsService,
  clientConfigFor,
  realClients,
} from "../../engine/hosts/aws/sdk";
import { FakeAws, FakeCaller, FakeSts } from "./fake-aws";

const endpoint = (name: string, host: string): ServerEndpoint => ({
  name,
  host,
  clientPort: 4222,
  clusterPort: 6222,
  monitorPort: 8222,
});
const n1 = endpoint("n1", "10.0.1.10");
const n2 = endpoint("n2", "10.0.1.11");
const surge = endpoint("surge", "10.0.1.99");
const MEMBER_INSTANCES: Record<string, string> = { n1: "i-0000000000000aaa1", n2: "i-0000000000000aaa2" };

function setup(extra: Partial<SsmHostDriverOptions> = {}): { aws: FakeAws; driver: SsmHostDriver; log: string[] } {
  const aws = new FakeAws();
  for (const id of Object.values(MEMBER_INSTANCES)) aws.addMember(id);
  const log: string[] = [];
  const driver = new SsmHostDriver({
    region: "eu-west-1",
    clusterName: "nats-dev",
    instanceIdFor: (server) => MEMBER_INSTANCES[server.name],
    surge: { launchTemplateId: "lt-0123456789abcdef0", subnetId: "subnet-0abc" },
    pollMs: 1,
    commandTimeoutSeconds: 5,
    provisionTimeoutSeconds: 5,
    ssmClient: aws,
    ec2Client: aws,
    log: (line) => log.push(line),
    ...extra,
  });
  return { aws, driver, log };
}

describe("SsmHostDriver: loading the AWS SDK", () => {
  it("loads no SDK module to import or construct the driver, and loads it on the first command", async () => {
    const loaded: string[] = [];
    for (const sdk of ["@aws-sdk/client-ssm", "@aws-sdk/client-ec2"]) {
      jest.doMock(sdk, () => {
        loaded.push(sdk);
        return jest.requireActual(sdk);
      });
    }
    let fresh: typeof import("../../engine/hosts/aws/ssm-driver") | undefined;
    jest.isolateModules(() => {
      fresh = jest.requireActual<typeof import("../../engine/hosts/aws/ssm-driver")>(
        "../../engine/hosts/aws/ssm-driver",
      );
    });
    if (!fresh) throw new Error("module not loaded");
    const aws = new FakeAws();
    aws.addMember("i-1");
    const driver = new fresh.SsmHostDriver({
      region: "eu-west-1",
      clusterName: "c",
      instanceIdFor: () => "i-1",
      pollMs: 1,
      ssmClient: aws,
      ec2Client: aws,
    });
    driver.layout(n1);
    expect(loaded).toEqual([]);
    await driver.isRunning(n1);
    expect(loaded).toEqual(["@aws-sdk/client-ssm"]);
    jest.dontMock("@aws-sdk/client-ssm");
    jest.dontMock("@aws-sdk/client-ec2");
  });
});

describe("SsmHostDriver: commands", () => {
  it("stages through AWS-RunShellScript with the checksum-verified snippet, then activates with a link switch", async () => {
    const { aws, driver, log } = setup();
    await driver.provision(n1);
    const before = aws.sentOf("GetCommandInvocationCommand").length;
    await driver.stageBinary(n1, "2.15.2");

    const send = aws.sentOf<SendCommandCommandInput>("SendCommandCommand").at(-1)!;
    expect(send.DocumentName).toBe("AWS-RunShellScript");
    expect(send.InstanceIds).toEqual([MEMBER_INSTANCES.n1]);
    expect(send.Comment).toBe("nats-cluster: stage nats-server v2.15.2");
    expect(send.Parameters?.executionTimeout).toEqual(["600"]);
    const script = send.Parameters?.commands?.[0] ?? "";
    expect(script).toContain("https://github.com/nats-io/nats-server/releases/download/v2.15.2");
    expect(script).toContain("sha256sum -c");
    expect(script).toContain("nats_dir='/opt/nats'");
    // The stage never touches the link the running (or restarting) server uses.
    expect(script).not.toContain("ln -s");
    // InvocationDoesNotExist (retried), InProgress, Success.
    expect(aws.sentOf("GetCommandInvocationCommand").length - before).toBe(3);
    expect(await driver.installedVersion(n1)).toBeUndefined();
    expect(log).toContain(`n1 (${MEMBER_INSTANCES.n1}): stage nats-server v2.15.2: sent`);

    await driver.activateBinary(n1, "2.15.2");
    const activate = aws.scripts().find((s) => s.includes("ln -sfn")) ?? "";
    expect(activate).not.toContain("curl");
    expect(await driver.installedVersion(n1)).toBe("2.15.2");
  });

  it("maps each HostDriver method to its command", async () => {
    const { aws, driver } = setup();
    await driver.writeConfig(n1, "server_name: n1\n");
    await driver.start(n1);
    expect(await driver.isRunning(n1)).toBe(true);
    await driver.signalReload(n1);
    expect(await driver.readLog(n1, 25)).toContain("Server is ready");
    await driver.signalLameDuck(n1);
    await driver.kill(n1);
    expect(await driver.isRunning(n1)).toBe(false);

    const scripts = aws.scripts();
    expect(scripts.find((s) => s.includes("systemctl start 'nats-server'"))).toBeDefined();
    expect(
      scripts.find((s) => s.includes("/opt/nats/nats-server' --signal reload='/var/run/nats/nats.pid'")),
    ).toBeDefined();
    expect(scripts.find((s) => s.includes("journalctl -u 'nats-server' -n 25 --no-pager"))).toBeDefined();
    // Lame duck through systemd, whose ExecStop sends SIGUSR2: systemd then does not restart it on exit.
    expect(
      scripts.find((s) => s.includes("systemctl stop --no-block 'nats-server'") && s.includes("lame_duck=requested")),
    ).toBeDefined();
    expect(scripts.find((s) => s.includes("systemctl kill -s SIGKILL 'nats-server'"))).toBeDefined();
    expect(
      scripts.filter(
        (s) => s.includes("systemctl show -p MainPID --value 'nats-server'") && s.includes("active_state="),
      ),
    ).toHaveLength(2);
    expect(driver.layout(n1)).toEqual({
      pidFile: "/var/run/nats/nats.pid",
      storeDir: "/var/lib/nats/jetstream",
      tlsDir: "/etc/nats/tls",
    });
  });

  it("names the server, instance, command, status, exit code and stderr when a command fails", async () => {
    const { aws, driver, log } = setup();
    await driver.writeConfig(n1, "server_name: n1\n");
    aws.override = (script) =>
      script.includes("systemctl start")
        ? {
            statuses: ["InProgress", "InProgress", "Failed"],
            responseCode: 1,
            stderr: "nats-server exited right after start; last journal lines:\nnats.conf:3:1: unknown field",
          }
        : undefined;
    const error = await driver.start(n1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SsmCommandError);
    const message = (error as Error).message;
    expect(message).toContain(
      `n1 (${MEMBER_INSTANCES.n1}): start nats-server: Failed, exit code 1: nats-server exited right after start`,
    );
    expect(message).toContain("unknown field");
    expect(message).toMatch(/\[SSM command cmd-\d+\]$/);
    expect((error as SsmCommandError).status).toBe("Failed");
    expect(log.some((line) => line.includes("start nats-server: Failed"))).toBe(true);
  });

  it("gives up at its own deadline with an error naming the instance and the command, and cancels it", async () => {
    const { aws, driver } = setup({ commandTimeoutSeconds: 0.2, pollMs: 10 });
    aws.override = () => ({ statuses: ["InProgress"] });
    // The fake never finishes the command, so only the driver's own deadline can end this call (else jest's timeout
    // fails it).
    const error = await driver.signalReload(n2).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SsmCommandError);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^n2 \\(${MEMBER_INSTANCES.n2}\\): reload the config \\(SIGHUP\\): did not finish within 0.2s \\(last status InProgress\\); cancelled it \\[SSM command cmd-\\d+\\]$`,
      ),
    );
    const [cancel] = aws.sentOf<{ CommandId: string; InstanceIds: string[] }>("CancelCommandCommand");
    expect(cancel.InstanceIds).toEqual([MEMBER_INSTANCES.n2]);
    expect((error as SsmCommandError).commandId).toBe(cancel.CommandId);
  });

  it("reports an instance SSM cannot reach", async () => {
    const { driver } = setup({ instanceIdFor: () => "i-0000000000000dead", provisionTimeoutSeconds: 0.2 });
    await expect(driver.signalReload(n1)).rejects.toThrow(
      /^n1 \(i-0000000000000dead\): reload the config \(SIGHUP\): SendCommand failed \(InvalidInstanceId/,
    );
    // A change first waits for the instance to register, and says what to check when it never does.
    await expect(driver.start(n1)).rejects.toThrow(
      /^n1 \(i-0000000000000dead\): not reachable through SSM before the deadline .*lets the SSM agent register \(ssm:UpdateInstanceInformation, ssmmessages, ec2messages\)/,
    );
  });
});

describe("SsmHostDriver: configs never in a command, an output or a log line", () => {
  const config = [
    "# Written by the nats-cluster rollout engine; edits are overwritten.",
    "# nats-cluster restart-digest: sha256:" + "ab".repeat(32),
    "server_name: n1",
    "authorization {",
    '  users: [{ user: "app", password: "pa55-w0rd-secret-1" }]',
    '  token: "tok-secret-2"',
    "}",
    "",
  ].join("\n");

  it("stores it as a SecureString, has the host fetch that version, and reads back the exact text", async () => {
    const { aws, driver, log } = setup();
    await driver.writeConfig(n1, config);

    const [put] = aws.sentOf<PutParameterCommandInput>("PutParameterCommand");
    expect(put).toMatchObject({
      Name: "/nats-cluster/nats-dev/n1/nats.conf",
      Type: "SecureString",
      Overwrite: true,
      Tier: "Intelligent-Tiering",
    });
    expect(Buffer.from(put.Value ?? "", "base64").toString("utf8")).toBe(config);
    const write = aws.scripts().find((s) => s.includes("aws ssm get-parameter")) ?? "";
    expect(write).toContain("--name '/nats-cluster/nats-dev/n1/nats.conf:1' --with-decryption");
    expect(write).toContain("chmod 0600");
    expect(write).toContain("--region 'eu-west-1'");

    expect(await driver.readConfig(n1)).toBe(config);
    // A second write is a new version; the host names it and the text follows.
    const changed = config.replace("tok-secret-2", "tok-secret-3");
    await driver.writeConfig(n1, changed);
    expect(await driver.readConfig(n1)).toBe(changed);

    const secrets = ["pa55-w0rd-secret-1", "tok-secret-2", "tok-secret-3"];
    const encoded = [config, changed].map((c) => Buffer.from(c).toString("base64"));
    const everythingButPuts = JSON.stringify(aws.sent.filter((s) => s.command !== "PutParameterCommand"));
    const visible = [everythingButPuts, ...aws.outputs, ...log];
    for (const text of visible) {
      for (const secret of [...secrets, ...encoded, config, changed]) expect(text).not.toContain(secret);
    }
    // The parameters themselves are the only place the text goes, encrypted (SecureString).
    expect(aws.sentOf<PutParameterCommandInput>("PutParameterCommand").every((p) => p.Type === "SecureString")).toBe(
      true,
    );
  });

  it("reads no config, an edited config, or one whose version is gone as undefined", async () => {
    const { aws, driver, log } = setup();
    expect(await driver.readConfig(n1)).toBeUndefined();
    await driver.writeConfig(n1, config);
    const host = aws.hosts.get(MEMBER_INSTANCES.n1);
    if (!host) throw new Error("no fake host");
    host.config = `${config}# edited by hand\n`;
    expect(await driver.readConfig(n1)).toBeUndefined();
    expect(log.some((line) => line.includes("was not written by this driver or was edited since"))).toBe(true);
    await driver.writeConfig(n1, config);
    aws.params.clear();
    expect(await driver.readConfig(n1)).toBeUndefined();
  });

  it("refuses a config too large for a parameter, naming the server", async () => {
    const { driver } = setup();
    await expect(driver.writeConfig(n1, "x".repeat(7000))).rejects.toThrow(
      /^n1: its config is 7000 bytes .* more than an SSM parameter holds/,
    );
  });
});

describe("SsmHostDriver: TLS material and the cluster's KMS key", () => {
  const KEY = "arn:aws:kms:eu-west-1:123456789012:key/0000-cluster-key";
  // A distinctive line stands for the key: the real PEM body is base64 too, so its lines are what could leak.
  const tls = {
    certPem: "-----BEGIN CERTIFICATE-----\nQ0VSVC1mb3ItbjEtb25seQ==\n-----END CERTIFICATE-----\n",
    keyPem: "-----BEGIN PRIVATE KEY-----\nS0VZLXNlY3JldC1saW5lLW5ldmVyLWxvZ2dlZA==\n-----END PRIVATE KEY-----\n",
    caPem: "-----BEGIN CERTIFICATE-----\nQ0EtY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
  };
  const config = 'server_name: n1\ntls { cert_file: "/etc/nats/tls/server-cert.pem" }\n';

  it("stores each file as a SecureString under the cluster's key; the host fetches them into /etc/nats/tls first", async () => {
    const { aws, driver, log } = setup({ kmsKeyId: KEY });
    expect(driver.layout(n1).tlsDir).toBe("/etc/nats/tls");
    await driver.writeConfig(n1, config, tls);

    const puts = aws.sentOf<PutParameterCommandInput>("PutParameterCommand");
    expect(puts.map((p) => p.Name)).toEqual([
      "/nats-cluster/nats-dev/n1/tls/server-cert.pem",
      "/nats-cluster/nats-dev/n1/tls/server-key.pem",
      "/nats-cluster/nats-dev/n1/tls/ca.pem",
      "/nats-cluster/nats-dev/n1/nats.conf",
    ]);
    for (const put of puts) expect(put).toMatchObject({ Type: "SecureString", KeyId: KEY, Overwrite: true });
    expect(Buffer.from(puts[1].Value ?? "", "base64").toString("utf8")).toBe(tls.keyPem);

    const host = aws.hosts.get(MEMBER_INSTANCES.n1);
    expect(Object.fromEntries(host?.tlsFiles ?? [])).toEqual({
      "/etc/nats/tls/server-cert.pem": tls.certPem,
      "/etc/nats/tls/server-key.pem": tls.keyPem,
      "/etc/nats/tls/ca.pem": tls.caPem,
    });
    expect(host?.config).toBe(config);

    const script = aws.scripts().find((s) => s.includes("aws ssm get-parameter")) ?? "";
    // The files first (0700 dir owned by nats, each 0600 and renamed into place), then the config.
    expect(script).toContain("install -d -m 0700 -o nats -g nats '/etc/nats/tls'");
    expect(script.indexOf("/tls/server-key.pem:1'")).toBeGreaterThan(0);
    expect(script.indexOf("/tls/server-key.pem:1'")).toBeLessThan(script.indexOf("/n1/nats.conf:1'"));
    expect(script.match(/chmod 0600 "\$t"/g)).toHaveLength(3);
    expect(script.match(/chown nats:nats "\$t"/g)).toHaveLength(3);

    // The PEM (or its base64) is in no command, no command output and no log line: only in PutParameter values.
    const secret = [tls.keyPem, "S0VZLXNlY3JldC1saW5lLW5ldmVyLWxvZ2dlZA==", "KEY-secret-line-never-logged"];
    secret.push(Buffer.from(tls.keyPem).toString("base64"));
    const visible = [
      JSON.stringify(aws.sent.filter((s) => s.command !== "PutParameterCommand")),
      ...aws.outputs,
      ...log,
    ];
    for (const text of visible) for (const s of secret) expect(text).not.toContain(s);
  });

  it("the gateway's CA bundle, when there is one, is one more SecureString the host writes beside ca.pem", async () => {
    const { aws, driver } = setup({ kmsKeyId: KEY });
    const gatewayCaPem = `${tls.caPem}-----BEGIN CERTIFICATE-----\nwest\n-----END CERTIFICATE-----\n`;
    await driver.writeConfig(n1, config, { ...tls, gatewayCaPem });
    expect(aws.hosts.get(MEMBER_INSTANCES.n1)?.tlsFiles.get("/etc/nats/tls/gateway-ca.pem")).toBe(gatewayCaPem);
    expect(aws.sentOf<{ Name: string }>("PutParameterCommand").map((p) => p.Name)).toContain(
      "/nats-cluster/nats-dev/n1/tls/gateway-ca.pem",
    );
    const script = aws.scripts().find((s) => s.includes("aws ssm get-parameter")) ?? "";
    expect(script.match(/chmod 0600 "\$t"/g)).toHaveLength(4);
  });

  it("refuses a host whose certificate is not the one stored", async () => {
    const { aws, driver } = setup({ kmsKeyId: KEY });
    await driver.writeConfig(n1, config, tls);
    aws.override = (script) =>
      script.includes("aws ssm get-parameter")
        ? { statuses: ["Success"], stdout: "tls_cert_sha256=0000\nconfig_version=2\n", responseCode: 0 }
        : undefined;
    await expect(driver.writeConfig(n1, config, tls)).rejects.toThrow(
      /^n1 \(i-0000000000000aaa1\): write \/etc\/nats\/tls: the certificate on the host is not the one stored/,
    );
  });

  it("deprovision removes the TLS files and every parameter (the gateway CA bundle's too, if any); a config without TLS stays on the default key", async () => {
    const { aws, driver } = setup({ kmsKeyId: KEY });
    await driver.writeConfig(n1, config, tls);
    await driver.deprovision(n1);
    expect(aws.hosts.get(MEMBER_INSTANCES.n1)?.tlsFiles.size).toBe(0);
    expect(aws.scripts().find((s) => s.includes("config=removed"))).toContain("rm -rf '/etc/nats/tls'");
    expect(aws.sentOf<{ Name: string }>("DeleteParameterCommand").map((d) => d.Name)).toEqual([
      "/nats-cluster/nats-dev/n1/nats.conf",
      "/nats-cluster/nats-dev/n1/tls/server-cert.pem",
      "/nats-cluster/nats-dev/n1/tls/server-key.pem",
      "/nats-cluster/nats-dev/n1/tls/ca.pem",
      "/nats-cluster/nats-dev/n1/tls/gateway-ca.pem",
    ]);
    expect([...aws.params.keys()]).toEqual([]);

    const plain = setup();
    await plain.driver.writeConfig(n1, "server_name: n1\n");
    expect(plain.aws.sentOf<PutParameterCommandInput>("PutParameterCommand")[0].KeyId).toBeUndefined();
    expect(plain.aws.scripts().some((s) => s.includes("/tls/"))).toBe(false);
  });

  it("takes the key from the platform's settings (createHostDriver)", () => {
    const { createHostDriver, settingsProblems } =
      jest.requireActual<typeof import("../../engine/hosts/aws")>("../../engine/hosts/aws");
    const settings = { region: "eu-west-1", clusterName: "c", instanceIds: {}, kmsKeyId: KEY };
    expect(settingsProblems(settings)).toEqual([]);
    expect(settingsProblems({ ...settings, kmsKeyId: 3 })).toEqual([
      { field: "kmsKeyId", message: "must be a KMS key ARN, id or alias" },
    ]);
    const driver = createHostDriver(settings) as unknown as { options: { kmsKeyId?: string } };
    expect(driver.options.kmsKeyId).toBe(KEY);
  });
});

describe("SsmHostDriver: waiting for exit", () => {
  it("waits on the host with one command per call (not one command per poll) until the process is gone", async () => {
    const { aws, driver } = setup();
    const host = aws.hosts.get(MEMBER_INSTANCES.n1);
    if (!host) throw new Error("no fake host");
    await driver.writeConfig(n1, "server_name: n1\n");
    await driver.start(n1);
    host.drainChecks = 3;
    await driver.signalLameDuck(n1);
    const sentBefore = aws.sentOf("SendCommandCommand").length;
    expect(await driver.waitForExit(n1, 5000)).toBe(true);
    // The host drains for 3 s of the 5 s allowed: one command waited for it, inside a deadline that outlasts it.
    expect(aws.sentOf("SendCommandCommand").length - sentBefore).toBe(1);
    expect(host.waitCommands).toBe(1);
    const wait = aws.sentOf<SendCommandCommandInput>("SendCommandCommand").at(-1);
    expect(wait?.Parameters?.commands?.[0]).toContain("echo exited=yes");
    expect(Number(wait?.Parameters?.executionTimeout?.[0])).toBeGreaterThan(5);
    expect(aws.scripts().filter((s) => s.includes("active_state="))).toHaveLength(0);
  });

  it("returns false at its timeout while the server is still draining", async () => {
    const { aws, driver } = setup({ pollMs: 20 });
    const host = aws.hosts.get(MEMBER_INSTANCES.n1);
    if (!host) throw new Error("no fake host");
    await driver.writeConfig(n1, "server_name: n1\n");
    await driver.start(n1);
    host.drainChecks = 1_000_000;
    await driver.signalLameDuck(n1);
    // The fake host drains forever, so only the timeout can end this wait (else jest's timeout fails the test).
    expect(await driver.waitForExit(n1, 150)).toBe(false);
    expect(await driver.waitForExit(n1, 0)).toBe(false);
  });
});

describe("SsmHostDriver: the surge VM", () => {
  it("launches it from the launch template at its address, waits for SSM and cloud-init, and terminates it", async () => {
    const { aws, driver } = setup();
    // Before: no instance, so nothing to ask SSM.
    expect(await driver.isRunning(surge)).toBe(false);
    expect(await driver.installedVersion(surge)).toBeUndefined();
    expect(await driver.readConfig(surge)).toBeUndefined();
    expect(aws.sentOf("SendCommandCommand")).toHaveLength(0);

    await driver.provision(surge);
    const [run] = aws.sentOf<RunInstancesCommandInput>("RunInstancesCommand");
    expect(run).toMatchObject({
      LaunchTemplate: { LaunchTemplateId: "lt-0123456789abcdef0", Version: "$Default" },
      SubnetId: "subnet-0abc",
      PrivateIpAddress: "10.0.1.99",
      MinCount: 1,
      MaxCount: 1,
    });
    expect(run.ClientToken).toMatch(/^[0-9a-f-]{36}$/);
    expect(run.TagSpecifications?.[0]?.Tags).toEqual(
      expect.arrayContaining([
        { Key: TAG_CLUSTER, Value: "nats-dev" },
        { Key: TAG_SERVER, Value: "surge" },
        { Key: TAG_ROLE, Value: "surge" },
      ]),
    );
    expect(aws.sentOf("DescribeInstanceInformationCommand").length).toBeGreaterThan(0);
    const launchedId = aws.instances.find((i) => i.tags[TAG_SERVER] === "surge")?.id ?? "";
    const boot = aws.sentOf<SendCommandCommandInput>("SendCommandCommand")[0];
    expect(boot.InstanceIds).toEqual([launchedId]);
    expect(boot.Parameters?.commands?.[0]).toContain("cloud-init status --wait");

    await driver.stageBinary(surge, "2.15.2");
    await driver.activateBinary(surge, "2.15.2");
    await driver.writeConfig(surge, "server_name: surge\n");
    await driver.start(surge);
    expect(await driver.isRunning(surge)).toBe(true);

    await driver.deprovision(surge);
    expect(aws.sentOf<{ InstanceIds: string[] }>("TerminateInstancesCommand")[0].InstanceIds).toEqual([launchedId]);
    expect(aws.sentOf<{ Name: string }>("DeleteParameterCommand")[0].Name).toBe(
      "/nats-cluster/nats-dev/surge/nats.conf",
    );
    expect(aws.instances.find((i) => i.id === launchedId)?.state).toBe("terminated");
    expect(await driver.isRunning(surge)).toBe(false);
  });

  it("adopts a running orphan instead of launching a second one", async () => {
    const { aws, driver } = setup();
    aws.addTagged("i-0000000000000orph", { [TAG_CLUSTER]: "nats-dev", [TAG_SERVER]: "surge", [TAG_ROLE]: "surge" });
    await driver.provision(surge);
    expect(aws.sentOf("RunInstancesCommand")).toHaveLength(0);
    expect(aws.sentOf<SendCommandCommandInput>("SendCommandCommand")[0].InstanceIds).toEqual(["i-0000000000000orph"]);
  });

  it("terminates a stopped orphan (it holds the address) and launches a fresh VM", async () => {
    const { aws, driver } = setup();
    aws.addTagged("i-0000000000000stop", { [TAG_CLUSTER]: "nats-dev", [TAG_SERVER]: "surge" }, "stopped");
    await driver.provision(surge);
    expect(aws.sentOf<{ InstanceIds: string[] }>("TerminateInstancesCommand")[0].InstanceIds).toEqual([
      "i-0000000000000stop",
    ]);
    expect(aws.sentOf("RunInstancesCommand")).toHaveLength(1);
  });

  it("refuses a surge host that is not an IPv4 address, and a missing launch template", async () => {
    await expect(setup().driver.provision(endpoint("surge", "surge.internal"))).rejects.toThrow(
      /surge: host "surge.internal" must be a private IPv4 address in subnet subnet-0abc/,
    );
    await expect(setup({ surge: undefined }).driver.provision(surge)).rejects.toThrow(
      /surge: no surge launch template configured/,
    );
  });

  it("provisions a member by waiting for SSM and cloud-init only, and deprovisions it without terminating", async () => {
    const { aws, driver } = setup();
    await driver.provision(n1);
    await driver.writeConfig(n1, "server_name: n1\n");
    await driver.deprovision(n1);
    // The metrics exporter goes with the server.
    expect(aws.hosts.get(MEMBER_INSTANCES.n1)?.events).toContain("remove-exporter");
    expect(aws.sentOf("RunInstancesCommand")).toHaveLength(0);
    expect(aws.sentOf("TerminateInstancesCommand")).toHaveLength(0);
    expect(aws.hosts.get(MEMBER_INSTANCES.n1)?.config).toBeUndefined();
    expect(aws.params.size).toBe(0);
  });
});

describe("SsmHostDriver: the binary is staged while the member serves, activated after lame duck", () => {
  it("a failing download leaves the member running, on its binary, and never in lame duck", async () => {
    const { aws, driver } = setup();
    const host = aws.hosts.get(MEMBER_INSTANCES.n1)!;
    await driver.stageBinary(n1, "2.14.9");
    await driver.activateBinary(n1, "2.14.9");
    await driver.writeConfig(n1, "server_name: n1\n");
    await driver.start(n1);
    host.events.length = 0;
    const mark = aws.scripts().length;

    host.downloadFails = true;
    const error = await driver.stageBinary(n1, "2.15.2").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SsmCommandError);
    expect((error as Error).message).toContain(
      "stage nats-server v2.15.2: Failed, exit code 1: stage nats-server v2.15.2: download of " +
        "https://github.com/nats-io/nats-server/releases/download/v2.15.2/nats-server-v2.15.2-linux-amd64.tar.gz failed",
    );
    expect(host.events).toEqual(["stage 2.15.2 failed"]);
    expect(await driver.isRunning(n1)).toBe(true);
    expect(await driver.installedVersion(n1)).toBe("2.14.9");
    // Nothing but the stage (and the status reads above) reached the host: no lame duck, no link switch.
    expect(
      aws
        .scripts()
        .slice(mark)
        .some((s) => s.includes("lame_duck=requested") || s.includes("ln -sfn")),
    ).toBe(false);

    // Once the download works: stage while it serves, then (after lame duck) the link switch, then start.
    host.downloadFails = false;
    host.events.length = 0;
    await driver.stageBinary(n1, "2.15.2");
    expect(await driver.installedVersion(n1)).toBe("2.14.9");
    await driver.signalLameDuck(n1);
    expect(await driver.waitForExit(n1, 5000)).toBe(true);
    await driver.activateBinary(n1, "2.15.2");
    await driver.start(n1);
    expect(host.events).toEqual(["stage 2.15.2", "lame-duck", "activate 2.15.2", "start"]);
    expect(await driver.installedVersion(n1)).toBe("2.15.2");
  });
});

describe("SsmHostDriver: the stop timeout follows the policy, not the first boot", () => {
  it("rewrites the TimeoutStopSec drop-in in the same command as the lame duck, and before every start", async () => {
    const { aws, driver } = setup({ stopTimeoutSeconds: 200 });
    const host = aws.hosts.get(MEMBER_INSTANCES.n1)!;
    await driver.writeConfig(n1, "server_name: n1\n");
    await driver.start(n1);
    await driver.signalLameDuck(n1);
    expect(host.events).toEqual(["stop-timeout 200", "start", "stop-timeout 200", "lame-duck"]);
    expect(host.stopTimeoutSeconds).toBe(200);
    const lameDuck = aws.scripts().find((s) => s.includes("lame_duck=requested")) ?? "";
    expect(lameDuck).toContain("/etc/systemd/system/nats-server.service.d/10-stop-timeout.conf");
    expect(lameDuck.indexOf("systemctl daemon-reload")).toBeLessThan(lameDuck.indexOf("systemctl stop --no-block"));
  });

  it("leaves the host's timeout alone when none is configured", async () => {
    const { aws, driver } = setup();
    await driver.writeConfig(n1, "server_name: n1\n");
    await driver.start(n1);
    await driver.signalLameDuck(n1);
    expect(aws.scripts().some((s) => s.includes("10-stop-timeout.conf"))).toBe(false);
  });
});

describe("SsmHostDriver: fresh instances that SSM does not know yet", () => {
  it("observes a member that is not registered yet as not running, then provision waits for it", async () => {
    const aws0 = setup();
    const { aws, driver, log } = aws0;
    aws.addMember("i-0000000000000new1", { registerAfter: 6, launched: new Date() });
    const fresh = endpoint("n3", "10.0.1.12");
    const ids: Record<string, string> = { ...MEMBER_INSTANCES, n3: "i-0000000000000new1" };
    const d = new SsmHostDriver({
      region: "eu-west-1",
      clusterName: "nats-dev",
      instanceIdFor: (server) => ids[server.name],
      pollMs: 1,
      commandTimeoutSeconds: 5,
      provisionTimeoutSeconds: 5,
      ssmClient: aws,
      ec2Client: aws,
      log: (line) => log.push(line),
    });
    void driver;
    // The planner's observation: SendCommand answers InvalidInstanceId, which here means "not running yet".
    expect(await d.isRunning(fresh)).toBe(false);
    expect(await d.installedVersion(fresh)).toBeUndefined();
    expect(await d.readConfig(fresh)).toBeUndefined();
    expect(
      log.some((l) => /n3 \(i-0000000000000new1\): not registered with SSM yet \(launched \d+s ago\)/.test(l)),
    ).toBe(true);
    // start-cluster provisions first: it waits for the registration, then for cloud-init.
    await d.provision(fresh);
    expect(aws.sentOf("DescribeInstanceInformationCommand").length).toBeGreaterThan(0);
    await d.writeConfig(fresh, "server_name: n3\n");
    await d.stageBinary(fresh, "2.15.2");
    await d.activateBinary(fresh, "2.15.2");
    await d.start(fresh);
    expect(await d.isRunning(fresh)).toBe(true);
  });

  it("a member added later is waited for before its first change, even without provision (recover-member)", async () => {
    const { aws, log } = setup();
    aws.addMember("i-0000000000000new2", { registerAfter: 4, launched: new Date() });
    const d = new SsmHostDriver({
      region: "eu-west-1",
      clusterName: "nats-dev",
      instanceIdFor: () => "i-0000000000000new2",
      pollMs: 1,
      provisionTimeoutSeconds: 5,
      ssmClient: aws,
      ec2Client: aws,
      log: (line) => log.push(line),
    });
    await d.stageBinary(n1, "2.15.2");
    expect(aws.hosts.get("i-0000000000000new2")?.events).toEqual(["stage 2.15.2"]);
  });

  it("an instance that runs but never registered, long after its launch, is an error that says what to check", async () => {
    const { aws } = setup({ instanceIdFor: () => "i-0000000000000old1" });
    aws.addMember("i-0000000000000old1", { registerAfter: 1_000_000, launched: new Date(Date.now() - 3_600_000) });
    const d = new SsmHostDriver({
      region: "eu-west-1",
      clusterName: "nats-dev",
      instanceIdFor: () => "i-0000000000000old1",
      pollMs: 1,
      ssmClient: aws,
      ec2Client: aws,
    });
    await expect(d.isRunning(n1)).rejects.toThrow(
      /n1 \(i-0000000000000old1\): check whether nats-server runs: the instance runs but SSM does not know it, 900s or more after its launch: check its instance profile lets the SSM agent register/,
    );
  });

  it("a surge VM EC2 does not list yet right after RunInstances is waited for, not orphaned", async () => {
    const { aws, driver } = setup();
    aws.launchBehaviour = { invisibleFor: 3, registerAfter: 3, bootStatus: "done" };
    await driver.provision(surge);
    const launched = aws.instances.filter((i) => i.tags[TAG_SERVER] === "surge");
    expect(launched).toHaveLength(1);
    expect(launched[0].state).toBe("running");
    expect(aws.sentOf("TerminateInstancesCommand")).toHaveLength(0);
    // Later calls find it even where the tag filter would still lag: the driver remembers what it launched.
    await driver.stageBinary(surge, "2.15.2");
    await driver.activateBinary(surge, "2.15.2");
    expect(await driver.installedVersion(surge)).toBe("2.15.2");
  });
});

describe("SsmHostDriver: a failed first boot is retried over SSM", () => {
  it("runs the host preparation again (same script as the user data, without the binary) and goes on", async () => {
    const { aws, driver, log } = setup({
      dataVolumeFor: (server) => (server.name === "n1" ? { volumeId: "vol-0123456789abcdef0" } : undefined),
      stopTimeoutSeconds: 180,
    });
    const host = aws.hosts.get(MEMBER_INSTANCES.n1)!;
    host.bootStatus =
      "failed: install nats-server v2.14.9 from https://github.com/nats-io/nats-server/releases/download: stage " +
      "nats-server v2.14.9: download of …/nats-server-v2.14.9-linux-amd64.tar.gz failed (exit 1)";
    await driver.provision(n1);
    expect(host.events).toEqual(["prepare"]);
    expect(log.some((l) => l.includes("first boot did not finish: install nats-server v2.14.9"))).toBe(true);
    const prep = aws.scripts().find((s) => s.includes("nats-cluster host preparation done")) ?? "";
    expect(prep).toContain(
      "for d in '/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0' '/dev/sdf' '/dev/xvdf'; do",
    );
    expect(prep).toContain("mkfs.xfs -q -L nats-data");
    expect(prep).toContain("TimeoutStopSec=180");
    expect(prep).not.toContain("curl"); // the binary comes from the rollout's stage
    // The surge VM has no data volume.
    expect(driver.prepScript(surge)).not.toContain("mkfs");
  });

  it("terminates a surge VM it launched that never comes up, instead of leaving it for the next rollout", async () => {
    const { aws, driver, log } = setup({ provisionTimeoutSeconds: 0.3 });
    aws.launchBehaviour = { invisibleFor: 0, registerAfter: 1_000_000, bootStatus: "done" };
    await expect(driver.provision(surge)).rejects.toThrow(/surge \(i-launched-\d+\): not reachable through SSM/);
    const launched = aws.instances.filter((i) => i.tags[TAG_SERVER] === "surge");
    expect(launched).toHaveLength(1);
    expect(["shutting-down", "terminated"]).toContain(launched[0].state);
    expect(log.some((l) => /surge: terminating i-launched-\d+: it did not come up/.test(l))).toBe(true);
  });

  it("replaces a left-over surge VM that never came up instead of adopting it again", async () => {
    const { aws, driver } = setup({ provisionTimeoutSeconds: 0.5 });
    aws.addTagged(
      "i-0000000000000sick",
      { [TAG_CLUSTER]: "nats-dev", [TAG_SERVER]: "surge", [TAG_ROLE]: "surge" },
      "running",
      { registerAfter: 1_000_000, launched: new Date(Date.now() - 3_600_000) },
    );
    await driver.provision(surge);
    expect(aws.sentOf<{ InstanceIds: string[] }>("TerminateInstancesCommand")[0].InstanceIds).toEqual([
      "i-0000000000000sick",
    ]);
    expect(aws.sentOf("RunInstancesCommand")).toHaveLength(1);
  });
});

describe("SsmHostDriver: the surge address", () => {
  it("fails at once, naming the holder, when another workload holds the address", async () => {
    const { aws, driver } = setup({ provisionTimeoutSeconds: 900 });
    aws.foreignInterfaces.set("10.0.1.99", {
      id: "eni-0feedfacecafe0001",
      description: "ELB app/internal-api/50dc6c495c0c9188",
    });
    const started = Date.now();
    await expect(driver.provision(surge)).rejects.toThrow(
      'surge: the surge address 10.0.1.99 in subnet subnet-0abc is taken by network interface eni-0feedfacecafe0001, not attached (status available), "ELB app/internal-api/50dc6c495c0c9188", not by a surge VM of this cluster',
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(aws.sentOf("RunInstancesCommand")).toHaveLength(1);
  });
});

describe("SsmHostDriver: the stack's account guard (aws:allowedAccountIds, aws:forbiddenAccountIds)", () => {
  const ROLE = "arn:aws:iam::222222222222:role/nats-deployer";
  const ASSUMED = "arn:aws:sts::222222222222:assumed-role/nats-deployer/nats-rollout";

  function guarded(extra: Partial<SsmHostDriverOptions>, account = "222222222222") {
    const aws = new FakeAws();
    for (const id of Object.values(MEMBER_INSTANCES)) aws.addMember(id);
    const caller: FakeCaller = { account, arn: ASSUMED.replace("222222222222", account), checks: [] };
    const clients: AwsClientFactory = (service, config) =>
      service === "sts"
        ? new FakeSts([], config.credentials, caller)
        : { send: async (command: object) => (await config.credentials?.(), aws.send(command)) };
    const { driver, log } = setup({
      ssmClient: undefined,
      ec2Client: undefined,
      clients,
      assumeRoles: [{ roleArn: ROLE }],
      ...extra,
    });
    return { aws, driver, caller, log };
  }

  it("asks STS once, as the assumed role, and acts when the account is allowed", async () => {
    const { aws, driver, caller, log } = guarded({ allowedAccountIds: ["111111111111", "222222222222"] });
    await driver.isRunning(n1);
    expect(aws.sent.length).toBeGreaterThan(0);
    await driver.provision(surge);
    expect(caller.checks).toEqual([{ source: expect.objectContaining({ accessKeyId: "AKIA-nats-deployer" }) }]);
    expect(aws.sentOf("RunInstancesCommand")).toHaveLength(1);
    expect(log).toContain(`aws: acting as ${ASSUMED} (account 222222222222, allowed by the stack's account guard)`);
  });

  it("refuses before any SSM or EC2 call when the identity's account is not allowed, naming it and the key", async () => {
    const { aws, driver } = guarded({ allowedAccountIds: ["111111111111"] }, "333333333333");
    const refusal =
      "the rollout's AWS identity (arn:aws:sts::333333333333:assumed-role/nats-deployer/nats-rollout, account " +
      "333333333333) is not in aws:allowedAccountIds (111111111111): set the driver's identity (aws:profile, " +
      "aws:assumeRoles) to the stack's account, or correct the list";
    await expect(driver.isRunning(n1)).rejects.toThrow(refusal);
    await expect(driver.provision(surge)).rejects.toThrow(refusal);
    expect(aws.sent).toEqual([]);
  });

  it("refuses an account of aws:forbiddenAccountIds", async () => {
    const { aws, driver } = guarded({ forbiddenAccountIds: ["222222222222"] });
    await expect(driver.isRunning(n1)).rejects.toThrow(/is in aws:forbiddenAccountIds \(222222222222\)/);
    expect(aws.sent).toEqual([]);
  });

  it("without a guard, STS is not asked", async () => {
    const { driver, caller } = guarded({});
    await driver.isRunning(n1);
    expect(caller.checks).toEqual([]);
  });

  it("the platform's settings carry the guard to the driver; bad ones are refused", () => {
    const base = { region: "eu-west-1", clusterName: "c", instanceIds: {} };
    expect(settingsProblems({ ...base, allowedAccountIds: ["222222222222"] })).toEqual([]);
    expect(
      settingsProblems({ ...base, allowedAccountIds: ["12"], forbiddenAccountIds: ["222222222222"] }).map(
        (p) => p.field,
      ),
    ).toEqual(["allowedAccountIds", "forbiddenAccountIds"]);
  });
});

describe("SsmHostDriver: the stack's identity (aws:assumeRoles, aws:endpoints, aws:defaultTags)", () => {
  const ROLE_A = "arn:aws:iam::111111111111:role/ops/jump";
  const ROLE_B = "arn:aws:iam::222222222222:role/nats-deployer";

  function withRoles(extra: Partial<SsmHostDriverOptions> = {}) {
    const aws = new FakeAws();
    for (const id of Object.values(MEMBER_INSTANCES)) aws.addMember(id);
    const stsCalls: FakeSts["calls"] = [];
    const configs: Array<{ service: AwsService; config: AwsClientConfig }> = [];
    const clients: AwsClientFactory = (service, config) => {
      configs.push({ service, config });
      if (service === "sts") return new FakeSts(stsCalls, config.credentials);
      // As a real client does, each request is signed with the credentials resolved for it.
      return { send: async (command: object) => (await config.credentials?.(), aws.send(command)) };
    };
    const { driver } = setup({
      ssmClient: undefined,
      ec2Client: undefined,
      clients,
      profile: "ops",
      assumeRoles: [{ roleArn: ROLE_A, externalId: "ext-1234", durationSeconds: 1800 }, { roleArn: ROLE_B }],
      endpoints: { ssm: "https://ssm.vpce.example", sts: "https://sts.vpce.example" },
      ...extra,
    });
    return { aws, driver, stsCalls, configs };
  }

  it("assumes each role in turn (the first from the profile) and gives the SSM and EC2 clients the last role's credentials", async () => {
    const { driver, stsCalls, configs } = withRoles();
    await driver.isRunning(n1);
    await driver.provision(surge);
    expect(stsCalls.map((c) => c.input)).toEqual([
      { RoleArn: ROLE_A, RoleSessionName: "nats-rollout", ExternalId: "ext-1234", DurationSeconds: 1800 },
      { RoleArn: ROLE_B, RoleSessionName: "nats-rollout" },
    ]);
    // The first AssumeRole is signed with the profile's credentials; the second with the first role's.
    const sts = configs.filter((c) => c.service === "sts").map((c) => c.config);
    expect(sts[0]).toMatchObject({ region: "eu-west-1", profile: "ops", endpoint: "https://sts.vpce.example" });
    expect(sts[0].credentials).toBeUndefined();
    expect(stsCalls[1].source).toMatchObject({ accessKeyId: "AKIA-jump", sessionToken: "token-jump" });
    // One chain for both clients, assumed once (cached until shortly before it expires).
    expect(stsCalls).toHaveLength(2);
    const ssm = configs.find((c) => c.service === "ssm")?.config;
    const ec2 = configs.find((c) => c.service === "ec2")?.config;
    expect(ssm).toMatchObject({ region: "eu-west-1", endpoint: "https://ssm.vpce.example" });
    expect(ssm?.profile).toBeUndefined();
    expect(ec2?.endpoint).toBeUndefined();
    for (const client of [ssm, ec2]) {
      expect(await client?.credentials?.()).toMatchObject({
        accessKeyId: "AKIA-nats-deployer",
        secretAccessKey: "secret-nats-deployer",
        sessionToken: "token-nats-deployer",
      });
    }
  });

  it("the real SDK clients take those credentials (no network: only the clients' resolved config is read)", async () => {
    const stsCalls: FakeSts["calls"] = [];
    const credentials = assumedRoleCredentials(
      { region: "eu-west-1", assumeRoles: [{ roleArn: ROLE_B, sessionName: "ci" }] },
      () => new FakeSts(stsCalls),
    );
    for (const service of ["ssm", "ec2"] as const) {
      const client = realClients(
        service,
        clientConfigFor(service, { region: "eu-west-1" }, credentials),
      ) as unknown as {
        config: { credentials: () => Promise<{ accessKeyId: string; sessionToken?: string }> };
      };
      expect(await client.config.credentials()).toMatchObject({
        accessKeyId: "AKIA-nats-deployer",
        sessionToken: "token-nats-deployer",
      });
    }
    expect(stsCalls.map((c) => c.input.RoleSessionName)).toEqual(["ci"]);
    // The first hop's STS client (the SDK's nested one) signs with the default chain: here the environment's keys.
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: "AKIA-ENV", AWS_SECRET_ACCESS_KEY: "env-secret" });
    try {
      const sts = realClients("sts", { region: "eu-west-1" }) as unknown as {
        config: { credentials: () => Promise<{ accessKeyId: string }> };
      };
      expect((await sts.config.credentials()).accessKeyId).toBe("AKIA-ENV");
    } finally {
      process.env = saved;
    }
  });

  it("names the role when STS refuses it", async () => {
    const { driver } = withRoles({
      clients: (service, config) => ({
        send: async () => {
          if (service === "sts") throw Object.assign(new Error("not authorized"), { name: "AccessDenied" });
          await config.credentials?.();
          throw new Error(`${service} was called without credentials`);
        },
      }),
    });
    await expect(driver.isRunning(n1)).rejects.toThrow(
      `STS AssumeRole of ${ROLE_A} (the stack's aws:assumeRoles) failed`,
    );
  });

  it("without roles, the clients get the region and profile only, as before", async () => {
    const configs: AwsClientConfig[] = [];
    const aws = new FakeAws();
    aws.addMember(MEMBER_INSTANCES.n1);
    const { driver } = setup({
      ssmClient: undefined,
      clients: (_service, config) => (configs.push(config), aws),
      profile: "ops",
    });
    await driver.isRunning(n1);
    expect(configs).toEqual([{ region: "eu-west-1", profile: "ops" }]);
  });

  it("the surge VM and its volumes carry the stack's default tags, under the driver's own", async () => {
    const { aws, driver } = setup({
      defaultTags: { CostCenter: "cc-42", Owner: "platform", [TAG_ROLE]: "not-this", Name: "not-this-either" },
    });
    await driver.provision(surge);
    const [run] = aws.sentOf<RunInstancesCommandInput>("RunInstancesCommand");
    expect(run.TagSpecifications?.map((t) => t.ResourceType)).toEqual(["instance", "volume"]);
    expect(run.TagSpecifications?.[1]?.Tags).toEqual(run.TagSpecifications?.[0]?.Tags);
    expect(run.TagSpecifications?.[0]?.Tags).toEqual([
      { Key: "CostCenter", Value: "cc-42" },
      { Key: "Owner", Value: "platform" },
      { Key: TAG_ROLE, Value: "surge" },
      { Key: "Name", Value: "nats-dev-surge" },
      { Key: TAG_CLUSTER, Value: "nats-dev" },
      { Key: TAG_SERVER, Value: "surge" },
    ]);
  });

  it("the platform's settings carry the roles, endpoints and default tags to the driver, and bad ones are refused", () => {
    const base = { region: "eu-west-1", clusterName: "c", instanceIds: {} };
    expect(
      settingsProblems({
        ...base,
        assumeRoles: [{ externalId: "x" }, { roleArn: ROLE_B, durationSeconds: 60 }],
        endpoints: { ssm: 1 },
        defaultTags: ["a"],
      }).map((p) => p.field),
    ).toEqual(["assumeRoles[0].roleArn", "assumeRoles[1].durationSeconds", "endpoints", "defaultTags"]);
    expect(
      settingsProblems({
        ...base,
        assumeRoles: [{ roleArn: ROLE_B }],
        endpoints: { ssm: "u" },
        defaultTags: { a: "b" },
      }),
    ).toEqual([]);
    expect(() =>
      createHostDriver({ ...base, assumeRoles: [{ roleArn: ROLE_B }], defaultTags: { a: "b" } }),
    ).not.toThrow();
  });
});
