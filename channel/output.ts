/**
 * {@linkcode FrameOutput}: a channel's frames waiting to be written. Small
 * frames go into batch buffers, encoded there by the codec when it can
 * (`Codec.encodeInto`) or copied; a piece of over
 * {@linkcode DIRECT_WRITE_SIZE} bytes is written from its own memory.
 * Batch buffers come from a small pool shared by all channels of the
 * process and go back once written, so an idle channel holds none.
 * A piece too big for a 16 KiB batch buffer (but not big enough to be
 * written from its own memory) starts a bigger batch buffer, together with
 * the frame bytes queued before it; such buffers double in size while
 * mid-sized pieces keep coming before the next write (up to
 * {@linkcode LARGE_BATCH_SIZE}), so a run of mid-sized frames goes out in
 * fewer, bigger writes rather than in two writes per frame.
 *
 * @module
 */

import type { Codec } from "../codecs/types.ts";
import { DIRECT_WRITE_SIZE, type Payload, payloadSize } from "./frames.ts";
import { isLent } from "./read_buffer.ts";
import type { Transport } from "./transport.ts";

/** The size of a pooled batch buffer. */
const BATCH_SIZE = 16 * 1024;
/** Free batch buffers kept for the next batches (of all channels). */
const POOL_MAX = 16;
const pool: Uint8Array[] = [];
/**
 * The biggest batch buffer for mid-sized pieces. No bigger than
 * {@linkcode DIRECT_WRITE_SIZE}: a message that `encodeInto` fits into one
 * then never holds a piece that should be written from its own memory.
 */
const LARGE_BATCH_SIZE = DIRECT_WRITE_SIZE;
/** Free batch buffers of {@linkcode LARGE_BATCH_SIZE} kept (of all channels). */
const LARGE_POOL_MAX = 4;
const largePool: Uint8Array[] = [];

/**
 * The first batch buffer of a write when the pool is empty. Many channels
 * writing at once (a server answering a burst of calls on many connections)
 * would each take a new 16 KiB buffer: memory that, once freed, stays in the
 * process (about 8 KiB of RSS per connection after one call on each of 2,000
 * connections). Frames that outgrow it continue in a full-size buffer (its
 * bytes are copied over), cut into the same chunks as without it.
 */
const FIRST_SIZE = 256;

/**
 * A batch buffer with room for `need` bytes: a pooled one, else a new one;
 * small when it is the first of a write (`first`) and `need` fits.
 */
function takeBuffer(need: number, first: boolean): Uint8Array {
  if (need <= BATCH_SIZE) {
    const pooled = pool.pop();
    if (pooled !== undefined) return pooled;
    if (first && need <= FIRST_SIZE) return new Uint8Array(FIRST_SIZE);
    return new Uint8Array(BATCH_SIZE);
  }
  if (need === LARGE_BATCH_SIZE) return largePool.pop() ?? new Uint8Array(need);
  return new Uint8Array(need);
}

/** Give a written batch buffer back to its pool (if it has room). */
function giveBack(buf: Uint8Array): void {
  if (buf.length === BATCH_SIZE) {
    if (pool.length < POOL_MAX) pool.push(buf);
  } else if (buf.length === LARGE_BATCH_SIZE && largePool.length < LARGE_POOL_MAX) {
    largePool.push(buf);
  }
}

function setHeader(buf: Uint8Array, at: number, length: number): void {
  buf[at] = length >>> 24;
  buf[at + 1] = (length >>> 16) & 0xff;
  buf[at + 2] = (length >>> 8) & 0xff;
  buf[at + 3] = length & 0xff;
}

/**
 * Frames queued for writing, in order: {@linkcode FrameOutput.take} hands
 * them over as chunks of bytes to write one after another.
 */
export class FrameOutput {
  /** The batch buffer being filled: `#buf[#start, #end)` is queued, not yet a chunk. */
  #buf: Uint8Array | undefined;
  #start = 0;
  #end = 0;
  /** Chunks queued before the current batch region. */
  #chunks: Uint8Array[] = [];
  /** Batch buffers that chunks live in (back to the pool once written). */
  #buffers: Uint8Array[] = [];
  /** Batch buffers of the chunks being written. */
  #inFlight: Uint8Array[] = [];
  /** Where the last frame queued by {@linkcode encodeFrame} starts (for {@linkcode dropLast}). */
  #lastFrame = -1;
  /** Where the frame being pushed starts in `#buf` (its header, or its first bytes there). */
  #frameStart = 0;
  /** Bytes of the frame being pushed not queued yet. */
  #frameLeft = 0;
  /** The size of the next batch buffer for a mid-sized piece (0: the smallest that fits). */
  #nextLarge = 0;
  /** Whether a mid-sized piece took a bigger batch buffer since the last {@linkcode take}. */
  #usedLarge = false;

