import assert from "node:assert/strict";
import {
  type Channel,
  openConnection,
  type Request,
  startServer,
  type TcpAddress,
} from "@aiomas/aiomas/channel";
import { ConnectionError, RemoteException } from "@aiomas/aiomas";
import { captureWarnings, frame, readJsonFrame, untilClosed, writeAll } from "./helpers.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

/** A server that echoes, fails on "fail" and answers `["len", x]` with x's length. */
function echoServer() {
  return startServer(LOCAL, async (channel) => {
    for await (const request of channel) {
      const content = request.content;
      if (content === "fail") await request.fail(new TypeError("boom"));
      else if (Array.isArray(content) && content[0] === "len") {
        await request.reply((content[1] as string).length);
      } else await request.reply(content);
    }
  });
}

Deno.test("the guide's ohai/cya example", async () => {
  const server = await startServer(LOCAL, async (channel) => {
    const request = await channel.recv();
    assert.equal(request.content, "ohai");
    await request.reply("cya");
  });
  const channel = await openConnection(server.addr);
  assert.equal(await channel.send("ohai"), "cya");
  await channel.close();
  await server.close();
});

Deno.test("50 concurrent sends answered in reverse order", async () => {
  const server = await startServer(LOCAL, async (channel) => {
    const requests: Request[] = [];
    for await (const request of channel) {
      requests.push(request);
      if (requests.length === 50) {
        for (const r of requests.reverse()) await r.reply(["re", r.content]);
      }
    }
  });
  const channel = await openConnection(server.addr);
  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => channel.send(i)));
  assert.deepEqual(replies, Array.from({ length: 50 }, (_, i) => ["re", i]));
  await channel.close();
  await server.close();
});

Deno.test("fail() reaches the caller as RemoteException with the message", async () => {
  const server = await echoServer();
  const channel = await openConnection(server.addr);
  const error = await channel.send("fail").catch((e) => e) as RemoteException;
  assert.ok(error instanceof RemoteException);
  assert.match(error.remoteTraceback, /TypeError: boom\n$/);
  assert.equal(error.remoteType, "TypeError");
  assert.equal(error.remoteMessage, "boom");
  assert.equal(error.origin, `tcp://127.0.0.1:${(server.addr as TcpAddress).port}`);
  // The connection keeps working after a failed request.
  assert.equal(await channel.send(["len", "spam"]), 4);
  await channel.close();
  await server.close();
});

Deno.test("both sides send requests on one connection", async () => {
  const server = await startServer(LOCAL, async (channel) => {
    const request = await channel.recv();
    const fromClient = await channel.send("who are you?");
    await request.reply(`server got ${fromClient}`);
  });
  const channel = await openConnection(server.addr);
  const reply = channel.send("hi");
  const question = await channel.recv();
  assert.equal(question.content, "who are you?");
  await question.reply("client");
  assert.equal(await reply, "server got client");
  await channel.close();
  await server.close();
});

Deno.test("peer closes with a send pending: ConnectionError at once", async () => {
  const server = await startServer(LOCAL, async (channel) => {
    await channel.recv();
    await channel.close();
  });
  const channel = await openConnection(server.addr);
  await assert.rejects(channel.send("never answered"), ConnectionError);
  await channel.closed;
  await assert.rejects(channel.send("after close"), ConnectionError);
  await server.close();
});

Deno.test("connect to a dead port: ConnectionError naming the address", async () => {
  const listener = Deno.listen(LOCAL);
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(
    openConnection({ hostname: "127.0.0.1", port }),
    (error: Error) => error instanceof ConnectionError && error.message.includes(`:${port}`),
  );
});

