/**
 * The hostile-peer suite against a container's live view (`inspect`): hostile
 * RPC traffic fills its statistics while hostile HTTP clients hit the view's
 * port with junk, half requests, many event streams dropped at once and
 * wrong tokens. The process must survive, the view must still give a valid
 * snapshot, and a good client must still be served.
 *
 * @module
 */

import assert from "node:assert/strict";
import { FixtureServer, pool, sleep } from "./hostile_harness.ts";
import { pathsBatch, structuresBatch, tagsBatch } from "./hostile_attacks.ts";
import { Rng } from "./hostile_generators.ts";

/** Send `text` on a fresh TCP connection to the view; read a little, then hang up. */
async function raw(port: number, text: string | Uint8Array, read = true): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port }).catch(() => undefined);
  if (conn === undefined) return;
  try {
    await conn.write(typeof text === "string" ? new TextEncoder().encode(text) : text);
    if (read) {
      await Promise.race([conn.read(new Uint8Array(4096)).catch(() => null), sleep(500)]);
    }
  } catch {
    // Reset by the server: fine.
  } finally {
    conn.close();
  }
}

Deno.test("hostile peers vs a container's live view", async () => {
  const server = await FixtureServer.start("container", "JsonCodec", {
    limits: { inspect: "tcp://127.0.0.1:0" },
  });
  try {
    const view = new URL(server.inspectUrl!);
    const port = Number(view.port);
    const rng = new Rng(15);
    // Hostile RPC traffic first, so the statistics and the trace hold it.
    await tagsBatch(server, rng, 100);
    await pathsBatch(server);
    await structuresBatch(server, rng, 50);
    await server.assertHealthy("after hostile RPC traffic");

    const requests = [
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /stats?token=%00%ff HTTP/1.1\r\nHost: evil.example\r\n\r\n",
      "POST /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\nabc",
      `GET /${"a".repeat(100_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
      `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${"b".repeat(200_000)}\r\n\r\n`,
      "GET / HTTP/1.1\r\n",
      "\u0000\u0001\u0002 garbage\r\n\r\n",
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
      "GET /events HTTP/1.1\r\nHost: [::1\r\n\r\n",
    ];
    await pool(requests, 6, (text) => raw(port, text));
    // Many event streams opened and dropped at once.
    await Promise.all(
      Array.from(
        { length: 50 },
        () => raw(port, "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", false),
      ),
    );
    const streams = await Promise.all(Array.from({ length: 20 }, async () => {
      const response = await fetch(new URL("/events", view));
      const reader = response.body!.getReader();
      await reader.read();
      return reader;
    }));
    await Promise.all(streams.map((reader) => reader.cancel()));
    await sleep(1500); // a snapshot tick with the streams gone
    server.assertAlive("after hostile HTTP clients");

    // The view still answers with a valid snapshot, and the RPC side serves.
    const response = await fetch(new URL("/stats", view));
    assert.equal(response.status, 200);
    const snapshot = await response.json() as { containers: unknown[] };
    assert.ok(snapshot.containers.length >= 1);
    assert.ok(JSON.stringify(snapshot).length < 2_000_000, "the snapshot stays small");
    await server.assertHealthy("after hostile HTTP clients");
  } finally {
    await server.stop();
  }
});
