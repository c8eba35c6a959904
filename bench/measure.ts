/**
 * Shared measuring helpers for `deno task bench`: every bench module exports
 * `bench(): Promise<Measurement[]>`, and `bench/main.ts` prints them together.
 *
 * @module
 */

/** One measured figure. */
export interface Measurement {
  /** Section, such as `"codec"`, `"channel"`, `"rpc"`. */
  group: string;
  /** What was measured, such as `"msgpack encode 150 B (ours)"`. */
  name: string;
  /** The median rate over the rounds (or the value, for non-rates). */
  value: number;
  /** Unit of `value`, such as `"ops/s"`, `"calls/s"`, `"MiB"`, `"s"`. */
  unit: string;
}

/** Run `fn` (doing `ops` operations per call) for `rounds` rounds; median ops/s. */
export async function medianRate(
  fn: () => unknown | Promise<unknown>,
  ops: number,
  rounds = 5,
  warmup = 1,
): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const rates: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    await fn();
    rates.push(ops / ((performance.now() - start) / 1000));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)];
}
