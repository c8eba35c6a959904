/**
 * {@linkcode ExternalClock}: a clock whose time only moves when someone calls
 * {@linkcode ExternalClock.setTime}, for coupling agents to a simulator or
 * running them faster than real time (Python aiomas' `ExternalClock`).
 *
 * @module
 */

import {
  checkDelay,
  checkTarget,
  type Clock,
  parseUtc,
  pastError,
  type SleepOptions,
  sleepWithTimer,
  type TimerHandle,
  type TimerObserver,
} from "./clock.ts";
import { TimerHeap } from "./timer_heap.ts";

const PENDING = 0;
const FIRED = 1;
const CANCELLED = 2;

/** Compact the heap once more than half of it (and at least this many) is cancelled. */
const COMPACT_MIN = 256;

// deno-lint-ignore no-explicit-any
type AnyFn = (...args: any[]) => void;

/** A scheduled call on an {@linkcode ExternalClock}. */
class ExternalTimer implements TimerHandle {
  readonly when: number;
  state: number = PENDING;
  fn: AnyFn | undefined;
  args: unknown[] | undefined;
  /** The observer that was told about this timer, and its token. */
  observer: TimerObserver | undefined;
  token: unknown;
  #onCancel: (timer: ExternalTimer) => void;

  constructor(
    when: number,
    fn: AnyFn,
    args: unknown[] | undefined,
    onCancel: (timer: ExternalTimer) => void,
  ) {
    this.when = when;
    this.fn = fn;
    this.args = args;
    this.#onCancel = onCancel;
  }

  get cancelled(): boolean {
    return this.state === CANCELLED;
  }

  cancel(): void {
    if (this.state !== PENDING) return;
    this.state = CANCELLED;
    this.fn = undefined;
    this.args = undefined;
    this.#onCancel(this);
    if (this.observer !== undefined) this.observer.timerDone(this.token);
  }

  /** Run the call (once). */
  fire(): void {
    const fn = this.fn!;
    const args = this.args;
    this.state = FIRED;
    this.fn = undefined;
    this.args = undefined;
    if (this.observer !== undefined) this.observer.timerDone(this.token);
    if (args === undefined) fn();
    else fn(...args);
  }
}

/**
 * A clock that is set by an external process, such as a simulator
 * (Python aiomas' `ExternalClock`). Its {@linkcode ExternalClock.time} stays
 * put until {@linkcode ExternalClock.setTime} moves it forward; `setTime(t)`
 * then fires every timer and wakes every sleeper due at or before `t`.
 *
 * Only the agents' own time follows this clock: the deadlines of remote
 * calls (`callTimeout`, `callWith({ timeout })`, `connectRetry`) run on real
 * time, since a peer answers in real time (see docs/clocks.md).
 *
 * Semantics:
 *
 * - **Order.** Due calls fire in time order; calls due at the same time
 *   fire in the order they were scheduled (FIFO). While a call runs,
 *   `time()` is that call's own due time (so `callIn(1, ...)` from a call
 *   due at 5 is due at 6, and fires in the same `setTime(10)`, before a call
 *   due at 7). When `setTime` returns, `time()` is `t`.
 * - **Callbacks** of `callIn`/`callAt` run synchronously inside `setTime`.
 *   Calls they schedule that are due at or before `t` fire in the same
 *   `setTime`, in order. If callbacks throw, the remaining due calls still
 *   run, then `setTime` throws the error (an `AggregateError` if several).
 * - **Sleepers** (`sleep`/`sleepUntil`) have their promises resolved in time
 *   order inside `setTime`; their `await`s resume in that order once the
 *   caller of `setTime` yields, and then see `time() === t`.
 * - **Zero delays.** `sleep(0)`, `callIn(0, ...)` and targets equal to the
 *   current time do not wait for `setTime`: they fire in a microtask, in
 *   scheduling order (or inside `setTime`, if it runs first). So `await
 *   clock.sleep(0)` yields and completes on its own. A callback that throws
 *   in that microtask is an uncaught error, as in a `setTimeout` callback.
 * - **Errors.** A negative delay, a target before the current time, or
 *   `setTime` to an earlier time throws a `RangeError` that names both
 *   times. `setTime` from inside a callback throws an `Error`.
 * - **Dates.** `utcnow()` is `utcStart` plus `time()` seconds, so a `Date`
 *   target `d` is the time `(d - utcStart) / 1000`. A string `utcStart`
 *   without a zone is read as UTC. `Date`s have millisecond resolution; a
 *   `Date` equal to `utcnow()` counts as now.
 *
 * Cancelled timers stay in the heap until they reach the top (they cost one
 * pop and nothing else); once more than half of the heap is cancelled it is
 * compacted.
 *
 * @example Time passes only when it is set
 * ```ts
 * import { ExternalClock } from "@aiomas/aiomas/clocks";
 *
 * const clock = new ExternalClock("2016-01-01T00:00:00");
 * const log: string[] = [];
 * clock.callIn(2, (what: string) => log.push(`${what} at ${clock.time()}`), "b");
 * clock.callAt(1, (what: string) => log.push(`${what} at ${clock.time()}`), "a");
 * const woke = clock.sleep(1.5, "slept");
 *
 * clock.setTime(3);
 * console.log(log); // [ "a at 1", "b at 2" ]
 * console.log(await woke); // slept
 * console.log(clock.utcnow().toISOString()); // 2016-01-01T00:00:03.000Z
 * ```
 *
 * @example A discrete-event loop with nextEventTime()
 * ```ts
 * import { ExternalClock } from "@aiomas/aiomas/clocks";
 *
 * const clock = new ExternalClock(new Date("2016-01-01T00:00:00Z"));
 * let count = 0;
 * const tick = () => {
 *   count++;
 *   if (count < 5) clock.callIn(10, tick);
 * };
 * clock.callIn(10, tick);
 * let t: number | undefined;
 * while ((t = clock.nextEventTime()) !== undefined) clock.setTime(t);
 * console.log(count, clock.time()); // 5 50
 * ```
 */
