/**
 * {@linkcode RealtimeClock}: the default clock, running in real time on the
 * event loop's timers (Python aiomas' `AsyncioClock`).
 *
 * @module
 */

import {
  checkDelay,
  checkTarget,
  type Clock,
  pastError,
  type SleepOptions,
  sleepWithTimer,
  type TimerHandle,
} from "./clock.ts";

/** The longest delay `setTimeout` takes (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

const PENDING = 0;
const FIRED = 1;
const CANCELLED = 2;

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => void;

function now(): number {
  return performance.now() / 1000;
}

/** How many timers of one clock are pending (shared by the clock and its timers). */
interface PendingCount {
  value: number;
}

/** A call scheduled on a {@linkcode RealtimeClock}: one live `setTimeout` at a time. */
class RealtimeTimer implements TimerHandle {
  readonly when: number;
  #pending: PendingCount;
  #state = PENDING;
  #id: ReturnType<typeof setTimeout> | undefined;
  #fn: AnyFn | undefined;
  #args: unknown[] | undefined;

  constructor(when: number, fn: AnyFn, args: unknown[] | undefined, pending: PendingCount) {
    this.when = when;
    this.#pending = pending;
    pending.value++;
    this.#fn = fn;
    this.#args = args;
    this.#arm();
  }

  get cancelled(): boolean {
    return this.#state === CANCELLED;
  }

  cancel(): void {
    if (this.#state !== PENDING) return;
    this.#state = CANCELLED;
    this.#pending.value--;
    clearTimeout(this.#id);
    this.#id = undefined;
    this.#fn = undefined;
    this.#args = undefined;
  }

  // Delays beyond setTimeout's limit are slept in chunks; a timer that wakes
  // early (timer rounding) sleeps the rest, so time() >= when when it fires.
  #arm(): void {
    const ms = Math.max(0, Math.ceil((this.when - now()) * 1000));
    this.#id = setTimeout(this.#onTimeout, Math.min(ms, MAX_TIMEOUT_MS));
  }

  #onTimeout = (): void => {
    this.#id = undefined;
    if (this.#state !== PENDING) return;
    if (now() < this.when) {
      this.#arm();
      return;
    }
    const fn = this.#fn!;
    const args = this.#args;
    this.#state = FIRED;
    this.#pending.value--;
    this.#fn = undefined;
    this.#args = undefined;
    if (args === undefined || args.length === 0) fn();
    else fn(...args);
  };
}

/** Options for {@linkcode RealtimeClock}. */
export interface RealtimeClockOptions {
  /**
   * How far in the past, in seconds, a `sleepUntil`/`callAt` target may be
   * and still be accepted (it then fires as soon as possible); a target
   * further in the past is a `RangeError`. Real time moves on between
   * computing a target and passing it, and event-loop stalls make periodic
   * `sleepUntil(next)` loops run a little late, so exact comparison would
   * throw at random. Default `1`; `0` is strict; `Infinity` never throws.
   */
  lateTolerance?: number | undefined;
}

/**
 * The default clock: real time (Python aiomas' `AsyncioClock`).
 *
 * - `time()` is `performance.now() / 1000`: seconds, monotonic, with an
 *   undefined origin (the process start). It does not jump when the system
 *   clock is set.
 * - `utcnow()` is `new Date()`. A `Date` target `d` is the time
 *   `time() + (d - Date.now()) / 1000`.
 * - `sleep`/`callIn` use `setTimeout`; delays longer than `setTimeout`'s
 *   2^31 - 1 ms are slept in chunks. A cancelled call clears its timeout at
 *   once (nothing is left behind for Deno's test sanitizers), and so does an
 *   aborted sleep.
 * - `dt = 0` is allowed and means "on the next timer turn of the event
 *   loop", like `asyncio.sleep(0)`. A negative `dt` is a `RangeError`, and so
 *   is a `sleepUntil`/`callAt` target more than
 *   {@linkcode RealtimeClockOptions.lateTolerance} seconds in the past; the
 *   message names both times.
 * - Callback errors are not caught: like any `setTimeout` callback, a throw
 *   is an uncaught exception.
 *
 * @example Sleep and schedule in real time
 * ```ts
 * import { RealtimeClock } from "@aiomas/aiomas/clocks";
 *
 * const clock = new RealtimeClock();
 * const start = clock.time();
 * const called = new Promise<string>((resolve) => clock.callIn(0.01, resolve, "called"));
 * console.log(await clock.sleep(0.02, "slept")); // slept
 * console.log(await called); // called
 * console.log(clock.time() - start >= 0.02); // true
 * ```
 *
 * @example Cancel a scheduled call
 * ```ts
 * import { RealtimeClock } from "@aiomas/aiomas/clocks";
 *
 * const clock = new RealtimeClock();
 * const handle = clock.callAt(new Date(Date.now() + 60_000), () => console.log("too late"));
 * handle.cancel();
 * console.log(handle.cancelled); // true
 * ```
 */
export class RealtimeClock implements Clock {
  #lateTolerance: number;
  #pending: PendingCount = { value: 0 };

