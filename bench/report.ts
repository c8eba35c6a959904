/**
 * The performance report of `deno task bench`: every row's ratio to its
 * baseline (a row of the same group), the goals of the open issues with
 * their status, and three renderings (a text table, JSON, and an SVG bar
 * chart with min..max whiskers, drawn without any dependency).
 *
 * @module
 */

import type { Measurement } from "./measure.ts";

/** A measurement with its ratio to its baseline. */
export interface Row extends Measurement {
  /** `value` divided by the baseline row's `value` (medians of the same run). */
  vsBaseline?: number;
}

/** A performance goal and whether this run met it. */
export interface Goal {
  /** What is required. */
  name: string;
  /** The issue the goal comes from. */
  issue: number;
  /** The measured value (a ratio, seconds, KiB...); `null` when not measured. */
  value: number | null;
  /** The goal's bound. */
  target: number;
  /** How `value` compares with `target`. */
  op: ">=" | ">" | "<" | "<=";
  /** Unit of `value` and `target` (`"ratio"` prints as a percentage). */
  unit: string;
  /** Whether the goal is met; `null` when it was not measured in this run. */
  met: boolean | null;
}

/** A bench module or row that failed, and why. */
export interface Failure {
  /** The module's short name (`"net"`, `"codec"`...), with the row when one row failed. */
  module: string;
  /** The error's text. */
  error: string;
}

/** Everything one run of `deno task bench` found. */
export interface Report {
  /** When the run started (ISO 8601). */
  date: string;
  /** Versions and machine: Deno, V8, OS, CPU count, load average at the end of the run. */
  environment: Record<string, string | number>;
  /** Whether the run was `--quick`. */
  quick: boolean;
  /** Seconds the whole run took. */
  seconds?: number;
  /** The modules that ran, in order. */
  modules: string[];
  /** Every measurement with its ratio. */
  rows: Row[];
  /** The goals with their status. */
  goals: Goal[];
  /** Modules and rows that failed. */
  failures: Failure[];
}

/** Group names shared with the bench modules. */
export const TWO = "calls, 2 processes";
const UPLOAD = "upload, 2 processes";
const CONNECTIONS = "connections, 2 processes";
const MEMORY = "memory per connection (RPC server RSS)";
const PIPE = "256 in flight";
const RAW = "raw echo (batched)";

function find(rows: readonly Measurement[], group: string, name: string): Measurement | undefined {
  return rows.find((row) => row.group === group && row.name === name && !row.error);
}

function value(rows: readonly Measurement[], group: string, name: string): number | undefined {
  return find(rows, group, name)?.value;
}

/** Add every row's ratio to its baseline (the row of that name in the same group). */
export function withRatios(measurements: readonly Measurement[]): Row[] {
  return measurements.map((m) => {
    if (m.baseline === undefined || m.error) return { ...m };
    const base = value(measurements, m.group, m.baseline);
    return base ? { ...m, vsBaseline: m.value / base } : { ...m };
  });
}

function goal(
  issue: number,
  name: string,
  measured: number | undefined,
  op: Goal["op"],
  target: number,
  unit = "ratio",
): Goal {
  if (measured === undefined || !Number.isFinite(measured)) {
    return { issue, name, value: null, target, op, unit, met: null };
  }
  const met = op === ">="
    ? measured >= target
    : op === ">"
    ? measured > target
    : op === "<"
    ? measured < target
    : measured <= target;
  return { issue, name, value: measured, target, op, unit, met };
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a / b;
}

