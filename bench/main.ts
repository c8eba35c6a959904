/**
 * `deno task bench`: the project's performance report. One run on loopback
 * TCP imports every bench module present, runs its `bench()` and prints one
 * table: each row's median with min..max over interleaved repetitions, its
 * ratio to its baseline, and the performance goals, met or missed. It also
 * writes `bench/results.json` and the bar chart `bench/results.svg`.
 *
 * The baseline of the call rows is a raw length-prefixed echo on a bare
 * `Deno.Conn` that batches writes exactly like the aiomas channel
 * (`bench/raw.ts`); client and server run in separate processes by default
 * (`bench/server.ts`), with one-process rows beside them.
 *
 * ```sh
 * deno task bench                     # the full report (2-3 minutes)
 * deno task bench -- --quick          # short repetitions: a smoke run
 * deno task bench -- --only net,codec # only these modules
 * ```
 *
 * A module that fails to load or throws, and a row whose replies are wrong,
 * are reported as FAILED; the run then exits with status 1.
 *
 * @module
 */

import type { Measurement } from "./measure.ts";
import {
  evaluateGoals,
  type Failure,
  formatJson,
  formatSummary,
  formatSvg,
  formatTable,
  type Report,
  withRatios,
} from "./report.ts";

/** A bench module: its short name, file candidates, and the arguments of its `bench()`. */
interface ModuleSpec {
  name: string;
  files: string[];
  /** The arguments of `bench()` for this run (default: none). */
  args?: (quick: boolean) => unknown[];
}

/** Modules taking `BenchOptions` from `net_bench.ts`. */
const withOptions = (quick: boolean) => [{ quick }];

const MODULES: ModuleSpec[] = [
  { name: "net", files: ["net_bench.ts"], args: withOptions },
  { name: "upload", files: ["upload_bench.ts"], args: withOptions },
  { name: "conns", files: ["conns_bench.ts"], args: withOptions },
  { name: "codec", files: ["codec_bench.ts"], args: withOptions },
  { name: "agents", files: ["agent_bench.ts"], args: withOptions },
  { name: "tls", files: ["tls_bench.ts"], args: withOptions },
  { name: "workers", files: ["worker_bench.ts"], args: withOptions },
  { name: "sim", files: ["simulation_bench.ts"], args: withOptions },
  { name: "blosc", files: ["blosc_bench.ts"] },
  { name: "clock", files: ["clock_bench.ts"], args: withOptions },
];

/**
 * Parsed command line: `--quick`, `--only a,b`, `--no-write`, `--write`.
 * A quick run writes nothing unless `--write` is given; a full run writes
 * `bench/results.{json,svg,md}` and the summary in README.md unless
 * `--no-write` is given.
 */
export function parseArgs(args: readonly string[]): {
  quick: boolean;
  only: Set<string> | undefined;
  write: boolean;
} {
  let quick = false;
  let write: boolean | undefined;
  let only: Set<string> | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") continue;
    if (arg === "--quick") quick = true;
    else if (arg === "--no-write") write = false;
    else if (arg === "--write") write = true;
    else if (arg === "--only" || arg.startsWith("--only=")) {
      const list = arg === "--only" ? args[++i] ?? "" : arg.slice("--only=".length);
      only = new Set(list.split(",").map((name) => name.trim()).filter(Boolean));
      const known = new Set(MODULES.map((m) => m.name));
      for (const name of only) {
        if (!known.has(name)) {
          throw new TypeError(`Unknown module "${name}"; known: ${[...known].join(", ")}`);
        }
      }
    } else {
      throw new TypeError(
        `Unknown argument "${arg}"; use --quick, --only net,codec, --no-write, --write`,
      );
    }
  }
  return { quick, only, write: write ?? !quick };
}

const README_BEGIN = "<!-- bench:begin (written by deno task bench) -->";
const README_END = "<!-- bench:end -->";

/** Replace the summary between the markers in README.md (if both are there). */
async function updateReadme(summary: string): Promise<boolean> {
  const url = new URL("../README.md", import.meta.url);
  const text = await Deno.readTextFile(url);
  const begin = text.indexOf(README_BEGIN);
  const end = text.indexOf(README_END);
  if (begin < 0 || end < begin) return false;
  await Deno.writeTextFile(
    url,
    `${text.slice(0, begin + README_BEGIN.length)}\n\n${summary}\n\n${text.slice(end)}`,
  );
  // Keep `deno fmt --check` green: let it lay out the table.
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", url.pathname] }).output();
  return true;
}

async function exists(url: URL): Promise<boolean> {
  try {
    await Deno.stat(url);
    return true;
  } catch {
    return false;
  }
}

function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.split("\n")[0];
  return String(error);
}

/** Run the selected modules and build the report. */
export async function run(
  options: { quick?: boolean; only?: Set<string> } = {},
): Promise<Report> {
  const quick = options.quick ?? false;
  const measurements: Measurement[] = [];
  const failures: Failure[] = [];
  const modules: string[] = [];
  const date = new Date().toISOString();
  for (const spec of MODULES) {
    if (options.only && !options.only.has(spec.name)) continue;
    let url: URL | undefined;
    for (const file of spec.files) {
      const candidate = new URL(`./${file}`, import.meta.url);
      if (await exists(candidate)) {
        url = candidate;
        break;
      }
    }
    if (url === undefined) continue;
    modules.push(spec.name);
    const start = performance.now();
    console.error(`bench: ${spec.name} ...`);
    try {
      const mod = await import(url.href) as {
        bench(...args: unknown[]): Promise<Measurement[]>;
      };
      const rows = await mod.bench(...(spec.args?.(quick) ?? []));
      measurements.push(...rows);
      for (const row of rows) {
        if (row.error) failures.push({ module: `${spec.name}: ${row.name}`, error: row.error });
      }
      console.error(
        `bench: ${spec.name} done in ${((performance.now() - start) / 1000).toFixed(1)} s`,
      );
    } catch (error) {
      console.error(`bench: ${spec.name} failed:`, error);
      failures.push({ module: spec.name, error: errorText(error) });
    }
  }
  return {
    date,
    environment: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      os: `${Deno.build.os} ${Deno.build.arch}`,
      cpus: navigator.hardwareConcurrency,
      load: Deno.loadavg().map((x) => x.toFixed(2)).join(" "),
    },
    quick,
    modules,
    rows: withRatios(measurements),
    goals: evaluateGoals(measurements),
    failures,
  };
}

if (import.meta.main) {
  const { quick, only, write } = parseArgs(Deno.args);
  const started = performance.now();
  const report = await run({ quick, only });
  report.seconds = (performance.now() - started) / 1000;
  console.log(formatTable(report));
  console.log(`\nTotal time: ${report.seconds.toFixed(0)} s`);
  if (write) {
    await Deno.writeTextFile(new URL("./results.json", import.meta.url), formatJson(report));
    await Deno.writeTextFile(new URL("./results.svg", import.meta.url), formatSvg(report));
    await Deno.writeTextFile(new URL("./results.md", import.meta.url), formatTable(report) + "\n");
    const readme = !only && await updateReadme(formatSummary(report));
    console.log(
      `Wrote bench/results.json, bench/results.svg, bench/results.md${
        readme ? " and the summary in README.md" : ""
      }`,
    );
  }
  // Peer libraries may leave sockets or timers behind; the report is done.
  Deno.exit(report.failures.length > 0 ? 1 : 0);
}
