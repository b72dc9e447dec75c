/** The supercluster's plan and report as lines for `pulumi preview`, the console and the logs: cluster by cluster. */
import { formatPlan } from "../rollout/plan";
import { formatReport } from "../rollout/report";
import { SuperclusterOutcome, SuperclusterPlan } from "./types";

const indent = (text: string, by = "    "): string =>
  text
    .split("\n")
    .map((l) => by + l)
    .join("\n");

/** Every cluster in rollout order, each with why it comes there and its own plan. */
export function formatSuperclusterPlan(plan: SuperclusterPlan): string {
  const lines: string[] = [];
  if (plan.refusals.length) {
    lines.push("Supercluster rollout refused, nothing will be touched:", ...plan.refusals.map((r) => `  - ${r}`));
  }
  const n = plan.order.length;
  const leader = plan.metaLeader
    ? `; JetStream meta leader ${plan.metaLeader.server} (${plan.metaLeader.cluster})`
    : "";
  lines.push(
    `Supercluster of ${n} cluster${n === 1 ? "" : "s"}, one at a time, in this order${leader} ` +
      "(the order is decided again from the servers before each cluster; a halt anywhere stops the whole run):",
  );
  plan.order.forEach((o, i) => {
    lines.push(`  ${i + 1}. cluster ${o.cluster}: ${o.why}`, indent(formatPlan(o.plan)));
  });
  return lines.join("\n");
}

/** Each cluster reached with its own report (or refused plan), then what is left, and how to resume. */
export function formatSuperclusterReport(outcome: SuperclusterOutcome): string {
  const lines = [
    `Supercluster rollout: ${outcome.status.toUpperCase()} (${outcome.clusters.length} cluster` +
      `${outcome.clusters.length === 1 ? "" : "s"} reached, ${outcome.left.length} left)`,
  ];
  for (const r of outcome.refusals) lines.push(`  refused: ${r}`);
  outcome.clusters.forEach((c, i) => {
    lines.push(`  ${i + 1}. cluster ${c.name} (${c.why}): ${c.outcome.status}`);
    lines.push(indent(c.outcome.status === "refused" ? formatPlan(c.outcome.plan) : formatReport(c.outcome.report)));
  });
  if (outcome.left.length > 0) {
    lines.push(
      `  not reached: ${outcome.left.join(", ")}` +
        (outcome.status === "done" ? "" : "; run again to resume (clusters already at the target plan nothing)"),
    );
  }
  return lines.join("\n");
}
