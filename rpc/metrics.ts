/**
 * Call metrics of RPC connections: counts, errors and latency histograms per
 * path and direction ({@linkcode CallMetrics}), and an opt-in ring buffer of
 * the last calls ({@linkcode CallTrace}). Cheap enough to stay on: recording a
 * call is a map lookup and a few additions.
 *
 * @example
 * ```ts
 * import { CallMetrics } from "@aiomas/aiomas/rpc";
 *
 * const metrics = new CallMetrics();
 * metrics.record({ direction: "in", path: "agents/0/spam", seconds: 0.002, ok: true });
 * metrics.record({ direction: "in", path: "agents/1/spam", seconds: 0.004, ok: false });
 * const [spam] = metrics.snapshot().in;
 * console.log(spam.path, spam.count, spam.errors); // agents/*\/spam 2 1
 * ```
 *
 * @module
 */

/** `"in"`: the peer called us; `"out"`: we called the peer. */
export type CallDirection = "in" | "out";

/** One finished call, as passed to {@linkcode CallMetrics.record}. */
export interface CallSample {
  /** Who called whom. */
  direction: CallDirection;
  /** The request's path, e.g. `"agents/3/spam"`. */
  path: string;
  /** Time from request to reply, in seconds. */
  seconds: number;
  /** `false` when the call failed (an `EXCEPTION` reply, a lost connection or a timeout). */
  ok: boolean;
}

/** A call as the trace and the `onCall` hook see it. */
export interface CallEvent extends CallSample {
  /** Wall-clock time the call finished, in milliseconds since the epoch. */
  time: number;
  /** The peer's address (for `"in"` calls the peer's socket address). */
  peer: string;
  /** The error's message when the call failed. */
  error?: string | undefined;
}

/** Counts and latency quantiles of one path in one direction. */
export interface PathStats {
  /** The path with agent ids replaced by `*` (`agents/*\/spam`). */
  path: string;
  /** Finished calls. */
  count: number;
  /** Calls that failed. */
  errors: number;
  /** Median latency in seconds (from a histogram: within about 10%). */
  p50: number;
  /** 99th percentile latency in seconds (from a histogram: within about 10%). */
  p99: number;
  /** Mean latency in seconds. */
  mean: number;
}

/** What {@linkcode CallMetrics.snapshot} returns: per-path statistics by direction. */
export interface CallMetricsSnapshot {
  /** Calls the peers made into this side, most frequent first. */
  in: PathStats[];
  /** Calls this side made to its peers, most frequent first. */
  out: PathStats[];
}

// Log-linear buckets: 8 per power of two from 1 µs to about 1.2 hours.
const BUCKETS_PER_OCTAVE = 8;
const MIN_SECONDS = 1e-6;
const BUCKET_COUNT = 32 * BUCKETS_PER_OCTAVE;

/**
 * A latency histogram with logarithmic buckets (8 per doubling, so a
 * quantile is off by at most about 9%), of fixed size whatever the count.
 *
 * @example
 * ```ts
 * import { LatencyHistogram } from "@aiomas/aiomas/rpc";
 * const histogram = new LatencyHistogram();
 * for (let i = 1; i <= 100; i++) histogram.add(i / 1000);
 * console.log(histogram.count, histogram.quantile(0.5) > 0.045); // 100 true
 * ```
 */
export class LatencyHistogram {
  #buckets = new Uint32Array(BUCKET_COUNT);
  #count = 0;
  #sum = 0;

  /** Number of recorded values. */
  get count(): number {
    return this.#count;
  }

  /** Mean of the recorded values in seconds (`0` when empty). */
  get mean(): number {
    return this.#count === 0 ? 0 : this.#sum / this.#count;
  }

  /** Record a latency in seconds. */
  add(seconds: number): void {
    this.#count++;
    this.#sum += seconds;
    this.#buckets[bucketOf(seconds)]!++;
  }