export class ExternalClock implements Clock {
  /**
   * Told about every timer and sleeper when it is scheduled and when it
   * fires or is cancelled (`undefined`: nobody, the default). Containers on
   * this clock install one so that a `Simulation` knows which handlers wait
   * on the clock; timers scheduled before it was set are not reported.
   */
  observer: TimerObserver | undefined = undefined;
  #utcStartMs: number;
  #time: number;
  #heap = new TimerHeap<ExternalTimer>();
  #cancelledInHeap = 0;
  #firing = false;
  #drainQueued = false;
  #onCancel = (_timer: ExternalTimer): void => {
    this.#cancelledInHeap++;
    const size = this.#heap.size;
    if (this.#cancelledInHeap > size >>> 1 && size >= COMPACT_MIN) {
      this.#heap.compact((timer) => timer.state === PENDING);
      this.#cancelledInHeap = 0;
    }
  };
  #drain = (): void => {
    this.#drainQueued = false;
    if (this.#firing) return; // a running setTime() fires them
    const errors = this.#fireUntil(this.#time);
    if (errors !== undefined) throw combine(errors);
  };

  /**
   * Create a clock at time `initTime` (seconds) whose `utcnow()` is
   * `utcStart` plus `time()` seconds.
   *
   * @param utcStart A `Date` or an ISO 8601 string; a string without a zone
   *   is read as UTC.
   * @param initTime The initial value of {@linkcode ExternalClock.time}.
   * @throws {RangeError} If `utcStart` is not a valid date or `initTime` is
   *   not a finite number.
   */
  constructor(utcStart: Date | string, initTime: number = 0) {
    this.#utcStartMs = parseUtc(utcStart).getTime();
    if (typeof initTime !== "number" || !Number.isFinite(initTime)) {
      throw new RangeError(`initTime must be a finite number, got ${String(initTime)}`);
    }
    this.#time = initTime;
  }

  /** The current time in seconds, as last set by {@linkcode ExternalClock.setTime}. */
  time(): number {
    return this.#time;
  }

  /** `utcStart` plus {@linkcode ExternalClock.time} seconds. */
  utcnow(): Date {
    return new Date(this.#utcStartMs + this.#time * 1000);
  }

  /**
   * Move the time forward to `t` and fire everything due at or before `t`,
   * in time order (ties in scheduling order). Setting the current time again
   * is allowed and fires what is due now.
   *
   * @throws {RangeError} If `t` is before the current time or not finite.
   * @throws {Error} If called from inside a timer callback.
   * @throws {unknown} The error of a callback that threw (an `AggregateError`
   *   if several did), after all due calls have run and the time is `t`.
   */
  setTime(t: number): void {
    if (typeof t !== "number" || !Number.isFinite(t)) {
      throw new RangeError(`setTime(t=${String(t)}): t must be a finite number`);
    }
    if (this.#firing) {
      throw new Error(
        `setTime(${t}) called from inside a timer callback at time ${this.#time}: ` +
          "move the clock from the code that drives it, once setTime() has returned",
      );
    }
    if (t < this.#time) {
      throw new RangeError(
        `setTime(${t}) would move the clock backwards: its current time is ${this.#time}`,
      );
    }
    const errors = this.#fireUntil(t);
    this.#time = t;
    if (errors !== undefined) throw combine(errors);
  }

  /**
   * The time of the earliest pending timer or sleeper, or `undefined` if
   * nothing is scheduled. A discrete-event simulation can jump straight to
   * it with `setTime(clock.nextEventTime()!)`.
   */
  nextEventTime(): number | undefined {
    const heap = this.#heap;
    while (heap.size > 0 && heap.peek()!.state !== PENDING) {
      heap.pop();
      this.#cancelledInHeap--;
    }
    return heap.size > 0 ? heap.peekTime() : undefined;
  }

  /**
   * The due times of the pending timers and sleepers, earliest first, as
   * `[time, count]` pairs (at most `limit` of them), for diagnostics.
   *
   * @example
   * ```ts
   * import { ExternalClock } from "@aiomas/aiomas/clocks";
   * const clock = new ExternalClock("2016-01-01T00:00:00Z");
   * clock.sleep(60);
   * clock.sleep(60);
   * clock.callIn(5, () => {}).cancel();
   * clock.callAt(90, () => {});
   * console.log(clock.pendingTimes()); // [ [ 60, 2 ], [ 90, 1 ] ]
   * ```
   */
  pendingTimes(limit: number = Infinity): [time: number, count: number][] {
    const counts = new Map<number, number>();
    this.#heap.forEach((time, timer) => {
      if (timer.state === PENDING) counts.set(time, (counts.get(time) ?? 0) + 1);
    });
    return [...counts.entries()].sort((a, b) => a[0] - b[0]).slice(0, limit);
  }

  /** The number of pending (not cancelled, not yet fired) timers and sleepers. */
  get pending(): number {
    return this.#heap.size - this.#cancelledInHeap;
  }

  /**
   * Sleep `dt >= 0` seconds of clock time: resolve with `result` once
   * `setTime` reaches `time() + dt` (`dt = 0`: in a microtask).
   *
   * @throws {RangeError} If `dt` is negative or not finite.
   */
  sleep<T = void>(dt: number, result?: T, options?: SleepOptions): Promise<T> {
    checkDelay("sleep", dt, this.#time);
    return this.#sleep(this.#time + dt, result as T, options);
  }

  /**
   * Sleep until the time `t` (seconds, or a `Date`); resolve with `result`.
   *
   * @throws {RangeError} If `t` is before the current time.
   */
  sleepUntil<T = void>(t: number | Date, result?: T, options?: SleepOptions): Promise<T> {
    return this.#sleep(this.#target("sleepUntil", t), result as T, options);
  }

  /**
   * Call `fn(...args)` when the time reaches `time() + dt`.
   *
   * @throws {RangeError} If `dt` is negative or not finite.
   */
  callIn<A extends unknown[]>(dt: number, fn: (...args: A) => void, ...args: A): TimerHandle {
    checkDelay("callIn", dt, this.#time);
    return this.#schedule(this.#time + dt, fn as AnyFn, args);
  }

  /**
   * Call `fn(...args)` when the time reaches `t` (seconds, or a `Date`).
   *
   * @throws {RangeError} If `t` is before the current time.
   */
  callAt<A extends unknown[]>(
    t: number | Date,
    fn: (...args: A) => void,
    ...args: A
  ): TimerHandle {
    return this.#schedule(this.#target("callAt", t), fn as AnyFn, args);
  }

  #target(method: string, t: number | Date): number {
    checkTarget(method, t);
    const now = this.#time;
    let target: number;
    if (t instanceof Date) {
      const ms = t.getTime();
      // Dates have millisecond resolution: utcnow() itself counts as now.
      if (ms === this.utcnow().getTime()) return now;
      target = (ms - this.#utcStartMs) / 1000;
    } else {
      target = t;
    }
    if (target < now) throw pastError(method, t, target, now, this.utcnow());
    return target;
  }

  #schedule(when: number, fn: AnyFn, args: unknown[] | undefined): ExternalTimer {
    // Drop empty argument lists: firing then touches one object less.
    const timer = new ExternalTimer(
      when,
      fn,
      args !== undefined && args.length > 0 ? args : undefined,
      this.#onCancel,
    );
    const observer = this.observer;
    if (observer !== undefined) {
      timer.observer = observer;
      timer.token = observer.timerScheduled(when);
    }
    this.#heap.push(when, timer);
    if (when <= this.#time && !this.#firing && !this.#drainQueued) {
      this.#drainQueued = true;
      queueMicrotask(this.#drain);
    }
    return timer;
  }

  #sleep<T>(when: number, result: T, options: SleepOptions | undefined): Promise<T> {
    return sleepWithTimer((fn, args) => this.#schedule(when, fn, args), result, options);
  }

  /** Fire all pending timers due at or before `limit`; return callback errors. */
  #fireUntil(limit: number): unknown[] | undefined {
    const heap = this.#heap;
    let errors: unknown[] | undefined;
    this.#firing = true;
    try {
      while (heap.peekTime() <= limit) {
        const timer = heap.pop()!;
        if (timer.state !== PENDING) {
          this.#cancelledInHeap--;
          continue;
        }
        this.#time = timer.when;
        try {
          timer.fire();
        } catch (err) {
          (errors ??= []).push(err);
        }
      }
    } finally {
      this.#firing = false;
    }
    return errors;
  }
}

function combine(errors: unknown[]): unknown {
  return errors.length === 1
    ? errors[0]
    : new AggregateError(errors, `${errors.length} timer callbacks threw`);
}
