/**
 * A rollout against fake hosts and scripted monitors: the options `executeRollout` takes, with no network and no
 * waits (a pace of zeros, gates that give up after 50 ms), so a unit test runs in milliseconds.
 */
import { ClusterSpec, RolloutPolicy } from "../../../engine/spec";
import { RolloutPace } from "../../../engine/rollout/pace";
import { desiredConfigs, RolloutOptions } from "../../../engine/rollout/execute";
import { RolloutEvent } from "../../../engine/rollout/events";
import { sampleServer } from "../sample-spec";
import { DEFAULT_LAME_DUCK } from "../../../engine/defaults";
import { FakeHosts } from "./fake-hosts";
import { FakeMonitors } from "./fake-monitor";

export const OLD = "2.14.9";
export const NEW = "2.15.2";

/** The executor's waits, all but gone: gates and checks fail after 50 ms instead of minutes. */
export const NO_WAITS: RolloutPace = {
  clusterCheckDeadlineMs: 50,
  clusterCheckHoldMs: 0,
  clusterWatchFreshMs: 2000,
  clusterWatchPollMs: 1,
  preflightDeadlineMs: 50,
  finalCheckDeadlineMs: 50,
  lookAgainMs: 0,
  routesDropMs: 0,
};

export const FAKE_POLICY: Partial<RolloutPolicy> = {
  minHealthySeconds: 0,
  healthyDeadlineSeconds: 0.05,
  pollIntervalMs: 1,
  stopTimeoutSeconds: 1,
  clientProbe: false,
};

/** A spec of `members` members (n1, n2, …; surge n-surge) without JetStream, at `version`. */
export function fakeSpec(members = 3, version = NEW): ClusterSpec {
  return {
    name: "fake",
    version,
    members: Array.from({ length: members }, (_, i) => sampleServer("loopback", `n${i + 1}`, i + 1)),
    surge: sampleServer("loopback", "n-surge", 9),
    routes: { kind: "explicit" },
    jetstream: { enabled: false },
    lameDuck: DEFAULT_LAME_DUCK,
  };
}

export interface FakeRollout {
  readonly hosts: FakeHosts;
  readonly monitors: FakeMonitors;
  readonly events: RolloutEvent[];
  readonly options: RolloutOptions;
}

/**
 * Every member running `running` (default OLD) with the config the spec renders, the surge server absent; the
 * rollout goes to `spec.version`. `policy` and `extra` override the defaults above.
 */
export function fakeRollout(
  spec: ClusterSpec = fakeSpec(),
  how: { running?: string; policy?: Partial<RolloutPolicy>; extra?: Partial<RolloutOptions> } = {},
): FakeRollout {
  const hosts = new FakeHosts();
  const configs = desiredConfigs(spec, hosts, "127.0.0.1");
  for (const m of spec.members) {
    const s = hosts.server(m.name);
    const version = how.running ?? OLD;
    Object.assign(s, { running: true, runningVersion: version, installed: version, config: configs.get(m.name) });
    s.staged.add(version);
    s.configLoadedAt = new Date(0).toISOString();
  }
  const monitors = new FakeMonitors(hosts);
  const events: RolloutEvent[] = [];
  const options: RolloutOptions = {
    spec,
    driver: hosts,
    listenHost: "127.0.0.1",
    policy: { ...FAKE_POLICY, ...how.policy },
    watchTraffic: false,
    onEvent: (e) => events.push(e),
    seams: { monitors: monitors.factory, pace: NO_WAITS },
    ...how.extra,
  };
  return { hosts, monitors, events, options };
}

/** The most servers down at once, replaying the calls that take members down and bring them up. */
export function maxMembersDown(hosts: FakeHosts, members: ReadonlyArray<string>): number {
  const down = new Set<string>();
  let most = 0;
  for (const c of hosts.calls) {
    if (!members.includes(c.server)) continue;
    if (c.op === "signalLameDuck" || c.op === "kill") down.add(c.server);
    if (c.op === "start") down.delete(c.server);
    most = Math.max(most, down.size);
  }
  return most;
}
