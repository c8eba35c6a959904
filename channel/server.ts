/**
 * {@linkcode startServer} and {@linkcode openConnection}: channels over TCP,
 * Unix sockets and TLS.
 *
 * @module
 */

import { JsonCodec } from "../codecs/json.ts";
import { createCodec } from "../codecs/serializers.ts";
import type { CodecClass, SerializerSpec } from "../codecs/types.ts";
import { AddressError, AiomasError } from "../errors.ts";
import { type Address, formatAddress, parseAddress, type ResolvedAddress } from "./address.ts";
import { Channel, channelLimits, type ChannelOptions } from "./channel.ts";
import { BufferBudget, DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MAX_CONNECTIONS } from "./limits.ts";
import { connectTlsTransport, listenTlsTransport, type TlsOptions } from "./tls.ts";
import {
  connectTransport,
  listenTransport,
  type Transport,
  type TransportListener,
} from "./transport.ts";

/** Options of {@linkcode openConnection} and {@linkcode startServer}. */
export interface ConnectionOptions extends ChannelOptions {
  /** The codec class; each connection makes its own instance (default {@linkcode JsonCodec}). */
  codec?: CodecClass | undefined;
  /** Serializers for custom types, registered in this order on every connection's codec. */
  extraSerializers?: readonly SerializerSpec[] | undefined;
  /**
   * Called with each new channel before it reads its first frame: the place to
   * register connection-specific serializers or a request handler.
   */
  setup?: ((channel: Channel) => void) | undefined;
  /**
   * Use TLS with mutual authentication (TCP only): the CA, this side's
   * certificate and key, as files or PEM text. See {@linkcode TlsOptions}.
   */
  tls?: TlsOptions | undefined;
  /**
   * Turn on TCP keep-alive on TCP and TLS connections (default `true`), so
   * the operating system eventually notices a peer that vanished. Its probes
   * start after the system's idle time (often two hours); use the
   * `heartbeat` option to notice within seconds.
   */
  keepAlive?: boolean | undefined;
  /**
   * Servers: most connections open at once (default
   * {@linkcode DEFAULT_MAX_CONNECTIONS}). A client beyond it is accepted and
   * closed at once, and a warning is logged once until the count drops.
   */
  maxConnections?: number | undefined;
  /**
   * Servers: bytes of grown read buffers, queued output and requests held
   * by handlers (counted at four times their size until answered) that all
   * connections of the server may hold together (default
   * {@linkcode DEFAULT_MAX_BUFFERED_BYTES}, 256 MiB). Each connection is
   * guaranteed an equal share of the connections holding memory: when the
   * budget is full, connections above their share are closed (greediest
   * first) to make room for one within its share, and one that would exceed
   * its share is closed. Ignored when `bufferBudget` is given.
   */
  maxBufferedBytes?: number | undefined;
}

/** A listening channel server, made by {@linkcode startServer}. */
export interface Server {
  /** The bound address; for port `0`, the port the OS chose. */
  readonly addr: ResolvedAddress;
  /** The bound address as a URL, such as `tcp://127.0.0.1:5555`. */
  readonly url: string;
  /** The channels currently open on this server. */
  readonly channels: ReadonlySet<Channel>;
  /** Stop listening and close every channel of this server. */
  close(): Promise<void>;
}

/**
 * Make a channel on `transport` with the options' codec and serializers.
 *
 * @example
 * ```ts
 * import { createChannel, createMemoryPair, MsgPackCodec } from "@aiomas/aiomas";
 * const [a, b] = createMemoryPair(["local://a", "local://b"]);
 * const server = createChannel(b, { codec: MsgPackCodec });
 * server.setHandler((request) => request.reply(`${request.content}!`));
 * const client = createChannel(a, { codec: MsgPackCodec });
 * console.log(await client.send("ohai")); // ohai!
 * await client.close();
 * await server.close();
 * ```
 */
export function createChannel(transport: Transport, options: ConnectionOptions = {}): Channel {
  const codec = createCodec(options.codec ?? JsonCodec, options.extraSerializers);
  const channel = new Channel(transport, codec, options);
  options.setup?.(channel);
  return channel;
}

/**
 * Connect to a channel server.
 *
 * @param options Optional (default `{}`): codec, TLS and the other {@linkcode ConnectionOptions}.
 * @throws {ConnectionError} naming the address when nobody listens there, or
 *   when the TLS handshake fails (with `options.tls`).
 *
 * @example
 * ```ts
 * import { openConnection, startServer } from "@aiomas/aiomas/channel";
 * const server = await startServer("tcp://127.0.0.1:0", async (channel) => {
 *   for await (const request of channel) await request.reply(request.content);
 * });
 * const channel = await openConnection(server.url);
 * console.log(await channel.send([1, "two"])); // [ 1, "two" ]
 * await channel.close();
 * await server.close();
 * ```
 */
export async function openConnection(
  addr: Address,
  options: ConnectionOptions = {},
): Promise<Channel> {
  channelLimits(options);
  const transport = options.tls
    ? await connectTlsTransport(addr, options.tls, options)
    : await connectTransport(addr, options);
  return createChannel(transport, options);
}

/**
 * Listen on `addr` and call `onChannel` with a {@linkcode Channel} for every
 * client. Errors thrown by `onChannel` close that client's channel only.
 * With `options.tls`, only clients with a certificate signed by the CA get
 * a channel.
 *
 * @param options Optional (default `{}`): codec, TLS, limits and the other {@linkcode
 *   ConnectionOptions}.
 * @example
 * ```ts
 * import { startServer } from "@aiomas/aiomas/channel";
 * const server = await startServer({ hostname: "127.0.0.1", port: 0 }, () => {});
 * console.log(server.url.startsWith("tcp://127.0.0.1:")); // true
 * await server.close();
 * ```
 */
