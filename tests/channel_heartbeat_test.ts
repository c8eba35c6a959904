import assert from "node:assert/strict";
import { ConnectionError } from "@aiomas/aiomas";
import {
  HEARTBEAT_PATH,
  openConnection,
  startServer,
  type TcpAddress,
} from "@aiomas/aiomas/channel";
import { openConnection as openRpc, startServer as startRpc } from "@aiomas/aiomas/rpc";
import { captureWarnings, frame, readFrame, readJsonFrame, within, writeAll } from "./helpers.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };
const PING = [HEARTBEAT_PATH, [], {}];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("heartbeat: a peer that reads but never answers is dropped; pending sends reject", async () => {
  const listener = Deno.listen(LOCAL);
  const accepted = listener.accept();
  const [, logged] = await captureWarnings(async () => {
    const channel = await openConnection(listener.addr as Deno.NetAddr, { heartbeat: 0.1 });
    const conn = await accepted;
    // The silent peer reads everything and says nothing.
    const frames: unknown[] = [];
    const reading = (async () => {
      for (let payload; (payload = await readFrame(conn)) !== null;) {
        frames.push(JSON.parse(new TextDecoder().decode(payload)));
      }
    })().catch(() => {});
    const pending = channel.send("anyone there?");
    await within(channel.closed, 10_000, "closing the silent connection");
    await assert.rejects(pending, ConnectionError);
    await assert.rejects(pending, /no answer for 0\.3 s \(heartbeat every 0\.1 s\)/);
    await reading;
    conn.close();
    // The peer saw the request and one ping.
    assert.deepEqual(frames[0], [0, 0, "anyone there?"]);
    assert.deepEqual(frames.slice(1), [[0, 1, PING]]);
  });
  assert.ok(logged.some((line) => /no answer/.test(line)), logged.join("\n"));
  listener.close();
});

Deno.test("heartbeat: traffic flowing sends no pings", async () => {
  const listener = Deno.listen(LOCAL);
  const accepted = listener.accept();
  const channel = await openConnection(listener.addr as Deno.NetAddr, { heartbeat: 0.5 });
  const conn = await accepted;
  const received: unknown[] = [];
  // A raw peer that answers every request at once.
  const serving = (async () => {
    while (true) {
      const message = await readJsonFrame(conn) as [number, number, unknown] | null;
      if (message === null) return;
      received.push(message[2]);
      await writeAll(conn, frame(JSON.stringify([1, message[1], message[2]])));
    }
  })().catch(() => {});
  const until = performance.now() + 1600;
  let calls = 0;
  while (performance.now() < until) {
    assert.equal(await channel.send(calls), calls);
    calls++;
    await sleep(10);
  }
  await channel.close();
  await serving;
  conn.close();
  listener.close();
  assert.equal(received.length, calls);
  assert.ok(received.every((content) => typeof content === "number"), "no ping was sent");
});

Deno.test("heartbeat: two idle channels keep each other alive; pings never reach the handler", async () => {
  const seen: unknown[] = [];
  const server = await startServer(LOCAL, async (channel) => {
    for await (const request of channel) {
      seen.push(request.content);
      await request.reply(request.content);
    }
  }, { heartbeat: 0.05 });
  const channel = await openConnection(server.addr, { heartbeat: 0.05 });
  await sleep(600); // a dozen intervals without traffic
  assert.equal(channel.isClosed, false);
  assert.equal(await channel.send("still here"), "still here");
  assert.deepEqual(seen, ["still here"]);
  await channel.close();
  await server.close();
});

Deno.test("heartbeat: a ping is answered with RESULT null by any channel, heartbeat on or off", async () => {
  const seen: unknown[] = [];
  const server = await startServer(LOCAL, async (channel) => {
    for await (const request of channel) {
      seen.push(request.content);
      await request.reply("handled");
    }
  });
  const raw = await Deno.connect(server.addr as TcpAddress);
  await writeAll(raw, frame(JSON.stringify([0, 0, PING])));
  assert.deepEqual(await readJsonFrame(raw), [1, 0, null]);
  // Other paths still reach the handler.
  await writeAll(raw, frame(JSON.stringify([0, 1, ["aiomas/other", [], {}]])));
  assert.deepEqual(await readJsonFrame(raw), [1, 1, "handled"]);
  assert.deepEqual(seen, [["aiomas/other", [], {}]]);
  raw.close();
  await server.close();
});

