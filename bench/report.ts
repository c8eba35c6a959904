/**
 * The performance report of `deno task bench`: ratios of every call rate to
 * the raw echo and to the best peer library, the goals with their status, and
 * three renderings of it (a text table, JSON, and an SVG bar chart drawn
 * without any dependency).
 *
 * @module
 */

import type { Measurement } from "./measure.ts";

/** Calls in flight in the pipelined rows (as `net_bench.ts` measures them). */
const IN_FLIGHT = 256;
const MODES = ["sequential", `${IN_FLIGHT} in flight`] as const;
/** The two ways calls are made: one after the other, or 256 at once. */
export type Mode = typeof MODES[number];

/** The peer codecs that `codec_bench.ts` measures beside ours. */
const PEER_CODECS = ["@msgpack/msgpack", "msgpackr"];

/** A measurement with its ratios. */
export interface Row extends Measurement {
  /** This call rate divided by the raw echo's in the same mode. */
  vsRaw?: number;
  /** This rate divided by the best peer library's in the same mode (or codec case). */
  vsBestPeer?: number;
}

/** A performance goal and whether this run met it. */
export interface Goal {
  /** What is required, e.g. `"RPC (JSON), 256 in flight >= 35% of raw echo"`. */
  name: string;
  /** The measured value (a ratio, seconds or MiB); `null` when not measured. */
  value: number | null;
  /** The goal's bound. */
  target: number;
  /** How `value` compares with `target`: `">="`, `">"`, `"<"` or `"<="`. */
  op: ">=" | ">" | "<" | "<=";
  /** Unit of `value` and `target` (`"ratio"`, `"s"`, `"MiB"`). */
  unit: string;
  /** Whether the goal is met; `null` when it was not measured in this run. */
  met: boolean | null;
}

/** A bench module that failed, and why. */
export interface Failure {
  /** The module's short name (`"net"`, `"peers"`, ...). */
  module: string;
  /** The error's text. */
  error: string;
}

/** Everything one run of `deno task bench` found. */
export interface Report {
  /** When the run started (ISO 8601). */
  date: string;
  /** Versions and machine: Deno, V8, OS, CPU count. */
  environment: Record<string, string | number>;
  /** Whether the run was `--quick`. */
  quick: boolean;
  /** The modules that ran, in order. */
  modules: string[];
  /** Every measurement with its ratios. */
  rows: Row[];
  /** The goals with their status. */
  goals: Goal[];
  /** Modules that threw. */
  failures: Failure[];
}

/** The mode of a call-rate row (from its name's suffix), or `undefined`. */
export function modeOf(row: Measurement): Mode | undefined {
  if (row.unit !== "calls/s") return undefined;
  return MODES.find((mode) => row.name.endsWith(`, ${mode}`));
}

function find(rows: readonly Measurement[], group: string, name: string): number | undefined {
  return rows.find((row) => row.group === group && row.name === name)?.value;
}

/** The best peer library's call rate in `mode`. */
export function bestPeer(rows: readonly Measurement[], mode: Mode): Measurement | undefined {
  let best: Measurement | undefined;
  for (const row of rows) {
    if (row.group === "peers" && modeOf(row) === mode && (!best || row.value > best.value)) {
      best = row;
    }
  }
  return best;
}

const CODEC_ROW = /^msgpack (encode|decode) (.+) \((.+)\)$/;

/**
 * A codec row's case: the operation and the message, where every message
 * under 1 KiB is "small" (each library's encoding of the small message has
 * its own size, such as `163 B` and `167 B`).
 */
function codecCase(row: Measurement): { op: string; size: string; who: string } | undefined {
  const match = row.group === "codec" ? CODEC_ROW.exec(row.name) : null;
  if (!match) return undefined;
  const [, op, size, who] = match;
  return { op, size: size.endsWith(" B") ? "small" : size, who };
}

