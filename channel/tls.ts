/**
 * TLS with mutual authentication for channels, in the spirit of aiomas'
 * `make_ssl_server_context()` and `make_ssl_client_context()`: both peers
 * present a certificate signed by your own root CA, and both only trust
 * certificates signed by that CA.
 *
 * Pass {@linkcode TlsOptions} as the `tls` option of `startServer` and
 * `openConnection` (and of the RPC and agent layers, which hand it down).
 * Only TLS 1.2 with ECDHE and AES-GCM and TLS 1.3 (AES-GCM) are accepted;
 * TLS compression is never used.
 *
 * @example A channel server and client with certificates from your CA
 * ```ts ignore
 * import { openConnection, startServer, tlsClientOptions, tlsServerOptions } from "@aiomas/aiomas/channel";
 *
 * const server = await startServer({ hostname: "127.0.0.1", port: 5555 }, async (channel) => {
 *   const request = await channel.recv();
 *   await request.reply("cya");
 * }, { tls: tlsServerOptions("ca.pem", "device.pem", "device.key") });
 * const channel = await openConnection("tcp://127.0.0.1:5555", {
 *   tls: tlsClientOptions("ca.pem", "device.pem", "device.key"),
 * });
 * console.log(await channel.send("ohai")); // cya
 * await channel.close();
 * await server.close();
 * ```
 *
 * @module
 */

import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import type { Socket } from "node:net";
import * as nodeTls from "node:tls";
import { ConnectionError } from "../errors.ts";
import { type Address, formatAddress, parseAddress, type TcpAddress } from "./address.ts";
import type { Transport, TransportListener, TransportOptions } from "./transport.ts";

/**
 * Certificates for a TLS channel, as file paths or PEM strings. The same
 * shape serves servers and clients (as aiomas' `SSLCerts`):
 *
 * - `ca` / `caFile`: the root CA certificate(s). The peer's certificate must
 *   be signed by one of them; no other CA (not the system's) is trusted.
 * - `cert` / `certFile` and `key` / `keyFile`: this side's certificate
 *   (signed by the CA) and its unencrypted private key. Required for a
 *   server; a client without them is refused by every aiomas TLS server.
 * - `hostname`: the name the server's certificate must be valid for
 *   (its subjectAltName), when it differs from the address' host name.
 *
 * Give each item either as a file or as PEM text, not both.
 *
 * @example
 * ```ts
 * import type { TlsOptions } from "@aiomas/aiomas/channel";
 * const tls: TlsOptions = { caFile: "ca.pem", certFile: "device.pem", keyFile: "device.key" };
 * console.log(tls.caFile); // ca.pem
 * ```
 */
export interface TlsOptions {
  /** Path of the root CA certificate (PEM) that signs every peer's certificate. */
  caFile?: string | undefined;
  /** Path of this side's certificate (PEM), signed by the CA. */
  certFile?: string | undefined;
  /** Path of this side's private key (PEM, unencrypted). */
  keyFile?: string | undefined;
  /** The root CA certificate(s) as PEM text, instead of `caFile`. */
  ca?: string | undefined;
  /** This side's certificate as PEM text, instead of `certFile`. */
  cert?: string | undefined;
  /** This side's private key as PEM text, instead of `keyFile`. */
  key?: string | undefined;
  /**
   * Client only: the server name to verify the server's certificate against
   * (a DNS name or an IP address). Defaults to the host name of the address
   * connected to.
   */
  hostname?: string | undefined;
  /**
   * Server only: called when a client fails the TLS handshake (no
   * certificate, one not signed by the CA, plain TCP, ...). The connection is
   * dropped either way; the default logs one `console.warn` line.
   */
  onHandshakeError?: ((error: Error, peer: string) => void) | undefined;
}

