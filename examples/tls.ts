/**
 * Two containers with mutual TLS authentication, as in the aiomas guide:
 * each presents a certificate signed by the same root CA and accepts only
 * peers that do.
 *
 * Run with your own certificates (see the README's TLS section):
 * `deno run -A examples/tls.ts CERT_DIR` where `CERT_DIR` holds `ca.pem`,
 * `device1.pem`/`device1.key` and `device2.pem`/`device2.key`; without an
 * argument, the example makes a throw-away PKI with `openssl` first.
 *
 * @module
 */

import { Agent, Container, expose } from "@aiomas/aiomas";
import { createPki } from "../tests/pki.ts";

class Callee extends Agent {
  @expose
  spam(times: number): string {
    return "spam".repeat(times);
  }
}

const pki = Deno.args[0] === undefined ? await createPki() : undefined;
const dir = Deno.args[0] ?? pki!.dir;
const tls = (device: string) => ({
  caFile: `${dir}/ca.pem`,
  certFile: `${dir}/${device}.pem`,
  keyFile: `${dir}/${device}.key`,
});

const server = await Container.create({ hostname: "127.0.0.1", port: 0 }, { tls: tls("device2") });
const client = await Container.create({ hostname: "127.0.0.1", port: 0 }, { tls: tls("device1") });
const callee = new Callee(server);
const proxy = await client.connect<Callee>(callee.addr);
console.log(await proxy.spam(3)); // spamspamspam, over mutually authenticated TLS
await client.shutdown();
await server.shutdown();
await pki?.remove();