Deno.test("heartbeat: an EXCEPTION answer (a Python aiomas RPC peer) counts as life", async () => {
  const listener = Deno.listen(LOCAL);
  const accepted = listener.accept();
  const channel = await openConnection(listener.addr as Deno.NetAddr, { heartbeat: 0.05 });
  const conn = await accepted;
  let pings = 0;
  // Answers pings the way Python aiomas's RPC layer does: an unknown path.
  const answering = (async () => {
    while (true) {
      const message = await readJsonFrame(conn) as [number, number, unknown] | null;
      if (message === null) return;
      assert.deepEqual(message[2], PING);
      pings++;
      const error = "Traceback (most recent call last):\nLookupError: aiomas/heartbeat\n";
      await writeAll(conn, frame(JSON.stringify([2, message[1], error])));
    }
  })().catch(() => {});
  await sleep(600);
  assert.equal(channel.isClosed, false);
  assert.ok(pings >= 2, `pings: ${pings}`);
  await channel.close();
  await answering;
  conn.close();
  listener.close();
});

Deno.test("heartbeat: the RPC layer hands the option down", async () => {
  const listener = Deno.listen(LOCAL);
  const accepted = listener.accept();
  await captureWarnings(async () => {
    const client = await openRpc(listener.addr as Deno.NetAddr, { heartbeat: 0.05 });
    const conn = await accepted;
    await within(client.channel.closed, 10_000, "closing the silent RPC connection");
    conn.close();
  });
  listener.close();
  // And an RPC server answers a ping of a channel peer.
  const server = await startRpc(LOCAL, {});
  const channel = await openConnection(server.addr, { heartbeat: 0.05 });
  await sleep(300);
  assert.equal(channel.isClosed, false);
  await channel.close();
  await server.close();
});

/** The kernel's timer kind of the TCP socket from `local` to `remote` port (2: keep-alive). */
function tcpTimer(localPort: number, remotePort: number): string | undefined {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, "0");
  for (const line of Deno.readTextFileSync("/proc/net/tcp").split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1]?.endsWith(`:${hex(localPort)}`) && fields[2]?.endsWith(`:${hex(remotePort)}`)) {
      return fields[5].split(":")[0];
    }
  }
  return undefined;
}

Deno.test({
  name: "keep-alive: on by default for TCP on both ends, off with keepAlive: false",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const ports: number[] = [];
    const server = await startServer(LOCAL, (channel) => {
      ports.push(Number(channel.peer.split(":").pop()));
    });
    const serverPort = (server.addr as TcpAddress).port;
    for (const keepAlive of [undefined, false]) {
      const channel = await openConnection(server.addr, { keepAlive });
      while (ports.length === 0) await sleep(5);
      const clientPort = ports.pop()!;
      const expected = keepAlive === false ? "00" : "02";
      assert.equal(tcpTimer(clientPort, serverPort), expected, `client, keepAlive ${keepAlive}`);
      assert.equal(tcpTimer(serverPort, clientPort), "02", "the server's end");
      await channel.close();
    }
    await server.close();
  },
});

Deno.test("heartbeat: a side that stops reading (maxConcurrentRequests) still shows it lives", async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const server = await startServer(LOCAL, (channel) => {
    channel.setHandler(async (request) => {
      await released;
      await request.reply(request.content);
    });
  }, { heartbeat: 0.05, maxConcurrentRequests: 1 });
  const client = await openConnection(server.addr, { heartbeat: 0.05 });
  const replies = Promise.all([1, 2, 3].map((i) => client.send(i)));
  await sleep(600); // twelve intervals in which the server reads nothing
  assert.equal(client.isClosed, false);
  release();
  assert.deepEqual(await replies, [1, 2, 3]);
  await client.close();
  await server.close();
});

Deno.test("heartbeat: a long upload to a peer that reads slowly and answers at the end lives", async () => {
  const listener = Deno.listen(LOCAL);
  const accepted = listener.accept();
  const client = await openConnection(listener.addr as Deno.NetAddr, {
    heartbeat: 0.3,
    maxMessageSize: 32 << 20,
    onError: () => {},
  });
  const conn = await accepted;
  // The peer takes 64 KiB every 10 ms for the first 8 MiB (about 1.3 s, four
  // intervals), the rest at once, and says nothing until it has all of it.
  const serving = (async () => {
    const header = new Uint8Array(4);
    let got = 0;
    while (got < 4) got += (await conn.read(header.subarray(got)))!;
    const size = new DataView(header.buffer).getUint32(0);
    const chunk = new Uint8Array(64 * 1024);
    for (let left = size; left > 0;) {
      left -= (await conn.read(chunk.subarray(0, Math.min(chunk.length, left))))!;
      if (size - left < 8 << 20) await sleep(10);
    }
    await writeAll(conn, frame(JSON.stringify([1, 0, size])));
  })();
  const text = "u".repeat(16 << 20);
  assert.ok(await client.send(text) as number > text.length);
  await serving;
  await client.close();
  conn.close();
  listener.close();
});
