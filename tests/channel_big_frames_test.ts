/**
 * Big frames: requests with big `Uint8Array`s are written from the caller's
 * memory, a frame as big as one the peer sent in full is read into a buffer
 * of its own, and big bins decoded from it are views that no later read
 * overwrites.
 */
import assert from "node:assert/strict";
import {
  BufferBudget,
  type Channel,
  openConnection,
  startServer,
  type TcpAddress,
} from "@aiomas/aiomas/channel";
import { JsonCodec, MsgPackCodec } from "@aiomas/aiomas/codecs";
import { firstOther, frame, readJsonFrame, untilClosed, within, writeAll } from "./helpers.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };
const KIB = 1024;
const MIB = 1024 * 1024;

/** A server whose handler keeps every request's content and answers its byte length. */
async function keepingServer(options = {}) {
  const kept: unknown[] = [];
  const channels: Channel[] = [];
  const server = await startServer(LOCAL, (channel) => {
    channels.push(channel);
    channel.setHandler((request) => {
      kept.push(request.content);
      const content = request.content;
      void request.reply(content instanceof Uint8Array ? content.length : -1);
    });
  }, { codec: MsgPackCodec, ...options });
  return { server, kept, channels };
}

Deno.test("big frames: bins kept from frames of their own stay intact while the next frames arrive", async () => {
  const { server, kept } = await keepingServer();
  const client = await openConnection(server.addr, { codec: MsgPackCodec });
  // A first big frame (read by growing a buffer), then all in flight at once:
  // as big, smaller, bigger (grows again), small ones between, and frames
  // that a grown buffer takes one after another.
  // (Frames of OWN_FRAME, 4 MiB, and more get buffers of their own; smaller
  // ones, 1 MiB and 300 KiB here, are read into the grown buffer.)
  const sizes = [
    4 * MIB,
    4 * MIB,
    4 * MIB,
    300 * KIB,
    MIB,
    6 * MIB,
    10,
    4 * MIB,
    6 * MIB,
    64 * KIB,
    4 * MIB,
    100 * KIB,
    200 * KIB,
    100 * KIB,
    150 * KIB,
  ];
  assert.equal(await client.send(new Uint8Array(4 * MIB).fill(0xff)), 4 * MIB);
  const replies = sizes.map((size, i) => client.send(new Uint8Array(size).fill(i + 1)));
  assert.deepEqual(await Promise.all(replies), sizes);
  const bins = kept.slice(1) as Uint8Array[];
  assert.equal(bins.length, sizes.length);
  for (let i = 0; i < sizes.length; i++) {
    assert.equal(bins[i]!.length, sizes[i]);
    assert.equal(firstOther(bins[i]!, i + 1), -1, `bin #${i} was overwritten`);
  }
  // The own-buffer path was taken: some big bins are views into their frame.
  assert.ok(
    bins.some((bin) => bin.length >= 4 * MIB && bin.buffer.byteLength > bin.length),
    "no bin was decoded as a view",
  );
  // Frames under 4 MiB (read into the grown buffer) give copies of their own.
  for (const bin of bins.filter((bin) => bin.length < 4 * MIB)) {
    assert.equal(bin.buffer.byteLength, bin.length, `a bin of ${bin.length} bytes is a view`);
  }
  await client.close();
  await server.close();
});

Deno.test("big frames: a buffer of its own is not kept once its frame is decoded, nor charged to the budget", async () => {
  const budget = new BufferBudget(64 * MIB);
  const { server, channels } = await keepingServer({ bufferBudget: budget });
  const client = await openConnection(server.addr, { codec: MsgPackCodec });
  for (let i = 0; i < 4; i++) {
    assert.equal(await client.send(new Uint8Array(4 * MIB).fill(i)), 4 * MIB);
  }
  const channel = channels[0]!;
  // Waiting for the next frame: only the small buffer (the grown one went with the first own frame).
  assert.ok(channel.readBufferSize <= 16 * KIB, `${channel.readBufferSize} bytes`);
  assert.equal(budget.used, 0);
  await client.close();
  await server.close();
});

