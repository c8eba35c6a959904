import assert from "node:assert/strict";
import {
  type Channel,
  connectTlsTransport,
  listenTlsTransport,
  openConnection,
  type Server,
  startServer,
  type TcpAddress,
  tlsClientOptions,
  type TlsOptions,
  tlsServerOptions,
} from "@aiomas/aiomas/channel";
import { ConnectionError } from "@aiomas/aiomas";
import { MsgPackCodec } from "@aiomas/aiomas/codecs";
import type { Transport } from "../channel/transport.ts";
import { allAre, frame, untilClosed, writeAll } from "./helpers.ts";
import { createPki, hasOpenssl, type Pki } from "./pki.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

// One PKI for the whole file, made on first use and removed when the tests end
// (also when only some run, with --filter).
let pkiPromise: Promise<Pki> | undefined;
let pkiDir: string | undefined;
const pki = () =>
  pkiPromise ??= createPki().then((made) => {
    pkiDir = made.dir;
    return made;
  });
globalThis.addEventListener("unload", () => {
  if (pkiDir) Deno.removeSync(pkiDir, { recursive: true });
});

interface TlsEchoServer {
  server: Server;
  /** How many channels the server was handed (authenticated clients only). */
  accepted: () => number;
  /** Handshake failures the server reported. */
  refused: string[];
}

/** A TLS echo server with device 1's certificate; answers `["len", x]` with x's length. */
async function tlsEchoServer(): Promise<TlsEchoServer> {
  const { caFile, devices: [device] } = await pki();
  const refused: string[] = [];
  let accepted = 0;
  const tls: TlsOptions = {
    ...tlsServerOptions(caFile, device.certFile, device.keyFile),
    onHandshakeError: (error, peer) => refused.push(`${peer}: ${error.message}`),
  };
  const server = await startServer(LOCAL, async (channel) => {
    accepted++;
    for await (const request of channel) {
      const content = request.content;
      if (Array.isArray(content) && content[0] === "len") {
        await request.reply((content[1] as string).length);
      } else await request.reply(content);
    }
  }, { tls });
  return { server, accepted: () => accepted, refused };
}

/** Device 2's client options. */
async function goodClient(hostname?: string): Promise<TlsOptions> {
  const { caFile, devices: [, device] } = await pki();
  return tlsClientOptions(caFile, device.certFile, device.keyFile, hostname);
}

/** Assert that `connect()` or the first send fails with a ConnectionError. */
async function assertNoAnswer(connect: () => Promise<Channel>): Promise<void> {
  let channel: Channel;
  try {
    channel = await connect();
  } catch (error) {
    assert.ok(error instanceof ConnectionError, `got ${error}`);
    return;
  }
  const reply = await channel.send("ohai").then(
    (value) => ({ value }),
    (error) => ({ error }),
  );
  await channel.close();
  assert.ok("error" in reply, `the server answered ${JSON.stringify(reply)}`);
  assert.ok(reply.error instanceof ConnectionError, `got ${reply.error}`);
}

/** The server still serves an authenticated client. */
async function assertStillServing({ server }: TlsEchoServer): Promise<void> {
  const channel = await openConnection(server.addr, { tls: await goodClient() });
  assert.equal(await channel.send("still there?"), "still there?");
  await channel.close();
}

const ignore = !hasOpenssl;

