import assert from "node:assert/strict";
import { Agent, Container, expose, RemoteException } from "@aiomas/aiomas";
import { type CallEvent, CallMetrics, CallTrace, LatencyHistogram } from "@aiomas/aiomas/rpc";
import { spawnWorkerContainer, watchContainer } from "@aiomas/aiomas/agent";
import type { Battery } from "./fixtures/agents.ts";

const TCP = "tcp://127.0.0.1:0";
const FIXTURES = new URL("./fixtures/agents.ts", import.meta.url).href;

class Callee extends Agent {
  @expose
  spam(times: number): string {
    return "spam".repeat(times);
  }

  @expose
  fail(): never {
    throw new RangeError("no");
  }

  @expose
  oddFails(i: number): number {
    if (i % 2 === 1) throw new RangeError("odd");
    return i;
  }
}

Deno.test("LatencyHistogram: quantiles within a bucket of the truth", () => {
  const histogram = new LatencyHistogram();
  for (let i = 1; i <= 1000; i++) histogram.add(i / 1e4); // 0.1 ms .. 100 ms
  assert.equal(histogram.count, 1000);
  const p50 = histogram.quantile(0.5);
  const p99 = histogram.quantile(0.99);
  assert.ok(p50 >= 0.05 && p50 <= 0.05 * 1.1, `p50 ${p50}`);
  assert.ok(p99 >= 0.099 && p99 <= 0.099 * 1.1, `p99 ${p99}`);
  assert.ok(Math.abs(histogram.mean - 0.05005) < 1e-9);
  assert.equal(new LatencyHistogram().quantile(0.5), 0);
});

Deno.test("CallMetrics: folds agent ids, counts errors, caps distinct paths", () => {
  const metrics = new CallMetrics({ maxPaths: 3 });
  for (const aid of ["1", "2", "3"]) {
    metrics.record({ direction: "in", path: `agents/${aid}/spam`, seconds: 0.001, ok: true });
  }
  metrics.record({ direction: "in", path: "agents/4/spam", seconds: 0.001, ok: false });
  for (let i = 0; i < 10; i++) {
    metrics.record({ direction: "out", path: `random/${i}`, seconds: 0.001, ok: true });
  }
  const snapshot = metrics.snapshot();
  assert.deepEqual(snapshot.in.map((p) => [p.path, p.count, p.errors]), [["agents/*/spam", 4, 1]]);
  assert.equal(snapshot.out.length, 4);
  assert.deepEqual(snapshot.out.find((p) => p.path === "(other)")?.count, 7);
});

Deno.test("CallTrace: keeps the last calls in order, and those since a total", () => {
  const trace = new CallTrace(3);
  const event = (path: string): CallEvent => ({
    time: 0,
    direction: "out",
    peer: "tcp://h:1",
    path,
    seconds: 0,
    ok: true,
  });
  for (const path of ["a", "b", "c", "d", "e"]) trace.push(event(path));
  assert.deepEqual(trace.events().map((e) => e.path), ["c", "d", "e"]);
  assert.deepEqual(trace.events(3).map((e) => e.path), ["d", "e"]);
  assert.equal(trace.total, 5);
  assert.throws(() => new CallTrace(0), RangeError);
});

Deno.test("container.stats(): agents, links with bytes, calls by path, errors, trace", async () => {
  const events: CallEvent[] = [];
  const a = await Container.create(TCP, { trace: 50, onCall: (event) => events.push(event) });
  const b = await Container.create(TCP, { trace: 50 });
  const callee = new Callee(b);
  const proxy = await a.connect<Callee>(callee.addr);
  for (let i = 0; i < 5; i++) assert.equal(await proxy.spam(1), "spam");
  await assert.rejects(proxy.fail(), RemoteException);

  const stats = await a.stats();
  assert.equal(stats.addr, a.addr);
  const spam = stats.calls.out.find((p) => p.path === "agents/*/spam");
  assert.equal(spam?.count, 5);
  assert.equal(spam?.errors, 0);
  assert.ok(spam!.p50 > 0 && spam!.p99 >= spam!.p50);
  assert.equal(stats.calls.out.find((p) => p.path === "agents/*/fail")?.errors, 1);
  const link = stats.connections.find((l) => l.kind === "out");
  assert.ok(link && link.bytesIn > 0 && link.bytesOut > 0 && link.pendingCalls === 0);
  assert.ok(b.addr.startsWith(link.peer));
  assert.deepEqual(
    stats.recentCalls.map((c) => [c.path, c.ok]).slice(-2),
    [["agents/0/spam", true], ["agents/0/fail", false]],
  );
  assert.deepEqual(stats.recentCalls.map((c) => c.seq), stats.recentCalls.map((_, i) => i));
  assert.equal(events.filter((e) => e.direction === "out").length, 7); // validate_aid, 5 spam, fail

  const served = await b.stats();
  assert.deepEqual(served.agents, { count: 1, list: [{ id: "0", type: "Callee" }] });
  const incoming = served.calls.in.find((p) => p.path === "agents/*/spam");
  assert.equal(incoming?.count, 5);
  assert.equal(served.calls.in.find((p) => p.path === "agents/*/fail")?.errors, 1);
  assert.ok(served.connections.some((l) => l.kind === "in" && l.bytesIn > 0));
  assert.equal(served.clock.pendingTimers, 0);
  await a.shutdown();
  await b.shutdown();
});

