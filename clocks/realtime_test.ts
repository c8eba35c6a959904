import assert from "node:assert/strict";
import { RealtimeClock } from "@aiomas/aiomas/clocks";

// Timing assertions are deliberately loose: CI machines stall.

Deno.test("RealtimeClock: time is monotonic seconds, utcnow is now", () => {
  const clock = new RealtimeClock();
  const a = clock.time();
  const b = clock.time();
  assert.ok(b >= a);
  assert.ok(Math.abs(clock.time() - performance.now() / 1000) < 0.1);
  assert.ok(Math.abs(clock.utcnow().getTime() - Date.now()) < 1000);
});

Deno.test("RealtimeClock: sleep waits about dt and returns the result", async () => {
  const clock = new RealtimeClock();
  const start = performance.now();
  const result = await clock.sleep(0.05, "done");
  const elapsed = performance.now() - start;
  assert.equal(result, "done");
  assert.ok(elapsed >= 40, `slept only ${elapsed} ms`);
  assert.ok(elapsed < 1000, `slept ${elapsed} ms`);
});

Deno.test("RealtimeClock: sleep(0) yields to the event loop", async () => {
  const clock = new RealtimeClock();
  let other = false;
  setTimeout(() => other = true, 0);
  assert.equal(await clock.sleep(0), undefined);
  assert.equal(other, true);
});

Deno.test("RealtimeClock: sleepUntil a time or a Date", async () => {
  const clock = new RealtimeClock();
  const target = clock.time() + 0.03;
  assert.equal(await clock.sleepUntil(target, 1), 1);
  assert.ok(clock.time() >= target, "woke before the target time");

  const start = performance.now();
  await clock.sleepUntil(new Date(Date.now() + 30));
  const elapsed = performance.now() - start;
  assert.ok(elapsed >= 20 && elapsed < 1000, `slept ${elapsed} ms`);
});

Deno.test("RealtimeClock: callIn and callAt with arguments, in time order", async () => {
  const clock = new RealtimeClock();
  const log: string[] = [];
  const { promise, resolve } = Promise.withResolvers<void>();
  clock.callIn(
    0.04,
    (a: string, n: number) => {
      log.push(`${a}${n}`);
      resolve();
    },
    "late",
    2,
  );
  clock.callAt(clock.time() + 0.01, (a: string, n: number) => log.push(`${a}${n}`), "early", 1);
  const handle = clock.callAt(new Date(Date.now() + 20), () => log.push("date"));
  assert.ok(handle.when > clock.time());
  await promise;
  assert.deepEqual(log, ["early1", "date", "late2"]);
});

Deno.test("RealtimeClock: cancel clears the timer", async () => {
  const clock = new RealtimeClock();
  let called = false;
  const handle = clock.callIn(0.01, () => called = true);
  handle.cancel();
  handle.cancel();
  assert.equal(handle.cancelled, true);
  // A long timer, cancelled at once, leaves nothing for the sanitizer to find.
  clock.callIn(3600, () => {}).cancel();
  clock.callIn(60 * 86_400, () => {}).cancel(); // beyond setTimeout's 2^31-1 ms
  await clock.sleep(0.03);
  assert.equal(called, false);

  const done = clock.callIn(0, () => {});
  await clock.sleep(0.01);
  done.cancel(); // after it ran
  assert.equal(done.cancelled, false);
});

Deno.test("RealtimeClock: sleep with an AbortSignal", async () => {
  const clock = new RealtimeClock();
  const controller = new AbortController();
  const sleeping = clock.sleep(3600, "never", { signal: controller.signal });
  setTimeout(() => controller.abort(new Error("stop")), 5);
  await assert.rejects(sleeping, { message: "stop" });
  await assert.rejects(clock.sleepUntil(clock.time() + 10, 0, { signal: controller.signal }), {
    message: "stop",
  });
  assert.equal(await clock.sleep(0.001, "ok", { signal: new AbortController().signal }), "ok");
});

Deno.test("RealtimeClock: negative delays and past times are RangeErrors naming both times", () => {
  const clock = new RealtimeClock();
  const named = (...parts: string[]) => (err: unknown) => {
    assert.ok(err instanceof RangeError, String(err));
    for (const part of parts) assert.ok(err.message.includes(part), err.message);
    return true;
  };
  assert.throws(() => clock.sleep(-1), named("dt=-1", "current time"));
  assert.throws(() => clock.callIn(-0.5, () => {}), named("dt=-0.5"));
  const past = clock.time() - 10;
  assert.throws(() => clock.sleepUntil(past), named(`t=${past}`, "current time"));
  assert.throws(() => clock.callAt(past, () => {}), named(`t=${past}`));
  const pastDate = new Date(Date.now() - 60_000);
  assert.throws(() => clock.sleepUntil(pastDate), named(pastDate.toISOString(), "utcnow()"));
  assert.throws(() => clock.sleep(NaN), RangeError);
  assert.throws(() => clock.sleep(Infinity), RangeError);
  assert.throws(() => new RealtimeClock({ lateTolerance: -1 }), RangeError);
});

Deno.test("RealtimeClock: targets a little late are accepted within lateTolerance", async () => {
  const clock = new RealtimeClock();
  await clock.sleepUntil(clock.time() - 0.5); // default tolerance: 1 s
  await clock.sleepUntil(clock.utcnow());
  const strict = new RealtimeClock({ lateTolerance: 0 });
  assert.throws(() => strict.sleepUntil(strict.time() - 0.001), RangeError);
  const lenient = new RealtimeClock({ lateTolerance: Infinity });
  await lenient.sleepUntil(0);
});

Deno.test("RealtimeClock.pending counts timers and sleepers until they fire or are cancelled", async () => {
  const clock = new RealtimeClock();
  const timer = clock.callIn(60, () => {});
  const fired = clock.callIn(0, () => {});
  const sleep = clock.sleep(0.001);
  assert.equal(clock.pending, 3);
  timer.cancel();
  timer.cancel();
  assert.equal(clock.pending, 2);
  await sleep;
  assert.ok(fired.cancelled === false);
  assert.equal(clock.pending, 0);
});
