/**
 * The local platform's driver with real nats-server processes: a start that fails quotes nats-server's fatal line,
 * not its banner; the port check names every listener another process holds before anything starts.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { BinaryStore } from "../../engine/binaries";
import { configTextFor } from "../../engine/config/text";
import { installBinary } from "../../engine/hosts/driver";
import { LocalProcessDriver } from "../../engine/hosts/local";
import { freePorts } from "../support/ports";
import { sampleSpec } from "../support/sample-spec";
import { BIN_CACHE, OLD_MINOR } from "../support/versions";

describe("local driver", () => {
  let dir: string;
  let holder: net.Server;
  let driver: LocalProcessDriver;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-local-driver-"));
    driver = new LocalProcessDriver({ stateDir: dir, binaries: new BinaryStore({ cacheDir: BIN_CACHE }) });
    holder = net.createServer();
  });

  afterAll(async () => {
    holder.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a port held by another process: the check names it, and a start anyway quotes only the [FTL] line", async () => {
    const ports = await freePorts(3);
    const [member] = sampleSpec("loopback").members;
    const server = { ...member, clientPort: ports[0], clusterPort: ports[1], monitorPort: ports[2] };
    const spec = sampleSpec("loopback", { version: OLD_MINOR, members: [server], jetstream: { enabled: false } });
    await new Promise<void>((resolve) => holder.listen(server.clientPort, "127.0.0.1", resolve));

    expect(await driver.startProblems([server])).toEqual([
      `${server.name}.clientPort: 127.0.0.1:${server.clientPort} is already in use by another process; stop it or give this server another port`,
    ]);

    await installBinary(driver, server, OLD_MINOR);
    await driver.writeConfig(server, configTextFor(spec, server, driver, "127.0.0.1"));
    const err = (await driver.start(server).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/nats-server exited at once \(code 1\): .*\[FTL\] .*address already in use/);
    // One line: the banner nats-server prints before it gives up is not quoted.
    expect(err.message.split("\n")).toHaveLength(1);
    expect(err.message).not.toContain("Starting nats-server");
    expect(await driver.isRunning(server)).toBe(false);
  });
});
