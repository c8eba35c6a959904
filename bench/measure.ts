/**
 * Shared measuring helpers for `deno task bench`: every bench module exports
 * `bench(options): Promise<Measurement[]>`, and `bench/main.ts` prints them
 * together.
 *
 * {@linkcode interleave} is the harness of the main rows: it warms every
 * workload up (and sizes its work to a target duration), then runs the
 * repetitions interleaved (A B C A B C A B C, not A A A B B B C C C), so
 * that a slow phase of the machine hits every row alike, and reports the
 * median with the minimum and maximum.
 *
 * @module
 */

/** One measured figure. */
export interface Measurement {
  /** Section, such as `"calls"`, `"upload"`, `"codec"`. */
  group: string;
  /** What was measured, such as `"RPC (JSON), 256 in flight"`; unique in a report. */
  name: string;
  /** The median over the repetitions (or the value, for a single figure). */
  value: number;
  /** Unit of `value`, such as `"ops/s"`, `"calls/s"`, `"MB/s"`, `"ms"`, `"s"`. */
  unit: string;
  /** The smallest of the repetitions. */
  min?: number;
  /** The largest of the repetitions. */
  max?: number;
  /** How many repetitions the median is of. */
  runs?: number;
  /** The name of the row this one is divided by in the "vs baseline" column. */
  baseline?: string;
  /** A value recorded elsewhere (not measured in this run), with where it comes from. */
  recorded?: string;
  /** Why the row failed (a wrong reply, a crash); `value` is then `NaN`. */
  error?: string;
}

/** Median, minimum and maximum of `samples`. */
export function summarize(samples: readonly number[]): { value: number; min: number; max: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const value = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { value, min: sorted[0], max: sorted[sorted.length - 1] };
}

/** The `q` quantile (0..1) of sorted `values`, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Run `fn` (doing `ops` operations per call) for `rounds` rounds, back to back. */
export async function repeatRate(
  group: string,
  name: string,
  unit: string,
  fn: () => unknown | Promise<unknown>,
  ops: number,
  rounds = 5,
  warmup = 1,
): Promise<Measurement> {
  for (let i = 0; i < warmup; i++) await fn();
  const rates: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    await fn();
    rates.push(ops / ((performance.now() - start) / 1000));
  }
  return { group, name, unit, ...summarize(rates), runs: rounds };
}

/** Run `call(i)` for `i` in `0..count-1` with `window` calls in flight. */
export async function inFlight(
  call: (i: number) => Promise<unknown>,
  count: number,
  window: number,
): Promise<void> {
  let started = 0;
  const worker = async () => {
    while (started < count) await call(started++);
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker));
}

/** Run `call(i)` `count` times one after the other; the latency of each call in ms. */
export async function sequentialLatencies(
  call: (i: number) => Promise<unknown>,
  count: number,
): Promise<number[]> {
  const latencies = new Array<number>(count);
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await call(i);
    latencies[i] = performance.now() - start;
  }
  return latencies;
}

/** One row of an {@linkcode interleave}d run. */
export interface Workload {
  group: string;
  name: string;
  /** `"calls/s"` (count per second) or another rate unit with `scale`. */
  unit: string;
  /** Each unit of work counts this much in `unit` per second (default 1; bytes/1e6 for MB/s). */
  scale?: number;
  /** The row this one is compared with. */
  baseline?: string;
  /** Work units of the first (warm-up) run, which also sizes the measured ones. */
  warmup: number;
  /** Smallest number of work units per repetition (default 1). */
  minCount?: number;
  /** Connect, start servers... (before the warm-up; not timed). */
  setup?: () => Promise<void>;
  /** Do `count` units of work, checking every reply; sequential rows return their latencies (ms). */
  run: (count: number) => Promise<number[] | void>;
  /** Close what `setup` opened. */
  teardown?: () => Promise<void>;
}

