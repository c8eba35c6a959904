import assert from "node:assert/strict";
import { ConnectionError } from "@aiomas/aiomas";
import {
  BufferBudget,
  type Channel,
  DEFAULT_FRAME_TIMEOUT,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_CONCURRENT_REQUESTS,
  DEFAULT_MAX_CONNECTIONS,
  openConnection,
  type Request,
  startServer,
  type TcpAddress,
} from "@aiomas/aiomas/channel";
import { captureWarnings, frame, readJsonFrame, untilClosed, within, writeAll } from "./helpers.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function echoServer(options = {}) {
  return startServer(LOCAL, (channel) => {
    channel.setHandler((request) => void request.reply(request.content));
  }, options);
}

Deno.test("limits: the documented defaults", () => {
  assert.ok(DEFAULT_FRAME_TIMEOUT > 0 && DEFAULT_FRAME_TIMEOUT <= 30);
  assert.equal(DEFAULT_MAX_CONCURRENT_REQUESTS, 1024);
  assert.equal(DEFAULT_MAX_CONNECTIONS, 10_000);
  assert.equal(DEFAULT_MAX_BUFFERED_BYTES, 256 * 1024 * 1024);
});

Deno.test("limits: a half-sent header or body is dropped after frameTimeout; others are served", async () => {
  const server = await echoServer({ frameTimeout: 0.2 });
  const [, logged] = await captureWarnings(async () => {
    const good = await openConnection(server.addr);
    const halfHeader = await Deno.connect(server.addr as TcpAddress);
    await writeAll(halfHeader, new Uint8Array([0, 0]));
    const halfBody = await Deno.connect(server.addr as TcpAddress);
    await writeAll(halfBody, frame('[0, 0, "complete"]'));
    assert.deepEqual(await readJsonFrame(halfBody), [1, 0, "complete"]);
    await writeAll(halfBody, frame('[0, 1, "never finished"]').subarray(0, 12));
    await within(untilClosed(halfHeader), 10_000, "dropping the half header");
    await within(untilClosed(halfBody), 10_000, "dropping the half body");
    halfHeader.close();
    halfBody.close();
    assert.equal(await good.send("still here"), "still here");
    await good.close();
  });
  assert.ok(
    logged.some((line) =>
      /did not complete within 0.2 s \(frameTimeout\): 2 of 4 bytes/.test(line)
    ),
    logged.join("\n"),
  );
  assert.ok(logged.some((line) => /12 of 28 bytes/.test(line)), logged.join("\n"));
  await server.close();
});

Deno.test("limits: a frame that keeps arriving slowly but completes in time is served", async () => {
  const server = await echoServer({ frameTimeout: 5 });
  const raw = await Deno.connect(server.addr as TcpAddress);
  const bytes = frame('[0, 0, "slowly"]');
  for (const byte of bytes) {
    await writeAll(raw, new Uint8Array([byte]));
    await sleep(5);
  }
  assert.deepEqual(await readJsonFrame(raw), [1, 0, "slowly"]);
  raw.close();
  await server.close();
});

Deno.test("limits: idleTimeout closes a quiet connection, not one with a call in flight", async () => {
  let release: (() => void) | undefined;
  const server = await startServer(LOCAL, async (channel) => {
    for await (const request of channel) {
      if (request.content === "slow") {
        await new Promise<void>((resolve) => release = resolve);
      }
      await request.reply(request.content);
    }
  });
  const quiet = await openConnection(server.addr, { idleTimeout: 0.1 });
  await within(quiet.closed, 10_000, "closing the idle connection");
  await assert.rejects(quiet.send("late"), ConnectionError);
  const busy = await openConnection(server.addr, { idleTimeout: 0.1 });
  const slow = busy.send("slow");
  await sleep(500); // five idle periods with a call in flight
  assert.equal(busy.isClosed, false);
  release!();
  assert.equal(await slow, "slow");
  await within(busy.closed, 10_000, "closing once idle");
  await server.close();
});

