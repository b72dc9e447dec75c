import { ServerMonitor } from "../monitor/monitor";
import { HealthzResult, PeerInfo, routePeers } from "../monitor/types";
import { describeError, Gate, GateObservation, GateTarget } from "./gate";

/** Quote a `/healthz` answer the way an operator would want to read it. */
function quoteHealthz(result: HealthzResult): string {
  const errors = result.body.errors?.map((e) => e.error).join("; ");
  return `/healthz HTTP ${result.httpStatus} ${result.body.status}${errors ? `: ${errors}` : result.body.error ? `: ${result.body.error}` : ""}`;
}

async function observe(fn: () => Promise<GateObservation>): Promise<GateObservation> {
  try {
    return await fn();
  } catch (err) {
    return { ok: false, observation: describeError(err) };
  }
}

/** Listeners are up: `/healthz?js-server-only=true` (on 2.11+ only "ready for connections"; the Helm chart's readiness
 * probe). */
export const readyGate: Gate = {
  name: "ready",
  check: ({ monitor }) =>
    observe(async () => {
      const result = await monitor.healthz({ jsServerOnly: true });
      return { ok: result.httpStatus === 200, observation: quoteHealthz(result) };
    }),
};

/** The server runs the version it should: `/varz` version. */
export const versionGate: Gate = {
  name: "version",
  check: ({ monitor, expect }) =>
    observe(async () => {
      const varz = await monitor.varz();
      return {
        ok: varz.version === expect.version,
        observation: `/varz version ${varz.version}${varz.version === expect.version ? "" : `, expected ${expect.version}`}`,
      };
    }),
};

/**
 * Routes to every expected peer, counted as distinct `remote_name`s (`num_routes` counts pooled connections). A peer
 * of `routePeersIfUp` that is missing is required only while its own monitoring port answers.
 */
export function routesGate(monitorFor: (serverName: string) => ServerMonitor | undefined): Gate {
  return {
    name: "routes",
    check: ({ monitor, expect }) =>
      observe(async () => {
        const peers = routePeers(await monitor.routez());
        const missing = expect.routePeers.filter((p) => !peers.includes(p));
        const notRequired: string[] = [];
        for (const p of (expect.routePeersIfUp ?? []).filter((name) => !peers.includes(name))) {
          const answer = await monitorFor(p)
            ?.healthz({ jsServerOnly: true })
            .then(() => undefined)
            .catch((err: unknown) => describeError(err));
          if (answer === undefined) missing.push(p);
          else notRequired.push(`${p} does not answer (${answer}): not required`);
        }
        return {
          ok: missing.length === 0,
          observation:
            `/routez peers [${peers.join(", ")}]` +
            (missing.length ? `, missing ${missing.join(", ")}` : "") +
            (notRequired.length ? `; ${notRequired.join("; ")}` : ""),
        };
      }),
  };
}

/**
 * Gateways to every other cluster of the supercluster, by name (`/gatewayz`): an outbound connection to each. That
 * is this server's own way to the other clusters (it sends its clients' messages and interest over it); without it,
 * nothing its clients publish crosses. Inbound connections are not required of each server: every server of the
 * other cluster makes one outbound connection to ONE server here, so with two clusters of two, one server may well
 * have none (seen on real servers); they are quoted for the record.
 */
export function gatewaysGate(remotes: ReadonlyArray<string>): Gate {
  return {
    name: "gateways",
    check: ({ monitor }) =>
      observe(async () => {
        const g = await monitor.gatewayz();
        const outbound = Object.entries(g.outbound_gateways ?? {})
          .filter(([, r]) => r.connection !== undefined)
          .map(([name]) => name);
        const inbound = Object.entries(g.inbound_gateways ?? {})
          .filter(([, list]) => list.some((r) => r.connection !== undefined))
          .map(([name]) => name);
        const noOut = remotes.filter((r) => !outbound.includes(r));
        const problems = noOut.length ? [`no outbound gateway to ${noOut.join(", ")}`] : [];
        return {
          ok: problems.length === 0,
          observation:
            `/gatewayz ${g.name ?? "(no gateway)"}: out [${outbound.sort().join(", ")}], in [${inbound.sort().join(", ")}]` +
            (problems.length ? `: ${problems.join("; ")}` : ""),
        };
      }),
  };
}

