/**
 * Recycled read buffers (`recycleReadBuffers`): a big request's bins are
 * views into memory that is taken back once the request is answered. Views
 * kept past the answer read as empty, never as another request's bytes;
 * views are intact until then, however many requests arrive meanwhile.
 */
import assert from "node:assert/strict";
import {
  BufferBudget,
  type Channel,
  openConnection as openChannel,
  type Request,
  startServer,
  type TcpAddress,
} from "@aiomas/aiomas/channel";
import { MsgPackCodec } from "@aiomas/aiomas/codecs";
import { expose, openConnection, startServer as startRpcServer } from "@aiomas/aiomas/rpc";
import { allAre, frame, readFrame, writeAll } from "./helpers.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };
const KIB = 1024;
const MIB = 1024 * 1024;

/** The remote service of the RPC tests. */
type Uploads = { upload(bytes: Uint8Array): number };

/** A recycling MsgPack server that hands requests to `onRequest`. */
async function recyclingServer(
  onRequest: (request: Request) => void,
  options: { bufferBudget?: BufferBudget } = {},
) {
  const channels: Channel[] = [];
  const server = await startServer(LOCAL, (channel) => {
    channels.push(channel);
    channel.setHandler(onRequest);
  }, { codec: MsgPackCodec, recycleReadBuffers: true, ...options });
  return { server, channels };
}

Deno.test("recycled read buffers: a view kept past its answer is empty; every request arrives intact", async () => {
  const kept: Uint8Array[] = [];
  const intact: boolean[] = [];
  const { server, channels } = await recyclingServer((request) => {
    const bytes = request.content as Uint8Array;
    kept.push(bytes);
    intact.push(allAre(bytes, kept.length));
    void request.reply(bytes.length);
  });
  const client = await openChannel(server.addr, { codec: MsgPackCodec });
  for (let i = 1; i <= 8; i++) {
    assert.equal(await client.send(new Uint8Array(MIB).fill(i)), MIB);
  }
  assert.deepEqual(intact, new Array(8).fill(true));
  // The first frame of its size was read into the grown buffer and copied
  // out; the later ones had buffers of their own, taken back when answered.
  assert.equal(kept[0]!.length, MIB);
  assert.ok(allAre(kept[0]!, 1));
  for (const bytes of kept.slice(1)) assert.equal(bytes.length, 0);
  // A spare is kept for the next big request, and dropped after a second without one.
  assert.ok(channels[0]!.readBufferSize >= MIB, `${channels[0]!.readBufferSize} bytes`);
  await new Promise((resolve) => setTimeout(resolve, 1300));
  assert.ok(channels[0]!.readBufferSize <= 16 * KIB, `${channels[0]!.readBufferSize} bytes`);
  await client.close();
  await server.close();
});

