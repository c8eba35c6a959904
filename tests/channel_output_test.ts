import assert from "node:assert/strict";
import { openConnection, startServer } from "@aiomas/aiomas/channel";
import { JsonCodec, MsgPackCodec } from "@aiomas/aiomas/codecs";
import { ProtocolError, RemoteException } from "@aiomas/aiomas";
import {
  expose,
  openConnection as openRpcConnection,
  startServer as startRpcServer,
} from "@aiomas/aiomas/rpc";
import { FrameOutput, writeChunks } from "../channel/output.ts";
import type { Transport } from "../channel/transport.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

/** The payloads of the frames in `chunks`, concatenated. */
function frames(chunks: readonly Uint8Array[]): Uint8Array[] {
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  const out: Uint8Array[] = [];
  for (let p = 0; p < bytes.length;) {
    const size = new DataView(bytes.buffer, p).getUint32(0);
    out.push(bytes.slice(p + 4, p + 4 + size));
    p += 4 + size;
  }
  return out;
}

Deno.test("frame output: encoded and pushed frames come out in order, over reused buffers", () => {
  const codec = new MsgPackCodec();
  const output = new FrameOutput();
  for (let round = 0; round < 3; round++) {
    const expected: unknown[] = [];
    const big = new Uint8Array(300_000).fill(round);
    for (let i = 0; i < 2000; i++) {
      // Small messages (about 30 KB in all: several batch buffers), a 20 KB one
      // (too big to encode in place), a big piece of its own and a JSON-style push.
      const value = i % 500 === 7
        ? ["big", "x".repeat(20_000)]
        : i % 700 === 9
        ? [round, big]
        : [0, i, ["echo", [i * round], {}]];
      expected.push(value);
      if (output.encodeFrame(codec, value) < 0) output.push(codec.encodeParts(value));
    }
    output.push(new JsonCodec().encode({ round }));
    expected.push({ round });
    assert.ok(!output.isEmpty);
    const chunks = output.take();
    assert.ok(output.isEmpty);
    assert.ok(chunks.some((chunk) => chunk === big), "the big bin is written from its own memory");
    const got = frames(chunks);
    assert.equal(got.length, expected.length);
    for (let i = 0; i < expected.length - 1; i++) {
      assert.deepEqual(codec.decode(got[i]!), expected[i]);
    }
    assert.deepEqual(JSON.parse(new TextDecoder().decode(got.at(-1))), { round });
    output.written();
  }
  // dropLast takes back the frame just encoded.
  output.encodeFrame(codec, "kept");
  output.encodeFrame(codec, "dropped");
  output.dropLast();
  assert.deepEqual(frames(output.take()).map((f) => codec.decode(f)), ["kept"]);
  output.written();
});

Deno.test("frame output: a run of mid-sized frames goes out in a few chunks, each frame in one piece", () => {
  const codec = new MsgPackCodec();
  const output = new FrameOutput();
  const queue = (value: unknown) => {
    if (output.encodeFrame(codec, value) < 0) output.push(codec.encodeParts(value));
  };
  // One mid-sized frame after a quiet batch: a buffer about its size, not the biggest.
  const one = new Uint8Array(64 * 1024).fill(1);
  queue([0, 0, ["upload", [one], {}]]);
  let chunks = output.take();
  assert.equal(chunks.length, 1, "header and bin in one chunk");
  assert.ok(chunks[0]!.buffer.byteLength < 128 * 1024, `${chunks[0]!.buffer.byteLength} bytes`);
  output.written();
  for (let round = 0; round < 3; round++) {
    // 16 frames of 64 KiB bins with small frames between them (1 MiB in all),
    // as 16 uploads in flight queue them: two writes per frame before.
    const values: unknown[] = [];
    for (let i = 0; i < 16; i++) {
      values.push([0, i, ["upload", [new Uint8Array(64 * 1024).fill(i + round)], {}]]);
      if (i % 4 === 0) values.push([1, i, i]);
    }
    for (const value of values) queue(value);
    chunks = output.take();
    assert.ok(chunks.length <= 6, `${chunks.length} chunks`);
    assert.deepEqual(frames(chunks).map((bytes) => codec.decode(bytes)), values);
    output.written();
  }
});

Deno.test("a channel sends small, mid-sized and big messages mixed, pipelined", async () => {
  const server = await startServer(LOCAL, (channel) => {
    channel.setHandler((request) => void request.reply(request.content));
  }, { codec: MsgPackCodec });
  const channel = await openConnection(server.addr, { codec: MsgPackCodec });
  try {
    const sent: unknown[] = [];
    for (let i = 0; i < 1000; i++) {
      sent.push(
        i % 97 === 0
          ? new Uint8Array(300_000).fill(i & 0xff)
          : i % 31 === 0
          ? "y".repeat(30_000)
          : i,
      );
    }
    assert.deepEqual(await Promise.all(sent.map((value) => channel.send(value))), sent);
  } finally {
    await channel.close();
    await server.close();
  }
});

