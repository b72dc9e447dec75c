/**
 * The JetStream meta group as its leader reports it, read from outside the engine (a test's own look at the
 * servers, to check what a rollout left: no ghost peer, no missing member).
 */
import { MonitorClient } from "../../engine/monitor/client";
import { monitorUrl, ServerEndpoint } from "../../engine/spec";

/**
 * The meta group's peers, sorted, as its leader reports them: each answering server is asked who leads, and the
 * leader's own `/jsz` (the only authoritative view) is read. Asks again for up to `waitMs` until one answers.
 */
export async function metaPeersOf(servers: ReadonlyArray<ServerEndpoint>, waitMs = 30_000): Promise<string[]> {
  const deadline = Date.now() + waitMs;
  do {
    for (const s of servers) {
      const leaderName = await new MonitorClient(monitorUrl(s))
        .jsz()
        .then((j) => j.meta_cluster?.leader)
        .catch(() => undefined);
      const leader = servers.find((m) => m.name === leaderName);
      if (!leader) continue;
      const meta = await new MonitorClient(monitorUrl(leader))
        .jsz()
        .then((j) => j.meta_cluster)
        .catch(() => undefined);
      if (meta && meta.leader === leaderName) return [leader.name, ...(meta.replicas ?? []).map((r) => r.name)].sort();
    }
    await new Promise((r) => setTimeout(r, 250));
  } while (Date.now() < deadline);
  throw new Error(`no meta leader answered within ${waitMs / 1000}s (asked ${servers.map((s) => s.name).join(", ")})`);
}