export async function startServer(
  addr: Address,
  onChannel: (channel: Channel) => void | Promise<void>,
  options: ConnectionOptions = {},
): Promise<Server> {
  channelLimits(options);
  serverLimit(options);
  let listener: TransportListener;
  try {
    listener = options.tls
      ? await listenTlsTransport(addr, options.tls, options)
      : listenTransport(addr, options);
  } catch (error) {
    throw listenError(addr, error);
  }
  return serveListener(listener, onChannel, options);
}

/**
 * The error for a failed listen, naming the address and what to do (an
 * `AddressError`); errors about the options themselves pass unchanged.
 */
function listenError(addr: Address, error: unknown): unknown {
  if (error instanceof AiomasError || !(error instanceof Error) || error instanceof TypeError) {
    return error;
  }
  let where: string, host: string | undefined, path: string | undefined;
  try {
    const resolved = parseAddress(addr);
    where = typeof addr === "string" ? addr : formatAddress(resolved);
    if ("hostname" in resolved) host = resolved.hostname;
    if ("path" in resolved) path = resolved.path;
  } catch {
    return error;
  }
  const code = (error as { code?: unknown }).code;
  let reason: string;
  if (error instanceof Deno.errors.AddrInUse || code === "EADDRINUSE") {
    reason = "the address is in use (another program or container listens there): stop it, " +
      "or choose another port (port 0 picks a free one)";
  } else if (error instanceof Deno.errors.NotFound && path !== undefined) {
    const slash = path.lastIndexOf("/");
    const dir = slash <= 0 ? "/" : path.slice(0, slash);
    reason = `the directory "${dir}" does not exist: create it, or choose another socket path`;
  } else if (error instanceof Deno.errors.AddrNotAvailable || code === "EADDRNOTAVAIL") {
    reason = `"${host}" is not an address of this machine: use one of its own addresses, ` +
      "127.0.0.1 for this machine only, or 0.0.0.0 for every interface";
  } else if (
    error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable
  ) {
    reason = `permission denied (${error.message}): ` +
      (path !== undefined
        ? "choose a directory you may write to, and allow it with --allow-write"
        : "use a port above 1023, and allow it with --allow-net");
  } else if (host !== undefined && /lookup|not known|ENOTFOUND|EAI_/i.test(error.message)) {
    reason = `the host "${host}" does not resolve: use an IP address (such as 127.0.0.1) ` +
      "or a host name of this machine";
  } else {
    reason = error.message;
  }
  return new AddressError(`Cannot listen on ${where}: ${reason}`, { cause: error });
}

/** A server's `onChannel` failed for `channel`: log it and close that channel only. */
function handlerFailed(channel: Channel, error: unknown): void {
  console.warn(
    `aiomas: handler for ${channel.peer} failed: ${(error as Error)?.stack ?? error}`,
  );
  void channel.close();
}

function serverLimit(options: ConnectionOptions): number {
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  if (!(maxConnections >= 1)) {
    throw new RangeError(`Option maxConnections must be at least 1, not ${maxConnections}`);
  }
  return maxConnections;
}

/**
 * Serve channels on an already listening transport (TCP, TLS, in-process):
 * the code path every server shares.
 *
 * @param options Optional (default `{}`): the {@linkcode ConnectionOptions} of every channel.
 * @example
 * ```ts
 * import { listenTransport, openConnection, serveListener } from "@aiomas/aiomas/channel";
 * const server = serveListener(listenTransport("tcp://127.0.0.1:0"), (channel) => {
 *   channel.setHandler((request) => request.reply("pong"));
 * });
 * const client = await openConnection(server.addr);
 * console.log(await client.send("ping")); // pong
 * await client.close();
 * await server.close();
 * ```
 */
export function serveListener(
  listener: TransportListener,
  onChannel: (channel: Channel) => void | Promise<void>,
  options: ConnectionOptions = {},
): Server {
  const channels = new Set<Channel>();
  const maxConnections = serverLimit(options);
  const channelOptions: ConnectionOptions = {
    ...options,
    bufferBudget: options.bufferBudget ??
      new BufferBudget(options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES),
  };
  let full = false;
  const forget = (channel: Channel) => void channels.delete(channel);
  const accepting = (async () => {
    for await (const transport of listener) {
      if (channels.size >= maxConnections) {
        if (!full) {
          full = true;
          console.warn(
            `aiomas: ${formatAddress(listener.addr)} has ${channels.size} connections ` +
              `(maxConnections); closing new ones until some close`,
          );
        }
        transport.close();
        continue;
      }
      full = false;
      let channel: Channel;
      try {
        channel = createChannel(transport, channelOptions);
      } catch (error) {
        // A failing codec, serializer or setup hook costs this client only.
        console.warn(
          `aiomas: could not set up ${transport.peer}: ${(error as Error)?.stack ?? error}`,
        );
        transport.close();
        continue;
      }
      channels.add(channel);
      // One function for all channels (no promise per channel): an idle connection stays small.
      channel._onClosed = forget;
      if (channel.isClosed) channels.delete(channel);
      // A synchronous handler costs no promise per connection.
      let handled: void | Promise<void>;
      try {
        handled = onChannel(channel);
      } catch (error) {
        handlerFailed(channel, error);
        continue;
      }
      if (typeof (handled as PromiseLike<void> | undefined)?.then === "function") {
        Promise.resolve(handled).catch((error) => handlerFailed(channel, error));
      }
    }
  })();
  return {
    addr: listener.addr,
    url: formatAddress(listener.addr),
    channels,
    async close() {
      listener.close();
      await accepting;
      await Promise.all([...channels].map((channel) => channel.close()));
    },
  };
}