Deno.test("recycled read buffers: views stay intact until answered while later requests reuse memory", async () => {
  const held: Array<() => void> = [];
  const checked: boolean[] = [];
  const { server } = await recyclingServer((request) => {
    const bytes = request.content as Uint8Array;
    const fill = bytes[0]!;
    const answer = () => {
      checked.push(bytes.length === 512 * KIB && allAre(bytes, fill));
      void request.reply(fill);
    };
    // Odd ones are answered at once (their memory is read into again), even
    // ones once all are in: their views must outlive the reads meanwhile.
    if (fill % 2 === 1) answer();
    else held.push(answer);
    if (fill === 12) { for (const later of held.splice(0)) later(); }
  });
  const client = await openChannel(server.addr, { codec: MsgPackCodec });
  const replies = [];
  for (let i = 1; i <= 12; i++) replies.push(client.send(new Uint8Array(512 * KIB).fill(i)));
  assert.deepEqual(await Promise.all(replies), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.deepEqual(checked, new Array(12).fill(true));
  await client.close();
  await server.close();
});

Deno.test("recycled read buffers: answering one of two requests with the same id leaves the other's view alone", async () => {
  const held: Request[] = [];
  const { server } = await recyclingServer((request) => {
    if ((request.content as Uint8Array)[0] === 1) void request.reply(1);
    else held.push(request);
  });
  const codec = new MsgPackCodec();
  const raw = await Deno.connect(server.addr as TcpAddress);
  const request = (id: number, fill: number) =>
    frame(codec.encode([0, id, new Uint8Array(512 * KIB).fill(fill)]));
  // A first frame of the size (so later ones get buffers of their own).
  await writeAll(raw, request(1, 1));
  assert.ok(await readFrame(raw));
  // A hostile peer reuses an id while the first request with it is unanswered.
  await writeAll(raw, request(7, 2));
  await writeAll(raw, request(7, 3));
  while (held.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
  await held[0]!.reply(2);
  const second = held[1]!.content as Uint8Array;
  assert.equal(second.length, 512 * KIB);
  assert.ok(allAre(second, 3));
  await held[1]!.reply(3);
  assert.equal(second.length, 0);
  raw.close();
  await server.close();
});

Deno.test("recycled read buffers: bytes forwarded without waiting go out intact after the answer", async () => {
  // B keeps what it gets; A forwards each request's bytes to B and answers at once.
  const atB: Uint8Array[] = [];
  const b = await startServer(LOCAL, (channel) => {
    channel.setHandler((request) => {
      atB.push(request.content as Uint8Array);
      void request.reply(null);
    });
  }, { codec: MsgPackCodec });
  const toB = await openChannel(b.addr, { codec: MsgPackCodec });
  const forwarded: Promise<unknown>[] = [];
  const { server: a } = await recyclingServer((request) => {
    forwarded.push(toB.send(request.content));
    void request.reply(null);
  });
  const client = await openChannel(a.addr, { codec: MsgPackCodec });
  for (let i = 1; i <= 6; i++) await client.send(new Uint8Array(MIB).fill(i));
  await Promise.all(forwarded);
  assert.deepEqual(atB.map((bytes, i) => bytes.length === MIB && allAre(bytes, i + 1)), [
    true,
    true,
    true,
    true,
    true,
    true,
  ]);
  await client.close();
  await toB.close();
  await a.close();
  await b.close();
});

Deno.test("recycled read buffers: a handler may transfer the bytes away; the budget is square after close", async () => {
  const budget = new BufferBudget(64 * MIB);
  const moved: ArrayBuffer[] = [];
  const { server } = await recyclingServer((request) => {
    const bytes = request.content as Uint8Array;
    // Moved out of the view's memory: nothing to take back for this one.
    const memory = bytes.buffer as ArrayBuffer;
    const copy = structuredClone(memory, { transfer: [memory] });
    moved.push(copy);
    void request.reply(copy.byteLength);
  }, { bufferBudget: budget });
  const client = await openChannel(server.addr, { codec: MsgPackCodec });
  for (let i = 0; i < 4; i++) {
    assert.ok((await client.send(new Uint8Array(MIB).fill(i)) as number) >= MIB);
  }
  // The moved memory is the handler's: intact.
  assert.ok(allAre(new Uint8Array(moved[3]!).subarray(moved[3]!.byteLength - MIB), 3));
  await client.close();
  await server.close();
  assert.equal(budget.used, 0);
});

Deno.test("recycled read buffers: an RPC argument is valid while the exposed function runs, empty after", async () => {
  const kept: Uint8Array[] = [];
  const server = await startRpcServer(LOCAL, {
    upload: expose(async (bytes: Uint8Array) => {
      kept.push(bytes);
      await new Promise((resolve) => setTimeout(resolve, 5));
      return allAre(bytes, bytes[0]!) ? bytes.length : -1;
    }),
  }, { codec: MsgPackCodec, recycleReadBuffers: true });
  const client = await openConnection<Uploads>(server.addr, { codec: MsgPackCodec });
  const remote = client.remote;
  for (let i = 1; i <= 4; i++) {
    assert.equal(await remote.upload(new Uint8Array(2 * MIB).fill(i)), 2 * MIB);
  }
  assert.equal(kept[0]!.length, 2 * MIB);
  for (const bytes of kept.slice(1)) assert.equal(bytes.length, 0);
  await client.close();
  await server.close();
});

Deno.test("recycled read buffers: off by default, kept views stay intact", async () => {
  const kept: Uint8Array[] = [];
  const server = await startRpcServer(LOCAL, {
    upload: expose((bytes: Uint8Array) => {
      kept.push(bytes);
      return bytes.length;
    }),
  }, { codec: MsgPackCodec });
  const client = await openConnection<Uploads>(server.addr, { codec: MsgPackCodec });
  const remote = client.remote;
  for (let i = 1; i <= 4; i++) {
    assert.equal(await remote.upload(new Uint8Array(4 * MIB).fill(i)), 4 * MIB);
  }
  kept.forEach((bytes, i) => assert.ok(bytes.length === 4 * MIB && allAre(bytes, i + 1)));
  await client.close();
  await server.close();
});
