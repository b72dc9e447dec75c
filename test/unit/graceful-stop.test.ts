/**
 * The one graceful stop (engine/hosts/graceful-stop.ts) against a scripted driver: lame duck, waits of the sizes
 * asked for, a kill only once the stop timeout has passed.
 */
import { stopGracefully } from "../../engine/hosts/graceful-stop";
import { ServerEndpoint } from "../../engine/spec";

const server: ServerEndpoint = { name: "n1", host: "127.0.0.1", clientPort: 1, clusterPort: 2, monitorPort: 3 };

/** A driver whose server exits after `exitsAfterWaits` waits (never when undefined); records every call. */
function scripted(exitsAfterWaits?: number, signalFails = false) {
  const calls: string[] = [];
  let waits = 0;
  return {
    calls,
    driver: {
      async signalLameDuck() {
        calls.push("signal");
        if (signalFails) throw new Error("no such unit");
      },
      async waitForExit(_s: ServerEndpoint, timeoutMs: number) {
        calls.push(`wait ${timeoutMs > 1000 ? "long" : "short"}`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(timeoutMs, 5)));
        waits++;
        return exitsAfterWaits !== undefined && waits >= exitsAfterWaits;
      },
      async kill() {
        calls.push("kill");
      },
    },
  };
}

it("a server that leaves lame duck in time is not killed", async () => {
  const { driver, calls } = scripted(2);
  const progress: number[] = [];
  const result = await stopGracefully(driver, server, {
    timeoutSeconds: 60,
    pollMs: 5000,
    waiting: () => void progress.push(1),
  });
  expect(result).toBe("exited");
  expect(calls).toEqual(["signal", "wait long", "wait long"]);
  expect(progress).toHaveLength(1);
});

it("a server still running at the deadline is killed, after the warning", async () => {
  const { driver, calls } = scripted();
  const result = await stopGracefully(driver, server, {
    timeoutSeconds: 0.02,
    killing: () => calls.push("warned"),
  });
  expect(result).toBe("killed");
  expect(calls.slice(-2)).toEqual(["warned", "kill"]);
  expect(calls.filter((c) => c === "kill")).toHaveLength(1);
});

it("the deadline counts from `since`: a stop timeout already spent kills after one wait of the floor", async () => {
  const { driver, calls } = scripted();
  const result = await stopGracefully(driver, server, {
    timeoutSeconds: 1,
    since: Date.now() - 2000,
    signal: "already-sent",
    minWaitMs: 1000,
  });
  expect(result).toBe("killed");
  expect(calls).toEqual(["wait short", "kill"]);
});

it("best-effort: a failed signal is ignored and the wait decides; by default the failure is the stop's", async () => {
  const ignored = scripted(1, true);
  await expect(stopGracefully(ignored.driver, server, { timeoutSeconds: 60, signal: "best-effort" })).resolves.toBe(
    "exited",
  );
  const strict = scripted(1, true);
  await expect(stopGracefully(strict.driver, server, { timeoutSeconds: 60 })).rejects.toThrow("no such unit");
  expect(strict.calls).toEqual(["signal"]);
});

it("a caller's own signal and kill replace the driver's", async () => {
  const { driver, calls } = scripted();
  await stopGracefully(driver, server, {
    timeoutSeconds: 0.01,
    signal: async () => void calls.push("own signal"),
    kill: async () => void calls.push("own kill"),
  });
  expect(calls[0]).toBe("own signal");
  expect(calls[calls.length - 1]).toBe("own kill");
  expect(calls).not.toContain("signal");
  expect(calls).not.toContain("kill");
});