/** A meta peer the leader has not heard from for longer than this is not current, whatever its flag says. */
export const META_PEER_SILENT_MS = 5000;

/** The meta leader last heard from this peer longer ago than {@link META_PEER_SILENT_MS}. */
export function silentAtLeader(peer: PeerInfo): boolean {
  return peer.active !== undefined && peer.active / 1e6 > META_PEER_SILENT_MS;
}

/**
 * JetStream is current: the full `/healthz` passes (meta leader known, every stream and consumer replica on the
 * server current) and the meta leader's own `/jsz` shows every meta peer current (only the leader's view of
 * `current` is authoritative).
 */
export function jetstreamGate(monitorFor: (serverName: string) => ServerMonitor | undefined): Gate {
  return {
    name: "jetstream",
    check: ({ server, monitor, expect }) =>
      observe(async () => {
        const health = await monitor.healthz({ details: true });
        if (health.httpStatus !== 200) return { ok: false, observation: quoteHealthz(health) };
        const metaPeers = expect.metaPeers ?? [];
        if (metaPeers.length === 0) return { ok: true, observation: quoteHealthz(health) };
        const leaderName = (await monitor.jsz()).meta_cluster?.leader;
        if (!leaderName) return { ok: false, observation: `/jsz on ${server.name}: no meta leader known` };
        const leaderMonitor = monitorFor(leaderName);
        if (!leaderMonitor) return { ok: false, observation: `meta leader ${leaderName} is not a known server` };
        const meta = (await leaderMonitor.jsz()).meta_cluster;
        if (meta?.leader !== leaderName) {
          return {
            ok: false,
            observation: `meta leadership moving (${leaderName} now reports leader ${meta?.leader ?? "none"})`,
          };
        }
        const replicas = meta.replicas ?? [];
        const known = [leaderName, ...replicas.map((r) => r.name)];
        const mayLag = expect.metaPeersAllowedOffline ?? [];
        const notCurrent = replicas
          .filter((r) => metaPeers.includes(r.name) && !mayLag.includes(r.name) && (!r.current || r.offline))
          .map((r) => r.name);
        // A peer cut off by a network that drops its packets stays `current` at the leader as long as nothing new
        // was written: the leader's `active` (time since it last heard the peer; heartbeats come every second) says.
        const silent = replicas
          .filter((r) => metaPeers.includes(r.name) && !mayLag.includes(r.name) && !notCurrent.includes(r.name))
          .filter(silentAtLeader)
          .map((r) => `${r.name} (last heard ${(r.active! / 1e9).toFixed(1)}s ago)`);
        notCurrent.push(...silent);
        // A member known to be down may be absent too: one that never started (a new member not added yet).
        const absent = metaPeers.filter((p) => !known.includes(p) && !mayLag.includes(p));
        const leaving = expect.metaPeersLeaving ?? [];
        const optional = expect.metaPeersOptional ?? [];
        const extra = known.filter((p) => !metaPeers.includes(p) && !leaving.includes(p) && !optional.includes(p));
        const problems = [
          leaving.some((p) => known.includes(p))
            ? `leaving: ${leaving.filter((p) => known.includes(p)).join(", ")}`
            : "",
          notCurrent.length ? `not current: ${notCurrent.join(", ")}` : "",
          absent.length ? `absent: ${absent.join(", ")}` : "",
          extra.length ? `unexpected peers: ${extra.join(", ")}` : "",
        ].filter(Boolean);
        return {
          // Strict: an unexpected peer is a ghost (a surge server or renamed member that was never peer-removed).
          ok: notCurrent.length === 0 && absent.length === 0 && extra.length === 0,
          observation: `meta leader ${leaderName}, peers [${known.join(", ")}]${problems.length ? `: ${problems.join("; ")}` : " all current"}`,
        };
      }),
  };
}

/** After a config reload: `/varz` config_load_time moved past the reload signal. */
export const configReloadedGate: Gate = {
  name: "config-reloaded",
  check: ({ monitor, expect }: GateTarget) =>
    observe(async () => {
      const varz = await monitor.varz();
      const after = expect.configLoadedAfter;
      const loaded = varz.config_load_time ?? "";
      const ok = !after || (loaded !== "" && Date.parse(loaded) > Date.parse(after));
      return {
        ok,
        observation: `/varz config_load_time ${loaded || "absent"}${after ? ` (reload sent ${after})` : ""}`,
      };
    }),
};
