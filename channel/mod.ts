/**
 * The channel layer: request-reply messaging over one connection. Frames are
 * a 4-byte big-endian length and the codec's encoding of
 * `[msg_type, msg_id, content]`, compatible with Python aiomas.
 *
 * @example The guide's channel example
 * ```ts
 * import { openConnection, startServer } from "@aiomas/aiomas/channel";
 *
 * const server = await startServer("tcp://127.0.0.1:0", async (channel) => {
 *   const request = await channel.recv();
 *   console.log(request.content); // ohai
 *   await request.reply("cya");
 *   await channel.close();
 * });
 * const channel = await openConnection(server.url);
 * console.log(await channel.send("ohai")); // cya
 * await channel.close();
 * await server.close();
 * ```
 *
 * @module
 */

export {
  type Address,
  formatAddress,
  type LocalAddress,
  parseAddress,
  type ResolvedAddress,
  type TcpAddress,
  type UnixAddress,
} from "./address.ts";
export {
  Channel,
  type ChannelOptions,
  DEFAULT_MAX_MESSAGE_SIZE,
  EXCEPTION,
  HEARTBEAT_PATH,
  REQUEST,
  Request,
  RESULT,
  type SendOptions,
} from "./channel.ts";
export {
  type BudgetAccount,
  type BudgetAnswer,
  BufferBudget,
  DEFAULT_FRAME_TIMEOUT,
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_CONCURRENT_REQUESTS,
  DEFAULT_MAX_CONNECTIONS,
} from "./limits.ts";
export { type ReplyObserver } from "./pending.ts";
export {
  type ConnectionOptions,
  createChannel,
  openConnection,
  serveListener,
  type Server,
  startServer,
} from "./server.ts";
export {
  connectTlsTransport,
  listenTlsTransport,
  tlsClientOptions,
  type TlsOptions,
  tlsServerOptions,
} from "./tls.ts";
export { createMemoryPair } from "./memory.ts";
export { formatTraceback, type TracebackOptions } from "./traceback.ts";
export {
  ACCEPT_BACKOFF_MAX_MS,
  ACCEPT_BACKOFF_MIN_MS,
  connectTransport,
  fromConn,
  listenTransport,
  type Transport,
  type TransportListener,
  type TransportOptions,
} from "./transport.ts";
// Types of lower layers that this layer's API uses.
export type * from "../codecs/types.ts";
export { AddressError, AiomasError } from "../errors.ts";
export { connectLocal, listenLocal } from "./local.ts";