Deno.test({
  name: "TLS: recycled read buffers give big requests intact, and take them back once answered",
  ignore,
  async fn() {
    const { caFile, devices: [device] } = await pki();
    const kept: Uint8Array[] = [];
    const intact: boolean[] = [];
    const server = await startServer(LOCAL, (channel) => {
      channel.setHandler((request) => {
        const bytes = request.content as Uint8Array;
        kept.push(bytes);
        intact.push(allAre(bytes, kept.length));
        void request.reply(bytes.length);
      });
    }, {
      tls: tlsServerOptions(caFile, device.certFile, device.keyFile),
      codec: MsgPackCodec,
      recycleReadBuffers: true,
    });
    const channel = await openConnection(server.addr, {
      tls: await goodClient(),
      codec: MsgPackCodec,
    });
    for (let i = 1; i <= 5; i++) {
      assert.equal(await channel.send(new Uint8Array(1024 * 1024).fill(i)), 1024 * 1024);
    }
    assert.deepEqual(intact, [true, true, true, true, true]);
    // The first of its size was copied out; the others were lent and taken back.
    assert.deepEqual(kept.map((bytes) => bytes.length), [1024 * 1024, 0, 0, 0, 0]);
    await channel.close();
    await server.close();
  },
});

Deno.test({
  name: "TLS: ohai/cya, 1 MiB both ways and 200 concurrent sends",
  ignore,
  async fn() {
    const { server, accepted } = await tlsEchoServer();
    const channel = await openConnection(server.addr, { tls: await goodClient() });
    assert.equal(await channel.send("ohai"), "ohai");
    const big = "x".repeat(1024 * 1024);
    assert.equal(await channel.send(["len", big]), big.length);
    assert.equal(await channel.send(big), big);
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => channel.send(i)));
    assert.deepEqual(replies, Array.from({ length: 200 }, (_, i) => i));
    assert.equal(accepted(), 1);
    await channel.close();
    await server.close();
  },
});

Deno.test({
  name: "TLS: the server can call the client back on the same connection",
  ignore,
  async fn() {
    const { caFile, devices: [device] } = await pki();
    const server = await startServer(LOCAL, async (channel) => {
      const request = await channel.recv();
      const who = await channel.send("who are you?");
      await request.reply(`hello ${who}`);
    }, { tls: tlsServerOptions(caFile, device.certFile, device.keyFile) });
    const channel = await openConnection(server.url, { tls: await goodClient() });
    const reply = channel.send("hi");
    const question = await channel.recv();
    await question.reply("device2");
    assert.equal(await reply, "hello device2");
    await channel.close();
    await server.close();
  },
});

Deno.test({
  name: "TLS: PEM strings work like files",
  ignore,
  async fn() {
    const { caFile, devices: [server1, client2] } = await pki();
    const read = Deno.readTextFile;
    const server = await startServer(LOCAL, (channel) => {
      channel.setHandler((request) => request.reply(["pem", request.content]));
    }, {
      tls: {
        ca: await read(caFile),
        cert: await read(server1.certFile),
        key: await read(server1.keyFile),
      },
    });
    const channel = await openConnection(server.addr, {
      tls: {
        ca: await read(caFile),
        cert: await read(client2.certFile),
        key: await read(client2.keyFile),
      },
    });
    assert.deepEqual(await channel.send(1), ["pem", 1]);
    await channel.close();
    await server.close();
  },
});

Deno.test({
  name: "TLS: a client with a rogue self-signed certificate gets no answer",
  ignore,
  async fn() {
    const echo = await tlsEchoServer();
    const { caFile, rogue } = await pki();
    await assertNoAnswer(() =>
      openConnection(echo.server.addr, {
        tls: tlsClientOptions(caFile, rogue.certFile, rogue.keyFile),
      })
    );
    await assertStillServing(echo);
    assert.equal(echo.accepted(), 1); // only the good client
    assert.equal(echo.refused.length, 1, echo.refused.join("\n"));
    await echo.server.close();
  },
});

Deno.test({
  name: "TLS: a client without a certificate gets no answer",
  ignore,
  async fn() {
    const echo = await tlsEchoServer();
    const { caFile } = await pki();
    await assertNoAnswer(() => openConnection(echo.server.addr, { tls: { caFile } }));
    await assertStillServing(echo);
    assert.equal(echo.accepted(), 1);
    assert.match(echo.refused.join("\n"), /certificate/i);
    await echo.server.close();
  },
});