Deno.test("default metrics count every call and error, timed or not, both ways", async () => {
  const a = await Container.create(TCP);
  const b = await Container.create(TCP);
  const proxy = await a.connect<Callee>(new Callee(b).addr);
  // Past the first 1,000 calls of a path only a sample is timed: count those too.
  const results = await Promise.allSettled(
    Array.from({ length: 1_200 }, (_, i) => proxy.oddFails(i)),
  );
  assert.equal(results.filter((r) => r.status === "rejected").length, 600);
  const out = (await a.stats()).calls.out.find((p) => p.path === "agents/*/oddFails");
  const into = (await b.stats()).calls.in.find((p) => p.path === "agents/*/oddFails");
  for (const entry of [out, into]) {
    assert.equal(entry?.count, 1_200);
    assert.equal(entry?.errors, 600);
    assert.ok(entry!.p50 > 0 && entry!.p99 >= entry!.p50);
  }
  await a.shutdown();
  await b.shutdown();
});

Deno.test("metrics: false keeps no figures; a throwing onCall hook costs nothing", async () => {
  const container = await Container.create(TCP, {
    metrics: false,
    onCall: () => {
      throw new Error("hook bug");
    },
  });
  const callee = new Callee(container);
  const proxy = await container.connect<Callee>(callee.addr);
  const warn = console.warn;
  console.warn = () => {};
  try {
    assert.equal(await proxy.spam(2), "spamspam");
  } finally {
    console.warn = warn;
  }
  const stats = await container.stats();
  assert.deepEqual(stats.calls, { in: [], out: [] });
  assert.deepEqual(stats.recentCalls, []);
  await container.shutdown();
});

Deno.test("live view: page, stats and events on loopback; a token off loopback", async () => {
  const container = await Container.create(TCP, { inspect: TCP });
  new Callee(container);
  const url = container.inspectUrl!;
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const page = await fetch(url);
  assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
  const html = await page.text();
  assert.ok(html.includes("aiomas live view") && !/<script src|<link /.test(html));
  const snapshot = await (await fetch(`${url}stats`)).json();
  assert.deepEqual(snapshot.containers[0].agents.list, [{ id: "0", type: "Callee" }]);

  const events = await fetch(`${url}events`);
  const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n\n")) text += (await reader.read()).value ?? "";
  assert.match(text, /^event: snapshot\ndata: \{"containers":/);
  await reader.cancel();

  // A page from another host name (DNS rebinding) is refused.
  const { port } = new URL(url);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
  await conn.write(new TextEncoder().encode("GET /stats HTTP/1.1\r\nHost: evil.example\r\n\r\n"));
  const head = new Uint8Array(64);
  const n = await conn.read(head);
  assert.match(new TextDecoder().decode(head.subarray(0, n ?? 0)), /^HTTP\/1\.1 403/);
  conn.close();
  await container.shutdown();

  await assert.rejects(
    Container.create(TCP, { inspect: "tcp://0.0.0.0:0" }),
    /inspectToken/,
  );
  const guarded = await Container.create(TCP, {
    inspect: "tcp://127.0.0.1:0",
    inspectToken: "s3cret",
  });
  const guardedUrl = new URL(guarded.inspectUrl!);
  assert.equal(guardedUrl.searchParams.get("token"), "s3cret");
  const refused = await fetch(`${guardedUrl.origin}/stats?token=wrong`);
  assert.equal(refused.status, 403);
  await refused.body?.cancel();
  const allowed = await fetch(`${guardedUrl.origin}/stats?token=s3cret`);
  assert.equal(allowed.status, 200);
  await allowed.body?.cancel();
  await guarded.shutdown();
});

Deno.test("a master's live view includes the containers it spawned", async () => {
  const master = await Container.create(TCP, { inspect: TCP });
  const child = await spawnWorkerContainer(master, TCP, { trace: 20 });
  try {
    const [battery] = await child.manager.spawn<Battery>(`${FIXTURES}#Battery`, 5);
    assert.equal(await battery!.add(1), 6);
    const snapshot = await (await fetch(`${master.inspectUrl}stats`)).json();
    assert.deepEqual(snapshot.containers.map((c: { addr: string }) => c.addr), [
      master.addr,
      child.addr,
    ]);
    const childStats = snapshot.containers[1];
    assert.deepEqual(childStats.agents.list.map((a: { type: string }) => a.type), [
      "Manager",
      "Battery",
    ]);
    assert.ok(
      snapshot.calls.some((c: CallEvent) => c.direction === "in" && c.path === "agents/1/add"),
    );
  } finally {
    await child.close();
  }
  const after = await (await fetch(`${master.inspectUrl}stats`)).json();
  assert.equal(after.containers.length, 1);
  await master.shutdown();
});

Deno.test("watchContainer: an unreachable container shows as such, not as a failure", async () => {
  const master = await Container.create(TCP, { inspect: TCP });
  const unwatch = watchContainer(
    master,
    "tcp://127.0.0.1:1/",
    () => Promise.reject(new Error("x")),
  );
  const snapshot = await (await fetch(`${master.inspectUrl}stats`)).json();
  assert.match(snapshot.containers[1].error, /unreachable/);
  unwatch();
  await master.shutdown();
});
