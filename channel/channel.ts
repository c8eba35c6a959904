/**
 * The request-reply {@linkcode Channel} over a byte stream, and the
 * {@linkcode Request}s it receives. Frames are a 4-byte big-endian length and
 * the codec's encoding of `[msg_type, msg_id, content]` (SPEC section 3).
 *
 * @module
 */

import type { Codec } from "../codecs/types.ts";
import { AiomasError, ConnectionError, ProtocolError, RemoteException } from "../errors.ts";
import { formatTraceback } from "./traceback.ts";
import type { Transport } from "./transport.ts";

/** `msg_type` of a request. */
export const REQUEST = 0;
/** `msg_type` of a successful reply. */
export const RESULT = 1;
/** `msg_type` of a failed reply. */
export const EXCEPTION = 2;

/** The default limit of a frame's payload: 64 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;

// A sender waits for the socket once this much is queued (backpressure).
const HIGH_WATER_MARK = 1024 * 1024;
// Replies queued beyond this (plus two maximal messages) mean the peer does not read.
const REPLY_BUFFER_LIMIT = 16 * 1024 * 1024;
const INITIAL_READ_BUFFER = 64 * 1024;

/** Options of a single {@linkcode Channel.send} call. */
export interface SendOptions {
  /** Reject with the signal's reason when it aborts; a late reply is dropped. */
  signal?: AbortSignal;
}

/** Options for a {@linkcode Channel} made by `startServer` or `openConnection`. */
export interface ChannelOptions {
  /** Largest accepted payload in bytes (default 64 MiB); larger frames close the connection. */
  maxMessageSize?: number;
  /** Called when the peer breaks the protocol and the channel closes (default: `console.warn`). */
  onError?: (error: AiomasError, channel: Channel) => void;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * A request received from the peer. Answer it once, with
 * {@linkcode Request.reply} or {@linkcode Request.fail}.
 *
 * @example
 * ```ts ignore
 * for await (const request of channel) {
 *   if (request.content === "ohai") request.reply("cya");
 *   else request.fail(new Error(`unknown greeting ${request.content}`));
 * }
 * ```
 */
export class Request {
  #channel: Channel;
  #id: number;
  #answered = false;
  /** The decoded content of the request. */
  readonly content: unknown;

  /** Made by the channel for every incoming request. */
  constructor(channel: Channel, id: number, content: unknown) {
    this.#channel = channel;
    this.#id = id;
    this.content = content;
  }

  /** The request's id on its connection (the peer's counter). */
  get id(): number {
    return this.#id;
  }

  /** The channel the request came in on. */
  get channel(): Channel {
    return this.#channel;
  }

  /**
   * Send `value` as the result. If it cannot be encoded, the peer gets an
   * `EXCEPTION` naming the encoding error instead. Resolves once written.
   */
  reply(value: unknown): Promise<void> {
    this.#markAnswered();
    return this.#channel._answer(RESULT, this.#id, value);
  }

  /** Send `error` to the peer as an `EXCEPTION` with a traceback-like text. */
  fail(error: unknown): Promise<void> {
    this.#markAnswered();
    return this.#channel._answer(EXCEPTION, this.#id, formatTraceback(error));
  }

  #markAnswered(): void {
    if (this.#answered) throw new AiomasError(`Request ${this.#id} was already answered`);
    this.#answered = true;
  }
}

/**
 * A request-reply channel over one connection. Both sides may send requests;
 * `send()` resolves with the peer's reply, and incoming requests are read with
 * `recv()` or `for await`.
 *
 * @example A client and a server on one machine
 * ```ts
 * import { openConnection, startServer } from "@aiomas/aiomas/channel";
 *
 * const server = await startServer({ hostname: "127.0.0.1", port: 0 }, async (channel) => {
 *   const request = await channel.recv();
 *   await request.reply(`${request.content}, cya`);
 * });
 * const channel = await openConnection(server.addr);
 * console.log(await channel.send("ohai")); // ohai, cya
 * await channel.close();
 * await server.close();
 * ```
 */
export class Channel implements AsyncIterable<Request> {
  /** The codec of this connection (its serializers are per connection). */
  readonly codec: Codec;
  /** The peer's address as a URL (`tcp://host:port`, `ipc://[path]`). */
  readonly peer: string;
  /** Resolves once the channel is closed, by either side or after a protocol error. */
  readonly closed: Promise<void>;