/**
 * TLS options for a server, like aiomas' `make_ssl_server_context(cafile,
 * certfile, keyfile)`: the server authenticates itself with `certFile` and
 * `keyFile`, and demands that every client presents a certificate signed by
 * the CA in `caFile`.
 *
 * @example
 * ```ts
 * import { tlsServerOptions } from "@aiomas/aiomas/channel";
 * const tls = tlsServerOptions("ca.pem", "device.pem", "device.key");
 * console.log(tls.certFile); // device.pem
 * ```
 */
export function tlsServerOptions(caFile: string, certFile: string, keyFile: string): TlsOptions {
  return { caFile, certFile, keyFile };
}

/**
 * TLS options for a client, like aiomas' `make_ssl_client_context(cafile,
 * certfile, keyfile)`: the client checks that the server's certificate is
 * signed by the CA in `caFile` and valid for the host name connected to (or
 * `hostname`), and authenticates itself with `certFile` and `keyFile`.
 *
 * @example
 * ```ts
 * import { tlsClientOptions } from "@aiomas/aiomas/channel";
 * const tls = tlsClientOptions("ca.pem", "device.pem", "device.key", "device1.example");
 * console.log(tls.hostname); // device1.example
 * ```
 */
export function tlsClientOptions(
  caFile: string,
  certFile: string,
  keyFile: string,
  hostname?: string,
): TlsOptions {
  return hostname === undefined
    ? { caFile, certFile, keyFile }
    : { caFile, certFile, keyFile, hostname };
}

/** TLS 1.3 AES-GCM suites and TLS 1.2 ECDHE with AES-GCM (aiomas: `ECDH+AESGCM`). */
const CIPHERS = [
  "TLS_AES_256_GCM_SHA384",
  "TLS_AES_128_GCM_SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
].join(":");

// The reader pauses the socket when this much is received but not read.
const HIGH_WATER_MARK = 1024 * 1024;
// A client that has not finished its handshake after this long is dropped.
const HANDSHAKE_TIMEOUT_MS = 10_000;

interface Pem {
  ca: string;
  cert?: string | undefined;
  key?: string | undefined;
}

async function pemOf(
  tls: TlsOptions,
  text: "ca" | "cert" | "key",
  file: "caFile" | "certFile" | "keyFile",
): Promise<string | undefined> {
  if (tls[text] !== undefined && tls[file] !== undefined) {
    throw new TypeError(`TLS options: give "${text}" or "${file}", not both`);
  }
  if (tls[text] !== undefined) return tls[text];
  const path = tls[file];
  if (path === undefined) return undefined;
  try {
    return await Deno.readTextFile(path);
  } catch (cause) {
    throw new TypeError(
      `TLS options: cannot read ${file} "${path}": ${(cause as Error).message}`,
      { cause },
    );
  }
}

async function loadPem(tls: TlsOptions, role: "server" | "client"): Promise<Pem> {
  const [ca, cert, key] = await Promise.all([
    pemOf(tls, "ca", "caFile"),
    pemOf(tls, "cert", "certFile"),
    pemOf(tls, "key", "keyFile"),
  ]);
  if (ca === undefined) {
    throw new TypeError(
      `TLS options: a ${role} needs the root CA ("caFile" or "ca") to verify its peers`,
    );
  }
  if (role === "server" && (cert === undefined || key === undefined)) {
    throw new TypeError(
      'TLS options: a server needs its certificate and key ("certFile"/"cert" and "keyFile"/"key")',
    );
  }
  if ((cert === undefined) !== (key === undefined)) {
    throw new TypeError("TLS options: give both a certificate and its key, or neither");
  }
  return { ca, cert, key };
}

function tcpTarget(addr: Address, what: string): TcpAddress {
  const target = parseAddress(addr);
  if (!("hostname" in target)) {
    throw new TypeError(
      `TLS is only supported over TCP, not on ${formatAddress(target)} ` +
        `(${what}); use a tcp:// address or drop the "tls" option`,
    );
  }
  return target;
}

function peerOf(socket: Socket): string {
  const host = socket.remoteAddress ?? "unknown";
  return formatAddress({ hostname: host.replace(/^::ffff:/, ""), port: socket.remotePort ?? 0 });
}

