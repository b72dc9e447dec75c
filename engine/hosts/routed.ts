/**
 * One HostDriver over two: the calls about the servers named go to `other`, every other call to `main`. The
 * engine uses it for members that are leaving the cluster: their hosts are reached with what the caller knew of
 * them before (the previous platform settings: an SSH host key or an instance the new settings no longer list).
 */
import { HostDriver } from "./driver";
import { ServerEndpoint } from "../spec";

export function routedDriver(main: HostDriver, other: HostDriver, names: ReadonlyArray<string>): HostDriver {
  if (main === other || names.length === 0) return main;
  const pick = (s: ServerEndpoint) => (names.includes(s.name) ? other : main);
  return {
    platform: main.platform,
    layout: (s) => pick(s).layout(s),
    provision: (s) => pick(s).provision(s),
    deprovision: (s, what) => pick(s).deprovision(s, what),
    stageBinary: (s, v) => pick(s).stageBinary(s, v),
    activateBinary: (s, v) => pick(s).activateBinary(s, v),
    installedVersion: (s) => pick(s).installedVersion(s),
    writeConfig: (s, text, tls) => pick(s).writeConfig(s, text, tls),
    readConfig: (s) => pick(s).readConfig(s),
    start: (s) => pick(s).start(s),
    isRunning: (s) => pick(s).isRunning(s),
    signalLameDuck: (s) => pick(s).signalLameDuck(s),
    signalReload: (s) => pick(s).signalReload(s),
    waitForExit: (s, ms) => pick(s).waitForExit(s, ms),
    kill: (s) => pick(s).kill(s),
    readLog: (s, n) => pick(s).readLog(s, n),
    startProblems: main.startProblems?.bind(main),
    storeUsage: main.storeUsage
      ? (s) => (pick(s).storeUsage ? pick(s).storeUsage!(s) : main.storeUsage!(s))
      : undefined,
    releaseProblem: main.releaseProblem?.bind(main),
    isStopping: main.isStopping ? (s) => pick(s).isStopping?.(s) ?? Promise.resolve(false) : undefined,
    lease: main.lease?.bind(main),
  };
}