/** Add the ratios to the raw echo and to the best peer. */
export function withRatios(measurements: readonly Measurement[]): Row[] {
  return measurements.map((m) => {
    const row: Row = { ...m };
    const mode = modeOf(m);
    if (mode !== undefined) {
      const raw = find(measurements, "net", `raw echo, ${mode}`);
      if (raw) row.vsRaw = m.value / raw;
      const peer = bestPeer(measurements, mode);
      if (peer) row.vsBestPeer = m.value / peer.value;
    }
    const codec = codecCase(m);
    if (codec) {
      const peers = measurements.filter((other) => {
        const c = codecCase(other);
        return c && c.op === codec.op && c.size === codec.size && PEER_CODECS.includes(c.who);
      }).map((other) => other.value);
      if (peers.length > 0) row.vsBestPeer = m.value / Math.max(...peers);
    }
    return row;
  });
}

function goal(
  name: string,
  value: number | undefined,
  op: Goal["op"],
  target: number,
  unit: string,
): Goal {
  if (value === undefined || !Number.isFinite(value)) {
    return { name, value: null, target, op, unit, met: null };
  }
  const met = op === ">="
    ? value >= target
    : op === ">"
    ? value > target
    : op === "<"
    ? value < target
    : value <= target;
  return { name, value, target, op, unit, met };
}

/** Divide when both are known. */
function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a / b;
}

/** The goals of the open performance issues, evaluated on this run's rows. */
export function evaluateGoals(rows: readonly Measurement[]): Goal[] {
  const pipe = `${IN_FLIGHT} in flight`;
  const net = (name: string) => find(rows, "net", name);
  const rawSeq = net("raw echo, sequential");
  const rawPipe = net(`raw echo, ${pipe}`);
  const smallCodec = (op: string, who: string) => {
    const row = rows.find((r) =>
      r.group === "codec" && r.name.startsWith(`msgpack ${op} `) && r.name.endsWith(` B (${who})`)
    );
    return row?.value;
  };
  const million = rows.find((r) => r.group === "agents" && r.name.endsWith("idle agents: heap"));
  const millionTime = rows.find((r) =>
    r.group === "agents" && r.name.endsWith("idle agents: creation time")
  );
  const timers = rows.find((r) =>
    r.group === "clock" && /schedule \+ fire 1,000,000 callAt timers/.test(r.name)
  );
  return [
    goal(
      `RPC (JSON), ${pipe} >= 35% of raw echo`,
      ratio(net(`RPC (JSON), ${pipe}`), rawPipe),
      ">=",
      0.35,
      "ratio",
    ),
    goal(
      `RPC (JSON), ${pipe} ahead of the best peer (Cap'n Web, birpc)`,
      ratio(net(`RPC (JSON), ${pipe}`), bestPeer(rows, pipe)?.value),
      ">",
      1,
      "ratio",
    ),
    goal(
      "RPC (JSON), sequential >= 65% of raw echo",
      ratio(net("RPC (JSON), sequential"), rawSeq),
      ">=",
      0.65,
      "ratio",
    ),
    goal(
      `channel (JSON), ${pipe} >= 45% of raw echo`,
      ratio(net(`channel (JSON), ${pipe}`), rawPipe),
      ">=",
      0.45,
      "ratio",
    ),
    goal(
      "channel (JSON), sequential >= 70% of raw echo",
      ratio(net("channel (JSON), sequential"), rawSeq),
      ">=",
      0.70,
      "ratio",
    ),
    goal(
      `agent calls (JSON), ${pipe} >= 30% of raw echo`,
      ratio(find(rows, "agents", `agent calls (JSON), ${pipe}`), rawPipe),
      ">=",
      0.30,
      "ratio",
    ),
    goal(
      "MsgPack encode, small message: ours faster than @msgpack/msgpack",
      ratio(smallCodec("encode", "ours"), smallCodec("encode", "@msgpack/msgpack")),
      ">",
      1,
      "ratio",
    ),
    goal(
      "MsgPack decode, small message: ours faster than @msgpack/msgpack",
      ratio(smallCodec("decode", "ours"), smallCodec("decode", "@msgpack/msgpack")),
      ">",
      1,
      "ratio",
    ),
    goal("1,000,000 idle agents: heap under 1 GiB", million?.value, "<", 1024, "MiB"),
    goal("1,000,000 idle agents: created in under 3 s", millionTime?.value, "<", 3, "s"),
    goal(
      "timer heap: 1,000,000 timers scheduled and fired in under 2 s",
      timers ? 1_000_000 / timers.value : undefined,
      "<",
      2,
      "s",
    ),
  ];
}

