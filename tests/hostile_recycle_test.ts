/**
 * Recycled read buffers (`recycleReadBuffers`) under attack, against fixture
 * servers in a subprocess (a crash fails the test): big frames with reused
 * ids, frames cut off in buffers of their own, peers that leave mid-frame or
 * never read their replies. The server stays up and echoes big data exactly.
 *
 * @module
 */

import assert from "node:assert/strict";
import { openConnection } from "../rpc/mod.ts";
import { MsgPackCodec } from "../codecs/mod.ts";
import { frame } from "./helpers.ts";
import { FixtureServer, RawPeer, sleep } from "./hostile_harness.ts";
import { request } from "./hostile_generators.ts";

const KIB = 1024;

for (const layer of ["channel", "rpc"]) {
  Deno.test(`recycled read buffers (${layer}): hostile big frames cost only their connections`, async () => {
    const server = await FixtureServer.start(layer, "MsgPackCodec", {
      limits: { recycleReadBuffers: true, frameTimeout: 2 },
    });
    const codec = server.codec();
    const big = (id: number, fill: number, size = 300 * KIB) =>
      frame(codec.encode([0, id, request(server, "echo", [new Uint8Array(size).fill(fill)])]));
    try {
      // Reused ids, pipelined: every echo comes back (the server answers each request).
      const reuser = await RawPeer.connect(server);
      for (let i = 0; i < 12; i++) await reuser.write(big(7, i));
      await reuser.waitFrames(12);
      // Frames of one size (buffers of their own), then one cut off mid-way, and gone.
      const leaver = await RawPeer.connect(server);
      for (let i = 0; i < 4; i++) await leaver.write(big(i, i));
      await leaver.write(big(9, 9).subarray(0, 200 * KIB));
      await leaver.close();
      // The same, but the peer stays and stalls: frameTimeout closes it.
      const staller = await RawPeer.connect(server);
      for (let i = 0; i < 4; i++) await staller.write(big(i, i));
      await staller.write(big(9, 9).subarray(0, 100 * KIB));
      assert.ok(await staller.waitClosed(10_000), "a stalled frame is closed after frameTimeout");
      // A peer that sends big requests and never reads a reply.
      const deaf = await Deno.connect(server.hostPort);
      const deafWrites = (async () => {
        try {
          for (let i = 0; i < 200; i++) await deaf.write(big(i, i & 0xff, 1024 * KIB));
        } catch { /* closed by the server */ }
      })();
      await sleep(500);
      await server.assertHealthy("while a peer does not read its replies");
      deaf.close();
      await deafWrites;
      // A good client: big data echoed exactly, over recycled memory.
      const client = await openConnection<{ echo(value: unknown): unknown }>(server.url, {
        codec: MsgPackCodec,
      });
      try {
        for (let i = 0; i < 6; i++) {
          const sent = Uint8Array.from({ length: 512 * KIB }, (_, j) => (j * 31 + i) & 0xff);
          const echoed = layer === "rpc"
            ? await client.remote.echo(sent)
            : await client.channel.send(["echo", sent]);
          assert.deepEqual(echoed, sent);
        }
      } finally {
        await client.close();
      }
      await reuser.close();
      await staller.close();
      await server.assertHealthy("after the attacks");
    } finally {
      await server.stop();
    }
  });
}
