/**
 * SsmHostDriver's rollout lease against the fake AWS, whose SSM agent runs the systemd lease script in `sh`: a process
 * per command, so this is not in the unit tier (test/tiers.js); the rest of the driver is ssm-driver.unit.test.ts.
 */
import * as fs from "node:fs";
import { SsmHostDriver, SsmHostDriverOptions } from "../../engine/hosts/aws/ssm-driver";
import { ServerEndpoint } from "../../engine/spec";
import { FakeAws } from "./fake-aws";

const endpoint = (name: string, host: string): ServerEndpoint => ({
  name,
  host,
  clientPort: 4222,
  clusterPort: 6222,
  monitorPort: 8222,
});
const n1 = endpoint("n1", "10.0.1.10");
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

describe("SsmHostDriver: the rollout lease", () => {
  it("runs the systemd lease script on the member (the fake agent runs it in sh) and reads its answer", async () => {
    const { aws, driver } = setup();
    const text = '{"id":"aa11","owner":"ops@box","pid":7,"stack":"cli","startedAt":"2026-12-06T06:00:00Z"}\n';
    expect(await driver.lease(n1, { op: "read" })).toEqual({ done: false });
    const created = await driver.lease(n1, { op: "create", text });
    expect(created).toMatchObject({ done: true, text });
    expect(created.ageSeconds).toBeLessThanOrEqual(1);
    expect(await driver.lease(n1, { op: "create", text: text.replace("aa11", "bb22") })).toMatchObject({
      done: false,
      text,
    });
    expect(await driver.lease(n1, { op: "release", expectId: "bb22" })).toMatchObject({ done: false, text });
    expect(await driver.lease(n1, { op: "release", expectId: "aa11" })).toEqual({ done: true });
    const scripts = aws.scripts().filter((s) => s.includes("/var/lib/nats-rollout.lease"));
    expect(scripts).toHaveLength(5);
    for (const host of aws.hosts.values()) if (host.leaseDir) fs.rmSync(host.leaseDir, { recursive: true });
  });
});
