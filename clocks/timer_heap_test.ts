import assert from "node:assert/strict";
import { mulberry32 } from "../tests/prng.ts";
import { TimerHeap } from "./timer_heap.ts";

Deno.test("TimerHeap: empty heap", () => {
  const heap = new TimerHeap<number>();
  assert.equal(heap.size, 0);
  assert.equal(heap.peekTime(), Infinity);
  assert.equal(heap.peek(), undefined);
  assert.equal(heap.pop(), undefined);
});

Deno.test("TimerHeap: pops by time, ties in push order", () => {
  const heap = new TimerHeap<string>(1);
  const pushes: [number, string][] = [[3, "e"], [1, "a"], [2, "c"], [1, "b"], [2, "d"], [3, "f"]];
  for (const [time, item] of pushes) heap.push(time, item);
  assert.equal(heap.size, 6);
  assert.equal(heap.peekTime(), 1);
  let out = "";
  while (heap.size > 0) out += heap.pop();
  assert.equal(out, "abcdef");
});

Deno.test("TimerHeap: push returns increasing sequence numbers", () => {
  const heap = new TimerHeap<number>();
  assert.deepEqual([heap.push(5, 0), heap.push(1, 1), heap.push(3, 2)], [0, 1, 2]);
});

Deno.test("TimerHeap: compact drops items and keeps the order", () => {
  const heap = new TimerHeap<{ id: number; dead: boolean }>();
  const random = mulberry32(7);
  const all = [];
  for (let id = 0; id < 10_000; id++) {
    const item = { id, dead: random() < 0.6 };
    all.push({ time: Math.floor(random() * 100), item });
    heap.push(all[id].time, item);
  }
  const removed = heap.compact((item) => !item.dead);
  const alive = all.filter((e) => !e.item.dead);
  assert.equal(removed, all.length - alive.length);
  assert.equal(heap.size, alive.length);
  // Stable sort by time = (time, seq) order.
  alive.sort((a, b) => a.time - b.time);
  for (const expected of alive) assert.equal(heap.pop()!.id, expected.item.id);
  assert.equal(heap.size, 0);
});

Deno.test("TimerHeap: 1,000,000 random items pop in (time, seq) order", () => {
  const n = 1_000_000;
  const heap = new TimerHeap<number>();
  const random = mulberry32(42);
  const times = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // Coarse times give many ties, which must come out in push order.
    times[i] = Math.floor(random() * 10_000);
    heap.push(times[i], i);
  }
  let lastTime = -Infinity;
  let lastIndex = -1;
  for (let k = 0; k < n; k++) {
    const i = heap.pop()!;
    const time = times[i];
    if (time < lastTime || (time === lastTime && i < lastIndex)) {
      assert.fail(`item ${i} (time ${time}) popped after item ${lastIndex} (time ${lastTime})`);
    }
    lastTime = time;
    lastIndex = i;
  }
  assert.equal(heap.size, 0);
});

Deno.test("TimerHeap: interleaved pushes and pops", () => {
  const heap = new TimerHeap<number>();
  const random = mulberry32(3);
  let now = 0;
  let popped = 0;
  for (let i = 0; i < 50_000; i++) {
    heap.push(now + random() * 10, i);
    if (random() < 0.5) {
      const t = heap.peekTime();
      heap.pop();
      assert.ok(t >= now, `popped time ${t} < ${now}`);
      now = t;
      popped++;
    }
  }
  assert.equal(heap.size, 50_000 - popped);
  heap.clear();
  assert.equal(heap.size, 0);
  assert.equal(heap.pop(), undefined);
});
