/**
 * The request-reply {@linkcode Channel} over a byte stream. Frames are a
 * 4-byte big-endian length and the codec's encoding of
 * `[msg_type, msg_id, content]` (SPEC section 3).
 *
 * @module
 */

import type { Codec } from "../codecs/types.ts";
import { AiomasError, ConnectionError, ProtocolError, RemoteException } from "../errors.ts";
import { frameTooLarge, type Payload, payloadSize } from "./frames.ts";
import type { BudgetAccount, BufferBudget } from "./limits.ts";
import {
  channelLimits,
  type ChannelOptions,
  DEFAULT_MAX_MESSAGE_SIZE,
  HEARTBEAT_PATH,
  type SendOptions,
} from "./options.ts";
import { FrameOutput, writeChunks } from "./output.ts";
import { PendingReplies, type ReplyObserver, tellObserver } from "./pending.ts";
import { ReadBuffer } from "./read_buffer.ts";
import { EXCEPTION, REQUEST, Request, RESULT } from "./request.ts";
import { formatTraceback } from "./traceback.ts";
import type { Transport } from "./transport.ts";
import { KEEP_GROWN_MS, now, Watchdog, type WatchLimits } from "./watchdog.ts";

export { EXCEPTION, REQUEST, Request, RESULT };
export {
  channelLimits,
  type ChannelOptions,
  DEFAULT_MAX_MESSAGE_SIZE,
  HEARTBEAT_PATH,
  type SendOptions,
};

const HEARTBEAT_REQUEST = Object.freeze([HEARTBEAT_PATH, Object.freeze([]), Object.freeze({})]);

// A sender waits for the socket once this much is queued (backpressure).
const HIGH_WATER_MARK = 1024 * 1024;
// Replies queued beyond this (plus two maximal messages) mean the peer does not read.
const REPLY_BUFFER_LIMIT = 16 * 1024 * 1024;
// Requests of this size or more count against the buffer budget until answered,
// at this many times their size (an estimate of their decoded size).
const WEIGHED_SIZE = 1024;
const DECODED_FACTOR = 4;
const RESOLVED = Promise.resolve();
const noop = () => {};

