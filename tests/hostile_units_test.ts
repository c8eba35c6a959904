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
import { JsonCodec } from "../codecs/mod.ts";
import { expose, openConnection, startServer } from "../rpc/mod.ts";
import { frame, readJsonFrame, writeAll } from "./helpers.ts";

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

Deno.test("a reply whose then is a peer's proxy rejects instead of calling it", async () => {
  // {"then": <reference to "x">}: resolving a promise with it would call the proxy.
  const server = rawServer((id) => `[1,${id},{"then":{"__type__":[0,"x"]}}]`);
  const client = await openConnection(server.url);
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
