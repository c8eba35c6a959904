/**
 * Regression tests, in-process, for crashes the hostile-peer suite found
 * (each also covered end to end by tests/hostile_test.ts and
 * tests/hostile_client_test.ts): proxy calls nobody awaits, replies that are
 * thenables, EXCEPTION contents that are not strings.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  openConnection as openChannel,
  ProtocolError,
  RemoteException,
  startServer as startChannelServer,
} from "../mod.ts";
import { CodecError, createCodec, JsonCodec, MsgPackCodec } from "../codecs/mod.ts";
import { createProxy } from "../rpc/proxy.ts";
import { expose, openConnection, startServer } from "../rpc/mod.ts";
import { frame, readJsonFrame, writeAll } from "./helpers.ts";

const noCaller = { call: () => Promise.resolve(null) };

/** A raw server that answers each request with `reply(id)` (a JSON text). */
function rawServer(reply: (id: number) => string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        while (true) {
          const message = await readJsonFrame(conn).catch(() => null) as [number, number] | null;
          if (message === null) return;
          await writeAll(conn, frame(reply(message[1]))).catch(() => {});
        }
      })();
    }
  })().catch(() => {});
  return {
    url: `tcp://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    async close() {
      listener.close();
      for (const conn of conns) conn.close();
      await serving;
    },
  };
}

Deno.test("a remote call nobody awaits cannot end the process when it fails", async () => {
  const server = await startServer("tcp://127.0.0.1:0", {
    fail: expose(() => {
      throw new Error("on purpose");
    }),
    slow: expose(() => new Promise(() => {})),
  });
  const client = await openConnection(server.url);
  // Fire and forget: a RemoteException, then a ConnectionError when we close.
  client.remote.fail();
  client.remote.slow();
  // Awaiting still sees the failure.
  await assert.rejects(client.remote.fail(), RemoteException);
  await client.close();
  await server.close();
  // An unhandled rejection would fail this test at its end.
  await new Promise((resolve) => setTimeout(resolve, 10));
});

Deno.test("a reference under then, toJSON, toString or valueOf is refused by the codecs", () => {
  // Looking at such data (await, JSON.stringify, String(), +) would call the peer.
  for (const codec of [JsonCodec, MsgPackCodec]) {
    for (const key of ["then", "toJSON", "toString", "valueOf", "toLocaleString"]) {
      const peer = createCodec(codec, []);
      const ours = createCodec(codec, []);
      ours.addSerializer(Object, () => "", (path) => createProxy(noCaller, String(path)));
      const bytes = peer.encode(new Map([[key, new Map([["__type__", [0, "x"]]])]]));
      assert.throws(() => ours.decode(bytes), CodecError, `${codec.name} ${key}`);
      // Under any other key a reference is fine.
      const fine = peer.encode(new Map([["peer", new Map([["__type__", [0, "x"]]])]]));
      assert.equal(typeof (ours.decode(fine) as { peer: unknown }).peer, "function");
    }
  }
});

Deno.test("a reply that is a thenable (from a serializer) rejects instead of being called", async () => {
  class Sneaky {}
  const thenable = () =>
    [
      Sneaky,
      () => 0,
      () => ({ then: (resolve: (v: unknown) => void) => resolve("sneaked") }),
    ] as const;
  const server = rawServer((id) => `[1,${id},{"__type__":[0,1]}]`);
  const client = await openConnection(server.url, { extraSerializers: [thenable] });
  try {
    await assert.rejects(client.remote.anything(), ProtocolError);
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("an EXCEPTION whose content is no string is described, never converted", async () => {
  const server = rawServer((id) => `[2,${id},{"toString":1,"valueOf":2}]`);
  const channel = await openChannel(server.url, { codec: JsonCodec });
  try {
    const error = await channel.send("hi").catch((e: unknown) => e);
    assert.ok(error instanceof RemoteException);
    assert.match(error.message, /not a traceback string/);
    assert.ok(!channel.isClosed);
  } finally {
    await channel.close();
    await server.close();
  }
});

Deno.test("an invalid msg_id or msg_type is named by its kind, never converted", async () => {
  const errors: string[] = [];
  const server = await startChannelServer("tcp://127.0.0.1:0", async (channel) => {
    for await (const request of channel) await request.reply(request.content);
  }, { onError: (error) => errors.push(error.message) });
  try {
    for (const text of ['[0, {"toString": 1, "valueOf": 2}, null]', '[{"valueOf": 1}, 0, null]']) {
      const conn = await Deno.connect(server.addr as { hostname: string; port: number });
      await writeAll(conn, frame(text));
      assert.equal(await readJsonFrame(conn).catch(() => null), null); // closed
      conn.close();
    }
    assert.deepEqual(errors, [
      "Invalid msg_id (a map or custom type)",
      "Unknown msg_type (a map or custom type)",
    ]);
  } finally {
    await server.close();
  }
});