/** A number as the table prints it, by unit. */
export function formatValue(value: number, unit: string): string {
  if (unit === "s") return value.toFixed(3);
  if (unit === "ratio") return value.toFixed(2);
  if (unit === "x" || unit === "MiB") return value.toFixed(1);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString("en-US");
  return value.toPrecision(3);
}

function percent(value: number | undefined): string {
  if (value === undefined) return "";
  return value >= 10 ? `${value.toFixed(0)}x` : `${(100 * value).toFixed(0)}%`;
}

function times(value: number | undefined): string {
  return value === undefined ? "" : `${value.toFixed(2)}x`;
}

function goalText(g: Goal): string {
  const shown = g.unit === "ratio"
    ? (x: number) => `${(100 * x).toFixed(0)}%`
    : (x: number) => `${formatValue(x, g.unit)} ${g.unit}`;
  const status = g.met === null ? "n/a " : g.met ? "MET " : "MISS";
  const value = g.value === null ? "not measured" : shown(g.value);
  return `${status}  ${g.name}: ${value} (goal ${g.op} ${shown(g.target)})`;
}

/** The report as a Markdown table (readable as plain text too), then goals and failures. */
export function formatTable(report: Report): string {
  const header = ["group", "measurement", "value", "unit", "vs raw echo", "vs best peer"];
  const lines = report.rows.map((row) => [
    row.group,
    row.name,
    formatValue(row.value, row.unit),
    row.unit,
    percent(row.vsRaw),
    times(row.vsBestPeer),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => line[i].length)));
  const right = [false, false, true, false, true, true];
  const cell = (text: string, i: number) =>
    right[i] ? text.padStart(widths[i]) : text.padEnd(widths[i]);
  const out = [
    `| ${header.map(cell).join(" | ")} |`,
    `| ${widths.map((w, i) => right[i] ? "-".repeat(w - 1) + ":" : "-".repeat(w)).join(" | ")} |`,
    ...lines.map((line) => `| ${line.map(cell).join(" | ")} |`),
    "",
    "Goals:",
    "",
    ...report.goals.map((g) => `- ${goalText(g)}`),
  ];
  if (report.failures.length > 0) {
    out.push("", "Failed modules:", "");
    for (const f of report.failures) out.push(`- ${f.module}: ${f.error}`);
  }
  const env = Object.entries(report.environment).map(([k, v]) => `${k} ${v}`).join(", ");
  out.push("", `${report.date}${report.quick ? ", --quick" : ""}; ${env}`);
  return out.join("\n");
}

/** The report as pretty-printed JSON. */
export function formatJson(report: Report): string {
  return JSON.stringify(report, null, 2) + "\n";
}

// ---------------------------------------------------------------------------
// SVG

interface Bar {
  label: string;
  value: number;
  note: string;
  kind: "baseline" | "ours" | "peer";
}

