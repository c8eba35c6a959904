/**
 * A seeded pseudo-random number generator for tests and benchmarks, so that
 * a failing fuzz run or a benchmark's random choices reproduce exactly.
 *
 * @module
 */

/**
 * mulberry32: a small, fast 32-bit PRNG. Each call of the returned function
 * gives the next float of the sequence, uniform in [0, 1); the same seed
 * always gives the same sequence.
 *
 * Not cryptographically secure: for tests and benchmarks only.
 *
 * @param seed The starting state; only its low 32 bits are used.
 * @returns A function giving the next number of the sequence.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mulberry32 } from "./prng.ts";
 *
 * const a = mulberry32(7);
 * const b = mulberry32(7);
 * const x = a();
 * assert.ok(x >= 0 && x < 1);
 * assert.equal(b(), x);
 * ```
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
