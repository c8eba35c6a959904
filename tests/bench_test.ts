// The benchmark harness (bench/): a smoke run of its pieces, and proof that a
// wrong reply fails a row instead of being counted.

import assert from "node:assert/strict";
import { interleave, pairedCost, quantile, summarize, type Workload } from "../bench/measure.ts";
import { callWorkloads, connectCaller, Target, TwinTargets } from "../bench/net_bench.ts";
import { connectRaw, rawEchoClient, rawUploadClient } from "../bench/raw.ts";
import { spawnServer, startBenchServer } from "../bench/server.ts";

Deno.test("bench: summarize and quantile", () => {
  assert.deepEqual(summarize([3, 1, 2]), { value: 2, min: 1, max: 3 });
  assert.deepEqual(summarize([4, 1, 2, 3]), { value: 2.5, min: 1, max: 4 });
  const sorted = Array.from({ length: 1000 }, (_, i) => i + 1);
  assert.equal(quantile(sorted, 0.5), 500);
  assert.equal(quantile(sorted, 0.999), 999);
});

Deno.test("bench: interleaved rows against a server subprocess, replies checked", async () => {
  const target = new Target("rpc", "json", true);
  const order: string[] = [];
  const row = (name: string): Workload => ({
    group: "test",
    name,
    unit: "calls/s",
    warmup: 20,
    minCount: 5,
    setup: () => target.open(),
    run: async (count) => {
      order.push(name);
      for (let i = 0; i < count; i++) await target.caller!.call(i);
    },
    teardown: () => target.release(),
  });
  const failing: Workload = {
    group: "test",
    name: "wrong",
    unit: "calls/s",
    warmup: 1,
    run: () => Promise.reject(new Error("wrong reply")),
  };
  const rows = await interleave([row("a"), failing, row("b")], { reps: 3, target: 0.005 });
  // Warm-up a b, then a b a b a b: interleaved, not a a a b b b.
  assert.deepEqual(order, ["a", "b", "a", "b", "a", "b", "a", "b"]);
  const [a, wrong, b] = rows;
  for (const measured of [a, b]) {
    assert.equal(measured.runs, 3);
    assert.ok(measured.value > 0 && measured.min! <= measured.value);
    assert.ok(measured.value <= measured.max!);
  }
  assert.equal(wrong.name, "wrong");
  assert.ok(Number.isNaN(wrong.value));
  assert.match(wrong.error!, /wrong reply/);
});

Deno.test("bench: the raw echo client rejects a wrong reply", async () => {
  // An upload server answers every frame with its length: not an echo.
  const server = await startBenchServer("raw-upload");
  const client = rawEchoClient(await connectRaw(server.port), true);
  try {
    await assert.rejects(client.call(7), /raw echo: wrong reply/);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("bench: raw upload servers, plain and copying each frame, answer the received length", async () => {
  for (const kind of ["raw-upload", "raw-upload-copy"] as const) {
    const server = await startBenchServer(kind);
    const conn = await connectRaw(server.port);
    try {
      // Each reply is checked against the size sent (a failed copy answers 0).
      const client = rawUploadClient(conn, 300_000);
      await Promise.all(Array.from({ length: 8 }, (_, i) => client.call(i)));
    } finally {
      conn.close();
      await server.close();
    }
  }
});

Deno.test("bench: a server subprocess reports its RSS; callers check RPC replies", async () => {
  const server = await spawnServer("rpc", "msgpack");
  try {
    const caller = await connectCaller("rpc", "msgpack", server.port);
    await caller.call(41);
    await caller.close();
    assert.ok(await server.rss() > 1024 * 1024);
  } finally {
    await server.close();
  }
});

Deno.test("bench: paired cost rows alternate ABBA on one server process with two ports", async () => {
  const twins = new TwinTargets("agent", "json", { metrics: false }, {});
  const order: string[] = [];
  const [off, on] = twins.targets.map((target, i) => {
    const row = callWorkloads("test", i === 0 ? "off" : "on", target, { quick: true })[0];
    const run = row.run;
    return { ...row, warmup: 10, run: (count: number) => (order.push(row.name), run(count)) };
  });
  const rows = await pairedCost("on / off", off, on, { pairs: 4, target: 0.005 });
  // Warm-up, then pairs in ABBA order.
  assert.deepEqual(order.slice(2), [
    "off, sequential",
    "on, sequential",
    "on, sequential",
    "off, sequential",
    "off, sequential",
    "on, sequential",
    "on, sequential",
    "off, sequential",
  ]);
  const [a, b, ratio] = rows;
  assert.deepEqual([a.name, b.name, ratio.name], ["off, sequential", "on, sequential", "on / off"]);
  assert.equal(b.baseline, "off, sequential");
  assert.equal(ratio.unit, "%");
  assert.equal(ratio.runs, 4);
  assert.ok(ratio.value > 0 && ratio.min! <= ratio.value && ratio.value <= ratio.max!);
});

Deno.test("bench: a failing paired row fails all three rows", async () => {
  const ok: Workload = { group: "g", name: "ok", unit: "calls/s", warmup: 1, run: async () => {} };
  const wrong: Workload = { ...ok, name: "wrong", run: () => Promise.reject(new Error("bad")) };
  const rows = await pairedCost("cost", ok, wrong, { pairs: 3, target: 0.001 });
  assert.deepEqual(rows.map((r) => r.error), ["Error: bad", "Error: bad", "Error: bad"]);
});