Deno.test("limits: beyond maxConcurrentRequests the server stops reading (backpressure, no errors)", async () => {
  const held: Request[] = [];
  let most = 0;
  const server = await startServer(LOCAL, (channel) => {
    channel.setHandler((request) => {
      held.push(request);
      most = Math.max(most, channel.unansweredCount);
    });
  }, { maxConcurrentRequests: 4 });
  const client = await openConnection(server.addr);
  const replies = Array.from({ length: 20 }, (_, i) => client.send(i));
  await sleep(200);
  assert.equal(held.length, 4, "only four requests were read");
  // Answering lets the rest in, a few at a time.
  let answered = 0;
  while (answered < 20) {
    const batch = held.splice(0);
    for (const request of batch) await request.reply(request.content);
    answered += batch.length;
    if (answered < 20) await within(waitFor(() => held.length > 0), 10_000, "more requests");
  }
  assert.deepEqual(await Promise.all(replies), Array.from({ length: 20 }, (_, i) => i));
  assert.equal(most, 4);
  await client.close();
  await server.close();
});

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(5);
}

Deno.test("limits: over maxConcurrentRequests a side still reads the replies it waits for", async () => {
  // The server's handlers call the client back before they answer: the
  // replies to those calls must get through although the server holds
  // maxConcurrentRequests unanswered requests.
  const server = await startServer(LOCAL, (channel) => {
    channel.setHandler(async (request) => {
      const back = await channel.send(["double", request.content]);
      await request.reply(back);
    });
  }, { maxConcurrentRequests: 2 });
  const client = await openConnection(server.addr);
  client.setHandler((request) => {
    const [, n] = request.content as [string, number];
    void request.reply(2 * n);
  });
  const replies = await within(
    Promise.all(Array.from({ length: 10 }, (_, i) => client.send(i))),
    10_000,
    "the nested calls",
  );
  assert.deepEqual(replies, Array.from({ length: 10 }, (_, i) => 2 * i));
  await client.close();
  await server.close();
});

Deno.test("limits: beyond maxConnections new clients are closed at once, with one warning", async () => {
  const server = await echoServer({ maxConnections: 2 });
  const [, logged] = await captureWarnings(async () => {
    const a = await openConnection(server.addr);
    const b = await openConnection(server.addr);
    assert.equal(await a.send("a"), "a");
    assert.equal(await b.send("b"), "b");
    for (let i = 0; i < 3; i++) {
      const extra = await Deno.connect(server.addr as TcpAddress);
      await within(untilClosed(extra), 10_000, "closing the extra connection");
      extra.close();
    }
    await a.close();
    await within(waitFor(() => server.channels.size < 2), 10_000, "a's close on the server");
    const c = await openConnection(server.addr);
    assert.equal(await c.send("c"), "c");
    await b.close();
    await c.close();
  });
  assert.equal(logged.filter((line) => /maxConnections/.test(line)).length, 1, logged.join("\n"));
  await server.close();
});

Deno.test("limits: a greedy peer over its share of maxBufferedBytes is closed for a good one", async () => {
  const budget = 1024 * 1024;
  const server = await echoServer({ maxBufferedBytes: budget, maxMessageSize: 4 * budget });
  const [, logged] = await captureWarnings(async () => {
    // The greedy peer announces 900 KiB and sends 800 KiB of it.
    const greedy = await Deno.connect(server.addr as TcpAddress);
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, 900 * 1024);
    await writeAll(greedy, header);
    await writeAll(greedy, new Uint8Array(800 * 1024).fill(0x20));
    await sleep(100);
    // A good peer sends a 100 KiB message: within its half of the budget (its
    // buffer and the request's estimated decoded size, four times its size).
    const good = await openConnection(server.addr, { maxMessageSize: 4 * budget });
    const text = "x".repeat(100 * 1024);
    assert.equal(await within(good.send(text), 10_000, "the good reply"), text);
    await within(untilClosed(greedy), 10_000, "closing the greedy peer");
    greedy.close();
    await good.close();
  });
  assert.ok(
    logged.some((line) => /buffer budget .* more than its share/.test(line)),
    logged.join("\n"),
  );
  await server.close();
});