Deno.test("Unix socket channel", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/agents.sock`;
  const server = await startServer({ path }, async (channel) => {
    for await (const request of channel) await request.reply(["unix", request.content]);
  });
  assert.equal(server.url, `ipc://[${path}]`);
  const channel = await openConnection(`unix://${path}`);
  assert.deepEqual(await channel.send(1), ["unix", 1]);
  await channel.close();
  await server.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("an 8 MiB message round-trips", async () => {
  const server = await echoServer();
  const channel = await openConnection(server.addr);
  const big = "x".repeat(8 * 1024 * 1024);
  assert.equal(await channel.send(["len", big]), big.length);
  assert.equal(((await channel.send(big)) as string).length, big.length);
  await channel.close();
  await server.close();
});

Deno.test("a message over maxMessageSize is refused before it is sent", async () => {
  const server = await echoServer();
  const channel = await openConnection(server.addr, { maxMessageSize: 1024 });
  await assert.rejects(channel.send("y".repeat(2000)), /exceeds maxMessageSize/);
  assert.equal(await channel.send("small"), "small");
  await channel.close();
  await server.close();
});

/** Send raw bytes to a live echo server; expect it to close that connection only. */
async function assertBadInputClosesConnection(bytes: Uint8Array, reason: RegExp) {
  const server = await echoServer();
  const [, logged] = await captureWarnings(async () => {
    const good = await openConnection(server.addr);
    const raw = await Deno.connect(server.addr as TcpAddress);
    await writeAll(raw, bytes);
    await untilClosed(raw);
    raw.close();
    // The server keeps serving its other clients, old and new.
    assert.equal(await good.send("still there?"), "still there?");
    const fresh = await openConnection(server.addr);
    assert.equal(await fresh.send(["len", "abc"]), 3);
    await fresh.close();
    await good.close();
  });
  assert.ok(logged.some((line) => reason.test(line)), `logged: ${logged.join("\n")}`);
  await server.close();
}

Deno.test("bad input: a header above maxMessageSize closes only that connection", async () => {
  const header = new Uint8Array([0xff, 0xff, 0xff, 0xf0]); // ~4 GiB claimed, nothing sent
  await assertBadInputClosesConnection(header, /exceeds maxMessageSize/);
});

Deno.test("bad input: an undecodable payload", async () => {
  await assertBadInputClosesConnection(frame('[0, 0, "unterminated'), /Invalid JSON/);
});

Deno.test("bad input: a payload that is not a triple", async () => {
  await assertBadInputClosesConnection(frame('{"spam": 1}'), /triple/);
  await assertBadInputClosesConnection(frame("[0, 0]"), /triple/);
});

Deno.test("bad input: an unknown msg_type", async () => {
  await assertBadInputClosesConnection(frame("[7, 0, null]"), /Unknown msg_type 7/);
});

Deno.test("bad input: a reply to an unknown id", async () => {
  await assertBadInputClosesConnection(frame("[1, 99, null]"), /unknown request id 99/);
});

Deno.test("bad input: invalid UTF-8 and a negative id", async () => {
  await assertBadInputClosesConnection(frame(new Uint8Array([0xff, 0xfe])), /UTF-8/);
  await assertBadInputClosesConnection(frame("[0, -1, null]"), /Invalid msg_id/);
});

Deno.test("a protocol error rejects that connection's pending sends at once", async () => {
  const listener = Deno.listen(LOCAL);
  const accepted = listener.accept();
  const [, logged] = await captureWarnings(async () => {
    const channel = await openConnection(listener.addr as Deno.NetAddr);
    const conn = await accepted;
    const pending = channel.send("question");
    assert.deepEqual(await readJsonFrame(conn), [0, 0, "question"]);
    await writeAll(conn, frame("[5, 0, null]"));
    await assert.rejects(pending, ConnectionError);
    await channel.closed;
    conn.close();
  });
  assert.ok(logged.some((line) => /Unknown msg_type 5/.test(line)));
  listener.close();
});

Deno.test("a Python-formatted request gets a compact reply with the same id", async () => {
  const server = await echoServer();
  const raw = await Deno.connect(server.addr as TcpAddress);
  await writeAll(raw, frame('[0, 0, "ohai"]'));
  assert.deepEqual(await readJsonFrame(raw), [1, 0, "ohai"]);
  await writeAll(raw, frame('[0, 1, "fail"]'));
  const [type, id, text] = await readJsonFrame(raw) as [number, number, string];
  assert.equal(type, 2);
  assert.equal(id, 1);
  assert.match(text, /^Traceback \(most recent call last\):\n[\s\S]*TypeError: boom\n$/);
  raw.close();
  await server.close();
});

Deno.test("backpressure: a peer that does not read does not make us buffer without bound", async () => {
  const listener = Deno.listen(LOCAL);
  const accepted = listener.accept();
  const channel: Channel = await openConnection(listener.addr as Deno.NetAddr);
  const conn = await accepted; // never reads
  const chunk = "z".repeat(1024 * 1024);
  const sends = Array.from({ length: 64 }, () => channel.send(chunk).catch((e) => e));
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.ok(
    channel.bufferedAmount <= 2 * 1024 * 1024 + 64,
    `buffered ${channel.bufferedAmount} bytes`,
  );
  await channel.close();
  for (const result of await Promise.all(sends)) assert.ok(result instanceof ConnectionError);
  conn.close();
  listener.close();
});

Deno.test("an aborted send rejects at once and its late reply is dropped", async () => {
  const server = await startServer(LOCAL, async (channel) => {
    for await (const request of channel) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await request.reply(request.content);
    }
  });
  const channel = await openConnection(server.addr);
  const controller = new AbortController();
  const slow = channel.send("slow", { signal: controller.signal });
  controller.abort(new Error("gave up"));
  await assert.rejects(slow, /gave up/);
  // The late reply must not be treated as a protocol error.
  assert.equal(await channel.send("next"), "next");
  assert.equal(channel.isClosed, false);
  await channel.close();
  await server.close();
});

