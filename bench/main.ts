/**
 * `deno task bench`: the project's performance report. One run on loopback
 * imports every bench module present (`net`, `codec`, `blosc`, `clock`,
 * `tls`, `workers`, `peers`, `agents`), runs its `bench()` and prints one
 * table with the absolute rates, their ratios to the raw framed echo and to
 * the best peer library, and the performance goals, met or not. It also
 * writes `bench/results.json` and the bar chart `bench/results.svg`.
 *
 * ```sh
 * deno task bench                     # the full report (a few minutes)
 * deno task bench -- --quick          # fewer rounds: a smoke run
 * deno task bench -- --only net,codec # only these modules
 * ```
 *
 * A module that fails to load or throws is reported and skipped.
 *
 * @module
 */

import type { Measurement } from "./measure.ts";
import {
  evaluateGoals,
  type Failure,
  formatJson,
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
  { name: "peers", files: ["peers_bench.ts"], args: withOptions },
  { name: "agents", files: ["agent_bench.ts"], args: withOptions },
  { name: "codec", files: ["codec_bench.ts"] },
  { name: "blosc", files: ["blosc_bench.ts"] },
  { name: "clock", files: ["clock_bench.ts"] },
  // `tls_bench.ts` takes its number of rounds.
  { name: "tls", files: ["tls_bench.ts"], args: (quick) => quick ? [2] : [] },
  { name: "workers", files: ["workers_bench.ts", "worker_bench.ts"], args: withOptions },
];

/** Parsed command line: `--quick`, `--only a,b`, `--no-write`. */
export function parseArgs(args: readonly string[]): {
  quick: boolean;
  only: Set<string> | undefined;
  write: boolean;
} {
  let quick = false;
  let write = true;
  let only: Set<string> | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") continue;
    if (arg === "--quick") quick = true;
    else if (arg === "--no-write") write = false;
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
      throw new TypeError(`Unknown argument "${arg}"; use --quick, --only net,codec, --no-write`);
    }
  }
  return { quick, only, write };
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
  console.log(formatTable(report));
  console.log(`\nTotal time: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (write) {
    await Deno.writeTextFile(new URL("./results.json", import.meta.url), formatJson(report));
    await Deno.writeTextFile(new URL("./results.svg", import.meta.url), formatSvg(report));
    console.log("Wrote bench/results.json and bench/results.svg");
  }
  // Peer libraries may leave sockets or timers behind; the report is done.
  Deno.exit(0);
}