  #transport: Transport;
  #maxMessageSize: number;
  #onError: (error: AiomasError, channel: Channel) => void;
  #nextId = 0;
  #pending = new Map<number, Pending>();
  #incoming: Request[] = [];
  #receivers: Pending[] = [];
  #handler: ((request: Request) => void) | undefined;
  #closeReason: ConnectionError | undefined;
  #resolveClosed!: () => void;
  // Write side: the first frame is written at once; frames queued while a
  // write is in flight go out together in the next one.
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #writing = false;
  #drainWaiters: Array<() => void> = [];

  /**
   * Wrap a connected transport. Usually made by `startServer` or
   * `openConnection`; reading starts on the next turn of the event loop, so
   * whoever creates the channel can register serializers or a handler first.
   */
  constructor(transport: Transport, codec: Codec, options: ChannelOptions = {}) {
    this.#transport = transport;
    this.codec = codec;
    this.peer = transport.peer;
    this.#maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.#onError = options.onError ??
      ((error) => console.warn(`aiomas: closing connection to ${this.peer}: ${error.message}`));
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    queueMicrotask(() => this.#readLoop());
  }

  /** Whether the channel is closed. */
  get isClosed(): boolean {
    return this.#closeReason !== undefined;
  }

  /** Bytes queued for writing that the socket has not taken yet. */
  get bufferedAmount(): number {
    return this.#queuedBytes;
  }

  /** Number of sent requests still waiting for their reply. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * Send a request and resolve with the reply's content.
   *
   * @throws {RemoteException} when the peer answers with an `EXCEPTION`.
   * @throws {ConnectionError} when the connection closes before the reply.
   * @throws {CodecError} when `content` cannot be encoded (nothing is sent).
   */
  async send(content: unknown, options?: SendOptions): Promise<unknown> {
    if (this.#closeReason) throw this.#closeReason;
    const signal = options?.signal;
    signal?.throwIfAborted();
    // Backpressure: wait while the socket is behind, so a slow reader cannot
    // make us buffer without bound.
    while (this.#queuedBytes > HIGH_WATER_MARK) {
      await this.#drain();
      if (this.#closeReason) throw this.#closeReason;
    }
    const id = this.#nextId++;
    const reply = new Promise<unknown>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
    try {
      this.#enqueue(this.codec.encode([REQUEST, id, content]));
    } catch (error) {
      this.#pending.delete(id);
      throw error;
    }
    if (signal === undefined) return reply;
    return await new Promise((resolve, reject) => {
      const onAbort = () => {
        // Forget the request; its late reply, if any, is dropped in #dispatch.
        this.#pending.delete(id);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const settle = <T>(finish: (value: T) => void) => (value: T) => {
        signal.removeEventListener("abort", onAbort);
        finish(value);
      };
      reply.then(settle(resolve), settle(reject));
    });
  }

  /**
   * Wait for the next incoming request.
   *
   * @throws {ConnectionError} once the channel is closed and no request is left.
   */
  recv(): Promise<Request> {
    const request = this.#incoming.shift();
    if (request) return Promise.resolve(request);
    if (this.#closeReason) return Promise.reject(this.#closeReason);
    return new Promise((resolve, reject) => this.#receivers.push({ resolve, reject }));
  }

  /** Iterate over incoming requests until the channel closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<Request> {
    while (true) {
      try {
        yield await this.recv();
      } catch (error) {
        if (error instanceof ConnectionError) return;
        throw error;
      }
    }
  }

  /**
   * Pass every incoming request to `handler` instead of queueing it for
   * `recv()`. Layers above (RPC) use this to dispatch without a queue.
   */
  setHandler(handler: (request: Request) => void): void {
    this.#handler = handler;
    for (const request of this.#incoming.splice(0)) handler(request);
  }

  /**
   * Close the connection. Pending `send()`s reject with a `ConnectionError`;
   * waiting `recv()`s reject too. Queued frames are written first, briefly.
   */
  async close(): Promise<void> {
    if (this.#closeReason) return await this.closed;
    if (this.#queuedBytes > 0 || this.#writing) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.#drain(), new Promise((r) => timer = setTimeout(r, 100))]);
      clearTimeout(timer);
    }
    this.#shutDown(new ConnectionError(`Connection to ${this.peer} was closed`));
    await this.closed;
  }

  /** @internal Send a reply frame; used by {@linkcode Request}. */
  _answer(type: number, id: number, value: unknown): Promise<void> {
    if (this.#closeReason) return Promise.resolve();
    let payload: Uint8Array;
    try {
      payload = this.codec.encode([type, id, value]);
      if (payload.length > this.#maxMessageSize) {
        throw new ProtocolError(
          `Reply of ${payload.length} bytes exceeds maxMessageSize (${this.#maxMessageSize})`,
        );
      }
    } catch (error) {
      // The peer learns why instead of waiting forever; the error text is short.
      payload = this.codec.encode([EXCEPTION, id, formatTraceback(error).slice(-4096)]);
    }
    this.#enqueue(payload);
    if (this.#queuedBytes > REPLY_BUFFER_LIMIT + 2 * this.#maxMessageSize) {
      // A peer that sends requests but never reads the replies.
      this.#fail(
        new ProtocolError(`Peer does not read its replies (${this.#queuedBytes} bytes queued)`),
      );
      return Promise.resolve();
    }
    return this.#queuedBytes > HIGH_WATER_MARK ? this.#drain() : Promise.resolve();
  }

  #enqueue(payload: Uint8Array): void {
    if (payload.length > this.#maxMessageSize) {
      throw new ProtocolError(
        `Message of ${payload.length} bytes exceeds maxMessageSize (${this.#maxMessageSize}); ` +
          "raise the maxMessageSize option on both peers or send less",
      );
    }
    // Headers are written when the queue is flushed, into the one output buffer.
    this.#queue.push(payload);
    this.#queuedBytes += 4 + payload.length;
    if (!this.#writing) {
      this.#writing = true;
      void this.#writeLoop();
    }
  }

  async #writeLoop(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#closeReason) {
        const chunks = this.#queue;
        const size = this.#queuedBytes;
        this.#queue = [];
        const data = new Uint8Array(size);
        const view = new DataView(data.buffer);
        let offset = 0;
        for (const payload of chunks) {
          view.setUint32(offset, payload.length);
          data.set(payload, offset + 4);
          offset += 4 + payload.length;
        }
        let written = 0;
        while (written < data.length) {
          written += await this.#transport.write(data.subarray(written));
        }
        this.#queuedBytes -= size;
        if (this.#queuedBytes <= HIGH_WATER_MARK) this.#wakeDrainWaiters();
      }
    } catch (cause) {
      this.#shutDown(
        new ConnectionError(`Connection to ${this.peer} lost while writing`, { cause }),
      );
    } finally {
      this.#writing = false;
      this.#wakeDrainWaiters();
    }
  }

  #drain(): Promise<void> {
    if (!this.#writing || this.#closeReason) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #wakeDrainWaiters(): void {
    for (const wake of this.#drainWaiters.splice(0)) wake();
  }

  async #readLoop(): Promise<void> {
    let buffer = new Uint8Array(INITIAL_READ_BUFFER);
    let view = new DataView(buffer.buffer);
    let start = 0;
    let end = 0;
    try {
      while (!this.#closeReason) {
        // Parse every complete frame in the buffer.
        while (end - start >= 4) {
          const size = view.getUint32(start);
          if (size > this.#maxMessageSize) {
            throw new ProtocolError(
              `Frame of ${size} bytes exceeds maxMessageSize (${this.#maxMessageSize})`,
            );
          }
          if (end - start - 4 < size) {
            const frameSize = 4 + size;
            if (start + frameSize > buffer.length) {
              // Grow at most 2x per fill, never straight to a size the peer only claims.
              const capacity = frameSize <= buffer.length
                ? buffer.length
                : Math.min(frameSize, buffer.length * 2);
              const next = capacity === buffer.length ? buffer : new Uint8Array(capacity);
              next.set(buffer.subarray(start, end));
              buffer = next;
              view = new DataView(buffer.buffer);
              end -= start;
              start = 0;
            }
            break;
          }
          const payload = buffer.subarray(start + 4, start + 4 + size);
          start += 4 + size;
          this.#dispatch(payload);
          if (this.#closeReason) return;
        }
        if (start === end) {
          start = end = 0;
          if (buffer.length > 16 * INITIAL_READ_BUFFER) {
            buffer = new Uint8Array(INITIAL_READ_BUFFER);
            view = new DataView(buffer.buffer);
          }
        } else if (start > 0 && buffer.length - end < 4096) {
          buffer.copyWithin(0, start, end);
          end -= start;
          start = 0;
        }
        const count = await this.#transport.read(buffer.subarray(end));
        if (count === null) {
          this.#shutDown(new ConnectionError(`Connection to ${this.peer} was closed by the peer`));
          return;
        }
        end += count;
      }
    } catch (error) {
      if (this.#closeReason) return;
      if (error instanceof AiomasError) this.#fail(error);
      else {
        this.#shutDown(
          new ConnectionError(
            `Connection to ${this.peer} lost: ${(error as Error)?.message ?? error}`,
            { cause: error },
          ),
        );
      }
    }
  }

  /** Close the connection because the peer broke the protocol, and say why. */
  #fail(error: AiomasError): void {
    this.#shutDown(
      new ConnectionError(`Connection to ${this.peer} closed: ${error.message}`, { cause: error }),
    );
    try {
      this.#onError(error, this);
    } catch (hookError) {
      console.warn(`aiomas: onError hook failed: ${hookError}`);
    }
  }

  #dispatch(payload: Uint8Array): void {
    const message = this.codec.decode(payload);
    if (!Array.isArray(message) || message.length !== 3) {
      throw new ProtocolError("Payload is not a [msg_type, msg_id, content] triple");
    }
    const [type, id, content] = message;
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw new ProtocolError(`Invalid msg_id ${String(id)}`);
    }
    if (type === REQUEST) {
      const request = new Request(this, id, content);
      if (this.#handler) this.#handler(request);
      else {
        const receiver = this.#receivers.shift();
        if (receiver) receiver.resolve(request);
        else this.#incoming.push(request);
      }
      return;
    }
    if (type !== RESULT && type !== EXCEPTION) {
      throw new ProtocolError(`Unknown msg_type ${String(type)}`);
    }
    const pending = this.#pending.get(id);
    if (pending === undefined) {
      // An id we issued is a late reply to an aborted or timed-out request: dropped.
      if (id < this.#nextId) return;
      throw new ProtocolError(`Reply to unknown request id ${id}`);
    }
    this.#pending.delete(id);
    if (type === RESULT) pending.resolve(content);
    else {
      const text = typeof content === "string" ? content : String(content);
      pending.reject(new RemoteException(this.peer, text));
    }
  }

  #shutDown(reason: ConnectionError): void {
    if (this.#closeReason) return;
    this.#closeReason = reason;
    this.#transport.close();
    for (const pending of this.#pending.values()) pending.reject(reason);
    this.#pending.clear();
    for (const receiver of this.#receivers.splice(0)) receiver.reject(reason);
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#wakeDrainWaiters();
    this.#resolveClosed();
  }
}
