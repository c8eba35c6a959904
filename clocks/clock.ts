/**
 * The {@linkcode Clock} interface that every aiomas clock implements, and the
 * {@linkcode TimerHandle} its `callIn`/`callAt` return (Python aiomas'
 * `BaseClock` and `TimerHandle`).
 *
 * @module
 */

/**
 * Options for {@linkcode Clock.sleep} and {@linkcode Clock.sleepUntil}.
 *
 * @example Cancel a sleep with an `AbortSignal`
 * ```ts
 * import { ExternalClock, type SleepOptions } from "@aiomas/aiomas/clocks";
 *
 * const clock = new ExternalClock("2016-01-01T00:00:00Z");
 * const controller = new AbortController();
 * const options: SleepOptions = { signal: controller.signal };
 * const sleeping = clock.sleep(60, undefined, options);
 * controller.abort(new Error("woken up"));
 * await sleeping.catch((err: Error) => console.log(err.message)); // woken up
 * ```
 */
export interface SleepOptions {
  /**
   * Aborting this signal cancels the sleep: its timer is removed and the
   * promise rejects with `signal.reason`. An already aborted signal rejects
   * at once.
   */
  signal?: AbortSignal | undefined;
}

/**
 * A call scheduled by {@linkcode Clock.callIn} or {@linkcode Clock.callAt}.
 *
 * @example
 * ```ts
 * import { ExternalClock } from "@aiomas/aiomas/clocks";
 *
 * const clock = new ExternalClock("2016-01-01T00:00:00Z");
 * const handle = clock.callIn(5, () => console.log("never printed"));
 * console.log(handle.when); // 5
 * handle.cancel();
 * console.log(handle.cancelled); // true
 * clock.setTime(10);
 * ```
 */
export interface TimerHandle {
  /**
   * Cancel the call. Does nothing if it was already cancelled or has already
   * run.
   */
  cancel(): void;
  /** Whether {@linkcode TimerHandle.cancel} was called before the call ran. */
  readonly cancelled: boolean;
  /** The clock time (as {@linkcode Clock.time}, in seconds) the call is due. */
  readonly when: number;
}

/**
 * Watches the timers of an {@linkcode ExternalClock} (its `observer`
 * property): every sleep, `callIn` and `callAt` is reported when it is
 * scheduled and again when it fires or is cancelled. The agent layer's
 * `Simulation` uses it to tell a handler that waits on the simulated clock
 * from one that is still working. Both methods run synchronously inside the
 * clock's calls and must not throw.
 *
 * @example Count the timers that are pending
 * ```ts
 * import { ExternalClock, type TimerObserver } from "@aiomas/aiomas/clocks";
 *
 * let pending = 0;
 * const observer: TimerObserver = {
 *   timerScheduled: (when) => { pending++; return when; },
 *   timerDone: () => { pending--; },
 * };
 * const clock = new ExternalClock("2016-01-01T00:00:00Z");
 * clock.observer = observer;
 * const woke = clock.sleep(5);
 * console.log(pending); // 1
 * clock.setTime(5);
 * await woke;
 * console.log(pending); // 0
 * ```
 */
export interface TimerObserver {
  /**
   * A timer or sleeper due at `when` was scheduled. The returned token (any
   * value, `undefined` included) is passed to {@linkcode TimerObserver.timerDone}.
   */
  timerScheduled(when: number): unknown;
  /** The timer scheduled with `token` fired (called just before it runs) or was cancelled. */
  timerDone(token: unknown): void;
}

/**
 * The interface of all clocks: the current time as a monotonic number and as
 * a UTC date, sleeping for or until a time, and scheduling calls. Write agent
 * code against `Clock` and it runs unchanged on the real-time clock
 * (`RealtimeClock`) and on a simulated one (`ExternalClock`).
 *
 * Times are numbers in seconds on the clock's own scale ({@linkcode Clock.time});
 * a `Date` target is converted through the clock's
 * {@linkcode Clock.utcnow}/{@linkcode Clock.time} relation. A negative delay,
 * a non-finite number or a target time in the past is a `RangeError` whose
 * message names both the requested and the current time. A delay of `0` (or
 * a target equal to the current time) is allowed and fires as soon as
 * possible, after the caller has yielded.
 *
 * @example A task that works with any clock
 * ```ts
 * import { type Clock, ExternalClock } from "@aiomas/aiomas/clocks";
 *
 * async function tick(clock: Clock, times: number): Promise<number[]> {
 *   const seen: number[] = [];
 *   for (let i = 0; i < times; i++) {
 *     await clock.sleep(1);
 *     seen.push(clock.time());
 *   }
 *   return seen;
 * }
 *
 * const clock = new ExternalClock("2016-01-01T00:00:00Z");
 * const ticking = tick(clock, 3);
 * for (let t = 1; t <= 3; t++) {
 *   clock.setTime(t);
 *   await new Promise((resolve) => setTimeout(resolve, 0)); // let the task run
 * }
 * console.log(await ticking); // [ 1, 2, 3 ]
 * ```
 */