/** A rejected promise whose rejection never counts as unhandled. */
function rejected(error: unknown): Promise<never> {
  const promise = Promise.reject(error);
  promise.catch(noop);
  return promise;
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
  /**
   * @internal Called with the channel once it is closed: how a server keeps
   * its set of open channels without a promise per channel.
   */
  _onClosed: ((channel: Channel) => void) | undefined;

  #transport: Transport;
  #maxMessageSize: number;
  #fullTracebacks: boolean;
  // What an idle connection holds is kept small (docs/channel.md, "Memory per
  // connection"): the pending replies, queues and promises below are made when
  // first needed.
  #onError: ((error: AiomasError, channel: Channel) => void) | undefined;
  #nextId = 0;
  #pending: PendingReplies | undefined;
  #incoming: Request[] | undefined;
  #receivers: Array<PromiseWithResolvers<Request>> | undefined;
  #handler: ((request: Request) => void) | undefined;
  #closeReason: ConnectionError | undefined;
  // `closed`, made when first asked for.
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;
  // Write side: the first frame is written at once; frames queued while a
  // write is in flight go out together in the next one.
  #output: FrameOutput | undefined;
  /** Bytes of `#output`, headers included. */
  #queueBytes = 0;
  /** `#queueBytes` plus what the write in flight has not written yet. */
  #queuedBytes = 0;
  #writing = false;
  #drainWaiters: Array<() => void> | undefined;
  // Read side and limits.
  #read: ReadBuffer;
  #budget: BufferBudget | undefined;
  #bytesIn = 0;
  #bytesOut = 0;
  #account: BudgetAccount | undefined;
  #maxConcurrent: number;
  #unanswered = 0;
  #paused: "requests" | "budget" | undefined;
  #resume: (() => void) | undefined;
  // Timers: made when first needed (channel/watchdog.ts).
  #watch: Watchdog | undefined;
  #limits: WatchLimits;
  #inProcess: boolean;
  #frames = 0;
  // With heartbeats: the peer takes the bytes of a big message, so it is
  // alive (a long upload gets no answer until it is complete).
  #onWritten: (() => void) | undefined;

  /** A channel's share of the buffer budget: one small object instead of closures. */
  static #Account = class implements BudgetAccount {
    held = 0;
    #channel: Channel;
    constructor(channel: Channel) {
      this.#channel = channel;
    }
    evict(reason: string): void {
      this.#channel.#fail(new ProtocolError(reason));
    }
    trim(): void {
      this.#channel.#read.releaseIdle(Infinity);
    }
  };

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
    this.#fullTracebacks = options.fullTracebacks ?? false;
    this.#onError = options.onError;
    const limits = channelLimits(options);
    this.#inProcess = transport.inProcess === true;
    this.#limits = {
      frameMs: this.#inProcess ? 0 : limits.frameMs,
      idleMs: limits.idleMs,
      heartbeatMs: limits.heartbeatMs,
    };
    this.#maxConcurrent = limits.maxConcurrent;
    this.#budget = options.bufferBudget;
    if (this.#budget) this.#account = new Channel.#Account(this);
    this.#read = new ReadBuffer(
      this.#budget,
      this.#account,
      options.recycleReadBuffers === true,
      codec.decodeOwned !== undefined,
    );
    if (limits.heartbeatMs > 0 || limits.idleMs > 0) this.#watchdog();
    if (limits.heartbeatMs > 0) this.#onWritten = () => this.#watch!.heard();
    queueMicrotask(() => this.#pump());
  }

  /** Resolves once the channel is closed, by either side or after a protocol error. */
  get closed(): Promise<void> {
    if (this.#closed === undefined) {
      if (this.#closeReason !== undefined) this.#closed = RESOLVED;
      else this.#closed = new Promise((resolve) => this.#resolveClosed = resolve);
    }
    return this.#closed;
  }

  /** Whether the channel is closed. */
  get isClosed(): boolean {
    return this.#closeReason !== undefined;
  }

  /** Bytes queued for writing that the socket has not taken yet. */
  get bufferedAmount(): number {
    return this.#queuedBytes;
  }

  /** Bytes received so far, frame headers included. */
  get bytesIn(): number {
    return this.#bytesIn;
  }

  /** Bytes written to the socket so far, frame headers included. */
  get bytesOut(): number {
    return this.#bytesOut;
  }

  /**
   * Bytes of read buffers this channel holds now: a small one while it waits
   * for a frame, plus a grown one for big frames, released after a second
   * without one, or the buffer of its own that a very big frame is being
   * read into (which its message keeps), and with `recycleReadBuffers` the
   * spare buffers kept for the next big requests.
   */
  get readBufferSize(): number {
    return this.#read.size;
  }

  /** Number of sent requests still waiting for their reply. */
  get pendingCount(): number {
    return this.#pending?.size ?? 0;
  }

  /** Number of received requests not answered yet. */
  get unansweredCount(): number {
    return this.#unanswered;
  }

  /**
   * Send a request and resolve with the reply's content.
   *
   * @throws {RemoteException} when the peer answers with an `EXCEPTION`.
   * @throws {ConnectionError} when the connection closes before the reply.
   * @throws {CodecError} when `content` cannot be encoded (nothing is sent).
   *
   * A rejection of the returned promise never counts as unhandled: a request
   * nobody awaits loses its error, never the process.
   */
  send(content: unknown, options?: SendOptions): Promise<unknown> {
    if (this.#closeReason) return rejected(this.#closeReason);
    // Fast path: no signal and no backpressure, so no async function and no closures.
    if (options?.signal === undefined && this.#queuedBytes <= HIGH_WATER_MARK) {
      try {
        return this.#request(content, true);
      } catch (error) {
        return rejected(error);
      }
    }
    const reply = this.#sendSlowly(content, options?.signal);
    reply.catch(noop);
    return reply;
  }

  /**
   * Send a request like `send(content)`, and call `observer(tag, ok,
   * replyOrError)` when it settles, right before the returned promise does:
   * with the reply, or with the error it rejects with (also when the request
   * cannot be sent). It lets a layer above watch many requests through one
   * function, without a promise handler per request. `observer` must not
   * throw.
   *
   * @example
   * ```ts
   * import { openConnection, startServer } from "@aiomas/aiomas/channel";
   * const server = await startServer("tcp://127.0.0.1:0", (channel) => {
   *   channel.setHandler((request) => request.reply(request.content));
   * });
   * const channel = await openConnection(server.url);
   * const seen: string[] = [];
   * const observer = (tag: unknown, ok: boolean) => seen.push(`${tag} ${ok}`);
   * console.log(await channel.sendObserved("ping", observer, "first")); // ping
   * console.log(seen); // [ "first true" ]
   * await channel.close();
   * await server.close();
   * ```
   */
  sendObserved(content: unknown, observer: ReplyObserver, tag: unknown): Promise<unknown> {
    if (!this.#closeReason && this.#queuedBytes <= HIGH_WATER_MARK) {
      try {
        return this.#request(content, true, observer, tag);
      } catch (error) {
        tellObserver(observer, tag, false, error);
        return rejected(error);
      }
    }
    // Closed, or backpressure: the slow path, watched by handlers of its own.
    const reply = this.send(content);
    reply.then(
      (value) => tellObserver(observer, tag, true, value),
      (error) => tellObserver(observer, tag, false, error),
    );
    return reply;
  }

  async #sendSlowly(content: unknown, signal: AbortSignal | undefined): Promise<unknown> {
    signal?.throwIfAborted();
    // Backpressure: wait while the socket is behind, so a slow reader cannot
    // make us buffer without bound.
    while (this.#queuedBytes > HIGH_WATER_MARK) {
      await this.#drain();
      if (this.#closeReason) throw this.#closeReason;
    }
    const id = this.#nextId;
    const reply = this.#request(content, signal === undefined);
    if (signal === undefined) return await reply;
    return await new Promise((resolve, reject) => {
      const onAbort = () => {
        // Forget the request; its late reply, if any, is dropped in #dispatch.
        this.#pending?.delete(id);
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
   * Encode and queue a request; the returned promise settles with its reply.
   * `byReference`: the codec may pass big binary data by reference (not
   * copied), which is safe as the caller keeps it until the reply (an
   * aborted call settles before that).
   */
  #request(
    content: unknown,
    byReference: boolean,
    observer?: ReplyObserver,
    tag?: unknown,
  ): Promise<unknown> {
    const id = this.#nextId++;
    const codec = this.codec;
    const message = [REQUEST, id, content];
    const length = (this.#output ??= new FrameOutput()).encodeFrame(codec, message);
    if (length < 0) {
      this.#enqueue(
        byReference && codec.encodeParts !== undefined
          ? codec.encodeParts(message)
          : codec.encode(message),
      );
    } else if (length > this.#maxMessageSize) {
      this.#output!.dropLast();
      throw this.#tooBig(length);
    } else this.#queued(length);
    if (this.#closeReason) {
      if (observer !== undefined) tellObserver(observer, tag, false, this.#closeReason);
      return rejected(this.#closeReason);
    }
    const reply = (this.#pending ??= new PendingReplies()).add(id, observer, tag);
    // Replies must be read even when incoming requests are over their limit.
    if (this.#resume !== undefined) this.#wake();
    return reply;
  }

  /**
   * Wait for the next incoming request.
   *
   * @throws {ConnectionError} once the channel is closed and no request is left.
   */
  recv(): Promise<Request> {
    const request = this.#incoming?.shift();
    if (request) return Promise.resolve(request);
    if (this.#closeReason) return Promise.reject(this.#closeReason);
    const receiver = Promise.withResolvers<Request>();
    (this.#receivers ??= []).push(receiver);
    return receiver.promise;
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
    const incoming = this.#incoming;
    this.#incoming = undefined;
    for (const request of incoming ?? []) handler(request);
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

  /** @internal The traceback text of `error` for the peer; used by {@linkcode Request}. */
  _traceback(error: unknown): string {
    return formatTraceback(error, { full: this.#fullTracebacks });
  }

  /**
   * @internal Send a reply frame; used by {@linkcode Request}. `lease`: the
   * request's read memory, recycled once the reply is queued (a copy).
   */
  _answer(
    type: number,
    id: number,
    value: unknown,
    weight = 0,
    lease?: ArrayBuffer,
  ): Promise<void> {
    if (this.#closeReason) {
      // Detached all the same: views of it never outlive their answer.
      if (lease !== undefined) this.#read.recycle(lease, 0);
      return RESOLVED;
    }
    this.#unanswered--;
    if (weight > 0) this.#budget!.release(this.#account!, weight);
    if (this.#resume !== undefined) this.#wake();
    let payload: Uint8Array | undefined;
    try {
      const message = [type, id, value];
      // Straight into the output buffer if the codec can, else encoded, then copied.
      const length = (this.#output ??= new FrameOutput()).encodeFrame(this.codec, message);
      if (length < 0) {
        payload = this.codec.encode(message);
        if (payload.length > this.#maxMessageSize) throw this.#replyTooBig(payload.length);
      } else if (length > this.#maxMessageSize) {
        this.#output!.dropLast();
        throw this.#replyTooBig(length);
      } else this.#queued(length);
    } catch (error) {
      // The peer learns why instead of waiting forever; the error text is short.
      payload = this.codec.encode([EXCEPTION, id, this._traceback(error).slice(-4096)]);
    }
    if (payload !== undefined) this.#enqueue(payload);
    if (lease !== undefined) {
      this.#read.recycle(lease, now());
      this.#armRelease();
    }
    if (this.#queuedBytes > REPLY_BUFFER_LIMIT + 2 * this.#maxMessageSize) {
      // A peer that sends requests but never reads the replies.
      this.#fail(
        new ProtocolError(`Peer does not read its replies (${this.#queuedBytes} bytes queued)`),
      );
      return RESOLVED;
    }
    return this.#queuedBytes > HIGH_WATER_MARK ? this.#drain() : RESOLVED;
  }

  #replyTooBig(length: number): ProtocolError {
    return new ProtocolError(
      `Reply of ${length} bytes exceeds maxMessageSize (${this.#maxMessageSize})`,
    );
  }

  #tooBig(length: number): ProtocolError {
    return new ProtocolError(
      `Message of ${length} bytes exceeds maxMessageSize (${this.#maxMessageSize}); ` +
        "raise the maxMessageSize option on both peers or send less",
    );
  }

  #enqueue(payload: Payload): void {
    const length = payloadSize(payload);
    if (length > this.#maxMessageSize) throw this.#tooBig(length);
    (this.#output ??= new FrameOutput()).push(payload);
    this.#queued(length);
  }

  /** Count a frame of `length` payload bytes just queued, and start writing. */
  #queued(length: number): void {
    this.#queueBytes += 4 + length;
    this.#queuedBytes += 4 + length;
    if (this.#account) this.#budget!.force(this.#account, 4 + length);
    if (!this.#writing) {
      this.#writing = true;
      void this.#writeLoop();
    }
  }

  async #writeLoop(): Promise<void> {
    try {
      while (this.#output?.isEmpty === false && !this.#closeReason) {
        const output = this.#output;
        const size = this.#queueBytes;
        const chunks = output.take();
        this.#queueBytes = 0;
        await writeChunks(this.#transport, chunks, this.#onWritten);
        output.written();
        this.#queuedBytes -= size;
        this.#bytesOut += size;
        if (this.#account) this.#budget!.release(this.#account, size);
        if (this.#limits.idleMs > 0) this.#watch!.lastActivity = now();
        if (this.#queuedBytes <= HIGH_WATER_MARK) this.#wakeDrainWaiters();
      }
    } catch (cause) {
      this.#shutDown(
        new ConnectionError(`Connection to ${this.peer} lost while writing`, { cause }),
      );
    } finally {
      this.#writing = false;
      // An idle channel holds no output.
      if (this.#output?.isEmpty) this.#output = undefined;
      this.#wakeDrainWaiters();
    }
  }

  #drain(): Promise<void> {
    if (!this.#writing || this.#closeReason) return RESOLVED;
    return new Promise((resolve) => (this.#drainWaiters ??= []).push(resolve));
  }

  #wakeDrainWaiters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = undefined;
    for (const wake of waiters ?? []) wake();
  }

  /**
   * The read side: parse and dispatch the complete frames in the buffer, then
   * wait for more bytes (a read whose callbacks call this again) or for a
   * pause to end. Callbacks instead of an async loop: a waiting connection
   * holds a promise reaction, not a suspended async function with its
   * registers, which made a quarter of an idle connection's objects.
   */
  #pump(): void {
    const read = this.#read;
    try {
      while (!this.#closeReason) {
        // Parse every complete frame in the buffer.
        while (read.end - read.start >= 4) {
          const buf = read.buf;
          const start = read.start;
          const size = (buf[start]! << 24 | buf[start + 1]! << 16 | buf[start + 2]! << 8 |
            buf[start + 3]!) >>> 0;
          if (size > this.#maxMessageSize) {
            throw frameTooLarge(buf.subarray(start, start + 4), size, this.#maxMessageSize);
          }
          if (read.end - start - 4 < size) break;
          if (this.#unanswered >= this.#maxConcurrent && !this.#awaitsReplies()) {
            // Backpressure: read no more requests until some are answered.
            this.#pauseThenPump("requests");
            return;
          }
          let weight = 0;
          if (this.#account !== undefined && size >= WEIGHED_SIZE && !this.#awaitsReplies()) {
            // A request held by a handler counts against the budget at an estimate of its
            // decoded size (while this side waits for replies of its own, it reads on).
            weight = size * DECODED_FACTOR;
            if (this.#budget!.request(this.#account, weight) !== "granted") {
              if (this.#unanswered === 0) {
                // One request at a time is always admitted (maxMessageSize bounds it);
                // other connections can still claim their shares.
                this.#budget!.take(this.#account, weight);
              } else {
                // Wait for answers (they free this connection's share) or memory
                // elsewhere; frameTimeout bounds the wait.
                if (this.#limits.frameMs > 0) this.#watchdog().waitingForBudget(this.#frames);
                this.#pauseThenPump("budget");
                return;
              }
            }
          }
          const owned = read.owned;
          read.start = start + 4 + size;
          this.#frames++;
          if (size >= read.ownFrame) read.completed(size, now());
          this.#dispatch(buf, start + 4, start + 4 + size, weight, owned);
          if (this.#closeReason) return;
        }
        if (read.start === read.end) {
          if (this.#watch !== undefined) this.#watch.partialSince = -1;
        } else if (this.#limits.frameMs > 0) this.#watchdog().frameArriving(this.#frames);
        const target = read.prepare(now);
        if (typeof target === "string") {
          if (target === "over") {
            throw new ProtocolError(
              `A frame of ${this.#frameLength()} bytes needs more than this connection's share ` +
                `of the server's buffer budget (${this.#budget!.limit} bytes, ` +
                "maxBufferedBytes), which other connections use: raise maxBufferedBytes or " +
                "send smaller messages",
            );
          }
          this.#pauseThenPump("budget");
          return;
        }
        this.#armRelease();
        this.#transport.read(target).then(this.#onRead, this.#onReadError);
        return;
      }
    } catch (error) {
      this.#onReadError(error);
    }
  }

  /** Have big read buffers released once they have been unused for a while. */
  #armRelease(): void {
    const read = this.#read;
    if (read.grownIdleSince < 0) return;
    if (this.#inProcess) read.releaseIdle(Infinity);
    else this.#watchdog().arm(read.grownIdleSince + KEEP_GROWN_MS);
  }

  /** A read returned `count` bytes (`null`: the peer closed): go on parsing. */
  #onRead = (count: number | null): void => {
    if (this.#closeReason) return;
    if (count === null) {
      this.#shutDown(new ConnectionError(`Connection to ${this.peer} was closed by the peer`));
      return;
    }
    this.#read.filled(count);
    this.#bytesIn += count;
    if (this.#limits.heartbeatMs > 0 || this.#limits.idleMs > 0) this.#watch!.heard();
    this.#pump();
  };

  /** Reading or parsing failed: close, and say why when the peer broke the protocol. */
  #onReadError = (error: unknown): void => {
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
  };

  /** Pause reading (see `#pause`), then go on parsing unless closed meanwhile. */
  #pauseThenPump(kind: "requests" | "budget"): void {
    this.#pause(kind).then(() => {
      if (!this.#closeReason) this.#pump();
    }, this.#onReadError);
  }

  /** Whether requests of this side wait for their replies. */
  #awaitsReplies(): boolean {
    return this.#pending !== undefined && this.#pending.size > 0;
  }

  /** Total length of the frame at the read position (header included). */
  #frameLength(): number {
    const { buf, start, end } = this.#read;
    return end - start < 4 ? 4 : 4 + new DataView(buf.buffer, buf.byteOffset + start).getUint32(0);
  }

  /**
   * Stop reading until woken: by an answer or a send of this side (after
   * backpressure on requests), or by memory released in the budget. A frame's
   * time limit does not run while this side holds back on requests; heartbeats
   * are not checked while paused (nothing can be heard).
   */
  async #pause(kind: "requests" | "budget"): Promise<void> {
    this.#paused = kind;
    this.#watch?.paused(kind === "requests");
    let cancelRoom: (() => void) | undefined;
    await new Promise<void>((resolve) => {
      this.#resume = resolve;
      if (kind === "budget") cancelRoom = this.#budget!.onRoom(() => this.#wake());
    });
    cancelRoom?.();
    this.#paused = undefined;
    this.#watch?.resumed();
  }

  /** Resume a paused read loop if the reason for its pause is gone. */
  #wake(): void {
    const resume = this.#resume;
    if (resume === undefined) return;
    if (
      this.#paused === "requests" && !this.#closeReason &&
      this.#unanswered >= this.#maxConcurrent && !this.#awaitsReplies()
    ) return;
    this.#resume = undefined;
    resume();
  }

  /** The channel's watchdog, made on first use. */
  #watchdog(): Watchdog {
    return this.#watch ??= new Watchdog({
      peer: this.peer,
      read: this.#read,
      isClosed: () => this.#closeReason !== undefined,
      isPaused: () => this.#paused !== undefined,
      isBusy: () => this.#awaitsReplies() || this.#unanswered > 0 || this.#queuedBytes > 0,
      frameLength: () => this.#frameLength(),
      ping: () => this.#ping(),
      fail: (error) => this.#fail(error),
      shutDown: (reason) => this.#shutDown(reason),
    }, this.#limits);
  }

  /** Send a heartbeat request; its answer is dropped like any late reply. */
  #ping(): void {
    this.#enqueue(this.codec.encode([REQUEST, this.#nextId++, HEARTBEAT_REQUEST]));
  }

  /** Close the connection because the peer broke the protocol, and say why. */
  #fail(error: AiomasError): void {
    if (this.#closeReason) return;
    this.#shutDown(
      new ConnectionError(`Connection to ${this.peer} closed: ${error.message}`, { cause: error }),
    );
    try {
      (this.#onError ?? warnClosing)(error, this);
    } catch (hookError) {
      console.warn(`aiomas: onError hook failed: ${hookError}`);
    }
  }

  /**
   * Decode and route the frame whose payload is `buf[start, end)`; `owned`:
   * `buf` is the frame's own (views into it may be kept).
   */
  #dispatch(buf: Uint8Array, start: number, end: number, weight: number, owned: boolean): void {
    const codec = this.codec;
    const message = owned && codec.decodeOwned !== undefined
      ? codec.decodeOwned(buf.subarray(start, end))
      : codec.decodeAt !== undefined
      ? codec.decodeAt(buf, start, end)
      : codec.decode(buf.subarray(start, end));
    if (weight > 0 && !(Array.isArray(message) && message[0] === REQUEST)) {
      this.#budget!.release(this.#account!, weight);
      weight = 0;
    }
    if (!Array.isArray(message) || message.length !== 3) {
      throw new ProtocolError("Payload is not a [msg_type, msg_id, content] triple");
    }
    const type = message[0];
    const id = message[1];
    const content = message[2];
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw new ProtocolError(`Invalid msg_id ${shown(id)}`);
    }
    if (type === REQUEST) {
      if (Array.isArray(content) && content[0] === HEARTBEAT_PATH && content.length === 3) {
        // Answered here, never passed up: a peer's heartbeat.
        if (weight > 0) this.#budget!.release(this.#account!, weight);
        this.#enqueue(this.codec.encode([RESULT, id, null]));
        return;
      }
      this.#unanswered++;
      const request = new Request(this, id, content, weight, owned ? this.#read.lease : undefined);
      if (this.#handler) this.#handler(request);
      else {
        const receiver = this.#receivers?.shift();
        if (receiver) receiver.resolve(request);
        else (this.#incoming ??= []).push(request);
      }
      return;
    }
    if (type !== RESULT && type !== EXCEPTION) {
      throw new ProtocolError(`Unknown msg_type ${shown(type)}`);
    }
    const pending = this.#pending;
    if (pending === undefined || !pending.has(id)) {
      // An id we issued is a late reply to an aborted request or a heartbeat: dropped.
      if (id < this.#nextId) return;
      throw new ProtocolError(`Reply to unknown request id ${id}`);
    }
    if (type === RESULT) {
      // Resolving with a thenable (decoded data whose `then` is a peer's proxy)
      // would call into it and never settle.
      if (typeof (content as { then?: unknown } | null)?.then === "function") {
        pending.reject(
          id,
          new ProtocolError(`${this.peer} replied with a value that has a "then" function`),
        );
      } else pending.resolve(id, content);
    } else {
      // Never String() decoded data: its toString may be a peer's proxy.
      const text = typeof content === "string"
        ? content
        : `(an EXCEPTION whose content is a ${describe(content)}, not a traceback string)`;
      pending.reject(id, new RemoteException(this.peer, text));
    }
  }

  #shutDown(reason: ConnectionError): void {
    if (this.#closeReason) return;
    this.#closeReason = reason;
    this.#transport.close();
    this.#watch?.stop();
    this.#pending?.rejectAll(reason);
    const receivers = this.#receivers;
    this.#receivers = undefined;
    for (const receiver of receivers ?? []) receiver.reject(reason);
    this.#output?.clear();
    this.#output = undefined;
    this.#queueBytes = 0;
    this.#queuedBytes = 0;
    this.#read.dispose();
    if (this.#account) this.#budget!.releaseAll(this.#account);
    const resume = this.#resume;
    this.#resume = undefined;
    resume?.();
    this.#wakeDrainWaiters();
    this.#resolveClosed?.();
    const onClosed = this._onClosed;
    if (onClosed !== undefined) {
      try {
        onClosed(this);
      } catch (error) {
        console.warn(`aiomas: onClosed hook failed: ${error}`);
      }
    }
  }
}

/** The default `onError`: log why the connection closes. */
function warnClosing(error: AiomasError, channel: Channel): void {
  console.warn(`aiomas: closing connection to ${channel.peer}: ${error.message}`);
}

/** A decoded value for an error message: numbers as they are, anything else by its kind. */
function shown(value: unknown): string {
  return typeof value === "number" ? String(value) : `(a ${describe(value)})`;
}

/** What kind of value `value` is, without calling into it. */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "list";
  return typeof value === "object" ? "map or custom type" : typeof value;
}