  /** Create a real-time clock; see {@linkcode RealtimeClockOptions}. */
  constructor(options: RealtimeClockOptions = {}) {
    const tolerance = options.lateTolerance ?? 1;
    if (typeof tolerance !== "number" || Number.isNaN(tolerance) || tolerance < 0) {
      throw new RangeError(`lateTolerance must be a number >= 0, got ${String(tolerance)}`);
    }
    this.#lateTolerance = tolerance;
  }

  /** The number of pending (not cancelled, not yet fired) timers and sleepers. */
  get pending(): number {
    return this.#pending.value;
  }

  /** Monotonic seconds: `performance.now() / 1000`. */
  time(): number {
    return now();
  }

  /** The current date and time: `new Date()`. */
  utcnow(): Date {
    return new Date();
  }

  /**
   * Sleep `dt >= 0` seconds; resolve with `result`.
   *
   * @throws {RangeError} If `dt` is negative or not finite.
   */
  sleep<T = void>(dt: number, result?: T, options?: SleepOptions): Promise<T> {
    const t = now();
    checkDelay("sleep", dt, t);
    return sleepTo(t + dt, result as T, options, this.#pending);
  }

  /**
   * Sleep until `t` (a {@linkcode RealtimeClock.time} value or a `Date`);
   * resolve with `result`.
   *
   * @throws {RangeError} If `t` is further in the past than `lateTolerance`.
   */
  sleepUntil<T = void>(t: number | Date, result?: T, options?: SleepOptions): Promise<T> {
    return sleepTo(this.#target("sleepUntil", t), result as T, options, this.#pending);
  }

  /**
   * Call `fn(...args)` in `dt >= 0` seconds.
   *
   * @throws {RangeError} If `dt` is negative or not finite.
   */
  callIn<A extends unknown[]>(dt: number, fn: (...args: A) => void, ...args: A): TimerHandle {
    const t = now();
    checkDelay("callIn", dt, t);
    return new RealtimeTimer(t + dt, fn as AnyFn, args, this.#pending);
  }

  /**
   * Call `fn(...args)` at `t` (a {@linkcode RealtimeClock.time} value or a
   * `Date`).
   *
   * @throws {RangeError} If `t` is further in the past than `lateTolerance`.
   */
  callAt<A extends unknown[]>(
    t: number | Date,
    fn: (...args: A) => void,
    ...args: A
  ): TimerHandle {
    return new RealtimeTimer(this.#target("callAt", t), fn as AnyFn, args, this.#pending);
  }

  #target(method: string, t: number | Date): number {
    checkTarget(method, t);
    const current = now();
    const target = t instanceof Date ? current + (t.getTime() - Date.now()) / 1000 : t;
    if (current - target > this.#lateTolerance) {
      throw pastError(method, t, target, current, new Date());
    }
    return target;
  }
}

function sleepTo<T>(
  when: number,
  result: T,
  options: SleepOptions | undefined,
  pending: PendingCount,
): Promise<T> {
  return sleepWithTimer((fn, args) => new RealtimeTimer(when, fn, args, pending), result, options);
}