/** The goals of the open performance issues, evaluated on this run's rows. */
export function evaluateGoals(rows: readonly Measurement[]): Goal[] {
  const two = (name: string) => value(rows, TWO, name);
  // `server`: "MsgPack" (the default options) or "MsgPack, recycleReadBuffers".
  const upload = (label: string, server = "MsgPack") =>
    ratio(
      value(rows, UPLOAD, `RPC (${server}) upload(${label}), 16 in flight`),
      value(rows, UPLOAD, `raw socket, ${label} frames, 16 in flight`),
    );
  const perIdle = (codec: string) =>
    rows.find((r) =>
      r.group === MEMORY && r.name.startsWith(`RPC (${codec}), `) &&
      r.name.endsWith("idle connections, after one call each") && !r.error
    );
  const idleJson = perIdle("JSON");
  const many = (codec: string) =>
    rows.find((r) =>
      r.group === CONNECTIONS && r.name.startsWith(`RPC (${codec}), `) &&
      r.name.endsWith("connections, all busy (1 in flight each)") && !r.error
    );
  const manyMemory = (codec: string) =>
    rows.find((r) =>
      r.group === MEMORY && r.name.startsWith(`RPC (${codec}), `) &&
      r.name.endsWith("connections, after the load") && !r.error
    );
  const manyCount = many("JSON")?.name.match(/([\d,]+) connections/)?.[1] ?? "10,000";
  const smallCodec = (op: string, who: string) =>
    rows.find((r) =>
      r.group === "codec" && r.name.startsWith(`msgpack ${op} small message`) &&
      r.name.endsWith(`(${who})`)
    )?.value;
  // Issue 16: the paired ratio row, in percent (net_bench.ts heartbeatCost).
  const heartbeat = rows.find((r) =>
    r.group === TWO && r.unit === "%" && r.name.includes("heartbeat") && !r.error
  );
  const million = rows.find((r) => r.group === "agents" && r.name.endsWith("idle agents: heap"));
  const millionTime = rows.find((r) =>
    r.group === "agents" && r.name.endsWith("idle agents: creation time")
  );
  const timers = rows.find((r) =>
    r.group === "clock" && /schedule \+ fire 1,000,000 callAt timers/.test(r.name)
  );
  const bestPeer = Math.max(
    ...rows.filter((r) =>
      r.group === TWO && r.name.endsWith(`, ${PIPE}`) && !r.error &&
      /^(birpc|Cap'n Web)/.test(r.name)
    ).map((r) => r.value),
  );
  const goals = [
    goal(
      18,
      `RPC (MsgPack), ${PIPE}, 2 processes >= 50% of the batched raw echo`,
      ratio(two(`RPC (MsgPack), ${PIPE}`), two(`${RAW}, ${PIPE}`)),
      ">=",
      0.5,
    ),
    goal(
      18,
      `RPC (JSON), ${PIPE}, 2 processes >= 20% of the batched raw echo`,
      ratio(two(`RPC (JSON), ${PIPE}`), two(`${RAW}, ${PIPE}`)),
      ">=",
      0.2,
    ),
    goal(
      18,
      "RPC (JSON), sequential, 2 processes >= 85% of the raw echo",
      ratio(two("RPC (JSON), sequential"), two(`${RAW}, sequential`)),
      ">=",
      0.85,
    ),
    goal(
      18,
      "RPC (MsgPack) upload of 1 MiB >= 60% of the raw socket's MB/s",
      upload("1 MiB"),
      ">=",
      0.6,
    ),
    goal(
      18,
      "RPC (MsgPack) upload of 16 MiB >= 60% of the raw socket's MB/s",
      upload("16 MiB"),
      ">=",
      0.6,
    ),
    goal(
      18,
      "RPC (MsgPack, recycleReadBuffers) upload of 1 MiB >= 60% of the raw socket's MB/s",
      upload("1 MiB", "MsgPack, recycleReadBuffers"),
      ">=",
      0.6,
    ),
    goal(
      18,
      "RPC (MsgPack, recycleReadBuffers) upload of 16 MiB >= 60% of the raw socket's MB/s",
      upload("16 MiB", "MsgPack, recycleReadBuffers"),
      ">=",
      0.6,
    ),
    goal(18, "RSS per idle connection, JSON <= 16 KiB", idleJson?.value, "<=", 16, "KiB"),
    goal(
      18,
      "RSS per idle connection, MsgPack <= 16 KiB",
      perIdle("MsgPack")?.value,
      "<=",
      16,
      "KiB",
    ),
    goal(
      18,
      `${manyCount} connections: MsgPack throughput >= JSON's / 1.2`,
      ratio(many("MsgPack")?.value, many("JSON")?.value),
      ">=",
      1 / 1.2,
    ),
    goal(
      18,
      `${manyCount} connections: MsgPack memory <= 1.2x JSON's`,
      ratio(manyMemory("MsgPack")?.value, manyMemory("JSON")?.value),
      "<=",
      1.2,
    ),
    goal(
      18,
      `RPC (JSON), ${PIPE}, 2 processes ahead of the best peer (birpc, Cap'n Web)`,
      ratio(two(`RPC (JSON), ${PIPE}`), Number.isFinite(bestPeer) ? bestPeer : undefined),
      ">",
      1,
    ),
    goal(
      18,
      "MsgPack encode, small message: ours faster than @msgpack/msgpack (reused Encoder)",
      ratio(
        smallCodec("encode", "ours"),
        smallCodec("encode", "@msgpack/msgpack (reused Encoder/Decoder)"),
      ),
      ">",
      1,
    ),
    goal(
      18,
      "MsgPack decode, small message: ours faster than @msgpack/msgpack (reused Decoder)",
      ratio(
        smallCodec("decode", "ours"),
        smallCodec("decode", "@msgpack/msgpack (reused Encoder/Decoder)"),
      ),
      ">",
      1,
    ),
  ];
  // Issue 20: the paired ratio row in percent, two processes (agent_bench.ts metricsCost).
  const metrics = rows.find((r) =>
    r.group === "agents, 2 processes" && r.unit === "%" && r.name.includes("call metrics") &&
    !r.error
  );
  if (metrics) {
    goals.push(
      goal(
        20,
        `agent calls (JSON), ${PIPE}, 2 processes, with call metrics >= 97% of without ` +
          "(cost <= 3%; paired runs)",
        metrics.value / 100,
        ">=",
        0.97,
      ),
    );
  }
  if (heartbeat) {
    goals.push(
      goal(
        16,
        `RPC (JSON), ${PIPE}, with heartbeats >= 98% of without (cost <= 2%; paired runs)`,
        heartbeat.value / 100,
        ">=",
        0.98,
      ),
    );
  }
  const sim = (prefix: string) =>
    rows.find((r) => r.group === "simulation" && r.name.startsWith(prefix) && !r.error)?.value;
  goals.push(
    goal(
      17,
      "Simulation: an empty step with 4 worker containers <= 2 ms",
      sim("empty step"),
      "<=",
      2,
      "ms",
    ),
    goal(
      17,
      "Simulation: steps/s with 10,000 agents in 4 workers >= 50% of the same calls without",
      sim("Simulation / plain calls"),
      ">=",
      0.5,
    ),
  );
  goals.push(
    goal(0, "1,000,000 idle agents: heap under 1 GiB", million?.value, "<", 1024, "MiB"),
    goal(0, "1,000,000 idle agents: created in under 3 s", millionTime?.value, "<", 3, "s"),
    goal(
      0,
      "timer heap: 1,000,000 timers scheduled and fired in under 2 s",
      timers ? 1_000_000 / timers.value : undefined,
      "<",
      2,
      "s",
    ),
  );
  return goals;
}

/** A number as the table prints it, by unit. */
export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return "-";
  if (unit === "ratio") return value.toFixed(2);
  if (unit === "ms") return value < 1 ? value.toFixed(3) : value.toPrecision(3);
  if (unit === "x" || unit === "MiB" || unit === "KiB") return value.toFixed(1);
  if (unit === "s") return value.toFixed(3);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString("en-US");
  return value.toPrecision(3);
}