Deno.test("a reply over maxMessageSize reaches the caller as an EXCEPTION", async () => {
  const server = await startServer(LOCAL, async (channel) => {
    for await (const request of channel) await request.reply("x".repeat(request.content as number));
  }, { maxMessageSize: 1024 });
  const channel = await openConnection(server.addr, { maxMessageSize: 1024 });
  const error = await channel.send(5000).catch((e) => e) as RemoteException;
  assert.ok(error instanceof RemoteException);
  assert.match(error.remoteMessage, /exceeds maxMessageSize/);
  assert.equal(await channel.send(3), "xxx");
  await channel.close();
  await server.close();
});

Deno.test("bad input: a peer that never reads its replies is disconnected", async () => {
  const server = await startServer(LOCAL, (channel) => {
    channel.setHandler((request) => request.reply(request.content));
  }, { maxMessageSize: 128 * 1024 });
  const [, logged] = await captureWarnings(async () => {
    const raw = await Deno.connect(server.addr as TcpAddress);
    const request = frame(`[0, 0, "${"y".repeat(64 * 1024)}"]`);
    // Send ~24 MiB of requests without reading a single reply.
    for (let i = 0; i < 384; i++) {
      try {
        await writeAll(raw, request);
      } catch {
        break; // the server hung up
      }
    }
    await untilClosed(raw);
    raw.close();
    const good = await openConnection(server.addr);
    assert.equal(await good.send("still serving"), "still serving");
    await good.close();
  });
  assert.ok(logged.some((line) => /does not read its replies/.test(line)), logged.join("\n"));
  await server.close();
});

Deno.test("a server's onChannel that throws or rejects closes that client's channel only", async () => {
  const [, logged] = await captureWarnings(async () => {
    let accepted = 0;
    const server = await startServer({ hostname: "127.0.0.1", port: 0 }, (channel) => {
      accepted++;
      if (accepted === 1) throw new Error("sync failure");
      if (accepted === 2) return Promise.reject(new Error("async failure"));
      channel.setHandler((request) => request.reply(request.content));
      return undefined;
    });
    const first = await openConnection(server.addr);
    await first.closed;
    const second = await openConnection(server.addr);
    await second.closed;
    const third = await openConnection(server.addr);
    assert.equal(await third.send("still served"), "still served");
    await third.close();
    await server.close();
  });
  assert.ok(logged.some((line) => line.includes("sync failure")), logged.join("\n"));
  assert.ok(logged.some((line) => line.includes("async failure")), logged.join("\n"));
});
