/**
 * Clocks for agent containers (Python aiomas' `aiomas.clocks`): every clock
 * implements {@linkcode Clock} (current time, `sleep`, `sleepUntil`, `callIn`,
 * `callAt`), so agent code runs unchanged in real time on the default
 * {@linkcode RealtimeClock} and in simulated time on an
 * {@linkcode ExternalClock}, whose time moves only when
 * {@linkcode ExternalClock.setTime} is called.
 *
 * A negative delay or a target time in the past is a `RangeError` naming both
 * times; a delay of `0` is allowed and yields before firing.
 *
 * @example Let simulated time pass ten times as fast as real time
 * ```ts
 * import { type Clock, ExternalClock } from "@aiomas/aiomas/clocks";
 *
 * async function agent(clock: Clock): Promise<string> {
 *   await clock.sleep(1); // one second of clock time
 *   return `woke at ${clock.utcnow().toISOString()}`;
 * }
 *
 * const clock = new ExternalClock("2016-01-01T00:00:00");
 * const running = agent(clock);
 * for (let step = 1; step <= 20; step++) {
 *   await new Promise((resolve) => setTimeout(resolve, 5)); // 5 ms of real time ...
 *   clock.setTime(step / 20); // ... are 50 ms of clock time
 * }
 * console.log(await running); // woke at 2016-01-01T00:00:01.000Z
 * ```
 *
 * @module
 */

export type { Clock, SleepOptions, TimerHandle, TimerObserver } from "./clock.ts";
export { RealtimeClock, type RealtimeClockOptions } from "./realtime.ts";
export { ExternalClock } from "./external.ts";
