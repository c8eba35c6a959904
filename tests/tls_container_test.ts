/**
 * TLS containers with mutual authentication: two containers with
 * CA-signed certificates call each other; a rogue container, a client
 * without a certificate and a plain-TCP client get no answer, and the
 * container keeps serving.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  Agent,
  ConnectionError,
  Container,
  expose,
  openConnection,
  parseAddress,
  type Remote,
  type TcpAddress,
} from "@aiomas/aiomas";
import { createPki, hasOpenssl, type Pki } from "./pki.ts";
import { frame, untilClosed, writeAll } from "./helpers.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

class Callee extends Agent {
  @expose
  spam(times: number): string {
    return "spam".repeat(times);
  }

  @expose
  async callBack(other: Remote<Pinger>): Promise<string> {
    return await other.pong("over TLS");
  }
}

class Pinger extends Agent {
  @expose
  pong(text: string): string {
    return `pong(${text})`;
  }
}

function device(pki: Pki, index: 0 | 1) {
  return { caFile: pki.caFile, ...pki.devices[index], onHandshakeError: () => {} };
}

Deno.test({
  name: "TLS containers call each other; rogue, certificate-less and plain clients get nothing",
  ignore: !hasOpenssl,
  async fn() {
    const pki = await createPki();
    const b = await Container.create(LOCAL, { tls: device(pki, 1) });
    const a = await Container.create(LOCAL, { tls: device(pki, 0) });
    try {
      const callee = new Callee(b);
      const pinger = new Pinger(a);
      const proxy = await a.connect<Callee>(callee.addr);
      assert.equal(await proxy.spam(2), "spamspam");
      assert.equal(await proxy.callBack(pinger as never), "pong(over TLS)");

      // A rogue container: its certificate is not signed by the CA.
      const rogue = await Container.create(LOCAL, {
        tls: { caFile: pki.caFile, ...pki.rogue, onHandshakeError: () => {} },
      });
      await assert.rejects(rogue.connect(callee.addr), ConnectionError);
      await rogue.shutdown();

      // A client that presents no certificate at all.
      const bare = await openConnection(b.addr, { tls: { caFile: pki.caFile } })
        .then((channel) => channel.send(["validate_aid", ["0"], {}]).finally(() => channel.close()))
        .catch((error) => error);
      assert.ok(bare instanceof ConnectionError, String(bare));

      // A plain-TCP client sending a well-formed request frame.
      const raw = await Deno.connect(parseAddress(b.addr) as TcpAddress);
      await writeAll(raw, frame('[0, 0, ["validate_aid", ["0"], {}]]'));
      await untilClosed(raw);
      raw.close();

      // B keeps serving the good container.
      assert.equal(await proxy.spam(1), "spam");
    } finally {
      await a.shutdown();
      await b.shutdown();
      await pki.remove();
    }
  },
});
