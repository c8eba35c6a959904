import assert from "node:assert/strict";
import { type Clock, ExternalClock } from "@aiomas/aiomas/clocks";

const START = "2016-01-01T00:00:00Z";

/** Let pending promise continuations run (one macrotask turn). */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("ExternalClock: time and utcnow", () => {
  const clock = new ExternalClock("2016-01-01T00:00:00", 10);
  assert.equal(clock.time(), 10);
  // A zoneless ISO string is UTC (as aiomas/arrow reads it), not local time.
  assert.equal(clock.utcnow().toISOString(), "2016-01-01T00:00:10.000Z");
  clock.setTime(10.5);
  assert.equal(clock.utcnow().toISOString(), "2016-01-01T00:00:10.500Z");
  clock.setTime(86_400);
  assert.equal(clock.utcnow().toISOString(), "2016-01-02T00:00:00.000Z");

  assert.equal(new ExternalClock("2016-01-01").utcnow().toISOString(), "2016-01-01T00:00:00.000Z");
  assert.equal(
    new ExternalClock("2016-01-01T01:00:00+01:00").utcnow().toISOString(),
    "2016-01-01T00:00:00.000Z",
  );
  const date = new Date(START);
  const fromDate = new ExternalClock(date);
  date.setFullYear(2000); // the clock keeps its own copy
  assert.equal(fromDate.utcnow().toISOString(), "2016-01-01T00:00:00.000Z");
});

Deno.test("ExternalClock: invalid construction", () => {
  assert.throws(() => new ExternalClock("not a date"), RangeError);
  assert.throws(() => new ExternalClock(START, NaN), RangeError);
  assert.throws(() => new ExternalClock(START, Infinity), RangeError);
});

Deno.test("ExternalClock: timers fire in time order, ties in scheduling order", () => {
  const clock = new ExternalClock(START);
  const log: string[] = [];
  const push = (what: string) => log.push(`${what}@${clock.time()}`);
  clock.callAt(3, push, "c1");
  clock.callIn(1, push, "a1");
  clock.callAt(2, push, "b1");
  clock.callAt(1, push, "a2");
  clock.callAt(3, push, "c2");
  clock.callIn(2, push, "b2");
  clock.callAt(5, push, "late");
  clock.setTime(0.5);
  assert.deepEqual(log, []);
  clock.setTime(3);
  assert.deepEqual(log, ["a1@1", "a2@1", "b1@2", "b2@2", "c1@3", "c2@3"]);
  assert.equal(clock.time(), 3);
  assert.equal(clock.nextEventTime(), 5);
  assert.equal(clock.pending, 1);
});

Deno.test("ExternalClock: callIn passes its arguments", () => {
  const clock = new ExternalClock(START);
  const got: unknown[] = [];
  clock.callIn(1, (a: number, b: string, c: { x: boolean }) => got.push(a, b, c), 1, "two", {
    x: true,
  });
  clock.callAt(new Date("2016-01-01T00:00:02Z"), (...args: number[]) => got.push(args), 4, 5);
  clock.setTime(2);
  assert.deepEqual(got, [1, "two", { x: true }, [4, 5]]);
});

Deno.test("ExternalClock: sleepers resolve in time order with their results", async () => {
  const clock = new ExternalClock(START);
  const order: string[] = [];
  const sleeper = async (dt: number, name: string) => {
    const result = await clock.sleep(dt, name);
    order.push(result);
  };
  const all = Promise.all([
    sleeper(3, "c"),
    sleeper(1, "a"),
    sleeper(2, "b1"),
    sleeper(2, "b2"),
    clock.sleepUntil(new Date("2016-01-01T00:00:02.500Z")).then(() => order.push("date")),
  ]);
  clock.setTime(10);
  await all;
  assert.deepEqual(order, ["a", "b1", "b2", "date", "c"]);
  assert.equal(await clock.sleepUntil(10, 42), 42); // the current time is allowed
});

Deno.test("ExternalClock: a sleep only ends when setTime reaches it", async () => {
  const clock = new ExternalClock(START);
  let done = false;
  const sleeping = clock.sleep(5).then(() => done = true);
  clock.setTime(4.999);
  await settle();
  assert.equal(done, false);
  clock.setTime(5);
  await sleeping;
  assert.equal(done, true);
});

Deno.test("ExternalClock: sleep(0) and callIn(0) complete without setTime", async () => {
  const clock = new ExternalClock(START, 7);
  const log: string[] = [];
  clock.callIn(0, () => log.push("callIn(0)"));
  clock.callAt(7, () => log.push("callAt(now)"));
  assert.deepEqual(log, []); // not synchronously
  assert.equal(await clock.sleep(0, "slept"), "slept");
  assert.deepEqual(log, ["callIn(0)", "callAt(now)"]);
  await clock.sleepUntil(clock.utcnow());
  for (let i = 0; i < 1000; i++) await clock.sleep(0);
  assert.equal(clock.time(), 7);
  assert.equal(clock.pending, 0);
});

