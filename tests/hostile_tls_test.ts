/**
 * The hostile-peer suite against a TLS container in a subprocess: plain bytes
 * and broken handshakes on its port, peers without or with a foreign
 * certificate, and an authenticated peer that sends hostile frames. After each
 * batch the process must be alive and a good (authenticated) client served.
 *
 * @module
 */

import { FixtureServer, pool, RawPeer } from "./hostile_harness.ts";
import { halfSentBatch, mutantsBatch, tagsBatch } from "./hostile_attacks.ts";
import { garbage, Rng } from "./hostile_generators.ts";
import { createPki, hasOpenssl } from "./pki.ts";

Deno.test({
  name: "hostile peers vs a TLS container",
  ignore: !hasOpenssl,
  async fn(t) {
    const pki = await createPki();
    const tls = { caFile: pki.caFile, ...pki.devices[0] };
    const server = await FixtureServer.start("container", "MsgPackCodec", { tls });
    const rng = new Rng(15);
    try {
      await server.assertHealthy("at start");
      const batch = async (name: string, run: () => Promise<unknown>) => {
        const passed = await t.step(name, async () => {
          await run();
          await server.assertHealthy(`after ${name}`);
        });
        if (!passed) throw new Error(`stopped after the failed batch "${name}"`);
      };
      await batch("plain bytes on the TLS port", () =>
        pool(garbage(), 8, async (bytes) => {
          const peer = await RawPeer.connect(server, null).catch(() => undefined);
          if (peer === undefined) return;
          await peer.write(bytes);
          await peer.waitClosed(300);
          await peer.close();
        }));
      await batch("handshakes without, or with a foreign, certificate", async () => {
        const foreign = { caFile: pki.caFile, ...pki.rogue };
        const none = { caFile: pki.caFile, certFile: "", keyFile: "" };
        for (const files of [foreign, foreign, none, none]) {
          const conn = await Deno.connectTls({
            ...server.hostPort,
            caCerts: [await Deno.readTextFile(pki.caFile)],
            ...(files.certFile && {
              cert: await Deno.readTextFile(files.certFile),
              key: await Deno.readTextFile(files.keyFile),
            }),
          });
          try {
            await conn.handshake();
            await conn.write(new Uint8Array([0, 0, 0, 2, 0x90, 0x90])).catch(() => 0);
            await conn.read(new Uint8Array(16)).catch(() => null);
          } catch {
            // Refused, as it should be.
          } finally {
            try {
              conn.close();
            } catch {
              // Already closed by the refusal.
            }
          }
        }
      });
      await batch("a TLS record cut short, then hang", async () => {
        const peers = await Promise.all([0, 1, 2].map(() => RawPeer.connect(server, null)));
        await peers[0].write(new Uint8Array([0x16, 0x03, 0x01]));
        await peers[1].write(new Uint8Array([0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00]));
        await peers[2].write(
          new Uint8Array([0x16, 0x03, 0x03, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]),
        );
        await server.assertHealthy("while TLS handshakes hang");
        await Promise.all(peers.map((peer) => peer.close()));
      });
      await batch("an authenticated peer sends nested tags", () => tagsBatch(server, rng, 120));
      await batch("an authenticated peer sends mutants", () => mutantsBatch(server, rng, 20));
      await batch(
        "an authenticated peer leaves frames half-sent",
        () => halfSentBatch(server, () => server.assertHealthy("while frames hang over TLS")),
      );
    } finally {
      await server.stop();
      await pki.remove();
    }
  },
});
