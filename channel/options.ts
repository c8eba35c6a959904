/**
 * The options of a {@linkcode Channel} and of one `send()`, their defaults,
 * and the heartbeat's path.
 *
 * @module
 */

import type { AiomasError } from "../errors.ts";
import type { Channel } from "./channel.ts";
import {
  type BufferBudget,
  DEFAULT_FRAME_TIMEOUT,
  DEFAULT_MAX_CONCURRENT_REQUESTS,
} from "./limits.ts";

/**
 * The default limit of a frame's payload: 64 MiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_MESSAGE_SIZE } from "@aiomas/aiomas/channel";
 * console.log(DEFAULT_MAX_MESSAGE_SIZE / 2 ** 20); // 64
 * ```
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;

/**
 * The path of a heartbeat: a channel with the `heartbeat` option sends the
 * request `["aiomas/heartbeat", [], {}]` when it has heard nothing for one
 * interval. Every channel of this library answers it itself with `RESULT`
 * `null` (the request is not passed up); a Python aiomas RPC peer answers
 * with an `EXCEPTION` for the unknown path, which counts as an answer too.
 *
 * @example
 * ```ts
 * import { HEARTBEAT_PATH } from "@aiomas/aiomas/channel";
 * console.log(HEARTBEAT_PATH); // aiomas/heartbeat
 * ```
 */
export const HEARTBEAT_PATH = "aiomas/heartbeat";

/** Options of a single {@linkcode Channel.send} call. */
export interface SendOptions {
  /** Reject with the signal's reason when it aborts; a late reply is dropped. */
  signal?: AbortSignal | undefined;
}

/** Options for a {@linkcode Channel} made by `startServer` or `openConnection`. */
export interface ChannelOptions {
  /** Largest accepted payload in bytes (default 64 MiB); larger frames close the connection. */
  maxMessageSize?: number | undefined;
  /** Called when the peer breaks the protocol and the channel closes (default: `console.warn`). */
  onError?: ((error: AiomasError, channel: Channel) => void) | undefined;
  /**
   * Send peers full tracebacks, with every stack frame and local file path
   * (default `false`: frames relative to the working directory, aiomas' own
   * and other local frames dropped; see `formatTraceback`).
   */
  fullTracebacks?: boolean | undefined;
  /**
   * Seconds between heartbeats (default `0`: off). When nothing was received
   * for one interval, the channel sends a ping request
   * ({@linkcode HEARTBEAT_PATH}); when nothing at all arrives for three
   * intervals, it closes the connection and pending `send()`s reject with
   * `ConnectionError`. Any received frame counts as life, so pings cost
   * nothing while traffic flows.
   */
  heartbeat?: number | undefined;
  /**
   * Seconds within which a frame that has started arriving must be complete
   * (default {@linkcode DEFAULT_FRAME_TIMEOUT}, 30 s; `0` turns it off). A
   * peer that stops in the middle of a header or payload has its connection
   * closed with a `ProtocolError`.
   */
  frameTimeout?: number | undefined;
  /**
   * Close the connection after this many seconds without a frame in either
   * direction while no request is in flight either way (default `0`: off).
   */
  idleTimeout?: number | undefined;
  /**
   * Most requests from the peer that may wait for their answer (default
   * {@linkcode DEFAULT_MAX_CONCURRENT_REQUESTS}). Beyond it the channel stops
   * reading the connection until replies go out: backpressure, not errors.
   * (While this side waits for replies of its own, it keeps reading.)
   */
  maxConcurrentRequests?: number | undefined;
  /**
   * A budget for grown read buffers and queued output, shared with other
   * channels (`startServer` makes one per server from `maxBufferedBytes`).
   * Default: none for a single connection.
   */
  bufferBudget?: BufferBudget | undefined;
  /**
   * Reuse the memory of big requests (default `false`). A request frame of
   * 256 KiB or more, of a size the peer lately sent in full, is read into a
   * buffer of its own, and its big binary values (MsgPack `bin`s of 64 KiB
   * or more that make up a quarter of it or more) are views into that
   * buffer, not copies. Once the request is answered, the buffer is
   * detached from those views and read into again for a later request (a
   * connection keeps up to two such buffers, charged to the buffer budget
   * and released after a second without big requests), so big uploads cost
   * no fresh memory per message (which the runtime zeroes, and the system
   * often pages in again).
   *
   * The price: such a view is valid only until its request is answered
   * (for RPC: until the exposed function returns, or its promise settles).
   * Afterwards it is empty (`length` 0), never another request's bytes.
   * Copy what a handler keeps (`bytes.slice()`). Replies this side
   * receives are not affected.
   */
  recycleReadBuffers?: boolean | undefined;
}

/** Seconds of an option as milliseconds; `0`, absent or infinite means off. */
function millis(name: string, seconds: number | undefined, fallback: number): number {
  const value = seconds ?? fallback;
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
    throw new RangeError(`Option ${name} must be a number of seconds >= 0, not ${value}`);
  }
  return Number.isFinite(value) ? value * 1000 : 0;
}

/** The limits of `options` in milliseconds and counts; throws `RangeError` for invalid ones. */
export function channelLimits(options: ChannelOptions): {
  frameMs: number;
  idleMs: number;
  heartbeatMs: number;
  maxConcurrent: number;
} {
  const maxConcurrent = options.maxConcurrentRequests ?? DEFAULT_MAX_CONCURRENT_REQUESTS;
  if (!(maxConcurrent >= 1)) {
    throw new RangeError(`Option maxConcurrentRequests must be at least 1, not ${maxConcurrent}`);
  }
  return {
    frameMs: millis("frameTimeout", options.frameTimeout, DEFAULT_FRAME_TIMEOUT),
    idleMs: millis("idleTimeout", options.idleTimeout, 0),
    heartbeatMs: millis("heartbeat", options.heartbeat, 0),
    maxConcurrent,
  };
}