  /** The `q`-quantile (0..1) in seconds: the upper bound of its bucket; `0` when empty. */
  quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += this.#buckets[i]!;
      if (seen >= rank) return MIN_SECONDS * 2 ** ((i + 1) / BUCKETS_PER_OCTAVE);
    }
    return MIN_SECONDS * 2 ** (BUCKET_COUNT / BUCKETS_PER_OCTAVE);
  }
}

function bucketOf(seconds: number): number {
  if (!(seconds > MIN_SECONDS)) return 0;
  const index = Math.floor(Math.log2(seconds / MIN_SECONDS) * BUCKETS_PER_OCTAVE);
  return Math.min(index, BUCKET_COUNT - 1);
}

/** The figures of one folded path in one direction. */
class PathEntry {
  count = 0;
  errors = 0;
  /** Calls started; decides which ones are timed. */
  started = 0;
  histogram = new LatencyHistogram();

  /** Count a finished call, and its latency if it was timed. */
  add(ok: boolean, seconds: number | undefined): void {
    this.count++;
    if (!ok) this.errors++;
    if (seconds !== undefined) this.histogram.add(seconds);
  }
}

/** A timed call in flight: its entry and when it started. */
class Timing {
  constructor(readonly entry: PathEntry, readonly start: number) {}
}

/** A call in flight, from {@linkcode CallMetrics.start} to {@linkcode CallMetrics.finish}. */
export type CallToken = object;

// Every call of a path is timed until it has this many, then one in TIME_MASK + 1:
// a clock read costs about 80 ns, as much as the rest of the bookkeeping of a call.
const TIME_ALL_FIRST = 1000;
const TIME_MASK = 63;

const AGENT_ID = /^agents\/[^/]+(?=\/|$)/;
const RAW_PATH_CACHE = 10_000;

/**
 * The metric key of a path: agent ids become `*`, so that thousands of
 * agents of one class share one entry (`agents/17/spam` -> `agents/*\/spam`).
 *
 * @example
 * ```ts
 * import { metricPath } from "@aiomas/aiomas/rpc";
 * const key = metricPath("agents/17/spam");
 * console.log(key.split("/")); // [ "agents", "*", "spam" ]
 * ```
 */
export function metricPath(path: string): string {
  return path.startsWith("agents/") ? path.replace(AGENT_ID, "agents/*") : path;
}

/**
 * `text` cut to `max` characters (marked with `...`) and copied, for what
 * monitors keep of a peer's data: a plain slice would keep the whole,
 * possibly huge, string alive.
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${[...text.slice(0, max)].join("")}...`;
}

/**
 * Call counts, errors and latency histograms per path and direction.
 * Agent ids in paths are folded (see {@linkcode metricPath}), so the number
 * of entries stays bounded by the number of distinct methods, not agents;
 * past `maxPaths` distinct paths, further ones are counted under `"(other)"`
 * so that a peer sending random paths cannot grow it without bound.
 *
 * @example
 * ```ts
 * import { CallMetrics } from "@aiomas/aiomas/rpc";
 * const metrics = new CallMetrics();
 * metrics.record({ direction: "out", path: "add", seconds: 0.001, ok: true });
 * console.log(metrics.snapshot().out[0].count); // 1
 * ```
 */
export class CallMetrics {
  #in: PathTable;
  #out: PathTable;

  /** Keep statistics for at most `maxPaths` distinct paths per direction (default 1,000). */
  constructor(options: { maxPaths?: number } = {}) {
    this.#in = new PathTable(options.maxPaths ?? 1000);
    this.#out = new PathTable(options.maxPaths ?? 1000);
  }

  /** Add one finished call, timed by the caller. */
  record(sample: CallSample): void {
    (sample.direction === "in" ? this.#in : this.#out).entry(sample.path)
      .add(sample.ok, sample.seconds);
  }

