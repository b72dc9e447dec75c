/**
 * The report as a picture: one SVG, a row per member with its down window(s) (lame duck until ready again, the
 * figure the report quotes), a row for the surge server's life, and a row for the clients' longest gap without a
 * reply, all on one time axis from the rollout's start. Pure: report-files.ts writes it.
 *
 * SVG rather than HTML: one self-contained file a browser, a CI artifact viewer or a chat tool shows as is, with no
 * script. Drawn from the report (which records when each window began) rather than from the events, so a picture and
 * the report it sits beside never disagree.
 */
import { seconds } from "../util/duration";
import { RolloutReport } from "./report";
import type { MemberPublishing } from "./publish-tally";

const WIDTH = 960;
const LABEL = 150;
const ROW = 26;
const TOP = 48;
const PLOT = WIDTH - LABEL - 20;

const COLOURS = { down: "#d9534f", rolledBack: "#8e44ad", surge: "#5b9bd5", gap: "#f0ad4e", grid: "#ddd" };

/** Text for an SVG text node or attribute. */
function xml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

interface Bar {
  readonly fromMs: number;
  readonly toMs: number;
  readonly colour: string;
  readonly label: string;
}

interface Row {
  readonly label: string;
  readonly bars: ReadonlyArray<Bar>;
}

/**
 * The timeline of `report` as an SVG document, or undefined when the report does not say when things happened
 * (recorded before the windows were kept, or nothing to draw: a rollout that changed nothing).
 */
export function timelineSvg(report: RolloutReport, cluster: string): string | undefined {
  const start = report.startedAtMs;
  if (start === undefined || report.members.length === 0) return undefined;
  const rows: Row[] = [];
  const names = [...new Set(report.members.map((m) => m.name))];
  for (const name of names) {
    const bars = report.members
      .filter((m) => m.name === name && m.downSinceMs !== undefined && m.downMs !== undefined)
      .map((m): Bar => ({
        fromMs: m.downSinceMs! - start,
        toMs: m.downSinceMs! - start + m.downMs!,
        colour: m.result === "rolled-back" ? COLOURS.rolledBack : COLOURS.down,
        label: `${m.action === "rollback-member" ? "rollback " : ""}down ${seconds(m.downMs!)}`,
      }));
    const last = report.members.filter((m) => m.name === name).at(-1)!;
    rows.push({ label: `${name} (${last.result})`, bars });
  }
  const surge = report.surge;
  if (surge?.startedAtMs !== undefined) {
    const from = Math.max(0, surge.startedAtMs - start);
    rows.push({
      label: `${surge.name} (surge)`,
      bars: [
        {
          fromMs: from,
          toMs: from + surge.lifetimeMs,
          colour: COLOURS.surge,
          label: `serving ${seconds(surge.lifetimeMs)}${surge.removed ? "" : ", STILL RUNNING"}`,
        },
      ],
    });
  }
  const c = report.clientImpact;
  if (c?.maxGapEndedAtMs !== undefined && c.maxGapMs > 0) {
    const to = c.maxGapEndedAtMs - start;
    rows.push({
      label: "clients",
      bars: [
        {
          fromMs: Math.max(0, to - c.maxGapMs),
          toMs: to,
          colour: COLOURS.gap,
          label: `longest gap ${seconds(c.maxGapMs)}${c.maxGapMember ? ` (${c.maxGapMember}'s pair)` : ""}; ${c.failures}/${c.requests} failed`,
        },
      ],
    });
  }
  // The longest time any publisher went without an ack, where it was.
  const longestAckGap = (c?.publishing?.perMember ?? []).reduce<MemberPublishing | undefined>(
    (a, m) => (m.maxGapEndedAtMs !== undefined && m.maxGapMs > 0 && (!a || m.maxGapMs > a.maxGapMs) ? m : a),
    undefined,
  );
  if (longestAckGap?.maxGapEndedAtMs !== undefined) {
    const to = longestAckGap.maxGapEndedAtMs - start;
    const all = c!.publishing!.perMember;
    const acked = all.reduce((n, m) => n + m.acked, 0);
    const published = all.reduce((n, m) => n + m.published, 0);
    rows.push({
      label: "acked publishing",
      bars: [
        {
          fromMs: Math.max(0, to - longestAckGap.maxGapMs),
          toMs: to,
          colour: COLOURS.gap,
          label: `longest gap without an ack ${seconds(longestAckGap.maxGapMs)} (${longestAckGap.member}'s publisher); ${acked}/${published} acked`,
        },
      ],
    });
  }
  return render(report, cluster, rows);
}

function render(report: RolloutReport, cluster: string, rows: ReadonlyArray<Row>): string {
  const total = Math.max(report.totalMs, 1, ...rows.flatMap((r) => r.bars.map((b) => b.toMs)));
  const x = (ms: number) => LABEL + (Math.max(0, ms) / total) * PLOT;
  const height = TOP + rows.length * ROW + 54;
  const what = report.kind === "bootstrap" ? "Start of" : "Rollout of";
  const title = `${what} ${cluster} to ${report.targetVersion}: ${report.result.toUpperCase()} in ${seconds(report.totalMs)}`;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${xml(title)}</text>`,
  ];
  // A tick every "round" number of seconds, about ten across.
  const stepS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => total / 1000 / s <= 10) ?? 1200;
  for (let s = 0; s * 1000 <= total; s += stepS) {
    const tx = x(s * 1000).toFixed(1);
    parts.push(
      `<line x1="${tx}" y1="${TOP - 6}" x2="${tx}" y2="${TOP + rows.length * ROW}" stroke="${COLOURS.grid}"/>`,
    );
    parts.push(`<text x="${tx}" y="${TOP + rows.length * ROW + 16}" text-anchor="middle">${s}s</text>`);
  }
  rows.forEach((row, i) => {
    const y = TOP + i * ROW;
    parts.push(`<text x="10" y="${y + 16}">${xml(row.label)}</text>`);
    for (const bar of row.bars) {
      const bx = x(bar.fromMs);
      const bw = Math.max(2, x(bar.toMs) - bx);
      parts.push(
        `<rect x="${bx.toFixed(1)}" y="${y + 4}" width="${bw.toFixed(1)}" height="${ROW - 8}" fill="${bar.colour}">` +
          `<title>${xml(`${row.label}: ${bar.label}, ${seconds(bar.fromMs)}–${seconds(bar.toMs)}`)}</title></rect>`,
      );
      // The label right of the bar; inside it when it is long enough; else left of it (never off the picture).
      const textWidth = bar.label.length * 6.6;
      const [tx, anchor, fill] =
        bx + bw + 4 + textWidth <= WIDTH - 4
          ? [bx + bw + 4, "start", "#333"]
          : bw >= textWidth + 8
            ? [bx + 4, "start", "white"]
            : [bx - 4, "end", "#333"];
      parts.push(
        `<text x="${tx.toFixed(1)}" y="${y + 16}" text-anchor="${anchor}" fill="${fill}">${xml(bar.label)}</text>`,
      );
    }
  });
  parts.push(
    `<text x="10" y="${height - 22}" fill="#666">seconds since the rollout began; red: a member down (lame duck ` +
      "until ready again), purple: rolled back,</text>",
    `<text x="10" y="${height - 8}" fill="#666">blue: the surge server serving, orange: the clients' longest gap ` +
      "without a reply (hover a bar for its times)</text>",
  );
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
