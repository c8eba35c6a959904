/**
 * The read side's memory: a small probe buffer for a connection that waits
 * for its next frame, a grown buffer for big frames, kept while frames are
 * big and released after a while without one, and a buffer of its own for
 * a very big frame of a size the peer recently sent in full, when the codec
 * decodes views (`Codec.decodeOwned`: the message keeps the buffer, nothing
 * is copied out of it). Grown and own buffers are charged
 * to a {@linkcode BufferBudget} when there is one.
 *
 * When the channel recycles read buffers (`recycleReadBuffers`), a request's
 * own buffer comes back once the request is answered ({@linkcode ReadBuffer.recycle}):
 * its memory is detached from the views the message handed out and kept as
 * a spare for the next big frame, so big requests cost no fresh (zeroed,
 * paged-in) memory each.
 *
 * @module
 */

import type { BudgetAccount, BudgetAnswer, BufferBudget } from "./limits.ts";
import { KEEP_GROWN_MS } from "./watchdog.ts";

/** Bytes of the buffer a quiet connection waits on. */
export const PROBE_SIZE = 1024;
/** The waiting buffer grows up to this while reads fill it (a busy connection). */
const PROBE_MAX = 16 * 1024;
/** The smallest grown buffer. */
const MIN_GROWN = 64 * 1024;
/**
 * A frame of at least this many payload bytes is read into a buffer of its
 * own once the peer has sent a frame at least that big in full within
 * {@linkcode KEEP_GROWN_MS}. Smaller frames are read into the reused grown
 * buffer and their big bins copied out: a fresh buffer is zeroed and
 * page-faulted in while the socket's bytes are copied into it, which costs
 * more than a copy out of a warm buffer up to a few MiB (RPC MsgPack uploads
 * of 1 MiB, two processes, six interleaved bench runs: median 53.5% of the raw
 * socket's MB/s against 47.5% with a threshold of 256 KiB; 3 s runs 3,500 to
 * 4,400 against 2,550 to 3,100 MB/s). For 16 MiB frames the copy measured
 * slower (eight runs: median 39.5% against 48% of raw).
 */
export const OWN_FRAME = 4 * 1024 * 1024;
/**
 * With recycled read buffers, frames of at least this many payload bytes get
 * buffers of their own: they cost no copy and, recycled, no fresh memory.
 */
export const RECYCLED_OWN_FRAME = 256 * 1024;
/** Spare own buffers a recycling connection keeps. */
const SPARES_MAX = 2;
/** A partial frame is moved to the front when less than this is left behind it. */
const COMPACT_BELOW = 4096;
const EMPTY = new Uint8Array(0);
/** The memory of own buffers that recycling connections lent to requests. */
const lent = new WeakSet<ArrayBufferLike>();

/**
 * Whether `memory` was lent to a request by a connection that recycles its
 * read buffers: it is read into again once that request is answered.
 */
export function isLent(memory: ArrayBufferLike): boolean {
  return lent.has(memory);
}

/**
 * The bytes read but not parsed yet are `buf[start, end)`. After parsing,
 * {@linkcode ReadBuffer.prepare} returns where the next read goes, and
 * {@linkcode ReadBuffer.filled} records what it read.
 */
export class ReadBuffer {
  /** The buffer being read into and parsed. */
  buf: Uint8Array = EMPTY;
  /** Offset of the first unparsed byte. */
  start = 0;
  /** Offset after the last byte read. */
  end = 0;
  /** `performance.now()` when the grown buffer (or the spares) went unused, or `-1`. */
  grownIdleSince = -1;
  #probe: Uint8Array | undefined;
  #probeSize = PROBE_SIZE;
  #grown: Uint8Array | undefined;
  /** The buffer of a frame of its own (exactly its header and payload), while it is `buf`. */
  #own: Uint8Array | undefined;
  /** Bytes of memory behind `#own` (charged to the budget). */
  #ownBytes = 0;
  /** Whether `#own`'s frame was answered: recycle it when it is dropped. */
  #ownDone = false;
  /** Whether own buffers come back after use ({@linkcode ReadBuffer.recycle}). */
  #recycles: boolean;
  /** The smallest payload read into a buffer of its own. */
  readonly ownFrame: number;
  /** Memory of recycled own buffers, each charged to the budget. */
  #spares: ArrayBuffer[] | undefined;
  /** The biggest payload the peer sent in full lately, and when (`performance.now()`). */
  #trusted = 0;
  #trustedAt = -Infinity;
  #budget: BufferBudget | undefined;
  #account: BudgetAccount | undefined;