Deno.test("ExternalClock: a zero delay scheduled before setTime fires first", () => {
  const clock = new ExternalClock(START);
  const log: string[] = [];
  clock.callAt(1, () => log.push("at 1"));
  clock.callIn(0, () => log.push("now"));
  clock.setTime(1); // runs before the microtask
  assert.deepEqual(log, ["now", "at 1"]);
});

Deno.test("ExternalClock: timers scheduled while firing fire in the same setTime", () => {
  const clock = new ExternalClock(START);
  const log: string[] = [];
  clock.callAt(5, () => {
    log.push(`a@${clock.time()}`);
    clock.callIn(1, () => log.push(`a+1@${clock.time()}`));
    clock.callIn(0, () => log.push(`a+0@${clock.time()}`));
    clock.callIn(100, () => log.push("never"));
  });
  clock.callAt(5, () => log.push(`b@${clock.time()}`));
  clock.callAt(7, () => log.push(`c@${clock.time()}`));
  clock.setTime(10);
  assert.deepEqual(log, ["a@5", "b@5", "a+0@5", "a+1@6", "c@7"]);
  assert.equal(clock.time(), 10);
  assert.equal(clock.nextEventTime(), 105);
});

Deno.test("ExternalClock: cancel", async () => {
  const clock = new ExternalClock(START);
  const log: number[] = [];
  const handles = [1, 2, 3, 4].map((t) => clock.callAt(t, () => log.push(t)));
  assert.equal(handles[1].when, 2);
  handles[1].cancel();
  handles[1].cancel(); // twice is fine
  assert.equal(handles[1].cancelled, true);
  assert.equal(handles[0].cancelled, false);
  assert.equal(clock.pending, 3);
  // A callback cancels a later timer due in the same setTime.
  clock.callAt(2.5, () => handles[2].cancel());
  clock.setTime(4);
  assert.deepEqual(log, [1, 4]);
  handles[0].cancel(); // after it ran: no effect
  assert.equal(handles[0].cancelled, false);
  assert.equal(clock.nextEventTime(), undefined);

  const zero = clock.callIn(0, () => log.push(0));
  zero.cancel();
  await clock.sleep(0);
  assert.deepEqual(log, [1, 4]);
});

Deno.test("ExternalClock: cancelling most timers compacts and keeps order", () => {
  const clock = new ExternalClock(START);
  const fired: number[] = [];
  const handles = [];
  for (let i = 0; i < 10_000; i++) handles.push(clock.callAt(i % 100, () => fired.push(i)));
  for (let i = 0; i < 10_000; i++) if (i % 10 !== 0) handles[i].cancel();
  assert.equal(clock.pending, 1000);
  assert.equal(clock.nextEventTime(), 0);
  clock.setTime(100);
  const expected = [];
  for (let i = 0; i < 10_000; i += 10) expected.push(i);
  expected.sort((a, b) => (a % 100) - (b % 100) || a - b);
  assert.deepEqual(fired, expected);
  assert.equal(clock.pending, 0);
});

Deno.test("ExternalClock: sleep with an AbortSignal", async () => {
  const clock = new ExternalClock(START);
  const controller = new AbortController();
  const sleeping = clock.sleep(5, "x", { signal: controller.signal });
  controller.abort(new Error("stop"));
  await assert.rejects(sleeping, { message: "stop" });
  assert.equal(clock.pending, 0);
  await assert.rejects(clock.sleepUntil(1, "y", { signal: controller.signal }), {
    message: "stop",
  });
  const other = new AbortController();
  const ok = clock.sleep(1, "ok", { signal: other.signal });
  clock.setTime(1);
  assert.equal(await ok, "ok");
  other.abort(); // after it resolved: nothing happens
});

Deno.test("ExternalClock: past times and negative delays are RangeErrors naming both times", () => {
  const clock = new ExternalClock(START, 10);
  const both = (a: string, b: string) => (err: unknown) => {
    assert.ok(err instanceof RangeError, String(err));
    assert.ok(err.message.includes(a) && err.message.includes(b), err.message);
    return true;
  };
  assert.throws(() => clock.setTime(9), both("9", "10"));
  assert.throws(() => clock.callAt(3, () => {}), both("3", "10"));
  assert.throws(() => clock.callIn(-2, () => {}), both("-2", "10"));
  assert.throws(() => clock.sleep(-1), both("-1", "10"));
  assert.throws(() => clock.sleepUntil(9.5), both("9.5", "10"));
  assert.throws(
    () => clock.sleepUntil(new Date("2016-01-01T00:00:05Z")),
    both("2016-01-01T00:00:05.000Z", "2016-01-01T00:00:10.000Z"),
  );
  assert.throws(() => clock.sleep(NaN), RangeError);
  assert.throws(() => clock.callAt(Infinity, () => {}), RangeError);
  assert.throws(() => clock.callAt(new Date("nope"), () => {}), RangeError);
  assert.throws(() => clock.setTime(NaN), RangeError);
  assert.equal(clock.time(), 10);
  assert.equal(clock.pending, 0);
});

