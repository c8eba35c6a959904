import assert from "node:assert/strict";
import { DIRECT_WRITE_SIZE, type Payload } from "../channel/frames.ts";
import { FrameOutput, writeChunks } from "../channel/output.ts";
import type { Transport } from "../channel/transport.ts";

/** Queue `payloads` on a channel's output and write them as the channel does. */
async function writeFrames(
  transport: Transport,
  payloads: readonly Payload[],
  progress?: () => void,
): Promise<void> {
  const output = new FrameOutput();
  for (const payload of payloads) output.push(payload);
  await writeChunks(transport, output.take(), progress);
  output.written();
}

/** A transport that records its writes, taking at most `chunk` bytes per write. */
function recorder(chunk = Infinity) {
  const writes: Uint8Array[] = [];
  const transport = {
    write: (data: Uint8Array) => {
      const n = Math.min(chunk, data.length);
      writes.push(data.subarray(0, n));
      return Promise.resolve(n);
    },
  } as unknown as Transport;
  return { transport, writes };
}

function bytes(size: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i + seed) & 0xff);
}

/** What the frames of `payloads` are on the wire. */
function framed(payloads: readonly Payload[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const payload of payloads) {
    const pieces = Array.isArray(payload) ? payload : [payload as Uint8Array];
    const size = pieces.reduce((n, p) => n + p.length, 0);
    parts.push(
      new Uint8Array([size >>> 24, (size >>> 16) & 0xff, (size >>> 8) & 0xff, size & 0xff]),
    );
    parts.push(...pieces);
  }
  return concat(parts);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

Deno.test("frames: payloads and payload pieces are framed in order; big ones are written from their own memory", async () => {
  const big = DIRECT_WRITE_SIZE + 1;
  const b1 = bytes(big, 1);
  const b2 = bytes(big + 5, 2);
  const b3 = bytes(big + 9, 3);
  const cases: Payload[][] = [
    [bytes(10, 0), bytes(20, 1)],
    [bytes(10, 0), b1, bytes(3, 2)],
    [[bytes(7, 0), b1, bytes(1, 1)], bytes(5, 2)],
    [[b1, b2], [bytes(2, 0)], [bytes(4, 1), b3]],
    [bytes(1, 0), [bytes(3, 1), b1, bytes(2, 2), b2, bytes(6, 3)], b3, [], [bytes(0, 0)]],
    [[bytes(DIRECT_WRITE_SIZE, 4), bytes(9, 5)]],
  ];
  for (const payloads of cases) {
    for (const chunk of [Infinity, 100_000]) {
      const { transport, writes } = recorder(chunk);
      let progress = 0;
      await writeFrames(transport, payloads, () => progress++);
      assert.deepEqual(concat(writes), framed(payloads));
      // Every big piece went out as itself (its first write is a view of it), and counted.
      const bigs = payloads.flat().filter((p) => p.length > DIRECT_WRITE_SIZE);
      for (const piece of bigs) {
        assert.ok(writes.some((w) => w.buffer === piece.buffer), "a big piece was copied");
      }
      assert.ok(progress >= bigs.length);
    }
  }
});

Deno.test("frames: a piece detached while it is written ends the write with an error", async () => {
  const piece = new Uint8Array(new ArrayBuffer(DIRECT_WRITE_SIZE + 100));
  let calls = 0;
  const transport = {
    write: (data: Uint8Array) => {
      calls++;
      // The second write (the big piece's first part): the caller transfers it meanwhile.
      if (calls === 2) piece.buffer.transfer();
      return Promise.resolve(Math.min(data.length, 1000));
    },
  } as unknown as Transport;
  await assert.rejects(writeFrames(transport, [[new Uint8Array(3), piece]]), /detached or resized/);
});
