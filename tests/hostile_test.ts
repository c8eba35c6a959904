/**
 * The hostile-peer suite (issue 15): fixture servers of every layer x codec
 * run in a subprocess with Deno's default behaviour, so an uncaught exception
 * or unhandled rejection ends them. After every batch of attacks the process
 * must be alive and a good client must get correct answers.
 *
 * Seeds are fixed here; `deno task fuzz` runs the same batches with fresh
 * seeds (see tests/hostile_fuzz.ts). Set HOSTILE_SEED to replay one.
 *
 * @module
 */

import assert from "node:assert/strict";
import { CODECS, LAYERS } from "./fixtures_hostile/service.ts";
import { FixtureServer, RawPeer, sleep } from "./hostile_harness.ts";
import {
  connectionFloodBatch,
  garbageBatch,
  halfSentBatch,
  mutantsBatch,
  pathsBatch,
  repliesBatch,
  requestFloodBatch,
  sendEach,
  structuresBatch,
  tagsBatch,
  TEST_SCALE,
} from "./hostile_attacks.ts";
import { hostileValues, ISSUE_15_1, Rng } from "./hostile_generators.ts";

const SEED = Number(Deno.env.get("HOSTILE_SEED") ?? 15);

for (const layer of LAYERS) {
  for (const codec of CODECS) {
    Deno.test(`hostile peers vs a ${layer} server with ${codec}`, async (t) => {
      const server = await FixtureServer.start(layer, codec);
      const rng = new Rng(SEED + LAYERS.indexOf(layer) * 7 + CODECS.indexOf(codec));
      try {
        await server.assertHealthy("at start");
        const batch = async (name: string, run: () => Promise<unknown>) => {
          const passed = await t.step(name, async () => {
            await run();
            await server.assertHealthy(`after ${name} (seed ${rng.seed})`);
          });
          if (!passed) throw new Error(`stopped after the failed batch "${name}"`);
        };
        await batch("issue 15 item 1: a reference inside a date tag", async () => {
          const id = server.types.ref === undefined ? 0 : server.types.date ?? server.types.point;
          await sendEach(server, [
            ISSUE_15_1,
            [0, 1, ["agents/1/add", [{
              __type__: [id, { __type__: [server.types.ref ?? 0, "x"] }],
            }], {}]],
          ]);
        });
        await batch("nested and mixed __type__ tags", () => tagsBatch(server, rng, 250));
        await batch("hostile paths", () => pathsBatch(server));
        await batch("replies to ids never issued", () => repliesBatch(server));
        await batch("not frames: HTTP, TLS, deep, lying lengths", () => garbageBatch(server));
        await batch(
          "seeded mutations of valid frames",
          () => mutantsBatch(server, rng, TEST_SCALE.mutants),
        );
        await batch(
          "random hostile structures",
          () => structuresBatch(server, rng, TEST_SCALE.structures),
        );
        await batch(
          "half-sent frames, then hang",
          () => halfSentBatch(server, () => server.assertHealthy("while frames hang half-sent")),
        );
        await batch("a flood of connections", () =>
          connectionFloodBatch(
            server,
            TEST_SCALE.connections,
            () => server.assertHealthy("while many connections are open"),
          ));
        await batch("a flood of pipelined requests", async () => {
          const replies = await requestFloodBatch(server, TEST_SCALE.requests);
          assert.equal(replies, TEST_SCALE.requests, "every pipelined request gets its reply");
        });
        assert.doesNotMatch(server.stderr, /Uncaught|unhandled|HOSTILE-CRASH/i);
      } finally {
        await server.stop();
      }
    });
  }
}

for (const layer of ["rpc", "container"]) {
  Deno.test({
    name: `hostile data never turns into a call back to the attacker (${layer} servers)`,
    async fn() {
      for (const codec of CODECS) {
        const server = await FixtureServer.start(layer, codec);
        try {
          const probed = await tagsBatch(server, new Rng(SEED));
          assert.deepEqual(probed, [], `${layer}/${codec} called the attacker back`);
          await server.assertHealthy("after the tags");
        } finally {
          await server.stop();
        }
      }
    },
  });
}

Deno.test("hostile answers to a server's heartbeat pings", async () => {
  for (const codec of CODECS) {
    const server = await FixtureServer.start("container", codec, { limits: { heartbeat: 0.1 } });
    try {
      const values = hostileValues(server);
      let next = 0;
      let pings = 0;
      const peers = await Promise.all(Array.from({ length: 20 }, () => RawPeer.connect(server)));
      for (const peer of peers) {
        peer.onRequest = (id) => {
          pings++;
          const value = values[next++ % values.length];
          void peer.send([next % 3 === 0 ? 2 : 1, id, value]);
          if (next % 5 === 0) void peer.send([1, id, value]); // twice
        };
      }
      await sleep(1000);
      assert.ok(pings > 0, "the server pinged");
      await server.assertHealthy("while peers answer pings with hostile values");
      await Promise.all(peers.map((peer) => peer.close()));
      await server.assertHealthy("after the peers left");
    } finally {
      await server.stop();
    }
  }
});