function percent(value: number | undefined): string {
  if (value === undefined) return "";
  return value >= 10 ? `${value.toFixed(0)}x` : `${(100 * value).toFixed(0)}%`;
}

function goalText(g: Goal): string {
  // One decimal, so that 97.8% against a goal of 98% does not print as 98%.
  const shown = g.unit === "ratio"
    ? (x: number) => `${(100 * x).toFixed(1).replace(/\.0$/, "")}%`
    : (x: number) => `${formatValue(x, g.unit)} ${g.unit}`;
  const status = g.met === null ? "n/a " : g.met ? "MET " : "MISS";
  const measured = g.value === null ? "not measured" : shown(g.value);
  const issue = g.issue ? ` (issue ${g.issue})` : "";
  return `${status}  ${g.name}: ${measured} (goal ${g.op} ${shown(g.target)})${issue}`;
}

/** The spread column: min..max, "recorded" or the failure. */
function spread(row: Row): string {
  if (row.error) return "FAILED";
  if (row.recorded) return "recorded";
  if (row.min === undefined || row.max === undefined || row.runs === 1) return "";
  return `${formatValue(row.min, row.unit)}..${formatValue(row.max, row.unit)}`;
}

/** The report as a Markdown table (readable as plain text too), then goals and failures. */
export function formatTable(report: Report): string {
  const header = ["group", "measurement", "median", "min..max", "unit", "vs baseline"];
  const lines = report.rows.map((row) => [
    row.group,
    row.name,
    row.error ? "FAILED" : formatValue(row.value, row.unit),
    spread(row),
    row.unit,
    percent(row.vsBaseline),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => line[i].length)));
  const right = [false, false, true, true, false, true];
  const cell = (text: string, i: number) =>
    right[i] ? text.padStart(widths[i]) : text.padEnd(widths[i]);
  const out = [
    `| ${header.map(cell).join(" | ")} |`,
    `| ${widths.map((w, i) => right[i] ? "-".repeat(w - 1) + ":" : "-".repeat(w)).join(" | ")} |`,
    ...lines.map((line) => `| ${line.map(cell).join(" | ")} |`),
    "",
    "Goals (medians of one run; ratios of rows measured in that run):",
    "",
    ...report.goals.map((g) => `- ${goalText(g)}`),
  ];
  const recorded = report.rows.find((row) => row.recorded)?.recorded;
  if (recorded) out.push("", `"recorded" rows: ${recorded}.`);
  if (report.failures.length > 0) {
    out.push("", "FAILED:", "");
    for (const f of report.failures) out.push(`- ${f.module}: ${f.error}`);
  }
  const env = Object.entries(report.environment).map(([k, v]) => `${k} ${v}`).join(", ");
  const took = report.seconds === undefined ? "" : `, ${report.seconds.toFixed(0)} s`;
  out.push("", `${report.date}${report.quick ? ", --quick" : ""}${took}; ${env}`);
  return out.join("\n");
}