/** The PEM blocks of a CA bundle, as X.509 certificates. */
function parseCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block));
}

interface StreamHandle {
  readStart?(): unknown;
  readStop?(): unknown;
}

/**
 * The TCP handle under a `TLSSocket` in Deno's node:tls (an internal field;
 * `undefined` where it does not exist). Pausing the `TLSSocket` alone does not
 * stop Deno from reading the TCP socket into memory; stopping this handle does,
 * so a fast sender really waits for a slow reader.
 */
function tcpHandle(socket: nodeTls.TLSSocket): StreamHandle | undefined {
  const handle = (socket as unknown as { _handle?: { _parent?: StreamHandle } | null })._handle;
  const parent = handle?._parent;
  return typeof parent?.readStop === "function" && typeof parent.readStart === "function"
    ? parent
    : undefined;
}

/**
 * A node `TLSSocket` as a {@linkcode Transport}: incoming chunks are queued
 * (the socket pauses while more than 1 MiB waits), writes resolve when the
 * socket has taken the bytes. `hint` (clients) explains a failure that comes
 * before the peer sent any data.
 */
class NodeSocketTransport implements Transport {
  readonly peer: string;
  #socket: nodeTls.TLSSocket;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #paused = false;
  #ended = false;
  #closed = false;
  #received = false;
  #error: Error | undefined;
  #wakeReader: (() => void) | undefined;
  #failWrites = new Set<(error: Error) => void>();
  #hint: ((error: Error) => Error) | undefined;