Deno.test("ExternalClock: Date targets around non-representable times", async () => {
  const clock = new ExternalClock(START);
  clock.setTime(0.1 + 0.2); // 0.30000000000000004: utcnow() is rounded to the ms
  await clock.sleepUntil(clock.utcnow()); // still "now", not in the past
  const handle = clock.callAt(new Date("2016-01-01T00:00:01.250Z"), () => {});
  assert.equal(handle.when, 1.25);
});

Deno.test("ExternalClock: callback errors surface after all due calls ran", () => {
  const clock = new ExternalClock(START);
  const log: number[] = [];
  clock.callAt(1, () => {
    throw new Error("one");
  });
  clock.callAt(2, () => log.push(2));
  assert.throws(() => clock.setTime(3), { message: "one" });
  assert.deepEqual(log, [2]);
  assert.equal(clock.time(), 3);

  clock.callAt(4, () => {
    throw new Error("a");
  });
  clock.callAt(4, () => {
    throw new Error("b");
  });
  assert.throws(() => clock.setTime(4), (err: unknown) => {
    assert.ok(err instanceof AggregateError);
    assert.deepEqual(err.errors.map((e: Error) => e.message), ["a", "b"]);
    return true;
  });
});

Deno.test("ExternalClock: setTime from a callback is an error", () => {
  const clock = new ExternalClock(START);
  clock.callAt(1, () => clock.setTime(2));
  assert.throws(() => clock.setTime(1), /inside a timer callback/);
});

Deno.test("ExternalClock: agents stepped by a clock setter (aiomas guide)", async () => {
  const clock: ExternalClock = new ExternalClock("2016-01-01T00:00:00");
  const agent = async (c: Clock, name: string, period: number, log: string[]) => {
    for (let i = 0; i < 3; i++) {
      await c.sleep(period);
      log.push(`${name}@${c.time()}`);
    }
  };
  const log: string[] = [];
  const done = Promise.all([agent(clock, "fast", 1, log), agent(clock, "slow", 2, log)]);
  for (let t = 1; t <= 6; t++) {
    await settle();
    clock.setTime(t);
  }
  await done;
  assert.deepEqual(log, ["fast@1", "slow@2", "fast@2", "fast@3", "slow@4", "slow@6"]);
});

Deno.test("ExternalClock: discrete-event loop with nextEventTime", () => {
  const clock = new ExternalClock(START);
  const seen: number[] = [];
  const process = (period: number) => {
    seen.push(clock.time());
    if (clock.time() + period <= 10) clock.callIn(period, process, period);
  };
  clock.callIn(3, process, 3);
  clock.callIn(4, process, 4);
  let t: number | undefined;
  let steps = 0;
  while ((t = clock.nextEventTime()) !== undefined) {
    clock.setTime(t);
    steps++;
  }
  assert.deepEqual(seen, [3, 4, 6, 8, 9]);
  assert.equal(steps, 5);
});

Deno.test("ExternalClock: 1,000,000 timers fire in order", () => {
  const clock = new ExternalClock(START);
  const n = 1_000_000;
  let count = 0;
  let last = -1;
  let ordered = true;
  const fire = () => {
    const t = clock.time();
    if (t < last) ordered = false;
    last = t;
    count++;
  };
  let seed = 12345;
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) | 0;
    clock.callAt((seed >>> 8) / 1000, fire);
  }
  clock.setTime(2 ** 24);
  assert.equal(count, n);
  assert.ok(ordered);
  assert.equal(clock.pending, 0);
});

Deno.test("ExternalClock: the observer hears of every timer scheduled, fired and cancelled", async () => {
  const clock = new ExternalClock("2016-01-01T00:00:00Z");
  const log: string[] = [];
  clock.callIn(1, () => {}); // before the observer: never reported
  clock.observer = {
    timerScheduled: (when) => {
      log.push(`+${when}`);
      return `t${when}`;
    },
    timerDone: (token) => log.push(`-${token}`),
  };
  clock.callIn(2, () => log.push("fired 2"));
  const cancelled = clock.callAt(3, () => log.push("never"));
  const controller = new AbortController();
  const aborted = clock.sleep(4, undefined, { signal: controller.signal });
  const slept = clock.sleep(5);
  cancelled.cancel();
  controller.abort(new Error("stop"));
  await assert.rejects(aborted, /stop/);
  clock.setTime(10);
  await slept;
  assert.deepEqual(log, ["+2", "+3", "+4", "+5", "-t3", "-t4", "-t2", "fired 2", "-t5"]);
  clock.observer = undefined;
  clock.callIn(1, () => {});
  assert.equal(log.length, 9);
});