  /**
   * Charge grown buffers to `budget` (if any) on `account`; `recycles`: own
   * buffers come back through {@linkcode ReadBuffer.recycle}; `owns`: the
   * codec can decode a frame into views of its own buffer (else no frame
   * gets one: the reused grown buffer costs no fresh memory per frame).
   */
  constructor(budget?: BufferBudget, account?: BudgetAccount, recycles = false, owns = true) {
    this.#budget = budget;
    this.#account = account;
    this.#recycles = recycles;
    this.ownFrame = !owns ? Infinity : recycles ? RECYCLED_OWN_FRAME : OWN_FRAME;
  }

  /** Bytes of read buffers held now: the probe, a grown buffer, a frame's own buffer, spares. */
  get size(): number {
    let spares = 0;
    for (const spare of this.#spares ?? []) spares += spare.byteLength;
    return (this.#probe?.length ?? 0) + (this.#grown?.length ?? 0) + this.#ownBytes + spares;
  }

  /**
   * Whether `buf` holds exactly one frame, in a buffer of its own that is
   * never read into again once the frame is complete: its payload may be
   * given away (decoded into views).
   */
  get owned(): boolean {
    return this.#own !== undefined;
  }

  /**
   * The memory of the own buffer `buf` is now, to be given back to
   * {@linkcode ReadBuffer.recycle} once its message is done; `undefined`
   * when this buffer does not recycle or `buf` is not an own buffer.
   */
  get lease(): ArrayBuffer | undefined {
    return this.#recycles ? this.#own?.buffer as ArrayBuffer | undefined : undefined;
  }

  /**
   * Take back `memory` (from {@linkcode ReadBuffer.lease}) whose message is
   * done with it, at `at` (a `performance.now()` time): it is detached, so
   * every view of it the message handed out reads as empty from now on, and
   * kept as a spare for the next big frame if there is room.
   */
  recycle(memory: ArrayBuffer, at: number): void {
    // The frame was answered before the next read: taken back when it is dropped.
    if (memory === this.#own?.buffer) this.#ownDone = true;
    else if (this.#keep(memory, 0) && this.#own === undefined && this.grownIdleSince < 0) {
      this.grownIdleSince = at;
    }
  }

  /**
   * Detach `memory` and keep it as a spare if there is room (and budget;
   * `charged`: bytes of it charged already); returns whether it was kept.
   */
  #keep(memory: ArrayBuffer, charged: number): boolean {
    if (memory.detached || this.buf === EMPTY || (this.#spares?.length ?? 0) >= SPARES_MAX) {
      // Moved elsewhere by its user, closed, or enough spares: let it go (detached all
      // the same, so views of it never outlive their answer).
      if (!memory.detached) memory.transfer(0);
      if (charged > 0 && this.#budget && this.#account) {
        this.#budget.release(this.#account, charged);
      }
      return false;
    }
    const spare = memory.transfer();
    if (charged === 0 && this.#budget && this.#account) {
      if (this.#budget.request(this.#account, spare.byteLength) !== "granted") return false;
    }
    (this.#spares ??= []).push(spare);
    return true;
  }

  /**
   * Record that the peer sent a frame of `size` payload bytes (at least
   * {@linkcode ReadBuffer.ownFrame}) in full at `at` (a `performance.now()` time):
   * frames up to that size get buffers of their own for a while.
   */
  completed(size: number, at: number): void {
    if (at - this.#trustedAt >= KEEP_GROWN_MS || size > this.#trusted) this.#trusted = size;
    this.#trustedAt = at;
  }

  /**
   * The target of the next read, or the budget's answer when a bigger buffer
   * is needed and the budget has no room (`"wait"`) or the connection would
   * exceed its share (`"over"`).
   */
  prepare(now: () => number): Uint8Array | BudgetAnswer {
    const { buf, start, end } = this;
    if (start === end) {
      this.start = this.end = 0;
      if (buf === this.#own) this.#dropOwn();
      // Wait on the small buffer, so a waiting connection pins no big one.
      if (
        (buf === this.#grown && buf !== EMPTY) ||
        (this.#spares?.length && this.grownIdleSince < 0)
      ) this.grownIdleSince = now();
      if (this.#probe?.length !== this.#probeSize) this.#probe = new Uint8Array(this.#probeSize);
      this.buf = this.#probe;
      return this.buf;
    }
    const have = end - start;
    const frame = have >= 4
      ? 4 +
        ((buf[start]! << 24 | buf[start + 1]! << 16 | buf[start + 2]! << 8 | buf[start + 3]!) >>> 0)
      : 4;
    if (buf === this.#own) return buf.subarray(end);
    if (
      frame - 4 >= this.ownFrame &&
      frame - 4 <= this.#trusted && now() - this.#trustedAt < KEEP_GROWN_MS
    ) {
      // A size the peer sent in full lately: a buffer of the frame's own. It
      // replaces the grown buffer, whose charge it takes over (a spare comes
      // with a charge of its own).
      const grown = this.#grown?.length ?? 0;
      const spare = this.#takeSpare(frame);
      let own: Uint8Array;
      if (spare !== undefined) {
        own = new Uint8Array(spare, 0, frame);
        this.#ownBytes = spare.byteLength;
        this.#release();
      } else {
        if (this.#budget && this.#account && frame > grown) {
          const answer = this.#budget.request(this.#account, frame - grown);
          if (answer !== "granted") return answer;
        }
        own = new Uint8Array(frame);
        this.#ownBytes = frame;
        this.#release(Math.min(grown, frame));
      }
      own.set(buf.subarray(start, end));
      if (this.#recycles) lent.add(own.buffer);
      this.#own = own;
      this.grownIdleSince = -1;
      this.buf = own;
      this.start = 0;
      this.end = have;
      return own.subarray(have);
    }
    if (start + frame <= buf.length) {
      if (start > 0 && buf.length - end < COMPACT_BELOW) this.#compact();
      return this.buf.subarray(this.end);
    }
    // Grow at most 2x of what arrived per step: never straight to a size the peer only claims.
    const want = Math.min(frame, Math.max(MIN_GROWN, 2 * have));
    if (buf.length >= want) {
      this.#compact();
      return this.buf.subarray(this.end);
    }
    let next = this.#grown;
    if (next === undefined || next.length < want) {
      const delta = want - (next?.length ?? 0);
      if (this.#budget && this.#account) {
        const answer = this.#budget.request(this.#account, delta);
        if (answer !== "granted") return answer;
      }
      next = this.#grown = new Uint8Array(want);
    }
    next.set(buf.subarray(start, end));
    this.buf = next;
    this.start = 0;
    this.end = have;
    this.grownIdleSince = -1;
    return next.subarray(have);
  }

  /** Record that a read into the target from {@linkcode prepare} returned `count` bytes. */
  filled(count: number): void {
    if (this.buf === this.#probe && this.end === 0) {
      // A full probe: the peer sends in batches, so wait on a bigger one. A
      // small read: back to the smallest.
      if (count === this.buf.length) this.#probeSize = Math.min(PROBE_MAX, 2 * count);
      else if (count < PROBE_SIZE) this.#probeSize = PROBE_SIZE;
    }
    this.end += count;
  }

  /**
   * Drop the grown buffer if it has been unused since `idleBefore`
   * (a `performance.now()` time). Returns whether one is still kept unused.
   */
  releaseIdle(idleBefore: number): boolean {
    const grown = this.#grown;
    if (grown === undefined && !this.#spares?.length) return false;
    if (this.buf === grown || this.#own !== undefined) return false;
    if (this.grownIdleSince > idleBefore) return true;
    this.#release();
    this.#dropSpares();
    return false;
  }

  /** Release everything (the channel is closed). */
  dispose(): void {
    this.#release();
    this.#dropOwn();
    this.#dropSpares();
    this.#probe = undefined;
    this.buf = EMPTY;
    this.start = this.end = 0;
  }

  /** Drop the grown buffer; its charge to the budget goes, but for `kept` bytes. */
  #release(kept = 0): void {
    const grown = this.#grown;
    if (grown === undefined) return;
    this.#grown = undefined;
    this.grownIdleSince = -1;
    if (this.#budget && this.#account && grown.length > kept) {
      this.#budget.release(this.#account, grown.length - kept);
    }
  }

  #dropOwn(): void {
    const own = this.#own;
    if (own === undefined) return;
    this.#own = undefined;
    if (this.#ownDone) {
      this.#ownDone = false;
      this.#keep(own.buffer as ArrayBuffer, this.#ownBytes);
    } else if (this.#budget && this.#account) this.#budget.release(this.#account, this.#ownBytes);
    this.#ownBytes = 0;
  }

  /** A spare of `frame` to `2 * frame` bytes (its charge goes with it), if there is one. */
  #takeSpare(frame: number): ArrayBuffer | undefined {
    const spares = this.#spares;
    if (spares === undefined) return undefined;
    for (let i = 0; i < spares.length; i++) {
      const spare = spares[i]!;
      if (spare.byteLength >= frame && spare.byteLength <= 2 * frame) {
        spares.splice(i, 1);
        return spare;
      }
    }
    return undefined;
  }

  #dropSpares(): void {
    for (const spare of this.#spares?.splice(0) ?? []) {
      if (this.#budget && this.#account) this.#budget.release(this.#account, spare.byteLength);
    }
  }

  #compact(): void {
    if (this.start === 0) return;
    this.buf.copyWithin(0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
  }
}