export interface Clock {
  /**
   * The current time in seconds. Monotonic: never smaller than a value it
   * returned before. Its origin is not defined; use it for differences and
   * as the target of {@linkcode Clock.sleepUntil}/{@linkcode Clock.callAt}.
   */
  time(): number;
  /** The current date and time (a `Date` is always UTC inside). */
  utcnow(): Date;
  /**
   * Sleep `dt >= 0` seconds; resolve with `result`.
   *
   * @throws {RangeError} If `dt` is negative or not a finite number.
   */
  sleep<T = void>(dt: number, result?: T, options?: SleepOptions): Promise<T>;
  /**
   * Sleep until `t` (a {@linkcode Clock.time} value or a `Date`); resolve
   * with `result`.
   *
   * @throws {RangeError} If `t` is in the past or not a finite number / valid date.
   */
  sleepUntil<T = void>(t: number | Date, result?: T, options?: SleepOptions): Promise<T>;
  /**
   * Call `fn(...args)` in `dt >= 0` seconds and return at once.
   *
   * @throws {RangeError} If `dt` is negative or not a finite number.
   */
  callIn<A extends unknown[]>(dt: number, fn: (...args: A) => void, ...args: A): TimerHandle;
  /**
   * Call `fn(...args)` at `t` (a {@linkcode Clock.time} value or a `Date`)
   * and return at once.
   *
   * @throws {RangeError} If `t` is in the past or not a finite number / valid date.
   */
  callAt<A extends unknown[]>(
    t: number | Date,
    fn: (...args: A) => void,
    ...args: A
  ): TimerHandle;
}

// ---------------------------------------------------------------------------
// Helpers shared by the clocks (not re-exported by mod.ts).

/** Throw a `RangeError` unless `dt` is a finite number `>= 0`. @internal */
export function checkDelay(method: string, dt: number, now: number): void {
  if (typeof dt !== "number" || !Number.isFinite(dt)) {
    throw new RangeError(`${method}(dt=${String(dt)}): dt must be a finite number of seconds`);
  }
  if (dt < 0) {
    throw new RangeError(
      `${method}(dt=${dt}): dt must be >= 0; it would target time ${now + dt}, ` +
        `before the clock's current time ${now}`,
    );
  }
}

/** Throw a `RangeError` unless `t` is a finite number or a valid date. @internal */
export function checkTarget(method: string, t: number | Date): void {
  if (t instanceof Date) {
    if (Number.isNaN(t.getTime())) throw new RangeError(`${method}(): invalid Date`);
  } else if (typeof t !== "number" || !Number.isFinite(t)) {
    throw new RangeError(`${method}(t=${String(t)}): t must be a finite number or a Date`);
  }
}

/** The `RangeError` for a target time before the current time. @internal */
export function pastError(
  method: string,
  t: number | Date,
  target: number,
  now: number,
  utcnow: Date,
): RangeError {
  const what = t instanceof Date
    ? `${method}(${t.toISOString()}) is in the past: the clock's utcnow() is ` +
      `${utcnow.toISOString()} (target time ${target}, current time ${now})`
    : `${method}(t=${t}) is in the past: the clock's current time is ${now}`;
  return new RangeError(what);
}

/**
 * Parse a UTC start date. A string without a zone (`"2016-01-01T00:00:00"`)
 * is read as UTC, as Python aiomas (arrow) does, not as local time. @internal
 */
export function parseUtc(value: Date | string): Date {
  let date: Date;
  if (value instanceof Date) {
    date = new Date(value.getTime());
  } else if (typeof value === "string") {
    const text = value.trim();
    const naive = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text);
    date = new Date(naive ? `${text.replace(" ", "T")}Z` : text);
  } else {
    throw new TypeError(`utcStart must be a Date or an ISO 8601 string, got ${typeof value}`);
  }
  if (Number.isNaN(date.getTime())) {
    throw new RangeError(`utcStart ${String(value)} is not a valid date`);
  }
  return date;
}

/**
 * Sleep on a clock's timer: `schedule(fn, args)` arranges for `fn(...args)`
 * to run when the sleep is over. An aborted `signal` cancels the timer and
 * rejects with the signal's reason. Shared by the clocks of this module.
 */
export function sleepWithTimer<T>(
  schedule: (fn: (...args: T[]) => void, args: T[] | undefined) => TimerHandle,
  result: T,
  options: SleepOptions | undefined,
): Promise<T> {
  const signal = options?.signal;
  if (signal === undefined) {
    return new Promise<T>((resolve) => {
      schedule(resolve, [result]);
    });
  }
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      timer.cancel();
      reject(signal.reason);
    };
    const timer = schedule(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(result);
    }, undefined);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