/** Options of {@linkcode interleave}. */
export interface InterleaveOptions {
  /** Repetitions per row (at least 3). */
  reps: number;
  /** Seconds one repetition of a row should last (sizes the work from the warm-up). */
  target: number;
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Run the workloads' repetitions interleaved and return one row per workload
 * (and, for sequential rows, p50/p99/p99.9 latency rows): the median rate
 * with min..max. A workload that throws (a wrong reply) becomes a failed row
 * and is not run again; the others go on.
 */
export async function interleave(
  workloads: readonly Workload[],
  options: InterleaveOptions,
): Promise<Measurement[]> {
  const state = workloads.map((w) => ({
    w,
    count: 0,
    rates: [] as number[],
    latency: [] as number[][],
    error: undefined as string | undefined,
  }));
  const attempt = async (s: typeof state[number], fn: () => Promise<void>) => {
    if (s.error !== undefined) return;
    try {
      await fn();
    } catch (error) {
      s.error = errorText(error);
      console.error(`bench: ${s.w.group} / ${s.w.name} FAILED: ${s.error}`);
    }
  };
  try {
    for (const s of state) await attempt(s, async () => await s.w.setup?.());
    for (const s of state) {
      await attempt(s, async () => {
        const start = performance.now();
        await s.w.run(s.w.warmup);
        const seconds = (performance.now() - start) / 1000;
        const estimate = Math.round(s.w.warmup * options.target / Math.max(seconds, 1e-6));
        s.count = Math.max(s.w.minCount ?? 1, estimate);
      });
    }
    for (let rep = 0; rep < options.reps; rep++) {
      for (const s of state) {
        await attempt(s, async () => {
          const start = performance.now();
          const latencies = await s.w.run(s.count);
          const seconds = (performance.now() - start) / 1000;
          s.rates.push(s.count * (s.w.scale ?? 1) / seconds);
          if (latencies) s.latency.push(latencies.sort((a, b) => a - b));
        });
      }
    }
  } finally {
    for (const s of state) {
      try {
        await s.w.teardown?.();
      } catch (error) {
        console.error(`bench: ${s.w.name}: teardown failed: ${errorText(error)}`);
      }
    }
  }
  const rows: Measurement[] = [];
  for (const { w, rates, latency, error } of state) {
    const base = { group: w.group, unit: w.unit };
    if (error !== undefined) {
      rows.push({ ...base, name: w.name, value: NaN, error });
      continue;
    }
    rows.push({
      ...base,
      name: w.name,
      ...summarize(rates),
      runs: rates.length,
      baseline: w.baseline,
    });
    if (latency.length > 0) {
      for (const [label, q] of [["p50", 0.5], ["p99", 0.99], ["p99.9", 0.999]] as const) {
        rows.push({
          group: w.group,
          name: `${w.name}: latency ${label}`,
          unit: "ms",
          ...summarize(latency.map((sorted) => quantile(sorted, q))),
          runs: latency.length,
          baseline: w.baseline && `${w.baseline}: latency ${label}`,
        });
      }
    }
  }
  return rows;
}

/** Options of {@linkcode pairedCost}. */
export interface PairedCostOptions {
  /** Alternating pairs of repetitions (at least 3). */
  pairs: number;
  /** Seconds one repetition should last (sizes the work from the warm-up). */
  target: number;
}

/**
 * The cost of a feature, measured so that the noise between processes and
 * connections does not pass for it: `without` and `with` (two workloads that
 * differ only in the feature, served by the same processes) run in
 * alternating pairs, in ABBA order so that a drift of the machine hits both
 * alike. Returns both rows (median rate over all their repetitions) and a
 * third, `name`, in percent: the median over the pairs of `with / without`,
 * with min..max.
 */
export async function pairedCost(
  name: string,
  without: Workload,
  withFeature: Workload,
  options: PairedCostOptions,
): Promise<Measurement[]> {
  const ratios: number[] = [];
  const rates = [[], []] as [number[], number[]];
  const workloads = [without, withFeature] as const;
  const counts = [0, 0];
  try {
    for (const w of workloads) await w.setup?.();
    for (const [k, w] of workloads.entries()) {
      const start = performance.now();
      await w.run(w.warmup);
      const seconds = Math.max((performance.now() - start) / 1000, 1e-6);
      counts[k] = Math.max(w.minCount ?? 1, Math.round(w.warmup * options.target / seconds));
    }
    for (let pair = 0; pair < Math.max(3, options.pairs); pair++) {
      const rate = [0, 0];
      for (const k of pair % 2 === 0 ? [0, 1] : [1, 0]) {
        const start = performance.now();
        await workloads[k].run(counts[k]);
        rate[k] = counts[k] * (workloads[k].scale ?? 1) / ((performance.now() - start) / 1000);
        rates[k].push(rate[k]);
      }
      ratios.push(100 * rate[1] / rate[0]);
    }
  } catch (error) {
    const failed = (n: string): Measurement => ({
      group: without.group,
      name: n,
      unit: without.unit,
      value: NaN,
      error: errorText(error),
    });
    console.error(`bench: ${without.group} / ${name} FAILED: ${errorText(error)}`);
    return [failed(without.name), failed(withFeature.name), failed(name)];
  } finally {
    for (const w of workloads) {
      try {
        await w.teardown?.();
      } catch (error) {
        console.error(`bench: ${w.name}: teardown failed: ${errorText(error)}`);
      }
    }
  }
  const row = (w: Workload, samples: number[]): Measurement => ({
    group: w.group,
    name: w.name,
    unit: w.unit,
    ...summarize(samples),
    runs: samples.length,
    baseline: w === withFeature ? without.name : w.baseline,
  });
  return [
    row(without, rates[0]),
    row(withFeature, rates[1]),
    { group: without.group, name, unit: "%", ...summarize(ratios), runs: ratios.length },
  ];
}
