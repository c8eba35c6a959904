/**
 * Clock benchmarks: how fast an {@linkcode ExternalClock} schedules and fires
 * timers (its binary heap) and wakes sleepers.
 *
 * Run alone with `deno run -A bench/clock_bench.ts`.
 *
 * @module
 */

import { ExternalClock, RealtimeClock, type TimerHandle } from "../clocks/mod.ts";
import { type Measurement, repeatRate } from "./measure.ts";

const START = "2016-01-01T00:00:00Z";
const TIMERS = 1_000_000;
const SLEEPERS = 100_000;
const STEPS = 1_000;

/** Deterministic pseudo-random times in [0, 1000) s, shared by every round. */
function randomTimes(n: number, seed = 1): Float64Array {
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) | 0;
    times[i] = ((seed >>> 0) / 4294967296) * 1000;
  }
  return times;
}

/** Run the clock benchmarks; rates are per timer or sleeper scheduled. */
export async function bench(options: { quick?: boolean } = {}): Promise<Measurement[]> {
  // A quick run measures each row once, without a warm-up.
  const rounds = (n: number) => options.quick ? 1 : n;
  const warmup = options.quick ? 0 : 1;
  const times = randomTimes(TIMERS);
  let fired = 0;
  const onFire = () => {
    fired++;
  };

  const fireAll = () => {
    const clock = new ExternalClock(START);
    fired = 0;
    for (let i = 0; i < TIMERS; i++) clock.callAt(times[i], onFire);
    clock.setTime(1000);
    if (fired !== TIMERS) throw new Error(`fired ${fired} of ${TIMERS} timers`);
  };

  const fireHalfCancelled = () => {
    const clock = new ExternalClock(START);
    fired = 0;
    const handles: TimerHandle[] = new Array(TIMERS);
    for (let i = 0; i < TIMERS; i++) handles[i] = clock.callAt(times[i], onFire);
    for (let i = 0; i < TIMERS; i += 2) handles[i].cancel();
    clock.setTime(1000);
    if (fired !== TIMERS / 2) throw new Error(`fired ${fired} of ${TIMERS / 2} timers`);
  };

  const stepSleepers = async () => {
    const clock = new ExternalClock(START);
    const sleeping: Promise<number>[] = new Array(SLEEPERS);
    for (let i = 0; i < SLEEPERS; i++) sleeping[i] = clock.sleepUntil(times[i], i);
    for (let step = 1; step <= STEPS; step++) {
      clock.setTime(step);
      await Promise.resolve(); // let the woken sleepers' continuations run
    }
    const results = await Promise.all(sleeping);
    if (results.length !== SLEEPERS) throw new Error("lost sleepers");
  };

  const realtimeCancel = () => {
    const clock = new RealtimeClock();
    for (let i = 0; i < 100_000; i++) clock.callIn(60, onFire).cancel();
  };

  return [
    await repeatRate(
      "clock",
      `ExternalClock: schedule + fire ${TIMERS.toLocaleString("en")} callAt timers`,
      "timers/s",
      fireAll,
      TIMERS,
      rounds(3),
      warmup,
    ),
    await repeatRate(
      "clock",
      `ExternalClock: same, half of them cancelled`,
      "timers/s",
      fireHalfCancelled,
      TIMERS,
      rounds(3),
      warmup,
    ),
    await repeatRate(
      "clock",
      `ExternalClock: ${SLEEPERS.toLocaleString("en")} sleepers, ${STEPS} setTime steps`,
      "sleepers/s",
      stepSleepers,
      SLEEPERS,
      rounds(5),
      warmup,
    ),
    await repeatRate(
      "clock",
      "RealtimeClock: callIn + cancel",
      "timers/s",
      realtimeCancel,
      100_000,
      rounds(5),
      warmup,
    ),
  ];
}

if (import.meta.main) {
  for (const m of await bench()) {
    console.log(`${m.group}  ${m.name}: ${Math.round(m.value).toLocaleString("en")} ${m.unit}`);
  }
}