  /**
   * A call to `path` starts; pass the result to {@linkcode CallMetrics.finish}.
   * The first 1,000 calls of a path are timed, then every 64th: reading the
   * clock twice per call would cost more than the rest of the bookkeeping.
   */
  start(direction: CallDirection, path: string): CallToken {
    const entry = (direction === "in" ? this.#in : this.#out).entry(path);
    const n = entry.started++;
    return n < TIME_ALL_FIRST || (n & TIME_MASK) === 0
      ? new Timing(entry, performance.now())
      : entry;
  }

  /** The call of `token` finished: `ok`, or failed. */
  finish(token: CallToken, ok: boolean): void {
    if (token instanceof Timing) token.entry.add(ok, (performance.now() - token.start) / 1000);
    else (token as PathEntry).add(ok, undefined);
  }

  /** Statistics per path as plain data, most frequent first. */
  snapshot(): CallMetricsSnapshot {
    return { in: this.#in.stats(), out: this.#out.stats() };
  }
}

/** The entries of one direction: by folded path, and a cache by raw path. */
class PathTable {
  #entries = new Map<string, PathEntry>();
  // Raw path -> entry, so that the hot path folds each path once, not per call.
  #byRawPath = new Map<string, PathEntry>();
  #lastPath: string | undefined;
  #lastEntry: PathEntry | undefined;

  constructor(readonly maxPaths: number) {}

  entry(path: string): PathEntry {
    // Pipelined calls mostly repeat the last path: skip the map then.
    if (path === this.#lastPath) return this.#lastEntry!;
    let entry = this.#byRawPath.get(path);
    if (entry === undefined) {
      entry = this.#folded(path);
      // Bounded: a peer sending ever new paths (agent ids) only costs the folding.
      if (this.#byRawPath.size >= RAW_PATH_CACHE) this.#byRawPath.clear();
      this.#byRawPath.set(path, entry);
    }
    this.#lastPath = path;
    this.#lastEntry = entry;
    return entry;
  }

  #folded(path: string): PathEntry {
    let key = metricPath(path);
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      if (this.#entries.size >= this.maxPaths) {
        key = "(other)";
        entry = this.#entries.get(key);
      }
      if (entry === undefined) {
        entry = new PathEntry();
        this.#entries.set(key, entry);
      }
    }
    return entry;
  }

  stats(): PathStats[] {
    return [...this.#entries].map(([path, { count, errors, histogram }]) => ({
      path,
      count,
      errors,
      p50: histogram.quantile(0.5),
      p99: histogram.quantile(0.99),
      mean: histogram.mean,
    })).sort((a, b) => b.count - a.count);
  }
}

/**
 * A ring buffer of the last `capacity` calls, oldest first in
 * {@linkcode CallTrace.events}.
 *
 * @example
 * ```ts
 * import { CallTrace } from "@aiomas/aiomas/rpc";
 * const trace = new CallTrace(2);
 * for (const path of ["a", "b", "c"]) {
 *   trace.push({ time: 0, direction: "out", peer: "tcp://h:1", path, seconds: 0, ok: true });
 * }
 * console.log(trace.events().map((event) => event.path)); // [ "b", "c" ]
 * ```
 */
export class CallTrace {
  #events: (CallEvent | undefined)[];
  #next = 0;
  #total = 0;

  /** Keep the last `capacity` calls. */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`A trace's capacity must be a positive integer, not ${capacity}`);
    }
    this.#events = new Array(capacity);
  }

  /** How many calls the trace keeps. */
  get capacity(): number {
    return this.#events.length;
  }

  /** Calls recorded since the trace was made (including those overwritten). */
  get total(): number {
    return this.#total;
  }

  /** Record a call, overwriting the oldest when full. */
  push(event: CallEvent): void {
    this.#events[this.#next] = event;
    this.#next = (this.#next + 1) % this.#events.length;
    this.#total++;
  }

  /** The recorded calls, oldest first; `since` (a former `total`) keeps only newer ones. */
  events(since = 0): CallEvent[] {
    const capacity = this.#events.length;
    const available = Math.min(this.#total - since, this.#total, capacity);
    const result: CallEvent[] = [];
    for (let i = available; i > 0; i--) {
      result.push(this.#events[(this.#next - i + capacity) % capacity]!);
    }
    return result;
  }
}