interface Section {
  title: string;
  bars: Bar[];
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

const CALL_ROWS: Array<[group: string, prefix: string, kind: Bar["kind"]]> = [
  ["net", "raw echo", "baseline"],
  ["net", "channel (JSON)", "ours"],
  ["net", "channel (MsgPack)", "ours"],
  ["net", "RPC (JSON)", "ours"],
  ["net", "RPC (MsgPack)", "ours"],
  ["agents", "agent calls (JSON)", "ours"],
  ["agents", "agent calls (MsgPack)", "ours"],
];

/** The call-rate sections: one per mode, our layers and then every peer. */
function callSections(rows: readonly Row[]): Section[] {
  return MODES.map((mode) => {
    const bars: Bar[] = [];
    const add = (row: Row | undefined, label: string, kind: Bar["kind"]) => {
      if (!row) return;
      const note = kind === "baseline" ? "baseline" : `${percent(row.vsRaw)} of raw`;
      bars.push({ label, value: row.value, note, kind });
    };
    for (const [group, prefix, kind] of CALL_ROWS) {
      add(rows.find((r) => r.group === group && r.name === `${prefix}, ${mode}`), prefix, kind);
    }
    for (const row of rows) {
      if (row.group === "peers" && modeOf(row) === mode) {
        add(row, row.name.slice(0, -`, ${mode}`.length), "peer");
      }
    }
    return { title: `Calls per second, ${mode} (loopback TCP)`, bars };
  }).filter((section) => section.bars.length > 0);
}

/** The codec sections: encode and decode of each message size, ours against the peers. */
function codecSections(rows: readonly Row[]): Section[] {
  const sections = new Map<string, Section>();
  for (const row of rows) {
    const codec = codecCase(row);
    if (!codec) continue;
    const { op, size, who } = codec;
    const key = `${op} ${size}`;
    let section = sections.get(key);
    if (!section) {
      const message = size === "small" ? "small (RPC-sized)" : size;
      section = { title: `MsgPack ${op}, ${message} message (ops/s)`, bars: [] };
      sections.set(key, section);
    }
    const peer = PEER_CODECS.includes(who);
    section.bars.push({
      label: who,
      value: row.value,
      note: peer ? "" : `${times(row.vsBestPeer)} best peer`,
      kind: peer ? "peer" : "ours",
    });
  }
  return [...sections.values()];
}

const COLORS: Record<Bar["kind"], string> = {
  baseline: "#8c8c8c",
  ours: "#2f6db5",
  peer: "#e07b39",
};

/**
 * Draw the report as a plain SVG bar chart: a panel of call rates
 * (sequential and 256 in flight; raw echo, our layers, the peers) and a panel
 * of codec rates (encode and decode against the peer codecs). Each section
 * scales its bars to its own largest value.
 */
export function formatSvg(report: Report): string {
  const panels: Array<[string, Section[]]> = [
    ["Round trips: aiomas layers vs raw echo and peer RPC libraries", callSections(report.rows)],
    ["Codec: MsgPackCodec vs peer MessagePack libraries", codecSections(report.rows)],
  ].filter(([, sections]) => sections.length > 0) as Array<[string, Section[]]>;
  const width = 900;
  const labelWidth = 230;
  const noteWidth = 210;
  const barMax = width - labelWidth - noteWidth - 20;
  const barHeight = 16;
  const gap = 4;
  const parts: string[] = [];
  let y = 30;
  parts.push(
    `<text x="10" y="20" class="title">aiomas for Deno: deno task bench (${
      escapeXml(report.date.slice(0, 10))
    }${report.quick ? ", --quick" : ""})</text>`,
  );
  for (const [panelTitle, sections] of panels) {
    y += 18;
    parts.push(`<text x="10" y="${y}" class="panel">${escapeXml(panelTitle)}</text>`);
    y += 8;
    for (const section of sections) {
      y += 18;
      parts.push(`<text x="10" y="${y}" class="section">${escapeXml(section.title)}</text>`);
      y += 6;
      const max = Math.max(...section.bars.map((bar) => bar.value));
      for (const bar of section.bars) {
        const w = Math.max(1, (bar.value / max) * barMax);
        const mid = y + barHeight / 2 + 4;
        parts.push(
          `<text x="${labelWidth - 6}" y="${mid}" text-anchor="end">${escapeXml(bar.label)}</text>`,
          `<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${
            COLORS[bar.kind]
          }"/>`,
          `<text x="${(labelWidth + w + 6).toFixed(1)}" y="${mid}">${
            escapeXml(
              `${Math.round(bar.value).toLocaleString("en-US")}${
                bar.note ? `  (${bar.note})` : ""
              }`,
            )
          }</text>`,
        );
        y += barHeight + gap;
      }
    }
    y += 6;
  }
  y += 10;
  const legend: Array<[Bar["kind"], string]> = [
    ["baseline", "raw framed echo (baseline)"],
    ["ours", "aiomas for Deno"],
    ["peer", "peer library"],
  ];
  legend.forEach(([kind, text], i) => {
    const x = 10 + i * 230;
    parts.push(
      `<rect x="${x}" y="${y}" width="12" height="12" fill="${COLORS[kind]}"/>`,
      `<text x="${x + 18}" y="${y + 10}">${escapeXml(text)}</text>`,
    );
  });
  y += 24;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif" font-size="12">`,
    "<style>.title{font-size:15px;font-weight:bold}.panel{font-size:14px;font-weight:bold}" +
    ".section{font-size:12px;font-weight:bold;fill:#444}</style>",
    `<rect width="${width}" height="${y}" fill="#fff"/>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
