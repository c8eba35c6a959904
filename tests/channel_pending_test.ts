import assert from "node:assert/strict";
import { openConnection, type Request, startServer } from "@aiomas/aiomas/channel";
import { ConnectionError, RemoteException } from "@aiomas/aiomas";
import { PendingReplies } from "../channel/pending.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

/** Settled values of `promises` (`"rejected: <message>"` for rejections), once all settled. */
async function outcomes(promises: Promise<unknown>[]): Promise<unknown[]> {
  return (await Promise.allSettled(promises)).map((r) =>
    r.status === "fulfilled" ? r.value : `rejected: ${(r.reason as Error).message}`
  );
}

Deno.test("pending replies: thousands in flight, settled in any order", async () => {
  const pending = new PendingReplies();
  const promises: Promise<unknown>[] = [];
  for (let id = 0; id < 5000; id++) promises.push(pending.add(id));
  assert.equal(pending.size, 5000);
  // Odd ids first, backwards, then even ids forwards.
  for (let id = 4999; id >= 0; id -= 2) assert.ok(pending.resolve(id, id * 2));
  for (let id = 0; id < 5000; id += 2) assert.ok(pending.has(id) && pending.resolve(id, id * 2));
  assert.equal(pending.size, 0);
  assert.deepEqual(await Promise.all(promises), promises.map((_, id) => id * 2));
  assert.ok(!pending.resolve(5, "late"));
  assert.ok(!pending.has(5));
});

Deno.test("pending replies: a long call among many short ones, and huge ids", async () => {
  const pending = new PendingReplies();
  const long = pending.add(0);
  const results: Promise<unknown>[] = [];
  // 100 000 short calls, one at a time, while id 0 waits: it shares a slot with many of them.
  for (let id = 1; id <= 100_000; id++) {
    const reply = pending.add(id);
    assert.ok(pending.resolve(id, id));
    if (id % 10_000 === 0) results.push(reply);
  }
  assert.equal(pending.size, 1);
  assert.ok(pending.has(0));
  assert.ok(pending.reject(0, new Error("late failure")));
  assert.deepEqual(await outcomes([long, ...results]), [
    "rejected: late failure",
    ...results.map((_, i) => (i + 1) * 10_000),
  ]);
  // Ids past 2^32 (a long-lived connection) work the same.
  const big = 2 ** 40;
  const a = pending.add(big);
  const b = pending.add(big + 16);
  assert.ok(pending.resolve(big + 16, "b") && pending.resolve(big, "a"));
  assert.deepEqual(await Promise.all([a, b]), ["a", "b"]);
});

Deno.test("pending replies: delete forgets, rejectAll rejects oldest first", async () => {
  const pending = new PendingReplies();
  const order: number[] = [];
  const promises = [0, 1, 16, 32, 2, 48].map((id) => {
    const reply = pending.add(id);
    reply.catch(() => order.push(id));
    return reply;
  });
  assert.ok(pending.delete(1));
  assert.ok(!pending.delete(1));
  assert.equal(pending.size, 5);
  pending.rejectAll(new Error("closed"));
  assert.equal(pending.size, 0);
  await outcomes(promises.filter((_, i) => i !== 1));
  assert.deepEqual(order, [0, 2, 16, 32, 48]);
});

Deno.test("a channel matches replies that come back in any order, with a call that waits long", async () => {
  const held: Request[] = [];
  const server = await startServer(LOCAL, (channel) => {
    channel.setHandler((request) => {
      const n = request.content as number;
      if (n === -1) {
        held.push(request); // answered at the end
        return;
      }
      // Answer in reverse order within each group of 50.
      held.push(request);
      if (held.length === 51) {
        for (const r of held.splice(1).reverse()) void r.reply((r.content as number) * 10);
      }
    });
  });
  const channel = await openConnection(server.addr);
  try {
    const long = channel.send(-1);
    const replies: Promise<unknown>[] = [];
    for (let round = 0; round < 40; round++) {
      const batch = Array.from({ length: 50 }, (_, i) => channel.send(round * 50 + i));
      replies.push(...batch);
      await Promise.all(batch);
    }
    assert.deepEqual(await Promise.all(replies), replies.map((_, n) => n * 10));
    assert.equal(channel.pendingCount, 1);
    await held[0]!.reply("done");
    assert.equal(await long, "done");
    assert.equal(channel.pendingCount, 0);
    // Calls pending at close reject.
    const open = [channel.send(-1), channel.send(-1)];
    await channel.close();
    for (const outcome of await Promise.allSettled(open)) {
      assert.ok(outcome.status === "rejected" && outcome.reason instanceof ConnectionError);
    }
  } finally {
    await channel.close();
    await server.close();
  }
});

