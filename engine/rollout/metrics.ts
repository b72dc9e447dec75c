/**
 * The last rollout's figures in Prometheus' text format, written where node_exporter's textfile collector reads
 * (`--collector.textfile.directory`, files ending in `.prom`), with prom-client (the Node client the Prometheus
 * project lists) rather than text of our own.
 *
 * Why a textfile and not a push: a rollout is a batch job that runs on a fixed host (an operator's bastion, a CI
 * runner with node_exporter); the textfile collector exposes its last outcome until the next run replaces it, with
 * no Pushgateway to run and keep (the Prometheus docs' own advice: the Pushgateway only for service-level batch
 * jobs with no machine of their own). report-files.ts writes the file whole, so the collector never reads half of it.
 *
 * Every figure is a gauge of "the last rollout of this cluster": a counter would need a store across runs, and a
 * dashboard wants the last run's down times and gaps, with `nats_rollout_last_end_timestamp_seconds` to tell runs
 * apart.
 */
import { Gauge, Registry } from "prom-client";
import { RolloutReport } from "./report";

/** The metrics of one rollout, as Prometheus text. `endedAt` is when the rollout ended (the caller's clock). */
export async function rolloutMetricsText(report: RolloutReport, cluster: string, endedAt: Date): Promise<string> {
  const registry = new Registry();
  registry.setDefaultLabels({ cluster });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers: [registry] });

  gauge("nats_rollout_last_end_timestamp_seconds", "When the last rollout ended (Unix time).").set(
    endedAt.getTime() / 1000,
  );
  gauge("nats_rollout_last_duration_seconds", "How long the last rollout took.").set(report.totalMs / 1000);
  const result = gauge("nats_rollout_last_result", "1 for the last rollout's result, 0 for the others.", [
    "result",
    "target_version",
  ]);
  for (const r of ["succeeded", "halted", "interrupted", "no-change"] as const)
    result.set({ result: r, target_version: report.targetVersion }, r === report.result ? 1 : 0);
  const halted = gauge("nats_rollout_last_halted", "1 when the last rollout halted, by reason code.", ["code"]);
  if (report.halt) halted.set({ code: report.halt.code }, 1);
  gauge("nats_rollout_last_rolled_back_members", "Members the last rollout put back on their previous version.").set(
    report.members.filter((m) => m.result === "rolled-back").length,
  );

  const memberLabels = ["member", "action", "result"] as const;
  const down = gauge("nats_rollout_last_member_down_seconds", "Lame duck until ready again: time not serving.", [
    ...memberLabels,
  ]);
  const drain = gauge("nats_rollout_last_member_drain_seconds", "Lame-duck signal until the process exited.", [
    ...memberLabels,
  ]);
  const gate = gauge("nats_rollout_last_member_gate_seconds", "Time until each gate passed, per member.", [
    "member",
    "gate",
  ]);
  const soak = gauge("nats_rollout_last_member_soak_seconds", "Time every gate was held green.", ["member"]);
  for (const m of report.members) {
    const labels = { member: m.name, action: m.action, result: m.result };
    if (m.downMs !== undefined) down.set(labels, m.downMs / 1000);
    if (m.drainMs !== undefined) drain.set(labels, m.drainMs / 1000);
    for (const g of m.gateTimings ?? []) gate.set({ member: m.name, gate: g.gate }, g.ms / 1000);
    if (m.soakMs !== undefined) soak.set({ member: m.name }, m.soakMs / 1000);
  }
  if (report.surge) {
    gauge("nats_rollout_last_surge_lifetime_seconds", "How long the surge server served.").set(
      report.surge.lifetimeMs / 1000,
    );
  }

  const c = report.clientImpact;
  if (c) {
    gauge("nats_rollout_last_client_requests", "Requests of the rollout's own request/reply watch.").set(c.requests);
    gauge("nats_rollout_last_client_failures", "Of those, requests that got no reply.").set(c.failures);
    gauge("nats_rollout_last_client_max_gap_seconds", "Longest time without a reply, any pair.").set(c.maxGapMs / 1000);
    gauge("nats_rollout_last_client_reconnects", "Reconnects of the watch's connections.").set(c.reconnects);
    const perFailures = gauge("nats_rollout_last_member_client_failures", "Failed requests, by responder's member.", [
      "member",
    ]);
    const perGap = gauge("nats_rollout_last_member_client_max_gap_seconds", "Longest gap, by responder's member.", [
      "member",
    ]);
    for (const m of c.perMember ?? []) {
      perFailures.set({ member: m.member }, m.failures);
      perGap.set({ member: m.member }, m.maxGapMs / 1000);
    }
    // Acked publishing, by the member each publisher was first connected to (absent when it was not measured).
    const publishing = c.publishing?.perMember ?? [];
    if (publishing.length) {
      const pub = (name: string, help: string) => gauge(`nats_rollout_last_member_publish_${name}`, help, ["member"]);
      const published = pub("published", "Acked-publishing watch: publishes sent, by publisher's member.");
      const acked = pub("acked", "Of those, publishes the stream acknowledged.");
      const timedOut = pub("timed_out", "Of those, publishes with no ack before the deadline.");
      const failed = pub("failed", "Of those, publishes refused at once (no stream leader, connection closed).");
      const lost = pub("lost", "Acked messages the stream did not hold at the end (data loss).");
      const gap = pub("max_gap_seconds", "Longest time between two acks, by publisher's member.");
      for (const m of publishing) {
        const labels = { member: m.member };
        published.set(labels, m.published);
        acked.set(labels, m.acked);
        timedOut.set(labels, m.timedOut);
        failed.set(labels, m.failed);
        if (m.lost !== undefined) lost.set(labels, m.lost);
        gap.set(labels, m.maxGapMs / 1000);
      }
    }
    gauge(
      "nats_rollout_last_client_publishing_measured",
      "1 when the watch measured acked publishing, 0 when it could not or was turned off.",
    ).set(publishing.length ? 1 : 0);
  }
  return registry.metrics();
}