  constructor(
    socket: nodeTls.TLSSocket,
    peer: string,
    hint?: (error: Error) => Error,
  ) {
    this.#socket = socket;
    this.peer = peer;
    this.#hint = hint;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Uint8Array) => {
      this.#received = true;
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered > HIGH_WATER_MARK && !this.#paused) {
        this.#paused = true;
        socket.pause();
        tcpHandle(socket)?.readStop?.();
      }
      this.#wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on("error", (error: Error) => {
      this.#error ??= error;
      this.#wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake();
      const error = this.#error ?? new Error(`Connection to ${peer} is closed`);
      for (const fail of this.#failWrites) fail(error);
      this.#failWrites.clear();
    });
  }

  #wake(): void {
    const wake = this.#wakeReader;
    this.#wakeReader = undefined;
    wake?.();
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (true) {
      if (this.#buffered > 0) return this.#take(buffer);
      if (this.#closed) return null;
      // A client's connection that fails before the server sent anything was
      // most likely refused for its certificate (TLS 1.3 checks it late).
      const hint = this.#received ? undefined : this.#hint;
      if (this.#error) throw hint ? hint(this.#error) : this.#error;
      if (this.#ended) {
        if (hint) throw hint(new Error("the server closed the connection before answering"));
        return null;
      }
      await new Promise<void>((resolve) => this.#wakeReader = resolve);
    }
  }

  #take(buffer: Uint8Array): number {
    let count = 0;
    while (count < buffer.length && this.#chunks.length > 0) {
      const chunk = this.#chunks[0]!;
      const size = Math.min(chunk.length, buffer.length - count);
      buffer.set(size === chunk.length ? chunk : chunk.subarray(0, size), count);
      count += size;
      if (size === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(size);
    }
    this.#buffered -= count;
    if (this.#paused && this.#buffered <= HIGH_WATER_MARK / 2) {
      this.#paused = false;
      tcpHandle(this.#socket)?.readStart?.();
      this.#socket.resume();
    }
    return count;
  }

  write(data: Uint8Array): Promise<number> {
    if (this.#closed || this.#socket.destroyed) {
      return Promise.reject(this.#error ?? new Error(`Connection to ${this.peer} is closed`));
    }
    return new Promise((resolve, reject) => {
      this.#failWrites.add(reject);
      // The callback runs once the socket has taken the bytes (or failed).
      this.#socket.write(data, (error?: Error | null) => {
        this.#failWrites.delete(reject);
        if (error) reject(error);
        else resolve(data.length);
      });
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#wake();
    const socket = this.#socket;
    if (socket.destroyed) return;
    // Send close_notify and FIN after what is queued, then release the socket.
    // A peer that does not read holds it up for at most a second.
    const timer = setTimeout(() => socket.destroy(), 1000);
    socket.once("close", () => clearTimeout(timer));
    socket.end(() => socket.destroy());
  }
}

/**
 * Connect to a TLS channel server: verify that its certificate is signed by
 * the CA and valid for the host name, and present this client's certificate.
 *
 * The handshake is complete when the promise resolves. With TLS 1.3 a server
 * checks the client's certificate only after that, so a client the server
 * refuses learns it on its first `send()`, as a `ConnectionError`.
 *
 * @throws {TypeError} for a non-TCP (Unix socket, in-process) address or
 *   incomplete options.
 * @throws {ConnectionError} naming the address when nobody listens there or
 *   the handshake fails (untrusted server certificate, wrong host name, ...).
 *
 * @example
 * ```ts ignore
 * import { connectTlsTransport, createChannel, tlsClientOptions } from "@aiomas/aiomas/channel";
 * const transport = await connectTlsTransport(
 *   "tcp://127.0.0.1:5555",
 *   tlsClientOptions("ca.pem", "device.pem", "device.key"),
 * );
 * const channel = createChannel(transport);
 * ```
 */
export async function connectTlsTransport(
  addr: Address,
  tls: TlsOptions,
  options: TransportOptions = {},
): Promise<Transport> {
  const target = tcpTarget(addr, "connect");
  const pem = await loadPem(tls, "client");
  const url = formatAddress(target);
  const hostname = tls.hostname ?? target.hostname;
  const cas = parseCertificates(pem.ca);
  if (cas.length === 0) {
    throw new TypeError("TLS options: the CA file or text holds no PEM certificate");
  }
  const socket = nodeTls.connect({
    host: target.hostname,
    port: target.port,
    // SNI only carries DNS names; the certificate check below covers IPs too.
    servername: isIP(hostname) ? undefined : hostname,
    checkServerIdentity: (_host, cert) => nodeTls.checkServerIdentity(hostname, cert),
    ca: pem.ca,
    cert: pem.cert,
    key: pem.key,
    minVersion: "TLSv1.2",
    ciphers: CIPHERS,
    rejectUnauthorized: true,
  });
  let fail: (error: Error) => void = () => {};
  const onClose = () => fail(new Error("the server closed the connection"));
  const onError = (error: Error) => fail(error);
  socket.once("close", onClose);
  socket.once("error", onError);
  try {
    await new Promise<void>((resolve, reject) => {
      fail = reject;
      socket.once("secureConnect", resolve);
    });
    // Trust the given CA only (the runtime may also know system CAs): the
    // server's chain must contain a certificate issued by one of ours.
    let cert: nodeTls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
    let pinned = false;
    for (let depth = 0; cert?.raw && depth < 10 && !pinned; depth++) {
      const x509 = new X509Certificate(cert.raw);
      pinned = cas.some((ca) =>
        ca.fingerprint256 === x509.fingerprint256 ||
        (x509.checkIssued(ca) && x509.verify(ca.publicKey))
      );
      cert = cert.issuerCertificate === cert ? undefined : cert.issuerCertificate;
    }
    if (!pinned) throw new Error("the server's certificate is not signed by the given CA");
  } catch (cause) {
    socket.destroy();
    const reason = (cause as Error).message;
    const refused = /ECONNREFUSED|refused/i.test(reason);
    throw new ConnectionError(
      refused
        ? `Could not connect to ${url}: ${reason}. Is a server listening there?`
        : `TLS handshake with ${url} failed: ${reason}. Check that the server's ` +
          `certificate is signed by the CA in "caFile"/"ca" and valid for "${hostname}" ` +
          "(its subjectAltName), and that the server uses TLS 1.2 or newer.",
      { cause },
    );
  }
  socket.off("close", onClose);
  socket.off("error", onError);
  if (options.keepAlive ?? true) socket.setKeepAlive(true);
  return new NodeSocketTransport(socket, url, (error) =>
    new Error(
      `${error.message}. The TLS server may have refused this client's certificate: ` +
        "check that certFile/keyFile are given and signed by the CA the server trusts",
      { cause: error },
    ));
}

/**
 * Listen for TLS channel clients on a TCP address. Every client must present
 * a certificate signed by the CA; clients that fail the handshake (no
 * certificate, a foreign one, plain TCP) are dropped and reported to
 * `tls.onHandshakeError` (default: one `console.warn` line), and only
 * authenticated connections are yielded.
 *
 * @throws {TypeError} for a non-TCP (Unix socket, in-process) address or
 *   incomplete options.
 *
 * @example
 * ```ts ignore
 * import { listenTlsTransport, serveListener, tlsServerOptions } from "@aiomas/aiomas/channel";
 * const listener = await listenTlsTransport(
 *   { hostname: "127.0.0.1", port: 0 },
 *   tlsServerOptions("ca.pem", "device.pem", "device.key"),
 * );
 * const server = serveListener(listener, async (channel) => {
 *   for await (const request of channel) await request.reply(request.content);
 * });
 * console.log(server.url); // tcp://127.0.0.1:<port>
 * ```
 */
export async function listenTlsTransport(
  addr: Address,
  tls: TlsOptions,
  options: TransportOptions = {},
): Promise<TransportListener> {
  const target = tcpTarget(addr, "listen");
  const pem = await loadPem(tls, "server");
  const onHandshakeError = tls.onHandshakeError ??
    ((error: Error, peer: string) =>
      console.warn(`aiomas: TLS handshake with ${peer} failed: ${error.message}`));
  const server = nodeTls.createServer({
    ca: pem.ca,
    cert: pem.cert,
    key: pem.key,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
    ciphers: CIPHERS,
    honorCipherOrder: true,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  });
  // Raw sockets whose handshake is not done yet, by peer: closed with the listener.
  const handshaking = new Map<string, Socket>();
  const ready: Transport[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  server.on("connection", (socket: Socket) => {
    const peer = peerOf(socket);
    handshaking.set(peer, socket);
    socket.once("close", () => handshaking.delete(peer));
  });
  server.on("secureConnection", (socket: nodeTls.TLSSocket) => {
    const peer = peerOf(socket);
    handshaking.delete(peer);
    const transport = new NodeSocketTransport(socket, peer);
    if (closed) return transport.close();
    if (options.keepAlive ?? true) socket.setKeepAlive(true);
    ready.push(transport);
    notify();
  });
  server.on("tlsClientError", (error: Error, socket: nodeTls.TLSSocket) => {
    // A failed socket may have lost its address; its raw TCP socket has it.
    const raw = (socket as unknown as { _parent?: Socket })._parent;
    const peer = peerOf(socket.remoteAddress || !raw ? socket : raw);
    socket.destroy();
    try {
      onHandshakeError(error, peer);
    } catch {
      // A failing hook must not take the server down.
    }
  });
  server.on("error", (error: Error) => {
    if (!closed) console.warn(`aiomas: TLS server error: ${error.message}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: target.hostname, port: target.port }, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((cause) => {
    throw new ConnectionError(
      `Could not listen on ${formatAddress(target)}: ${(cause as Error).message}`,
      { cause },
    );
  });
  const local = server.address();
  const bound: TcpAddress = typeof local === "object" && local !== null
    ? { hostname: local.address, port: local.port }
    : target;
  return {
    addr: bound,
    close() {
      if (closed) return;
      closed = true;
      server.close();
      for (const socket of handshaking.values()) socket.destroy();
      handshaking.clear();
      for (const transport of ready.splice(0)) transport.close();
      notify();
    },
    async *[Symbol.asyncIterator]() {
      while (true) {
        const transport = ready.shift();
        if (transport) yield transport;
        else if (closed) return;
        else await new Promise<void>((resolve) => wake = resolve);
      }
    },
  };
}