Deno.test("limits: a frame larger than the whole buffer budget closes that connection", async () => {
  const server = await echoServer({ maxBufferedBytes: 256 * 1024, maxMessageSize: 1 << 20 });
  const [, logged] = await captureWarnings(async () => {
    const client = await openConnection(server.addr, { maxMessageSize: 1 << 20 });
    await assert.rejects(client.send("y".repeat(600 * 1024)), ConnectionError);
    const other = await openConnection(server.addr);
    assert.equal(await other.send("small"), "small");
    await other.close();
  });
  assert.ok(
    logged.some((line) => /share of the server's buffer budget/.test(line)),
    logged.join("\n"),
  );
  await server.close();
});

Deno.test("BufferBudget: shares, eviction of the greediest, waiting within a share", () => {
  const budget = new BufferBudget(100);
  const evicted: string[] = [];
  const account = (name: string) => {
    const a = {
      held: 0,
      evict: () => {
        evicted.push(name);
        budget.releaseAll(a);
      },
    };
    return a;
  };
  const a = account("a");
  const b = account("b");
  const c = account("c");
  assert.equal(budget.request(a, 70), "granted");
  assert.equal(budget.request(b, 20), "granted");
  // c needs 30: within its share (100 / 3), so a (70, above its share) is closed.
  assert.equal(budget.request(c, 30), "granted");
  assert.deepEqual(evicted, ["a"]);
  assert.equal(budget.used, 50);
  // Within their shares b and c always get memory, up to the whole budget.
  assert.equal(budget.request(b, 30), "granted");
  assert.equal(budget.request(c, 20), "granted");
  assert.equal(budget.used, 100);
  // More than a share of a full budget is refused.
  assert.equal(budget.request(b, 1), "over");
  let woken = 0;
  budget.onRoom(() => woken++);
  budget.release(c, 10);
  assert.equal(woken, 1);
  assert.equal(budget.request(b, 1), "granted");
  // Idle buffers are given back before anyone is closed.
  const idle = { held: 0, evict: () => evicted.push("idle"), trim: () => budget.releaseAll(idle) };
  budget.release(b, 10);
  assert.equal(budget.request(idle, 10), "granted");
  assert.equal(budget.request(b, 10), "granted");
  assert.deepEqual(evicted, ["a"]);
  assert.equal(idle.held, 0);
  // Output is taken even beyond the limit; the greediest above its share is closed.
  budget.force(c, 45);
  assert.deepEqual(evicted, ["a", "c"]);
  assert.equal(budget.used, 51);
  assert.throws(() => new BufferBudget(0), RangeError);
});

Deno.test("limits: a peer that speaks HTTP is told so", async () => {
  const server = await echoServer();
  const [, logged] = await captureWarnings(async () => {
    for (const request of ["GET / HTTP/1.1\r\nHost: x\r\n\r\n", "POST /rpc HTTP/1.1\r\n\r\n"]) {
      const raw = await Deno.connect(server.addr as TcpAddress);
      await writeAll(raw, new TextEncoder().encode(request));
      await within(untilClosed(raw), 10_000, "closing the HTTP client");
      raw.close();
    }
  });
  assert.equal(
    logged.filter((line) => /speaks HTTP .* this port speaks aiomas framing/.test(line)).length,
    2,
    logged.join("\n"),
  );
  await server.close();
});

Deno.test("limits: invalid limit options are refused", async () => {
  await assert.rejects(startServer(LOCAL, () => {}, { maxConnections: 0 }), RangeError);
  const server = await echoServer();
  await assert.rejects(openConnection(server.addr, { heartbeat: -1 }), RangeError);
  await assert.rejects(openConnection(server.addr, { maxConcurrentRequests: 0 }), RangeError);
  await server.close();
});

Deno.test("read buffers: small while waiting, kept between big frames, released after idle", async () => {
  let serverChannel: Channel | undefined;
  const sizes: number[] = [];
  const server = await startServer(LOCAL, (channel) => {
    serverChannel = channel;
    channel.setHandler((request) => {
      sizes.push(channel.readBufferSize);
      void request.reply((request.content as string).length);
    });
  });
  const client = await openConnection(server.addr);
  assert.equal(await client.send("small"), 5);
  assert.ok(serverChannel!.readBufferSize <= 1024, `${serverChannel!.readBufferSize} bytes`);
  // (Below OWN_FRAME: bigger frames get buffers of their own, tests/channel_big_frames_test.ts.)
  const big = "x".repeat(128 * 1024);
  for (let i = 0; i < 3; i++) assert.equal(await client.send(big), big.length);
  // The buffer grown for the first big frame serves the next ones.
  assert.ok(sizes.slice(1).every((size) => size >= 128 * 1024), `sizes: ${sizes}`);
  assert.ok(serverChannel!.readBufferSize >= 128 * 1024);
  await within(
    waitFor(() => serverChannel!.readBufferSize <= 16 * 1024),
    10_000,
    "releasing the grown buffer",
  );
  assert.equal(await client.send("small again"), 11);
  assert.equal(await client.send("and again"), 9);
  assert.ok(serverChannel!.readBufferSize <= 1024, `${serverChannel!.readBufferSize} bytes`);
  await client.close();
  await server.close();
});

Deno.test("limits: requests held by handlers count against the budget; beyond it, backpressure", async () => {
  const held: Request[] = [];
  const server = await startServer(LOCAL, (channel) => {
    channel.setHandler((request) => {
      if (typeof request.content === "string" && request.content.length > 1000) {
        held.push(request);
      } else void request.reply(request.content);
    });
  }, { maxBufferedBytes: 1024 * 1024, maxMessageSize: 1 << 20 });
  const [, logged] = await captureWarnings(async () => {
    const client = await openConnection(server.addr, { maxMessageSize: 1 << 20 });
    // Each request of 100 KiB counts as 400 KiB while held: two fit in 1 MiB.
    const big = (i: number) => `${i}`.padEnd(100 * 1024, "x");
    const replies = [0, 1, 2, 3].map((i) => client.send(big(i)));
    await sleep(300);
    assert.equal(held.length, 2, "the third request waits until one is answered");
    // Small requests of other connections are served meanwhile.
    const other = await openConnection(server.addr);
    assert.equal(await other.send("small"), "small");
    await other.close();
    let answered = 0;
    while (answered < 4) {
      await within(waitFor(() => held.length > 0), 10_000, "the next held request");
      const request = held.shift()!;
      await request.reply((request.content as string)[0]);
      answered++;
    }
    assert.deepEqual(await Promise.all(replies), ["0", "1", "2", "3"]);
    // One request at a time is admitted even beyond the budget's estimate (here 1.2 MiB).
    const huge = client.send("z".repeat(300 * 1024));
    await within(waitFor(() => held.length > 0), 10_000, "the huge request");
    await held.shift()!.reply("huge");
    assert.equal(await huge, "huge");
    await client.close();
  });
  assert.deepEqual(logged, []);
  await server.close();
});

Deno.test("limits: a client that reaches an HTTP server is told so", async () => {
  const listener = Deno.listen(LOCAL);
  const serving = (async () => {
    const conn = await listener.accept();
    await untilClosedAfter(conn, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  })();
  const [, logged] = await captureWarnings(async () => {
    const client = await openConnection(listener.addr as Deno.NetAddr);
    const error = await client.send("ohai").catch((e) => e);
    assert.ok(error instanceof ConnectionError);
    assert.match(error.message, /The peer speaks HTTP \(it sent "HTTP \.\.\."\)/);
  });
  assert.equal(logged.length, 1);
  await serving;
  listener.close();
});

/** Answer with `text` once the peer sent something, then wait until it closes. */
async function untilClosedAfter(conn: Deno.Conn, text: string): Promise<void> {
  await conn.read(new Uint8Array(1024));
  await writeAll(conn, new TextEncoder().encode(text));
  await untilClosed(conn);
  conn.close();
}
