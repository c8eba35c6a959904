/**
 * The timers of one channel: a single `setTimeout`, armed for the earliest
 * deadline (a frame's `frameTimeout`, the heartbeat, the `idleTimeout`, the
 * release of an idle grown read buffer) and re-armed when it fires. A channel
 * makes its watchdog only when it first needs a timer, so a quiet connection
 * without heartbeat or idle timeout has none.
 *
 * @module
 */

import { type AiomasError, ConnectionError, ProtocolError } from "../errors.ts";
import type { ReadBuffer } from "./read_buffer.ts";

/** A grown read buffer is released after this long without a big frame. */
export const KEEP_GROWN_MS = 1000;

/** The clock of the timers, in milliseconds. */
export const now = (): number => performance.now();

/** What a {@linkcode Watchdog} needs from its channel. */
export interface Watched {
  /** The peer's address, for messages. */
  readonly peer: string;
  /** The channel's read buffers. */
  readonly read: ReadBuffer;
  /** Whether the channel is closed. */
  isClosed(): boolean;
  /** Whether the channel holds back reading (backpressure or a full budget). */
  isPaused(): boolean;
  /** Whether requests are in flight either way, or output is queued. */
  isBusy(): boolean;
  /** Total length of the frame at the read position (header included). */
  frameLength(): number;
  /** Send a heartbeat request. */
  ping(): void;
  /** Close because of the peer, and tell `onError`. */
  fail(error: AiomasError): void;
  /** Close quietly with `reason`. */
  shutDown(reason: ConnectionError): void;
}

/** The deadlines of a channel, in milliseconds; `0` turns one off. */
export interface WatchLimits {
  frameMs: number;
  idleMs: number;
  heartbeatMs: number;
}

/** The timer state of one channel; see the module documentation. */
export class Watchdog {
  /** `now()` when the frame at the read position started arriving, or `-1`. */
  partialSince = -1;
  /** The channel's count of complete frames when that frame started, or `-1`. */
  partialAt = -1;
  /** `now()` when the peer was last heard (bytes read, or a big write taken). */
  lastHeard: number;
  /** `now()` of the last frame written (for the idle timeout). */
  lastActivity: number;
  #pingSent = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #channel: Watched;
  #limits: WatchLimits;

  /** Watch `channel` with `limits`; arms the heartbeat and idle deadlines at once. */
  constructor(channel: Watched, limits: WatchLimits) {
    this.#channel = channel;
    this.#limits = limits;
    this.lastHeard = this.lastActivity = now();
    if (limits.heartbeatMs > 0) this.arm(this.lastHeard + limits.heartbeatMs);
    if (limits.idleMs > 0) this.arm(this.lastActivity + limits.idleMs);
  }

  /** The peer showed life. */
  heard(): void {
    this.lastHeard = now();
    this.#pingSent = false;
  }

  /** A frame is incomplete after parsing, `frames` frames into the connection. */
  frameArriving(frames: number): void {
    if (this.partialAt === frames) return;
    // A new frame started arriving: it has frameTimeout to complete.
    this.partialAt = frames;
    this.partialSince = now();
    this.arm(this.partialSince + this.#limits.frameMs);
  }

  /** A complete message waits for room in the budget: frameTimeout bounds the wait. */
  waitingForBudget(frames: number): void {
    if (this.partialSince < 0) this.frameArriving(frames);
  }

  /** The channel stops reading; a frame's time does not run while it holds back on requests. */
  paused(onRequests: boolean): void {
    if (onRequests) this.partialSince = this.partialAt = -1;
  }

  /** The channel reads again: nothing could be heard meanwhile, so start afresh. */
  resumed(): void {
    this.heard();
    if (this.#limits.heartbeatMs > 0) this.arm(this.lastHeard + this.#limits.heartbeatMs);
  }

  /** Arm the timer for `at` (a {@linkcode now} time) unless it fires earlier. */
  arm(at: number): void {
    if (this.#channel.isClosed() || (this.#timer !== undefined && this.#timerAt <= at)) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    const timer = setTimeout(() => {
      try {
        this.#tick();
      } catch (error) {
        // Nothing may escape a timer: that would end the process.
        this.#channel.shutDown(
          new ConnectionError(`Connection to ${this.#channel.peer} failed: ${error}`, {
            cause: error,
          }),
        );
      }
    }, Math.max(0, at - now()));
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** Stop the timer (the channel is closed). */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The timer fired: enforce the frame timeout, heartbeat and idle timeout; release memory. */
  #tick(): void {
    const channel = this.#channel;
    const late = now() - this.#timerAt;
    this.#timer = undefined;
    this.#timerAt = Infinity;
    if (channel.isClosed()) return;
    const { frameMs, idleMs, heartbeatMs: beat } = this.#limits;
    const t = now();
    let next = Infinity;
    if (this.partialSince >= 0 && frameMs > 0) {
      if (t - this.partialSince >= frameMs) {
        const { start, end } = channel.read;
        const length = channel.frameLength();
        return channel.fail(
          new ProtocolError(
            end - start >= length
              ? `A message of ${length} bytes waited ${frameMs / 1000} s (frameTimeout) ` +
                "for room in the server's buffer budget (maxBufferedBytes)"
              : `A frame did not complete within ${frameMs / 1000} s (frameTimeout): ` +
                `${end - start} of ${length} bytes arrived`,
          ),
        );
      }
      next = this.partialSince + frameMs;
    }
    if (beat > 0 && channel.isPaused()) {
      // Not reading, so nothing can be heard: show the peer that this side lives.
      channel.ping();
      next = Math.min(next, t + beat);
    } else if (beat > 0) {
      const silent = t - this.lastHeard;
      // A late timer means this process was busy, not that the peer is silent.
      if (silent >= 3 * beat && late < beat) {
        return channel.fail(
          new ConnectionError(
            `no answer for ${(3 * beat / 1000).toFixed(1)} s (heartbeat every ` +
              `${beat / 1000} s): the peer or the network is down`,
          ),
        );
      }
      if (silent >= beat && !this.#pingSent) {
        this.#pingSent = true;
        channel.ping();
      }
      next = Math.min(
        next,
        late >= beat ? t + beat : this.lastHeard + (this.#pingSent ? 3 * beat : beat),
      );
    }
    if (idleMs > 0) {
      if (channel.isBusy() || this.partialSince >= 0) {
        this.lastActivity = Math.max(this.lastActivity, t);
      } else if (t - Math.max(this.lastActivity, this.lastHeard) >= idleMs) {
        return channel.shutDown(
          new ConnectionError(
            `Connection to ${channel.peer} closed after ${idleMs / 1000} s idle (idleTimeout)`,
          ),
        );
      }
      next = Math.min(next, Math.max(this.lastActivity, this.lastHeard) + idleMs);
    }
    if (channel.read.releaseIdle(t - KEEP_GROWN_MS)) {
      next = Math.min(next, channel.read.grownIdleSince + KEEP_GROWN_MS);
    }
    if (next < Infinity) this.arm(next);
  }
}