  /** Whether nothing is queued. */
  get isEmpty(): boolean {
    return this.#end === this.#start && this.#chunks.length === 0;
  }

  /**
   * Queue `value` as a frame encoded by `codec` straight into the batch
   * buffer; returns the payload's length, or -1 if the codec cannot do
   * that (then nothing is queued: queue an encoding with {@linkcode push}).
   */
  encodeFrame(codec: Codec, value: unknown): number {
    if (codec.encodeInto === undefined) return -1;
    // Room for a header and a small message, else a fresh batch buffer.
    let buf = this.#room(256);
    const at = this.#end;
    let end = codec.encodeInto(value, buf, at + 4);
    if (end < 0 && buf.length < BATCH_SIZE) {
      // A small first buffer: go on in a full-size one.
      buf = this.#grow();
      end = codec.encodeInto(value, buf, at + 4);
    }
    if (end < 0 && at > this.#start) {
      // Try once more in a fresh batch buffer.
      buf = this.#newBatch(BATCH_SIZE);
      end = codec.encodeInto(value, buf, 4);
      if (end < 0) return -1;
      return this.#framed(buf, 0, end);
    }
    if (end < 0) return -1;
    return this.#framed(buf, at, end);
  }

  #framed(buf: Uint8Array, at: number, end: number): number {
    const length = end - at - 4;
    setHeader(buf, at, length);
    this.#end = end;
    this.#lastFrame = at;
    return length;
  }

  /** Unqueue the frame just queued by {@linkcode encodeFrame} (it is too big to send). */
  dropLast(): void {
    this.#end = this.#lastFrame;
    this.#lastFrame = -1;
  }

  /** Queue `payload` as a frame: a header, then the payload or its pieces. */
  push(payload: Payload): void {
    this.#lastFrame = -1;
    this.#room(4);
    this.#frameStart = this.#end;
    const size = payloadSize(payload);
    this.#frameLeft = size;
    setHeader(this.#buf!, this.#end, size);
    this.#end += 4;
    if (payload instanceof Uint8Array) this.#append(payload);
    else for (const piece of payload) this.#append(piece);
  }

  /** Queue `piece` of the frame being pushed: copied into the batch, or a chunk of its own when big. */
  #append(piece: Uint8Array): void {
    const n = piece.length;
    if (n > DIRECT_WRITE_SIZE) {
      this.#cut();
      // Memory a received request lent (recycleReadBuffers) is read into again once it is
      // answered, maybe before this is written: a copy of its own.
      this.#chunks.push(isLent(piece.buffer) ? piece.slice() : piece);
      this.#frameStart = this.#end;
      this.#frameLeft -= n;
      return;
    }
    let buf = this.#buf!;
    if (buf.length - this.#end < n) {
      // The frame so far (in this buffer) and the piece: a batch buffer of their own if too big for a small one.
      const frameStart = this.#frameStart;
      buf = this.#end - frameStart + n > BATCH_SIZE ? this.#large(frameStart) : this.#room(n);
    }
    buf.set(piece, this.#end);
    this.#end += n;
    this.#frameLeft -= n;
  }

  /**
   * Everything queued, as chunks to write in order. Call
   * {@linkcode written} once they are written.
   */
  take(): Uint8Array[] {
    this.#cut();
    const chunks = this.#chunks;
    this.#chunks = [];
    // The batch buffer is written from: the next frames go to another one.
    if (this.#buf !== undefined) this.#buffers.push(this.#buf);
    this.#buf = undefined;
    this.#start = this.#end = 0;
    this.#lastFrame = -1;
    // A run of mid-sized frames goes on in big buffers; after a batch without one, start small again.
    if (!this.#usedLarge) this.#nextLarge = 0;
    this.#usedLarge = false;
    this.#inFlight = this.#buffers;
    this.#buffers = [];
    return chunks;
  }

  /** The chunks of the last {@linkcode take} are written: reuse their buffers. */
  written(): void {
    for (const buf of this.#inFlight) giveBack(buf);
    this.#inFlight = [];
  }

  /** Forget everything queued (the channel is closed). */
  clear(): void {
    this.#buf = undefined;
    this.#start = this.#end = 0;
    this.#chunks = [];
    this.#buffers = [];
    this.#lastFrame = -1;
    this.#nextLarge = 0;
  }

  /** Close the batch region so far as a chunk. */
  #cut(): void {
    if (this.#end > this.#start) {
      this.#chunks.push(this.#buf!.subarray(this.#start, this.#end));
      this.#start = this.#end;
    }
  }

  /** The batch buffer, with room for `n` more bytes. */
  #room(n: number): Uint8Array {
    const buf = this.#buf;
    if (buf !== undefined) {
      if (buf.length - this.#end >= n) return buf;
      if (buf.length < BATCH_SIZE && BATCH_SIZE - this.#end >= n) return this.#grow();
    }
    return this.#newBatch(n);
  }

  /**
   * A bigger batch buffer for a mid-sized piece of the frame that starts at
   * `frameStart`: the frames before it stay a chunk of the old buffer, and
   * the frame's bytes so far move over, so that it stays in one piece. It
   * has room for the whole frame; sizes double while such frames keep
   * coming (see {@linkcode FrameOutput.take}).
   */
  #large(frameStart: number): Uint8Array {
    const old = this.#buf!;
    const begun = this.#end - frameStart;
    let size = Math.max(begun + this.#frameLeft, this.#nextLarge);
    if (size > LARGE_BATCH_SIZE / 2 && size < LARGE_BATCH_SIZE) size = LARGE_BATCH_SIZE;
    this.#nextLarge = Math.min(LARGE_BATCH_SIZE, 2 * size);
    this.#usedLarge = true;
    if (frameStart > this.#start) this.#chunks.push(old.subarray(this.#start, frameStart));
    const buf = takeBuffer(size, false);
    buf.set(old.subarray(frameStart, this.#end));
    // Chunks of the old buffer are written from it: it goes back after them.
    if (frameStart > 0) this.#buffers.push(old);
    else giveBack(old);
    this.#start = this.#frameStart = 0;
    this.#end = begun;
    return this.#buf = buf;
  }

  /**
   * Move a small first buffer's queued bytes into a full-size one, at the
   * same offsets: frames are cut into the same chunks as if the buffer had
   * been full-size from the start (so the chunks written, and the order in
   * which in-process peers see them, do not depend on the pool).
   */
  #grow(): Uint8Array {
    const buf = takeBuffer(BATCH_SIZE, false);
    buf.set(this.#buf!.subarray(this.#start, this.#end), this.#start);
    return this.#buf = buf;
  }

  /** Close the current batch region and start a new batch buffer with room for `need` bytes. */
  #newBatch(need: number): Uint8Array {
    this.#cut();
    const first = this.#buf === undefined;
    if (!first) this.#buffers.push(this.#buf!);
    const buf = this.#buf = takeBuffer(need, first);
    this.#start = this.#end = this.#frameStart = 0;
    return buf;
  }
}

/**
 * Write `chunks` one after another. `progress` is called after every write
 * of a chunk over {@linkcode DIRECT_WRITE_SIZE} bytes: once the socket's
 * buffer is full, such writes complete only as the peer takes the bytes
 * (small writes complete at once, even to a dead peer, and do not count).
 */
export async function writeChunks(
  transport: Transport,
  chunks: readonly Uint8Array[],
  progress?: () => void,
): Promise<void> {
  for (const chunk of chunks) {
    const big = chunk.length > DIRECT_WRITE_SIZE;
    const length = chunk.length;
    // (Chunks are never empty: one that is was detached while it waited, and
    // writing nothing would leave the peer misreading the rest.)
    if (length === 0) throw detached(chunk);
    let written = await transport.write(chunk);
    if (big) progress?.();
    while (written < length) {
      if (chunk.length !== length) throw detached(chunk, length);
      written += await transport.write(chunk.subarray(written));
      if (big) progress?.();
    }
  }
}

function detached(chunk: Uint8Array, length?: number): Error {
  const what = length === undefined ? "A Uint8Array" : `A Uint8Array of ${length} bytes`;
  return new Error(
    `${what} was detached or resized while it was being sent (${chunk.length} bytes now): ` +
      "keep an array passed to a call unchanged until the call settles",
  );
}