Deno.test({
  name: "TLS: a plain TCP client sending a frame gets no answer and is disconnected",
  ignore,
  async fn() {
    const echo = await tlsEchoServer();
    const raw = await Deno.connect(echo.server.addr as TcpAddress);
    await writeAll(raw, frame('[0, 0, "ohai"]'));
    const received: number[] = [];
    const sink = new Uint8Array(4096);
    try {
      for (let n; (n = await raw.read(sink)) !== null;) received.push(...sink.subarray(0, n));
    } catch {
      // A reset is a disconnect too.
    }
    raw.close();
    // Whatever came back (a TLS alert at most) is not a frame with a reply.
    assert.ok(!new TextDecoder().decode(new Uint8Array(received)).includes("ohai"));
    assert.equal(echo.accepted(), 0);
    assert.equal(echo.refused.length, 1);
    await assertStillServing(echo);
    await echo.server.close();
  },
});

Deno.test({
  name: "TLS: a plain TCP client that sends nothing is dropped when the server closes",
  ignore,
  async fn() {
    const echo = await tlsEchoServer();
    const raw = await Deno.connect(echo.server.addr as TcpAddress);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const closed = untilClosed(raw);
    await echo.server.close();
    await closed;
    raw.close();
    assert.equal(echo.accepted(), 0);
  },
});

Deno.test({
  name: "TLS: a client that does not trust the server's CA fails with ConnectionError",
  ignore,
  async fn() {
    const echo = await tlsEchoServer();
    const { rogue, devices: [, device] } = await pki();
    const port = (echo.server.addr as TcpAddress).port;
    await assert.rejects(
      openConnection(echo.server.addr, {
        tls: tlsClientOptions(rogue.certFile, device.certFile, device.keyFile),
      }),
      (error: Error) => {
        assert.ok(error instanceof ConnectionError, String(error));
        assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
        assert.match(error.message, /CA/);
        return true;
      },
    );
    assert.equal(echo.accepted(), 0);
    await echo.server.close();
  },
});

Deno.test({
  name: "TLS: host name verification",
  ignore,
  async fn() {
    const echo = await tlsEchoServer();
    // A name the certificate does not list: refused.
    await assert.rejects(
      openConnection(echo.server.addr, { tls: await goodClient("spam.example") }),
      (error: Error) => error instanceof ConnectionError && /spam\.example/.test(error.message),
    );
    // A name it lists, while connecting to its IP: accepted.
    const channel = await openConnection(echo.server.addr, { tls: await goodClient("localhost") });
    assert.equal(await channel.send("by name"), "by name");
    await channel.close();
    await echo.server.close();
  },
});

Deno.test({
  name: "TLS: a server whose certificate is not signed by the CA is refused by clients",
  ignore,
  async fn() {
    const { caFile, rogue, devices: [, device] } = await pki();
    // The rogue certificate lists 127.0.0.1, but is not signed by the CA.
    const server = await startServer(LOCAL, () => {}, {
      tls: { ...tlsServerOptions(caFile, rogue.certFile, rogue.keyFile), onHandshakeError() {} },
    });
    await assert.rejects(
      openConnection(server.addr, {
        tls: tlsClientOptions(caFile, device.certFile, device.keyFile),
      }),
      ConnectionError,
    );
    await server.close();
  },
});

Deno.test({
  name: "TLS: bad options are TypeErrors; a dead address is a ConnectionError",
  ignore,
  async fn() {
    const { caFile, devices: [device] } = await pki();
    const tls = tlsServerOptions(caFile, device.certFile, device.keyFile);
    await assert.rejects(startServer({ path: "/tmp/never.sock" }, () => {}, { tls }), TypeError);
    await assert.rejects(
      openConnection("unix:///tmp/never.sock", { tls }),
      /only supported over TCP/,
    );
    await assert.rejects(openConnection("local://never", { tls }), TypeError);
    await assert.rejects(startServer(LOCAL, () => {}, { tls: { caFile } }), TypeError);
    await assert.rejects(
      startServer(LOCAL, () => {}, { tls: { ...tls, caFile: "/nonexistent/ca.pem" } }),
      /caFile/,
    );
    await assert.rejects(startServer(LOCAL, () => {}, { tls: { ...tls, ca: "x" } }), TypeError);
    const listener = Deno.listen(LOCAL);
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    await assert.rejects(
      openConnection({ hostname: "127.0.0.1", port }, { tls }),
      (error: Error) => error instanceof ConnectionError && error.message.includes(`:${port}`),
    );
  },
});