/** The report as pretty-printed JSON. */
export function formatJson(report: Report): string {
  return JSON.stringify(
    report,
    (_key, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
    2,
  ) + "\n";
}

// ---------------------------------------------------------------------------
// SVG

interface Bar {
  label: string;
  row: Row;
  kind: "baseline" | "ours" | "peer" | "recorded";
}

interface Section {
  title: string;
  unit: string;
  bars: Bar[];
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

function kindOf(row: Row): Bar["kind"] {
  if (row.recorded) return "recorded";
  if (/^(raw|byte pump)/.test(row.name)) return "baseline";
  if (
    /^(birpc|Cap'n Web|@msgpack|msgpackr)/.test(row.name) || /\((@msgpack|msgpackr)/.test(row.name)
  ) {
    return "peer";
  }
  return "ours";
}

/** The chart's sections, from the rows present. */
function sections(rows: readonly Row[]): Section[] {
  const out: Section[] = [];
  const pick = (
    title: string,
    unit: string,
    filter: (row: Row) => boolean,
    label = (r: Row) => r.name,
  ) => {
    const bars = rows.filter((row) => !row.error && filter(row)).map((row) => ({
      label: label(row),
      row,
      kind: kindOf(row),
    }));
    if (bars.length > 0) out.push({ title, unit, bars });
  };
  const strip = (suffix: string) => (row: Row) => row.name.replace(suffix, "");
  pick(
    `Calls per second, ${PIPE}, client and server in 2 processes`,
    "calls/s",
    (r) =>
      (r.group === TWO && r.name.endsWith(`, ${PIPE}`) && r.unit === "calls/s") ||
      (r.group === "Python aiomas (recorded)" && r.name.endsWith(PIPE)),
    strip(`, ${PIPE}`),
  );
  pick(
    "Calls per second, sequential, client and server in 2 processes",
    "calls/s",
    (r) =>
      (r.group === TWO && r.name.endsWith(", sequential") && !/WebSocket/.test(r.name)) ||
      (r.group === "Python aiomas (recorded)" && r.name.endsWith("sequential")),
    strip(", sequential"),
  );
  pick("Uploads, MB/s (2 processes)", "MB/s", (r) => r.group === UPLOAD);
  pick(
    "RSS per idle connection (KiB, RPC server)",
    "KiB",
    (r) =>
      r.group === MEMORY && r.unit === "KiB" && /idle connections, after one call/.test(r.name),
  );
  pick(
    "MsgPack, small message (ops/s)",
    "ops/s",
    (r) => r.group === "codec" && r.name.includes("small message"),
    (r) => r.name.replace("msgpack ", "").replace(/small message, \d+ B /, ""),
  );
  return out;
}

/** How a bar's note names its baseline. */
function baselineLabel(row: Row): string {
  const base = row.baseline ?? "";
  if (row.group === "codec") return "best peer";
  if (base.startsWith("raw echo")) return "raw echo";
  if (base.startsWith("raw socket")) return "raw socket";
  if (row.name.includes("heartbeat")) return "no heartbeat";
  if (row.name.includes("release off")) return "release on";
  return base.split(",")[0];
}

const COLORS: Record<Bar["kind"], string> = {
  baseline: "#8c8c8c",
  ours: "#2f6db5",
  peer: "#e07b39",
  recorded: "#b9a44c",
};

/**
 * Draw the report as a plain SVG bar chart: call rates (pipelined and
 * sequential, two processes), uploads, memory per idle connection and the
 * small-message codec rates. Each bar is a median with a whisker from the
 * minimum to the maximum; each section is scaled to its own largest value.
 */
export function formatSvg(report: Report): string {
  const width = 980;
  const labelWidth = 360;
  const noteWidth = 220;
  const barMax = width - labelWidth - noteWidth - 20;
  const barHeight = 14;
  const gap = 4;
  const parts: string[] = [];
  let y = 30;
  parts.push(
    `<text x="10" y="20" class="title">aiomas for Deno: deno task bench (${
      escapeXml(report.date.slice(0, 10))
    }${report.quick ? ", --quick" : ""}): median, whisker = min..max of ${
      report.rows.find((r) => r.runs && r.runs > 1)?.runs ?? 3
    } interleaved runs</text>`,
  );
  for (const section of sections(report.rows)) {
    y += 20;
    parts.push(`<text x="10" y="${y}" class="section">${escapeXml(section.title)}</text>`);
    y += 6;
    const max = Math.max(...section.bars.map((bar) => bar.row.max ?? bar.row.value));
    const scale = (v: number) => Math.max(1, (v / max) * barMax);
    for (const bar of section.bars) {
      const { row } = bar;
      const w = scale(row.value);
      const mid = y + barHeight / 2 + 4;
      parts.push(
        `<text x="${labelWidth - 6}" y="${mid}" text-anchor="end">${escapeXml(bar.label)}</text>`,
        `<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${
          COLORS[bar.kind]
        }"/>`,
      );
      if (row.min !== undefined && row.max !== undefined && (row.runs ?? 0) > 1) {
        const x1 = labelWidth + scale(row.min);
        const x2 = labelWidth + scale(row.max);
        parts.push(
          `<line x1="${x1.toFixed(1)}" y1="${y + barHeight / 2}" x2="${x2.toFixed(1)}" y2="${
            y + barHeight / 2
          }" stroke="#222" stroke-width="1"/>`,
        );
      }
      const note = bar.kind === "recorded"
        ? "recorded, not this run"
        : row.vsBaseline !== undefined
        ? `${percent(row.vsBaseline)} of ${baselineLabel(row)}`
        : "";
      const right = labelWidth + Math.max(w, row.max !== undefined ? scale(row.max) : 0) + 6;
      parts.push(
        `<text x="${right.toFixed(1)}" y="${mid}">${
          escapeXml(`${formatValue(row.value, row.unit)}${note ? `  (${note})` : ""}`)
        }</text>`,
      );
      y += barHeight + gap;
    }
  }
  y += 16;
  const legend: Array<[Bar["kind"], string]> = [
    ["baseline", "raw socket baselines"],
    ["ours", "aiomas for Deno"],
    ["peer", "peer library"],
    ["recorded", "Python aiomas (recorded)"],
  ];
  legend.forEach(([kind, text], i) => {
    const x = 10 + i * 220;
    parts.push(
      `<rect x="${x}" y="${y}" width="12" height="12" fill="${COLORS[kind]}"/>`,
      `<text x="${x + 18}" y="${y + 10}">${escapeXml(text)}</text>`,
    );
  });
  y += 24;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif" font-size="12">`,
    "<style>.title{font-size:14px;font-weight:bold}" +
    ".section{font-size:12px;font-weight:bold;fill:#444}</style>",
    `<rect width="${width}" height="${y}" fill="#fff"/>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------
// README summary

/** Whether a row belongs in the README's summary table. */
function inSummary(row: Row): boolean {
  if (row.group === TWO) {
    if (!row.name.includes(": latency")) return true;
    return /^(raw echo \(batched\)|RPC \((JSON|MsgPack)\)), sequential/.test(row.name);
  }
  return [UPLOAD, CONNECTIONS, MEMORY, "Python aiomas (recorded)", "simulation"].includes(
    row.group,
  ) ||
    (row.group === "codec" && row.name.includes("small message"));
}

/**
 * The README's summary: the two-process call rows, uploads, connections,
 * memory, the small-message codec rows and the goals, as Markdown. The full
 * table is `bench/results.md`.
 */
export function formatSummary(report: Report): string {
  const rows = report.rows.filter(inSummary);
  const header = ["group", "measurement", "median", "min..max", "unit", "vs baseline"];
  const lines = rows.map((row) => [
    row.group,
    row.name,
    row.error ? "FAILED" : formatValue(row.value, row.unit),
    spread(row),
    row.unit,
    percent(row.vsBaseline),
  ]);
  const env = Object.entries(report.environment).map(([k, v]) => `${k} ${v}`).join(", ");
  return [
    `${
      report.quick ? "A --quick run (short repetitions: noisy)" : "One full run"
    } (${report.date}; ${env}; ${report.seconds?.toFixed(0) ?? "?"} s):`,
    "",
    `| ${header.join(" | ")} |`,
    `| --- | --- | ---: | ---: | --- | ---: |`,
    ...lines.map((line) => `| ${line.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`),
    "",
    "Goals (medians of this run; ratios of rows measured in the same run):",
    "",
    ...report.goals.map((g) => `- ${goalText(g).replace(/^(MET|MISS|n\/a) +/, "**$1** ")}`),
  ].join("\n");
}