Deno.test("maxMessageSize holds for messages encoded in the output buffer", async () => {
  const server = await startServer(LOCAL, (channel) => {
    channel.setHandler((request) => void request.reply("z".repeat(request.content as number)));
  }, { codec: MsgPackCodec, maxMessageSize: 500 });
  const channel = await openConnection(server.addr, { codec: MsgPackCodec, maxMessageSize: 500 });
  try {
    await assert.rejects(channel.send("q".repeat(600)), ProtocolError);
    await assert.rejects(channel.send(600), (error) => {
      assert.ok(error instanceof RemoteException);
      assert.match(error.message, /exceeds maxMessageSize \(500\)/);
      return true;
    });
    // The connection still works, and the frames before and after are intact.
    assert.deepEqual(await Promise.all([channel.send(3), channel.send(400)]), [
      "zzz",
      "z".repeat(400),
    ]);
  } finally {
    await channel.close();
    await server.close();
  }
});

Deno.test("frame output: many channels writing at once take small first buffers, not 16 KiB each", () => {
  // A server answering a burst of calls on many connections: each output's first
  // buffer of a write is a pooled one while the pool lasts, then a small new one
  // (16 KiB each left that much freed memory in the process per connection).
  const codec = new MsgPackCodec();
  const outputs = Array.from({ length: 100 }, () => new FrameOutput());
  const buffers = outputs.map((output, i) => {
    assert.ok(output.encodeFrame(codec, [1, i, "a reply"]) > 0);
    const chunks = output.take();
    assert.deepEqual(frames(chunks).map((bytes) => codec.decode(bytes)), [[1, i, "a reply"]]);
    return chunks[0]!.buffer.byteLength;
  });
  const full = buffers.filter((size) => size >= 16 * 1024).length;
  assert.ok(full <= 16, `${full} outputs took a 16 KiB buffer`);
  assert.ok(buffers.every((size) => size >= 16 * 1024 || size <= 1024), `sizes: ${buffers}`);
  for (const output of outputs) output.written();
  // A message too big for the small buffer goes whole into a full-size one.
  const more = Array.from({ length: 40 }, () => new FrameOutput());
  for (const output of more) {
    const text = "y".repeat(2000);
    assert.ok(output.encodeFrame(codec, [1, 0, text]) > 0);
    const chunks = output.take();
    assert.equal(chunks.length, 1);
    assert.deepEqual(codec.decode(frames(chunks)[0]!), [1, 0, text]);
  }
});

Deno.test("small RPC calls are encoded straight into the output, with either codec", async () => {
  for (const Codec of [MsgPackCodec, JsonCodec]) {
    // Count encode() calls of every codec made from now on.
    const encode = Codec.prototype.encode;
    let encoded = 0;
    Codec.prototype.encode = function (this: InstanceType<typeof Codec>, value: unknown) {
      encoded++;
      return encode.call(this, value);
    };
    const server = await startRpcServer(LOCAL, { echo: expose((x: unknown) => x) }, {
      codec: Codec,
    });
    const client = await openRpcConnection(server.addr, { codec: Codec });
    try {
      encoded = 0;
      const replies = await Promise.all(
        Array.from({ length: 100 }, (_, i) => client.remote.echo(i)),
      );
      assert.deepEqual(replies, Array.from({ length: 100 }, (_, i) => i));
      assert.equal(encoded, 0, `${Codec.name}: messages went through encode()`);
    } finally {
      Codec.prototype.encode = encode;
      await client.close();
      await server.close();
    }
  }
});

Deno.test("frame output: a piece detached before it is written fails the write instead of shortening the frame", async () => {
  const output = new FrameOutput();
  const piece = new Uint8Array(300_000).fill(1);
  output.push([piece]);
  // Transferred elsewhere (as a handler may do) while it waits to be written.
  structuredClone(piece.buffer, { transfer: [piece.buffer] });
  const written: number[] = [];
  const transport = {
    write: (chunk: Uint8Array) => {
      written.push(chunk.length);
      return Promise.resolve(chunk.length);
    },
  } as unknown as Transport;
  await assert.rejects(writeChunks(transport, output.take()), /detached or resized/);
  assert.deepEqual(written, [4], "only the frame header went out");
});