Deno.test({
  name: "TLS backpressure: a peer that does not read does not make us buffer without bound",
  ignore,
  async fn() {
    const { caFile, devices: [device] } = await pki();
    const listener = await listenTlsTransport(
      LOCAL,
      tlsServerOptions(caFile, device.certFile, device.keyFile),
    );
    const accepted = listener[Symbol.asyncIterator]().next(); // never read from
    const channel = await openConnection(listener.addr, { tls: await goodClient() });
    const transport = (await accepted).value!;
    const chunk = "z".repeat(1024 * 1024);
    const sends = Array.from({ length: 64 }, () => channel.send(chunk).catch((e) => e));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The channel waits for the socket: some is queued, but not much.
    assert.ok(
      channel.bufferedAmount > 0 && channel.bufferedAmount <= 2 * 1024 * 1024 + 64,
      `buffered ${channel.bufferedAmount} bytes`,
    );
    await channel.close();
    for (const result of await Promise.all(sends)) assert.ok(result instanceof ConnectionError);
    transport.close();
    listener.close();
  },
});

/** Read exactly `size` bytes from a transport; check they count up mod 251. */
async function readCounted(transport: Transport, size: number): Promise<void> {
  const buffer = new Uint8Array(100_000);
  for (let got = 0; got < size;) {
    const n = await transport.read(buffer);
    assert.notEqual(n, null, `stream ended after ${got} of ${size} bytes`);
    let wrong = -1;
    for (let i = 0; i < n! && wrong < 0; i++) if (buffer[i] !== (got + i) % 251) wrong = got + i;
    assert.equal(wrong, -1, `byte ${wrong} is wrong`);
    got += n!;
  }
}

/** Write `size` bytes counting up mod 251; resolves when the transport took them. */
async function writeCounted(transport: Transport, size: number): Promise<void> {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = i % 251;
  for (let done = 0; done < size;) done += await transport.write(data.subarray(done));
}

Deno.test({
  name: "TLS transports: a slow reader holds the writer back, and no byte is lost",
  ignore,
  async fn() {
    const { caFile, devices: [device] } = await pki();
    const listener = await listenTlsTransport(
      LOCAL,
      tlsServerOptions(caFile, device.certFile, device.keyFile),
    );
    const accepted = listener[Symbol.asyncIterator]().next();
    const client = await connectTlsTransport(listener.addr, await goodClient());
    const server = (await accepted).value!;
    const size = 32 * 1024 * 1024;
    for (const [writer, reader] of [[client, server], [server, client]]) {
      let written = false;
      const writing = writeCounted(writer, size).then(() => written = true);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const who = writer === client ? "client" : "server";
      assert.equal(written, false, `the ${who} wrote 32 MiB although nobody read them`);
      await readCounted(reader, size);
      await writing;
    }
    client.close();
    server.close();
    listener.close();
  },
});

Deno.test({
  name: "TLS: closing the server closes its clients' channels",
  ignore,
  async fn() {
    const { server } = await tlsEchoServer();
    const channels = await Promise.all(
      [1, 2, 3].map(async () => openConnection(server.addr, { tls: await goodClient() })),
    );
    for (const channel of channels) assert.equal(await channel.send("hi"), "hi");
    await server.close();
    await Promise.all(channels.map((channel) => channel.closed));
  },
});