Deno.test("requests nobody awaits never reject unhandled: remote failures, closes, bad content", async () => {
  const server = await startServer(LOCAL, (channel) => {
    channel.setHandler((request) => void request.fail(new Error("no")));
  });
  const channel = await openConnection(server.addr);
  try {
    // Fails remotely; nobody awaits it.
    void channel.send("x");
    // Cannot be encoded; nobody awaits it.
    void channel.send(() => 1);
    // With a signal (the slow path), rejected by the peer.
    void channel.send("y", { signal: new AbortController().signal });
    // Waits forever on a handler that never answers... until the close rejects it.
    await assert.rejects(channel.send("z"), RemoteException);
  } finally {
    await channel.close();
    await server.close();
  }
  // On a closed channel.
  void channel.send("late");
  // Let the event loop run: an unhandled rejection would fail this test.
  await new Promise((resolve) => setTimeout(resolve, 20));
});

Deno.test("pending replies: observers hear each settled request once, through growth and eviction", async () => {
  const pending = new PendingReplies();
  const heard = new Map<unknown, string>();
  const observer = (tag: unknown, ok: boolean, value: unknown) => {
    assert.ok(!heard.has(tag), `heard ${tag} twice`);
    heard.set(tag, `${ok} ${value instanceof Error ? value.message : value}`);
  };
  const promises: Promise<unknown>[] = [pending.add(0, observer, "long")];
  // Many in flight (the ring grows), then short calls that evict the long one.
  for (let id = 1; id <= 300; id++) promises.push(pending.add(id, observer, `t${id}`));
  for (let id = 1; id <= 300; id++) {
    if (id % 3 === 0) pending.reject(id, new Error(`e${id}`));
    else pending.resolve(id, id);
  }
  for (let id = 301; id <= 5_000; id++) {
    pending.add(id, id % 2 ? observer : undefined, `t${id}`);
    pending.resolve(id, id);
  }
  pending.add(5_001, observer, "forgotten");
  assert.ok(pending.delete(5_001));
  pending.rejectAll(new Error("closed"));
  await Promise.allSettled(promises);
  assert.equal(heard.get("long"), "false closed");
  assert.equal(heard.get("t2"), "true 2");
  assert.equal(heard.get("t3"), "false e3");
  assert.equal(heard.get("t4999"), "true 4999");
  assert.ok(!heard.has("t5000") && !heard.has("forgotten"));
  assert.equal(heard.size, 1 + 300 + 2_350);
});

Deno.test("channel.sendObserved: the observer hears replies, errors and closes before the caller", async () => {
  const server = await startServer(LOCAL, (channel) => {
    channel.setHandler((request: Request) => {
      if (request.content === "fail") request.fail(new RangeError("no"));
      else if (request.content !== "never") request.reply(request.content);
    });
  });
  const channel = await openConnection(server.addr);
  const heard: string[] = [];
  const observer = (tag: unknown, ok: boolean, value: unknown) =>
    heard.push(`${tag} ${ok} ${value instanceof Error ? value.name : value}`);
  try {
    assert.equal(await channel.sendObserved("hi", observer, 1), "hi");
    assert.deepEqual(heard, ["1 true hi"]);
    await assert.rejects(channel.sendObserved("fail", observer, 2), RemoteException);
    assert.equal(heard[1], "2 false RemoteException");
    // Cannot be encoded: told at once, nothing sent.
    await assert.rejects(channel.sendObserved(() => {}, observer, 3));
    assert.match(heard[2], /^3 false \w*Error$/);
    // An observer that throws costs a warning, never the reply.
    const warn = console.warn;
    console.warn = () => {};
    try {
      const throwing = () => {
        throw new Error("observer bug");
      };
      assert.equal(await channel.sendObserved("still", throwing, 4), "still");
    } finally {
      console.warn = warn;
    }
    // Unawaited and lost with the connection: told, and no unhandled rejection.
    void channel.sendObserved("never", observer, 5);
    await channel.close();
    assert.equal(heard[3], "5 false ConnectionError");
    await assert.rejects(channel.sendObserved("late", observer, 6), ConnectionError);
    assert.equal(heard[4], "6 false ConnectionError");
  } finally {
    await channel.close();
    await server.close();
  }
});