Deno.test("big frames: a codec that decodes no views (JSON) reads big frames into the reused grown buffer", async () => {
  const channels: Channel[] = [];
  const server = await startServer(LOCAL, (channel) => {
    channels.push(channel);
    channel.setHandler((request) => void request.reply((request.content as string).length));
  }, { codec: JsonCodec });
  const client = await openConnection(server.addr, { codec: JsonCodec });
  for (let i = 0; i < 4; i++) assert.equal(await client.send("x".repeat(4 * MIB)), 4 * MIB);
  // Kept for the next big frame (a frame of its own would have gone with its message).
  assert.ok(channels[0]!.readBufferSize >= 4 * MIB, `${channels[0]!.readBufferSize} bytes`);
  await client.close();
  await server.close();
});

Deno.test("big frames: a peer that claims a size it sent before and then stalls is closed after frameTimeout", async () => {
  const server = await startServer(LOCAL, (channel) => {
    channel.setHandler((request) => void request.reply((request.content as string).length));
  }, { codec: JsonCodec, frameTimeout: 0.3, onError: () => {} });
  const raw = await Deno.connect(server.addr as TcpAddress);
  const text = "x".repeat(4 * MIB);
  await writeAll(raw, frame(`[0, 0, "${text}"]`));
  assert.deepEqual(await readJsonFrame(raw), [1, 0, text.length]);
  // The same size again, but only half of it.
  const again = frame(`[0, 1, "${text}"]`);
  await writeAll(raw, again.subarray(0, again.length >> 1));
  await within(untilClosed(raw), 10_000, "closing the stalled connection");
  raw.close();
  await server.close();
});

Deno.test("big frames: a big Uint8Array request goes out from the caller's memory, complete", async () => {
  const { server, kept } = await keepingServer();
  const client = await openConnection(server.addr, { codec: MsgPackCodec });
  // Pieces over the direct-write size, under it, and a message with several big bins.
  const data = [MIB + 3, 100 * KIB, 64 * KIB].map((size, i) =>
    Uint8Array.from({ length: size }, (_, j) => (j * 7 + i) & 0xff)
  );
  for (const bin of data) assert.equal(await client.send(bin), bin.length);
  assert.equal(await client.send({ a: data[0], skipped: undefined, b: [data[1], data[2]] }), -1);
  assert.deepEqual(kept[0], data[0]);
  assert.deepEqual(kept[1], data[1]);
  assert.deepEqual(kept[2], data[2]);
  assert.deepEqual(kept[3], { a: data[0], b: [data[1], data[2]] });
  await client.close();
  await server.close();
});

Deno.test("big frames: a buffer of its own takes over the grown buffer's charge (a budget for one big frame serves them)", async () => {
  const budget = new BufferBudget(6 * MIB);
  const server = await startServer(LOCAL, (channel) => {
    channel.setHandler((request) => void request.reply((request.content as string).length));
  }, { codec: JsonCodec, bufferBudget: budget, onError: () => {} });
  const raw = await Deno.connect(server.addr as TcpAddress);
  const big = "x".repeat(4 * MIB);
  await writeAll(raw, frame(`[0, 0, "${big}"]`));
  assert.deepEqual(await readJsonFrame(raw), [1, 0, big.length]);
  // Frames the grown buffer takes, then one of the trusted size whose header
  // arrives in the grown buffer, all in one write.
  const small = "y".repeat(100 * KIB);
  const frames = [1, 2, 3, 4, 5].map((id) => frame(`[0, ${id}, "${small}"]`));
  frames.push(frame(`[0, 6, "${big}"]`));
  const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  frames.reduce((at, f) => (all.set(f, at), at + f.length), 0);
  await writeAll(raw, all);
  for (let id = 1; id <= 6; id++) {
    assert.deepEqual(await readJsonFrame(raw), [1, id, id < 6 ? small.length : big.length]);
  }
  raw.close();
  await server.close();
  assert.equal(budget.used, 0);
});
