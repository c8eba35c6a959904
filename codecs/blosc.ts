/**
 * Blosc1 buffers, byte-compatible with c-blosc 1.x as python-blosc uses it
 * (`blosc.compress(data, typesize=8)`): {@linkcode bloscCompress} writes
 * blosclz-compressed, byte-shuffled buffers the way c-blosc 1.21 lays them
 * out; {@linkcode bloscDecompress} reads any Blosc1 buffer compressed with
 * blosclz or LZ4/LZ4HC, byte- or bit-shuffled or not, split into streams or
 * not, and refuses malformed ones with a {@linkcode CodecError}.
 *
 * A buffer is a 16-byte header (version 2, versionlz, flags, typesize, then
 * nbytes, blocksize and cbytes as little-endian uint32), then either the data
 * verbatim (flag 0x02, "memcpyed") or one int32 offset per block followed by
 * the blocks: each block is 1 or `typesize` streams, each an int32 length `c`
 * and `c` bytes (raw when `c` is the stream's size).
 *
 * @example
 * ```ts
 * import { bloscCompress, bloscDecompress } from "@aiomas/aiomas/codecs";
 * const data = new TextEncoder().encode("spam".repeat(1000));
 * const frame = bloscCompress(data);
 * console.log(frame.length < 200); // true
 * console.log(new TextDecoder().decode(bloscDecompress(frame)) === "spam".repeat(1000)); // true
 * ```
 *
 * @module
 */

import { CodecError } from "../errors.ts";
import { blosclzCompress, blosclzDecompress } from "./blosclz.ts";
import { lz4Decompress } from "./lz4.ts";

/** Size of a Blosc1 header. */
const HEADER_SIZE = 16;
/** c-blosc stores buffers below this size uncompressed. */
const MIN_BUFFERSIZE = 128;
/** c-blosc's largest buffer (INT_MAX - 16). */
const MAX_BUFFERSIZE = 0x7fffffff - HEADER_SIZE;
/** Types larger than this are never split into streams. */
const MAX_SPLITS = 16;
/** c-blosc's L1 cache size guess, the base of its blocksize rule. */
const L1 = 32 * 1024;
/** Default limit for the uncompressed size of a decoded buffer: 64 MiB. */
const DEFAULT_MAX_SIZE = 64 * 1024 * 1024;
/**
 * No Blosc stream expands more than 255-fold (a run costs one byte per 255
 * output bytes), so a header claiming more is not believed.
 */
const MAX_RATIO = 256;

const FLAG_SHUFFLE = 0x01;
const FLAG_MEMCPYED = 0x02;
const FLAG_BITSHUFFLE = 0x04;
const FLAG_DONT_SPLIT = 0x10;

const COMPRESSOR_NAMES = ["blosclz", "lz4", "snappy", "zlib", "zstd"];

/** Options of {@linkcode bloscCompress}. */
export interface BloscCompressOptions {
  /**
   * Size in bytes of the items the data consists of (1 to 255); the byte
   * shuffle groups the i-th byte of every item. Default `8`, as aiomas.
   */
  typesize?: number | undefined;
  /** Apply the byte shuffle before compressing. Default `true`, as aiomas. */
  shuffle?: boolean | undefined;
}

/** Options of {@linkcode bloscDecompress}. */
export interface BloscDecompressOptions {
  /**
   * Largest uncompressed size accepted, in bytes; a buffer whose header
   * claims more is refused before anything is allocated. Default 64 MiB.
   */
  maxSize?: number | undefined;
}

/**
 * Compress `data` into a Blosc1 buffer as c-blosc 1.21 does with python-blosc's
 * defaults: clevel 9, the blosclz compressor, byte shuffle, typesize 8.
 *
 * Data below 128 bytes is stored verbatim (flags `0x13`), byte for byte what
 * Python aiomas writes. Larger data is cut into blocks by c-blosc's blocksize
 * rule (up to 1 MiB), every block shuffled and, where c-blosc splits, cut into
 * one stream per byte lane; a stream that does not shrink is stored raw, and
 * when the whole does not shrink the data is stored verbatim. The compressed
 * bytes need not equal c-blosc's (its match finder differs) but every Blosc
 * reader decodes them.
 *
 * @example
 * ```ts
 * import { bloscCompress } from "@aiomas/aiomas/codecs";
 * const frame = bloscCompress(new Uint8Array([0x93, 0x00, 0x00, 0xa4, 0x6f, 0x68, 0x61, 0x69]));
 * console.log(Array.from(frame.subarray(0, 4))); // [ 2, 1, 19, 8 ]
 * ```
 */
export function bloscCompress(data: Uint8Array, options: BloscCompressOptions = {}): Uint8Array {
  const typesize = options.typesize ?? 8;
  if (!Number.isInteger(typesize) || typesize < 1 || typesize > 255) {
    throw new CodecError(`Blosc typesize must be an integer from 1 to 255, got ${typesize}`);
  }
  const shuffle = (options.shuffle ?? true) && typesize > 1;
  const nbytes = data.length;
  if (nbytes > MAX_BUFFERSIZE) {
    throw new CodecError(
      `Cannot compress ${nbytes} bytes: Blosc buffers hold at most ${MAX_BUFFERSIZE}`,
    );
  }
  const blocksize = computeBlocksize(typesize, nbytes);
  let flags = (options.shuffle ?? true) ? FLAG_SHUFFLE : 0;
  const split = splitBlock(typesize, blocksize);
  if (!split) flags |= FLAG_DONT_SPLIT;
  if (nbytes < MIN_BUFFERSIZE) return stored(data, flags, typesize, blocksize);

  const nblocks = Math.ceil(nbytes / blocksize);
  const leftover = nbytes % blocksize;
  const limit = nbytes + HEADER_SIZE;
  // Worst case before giving up: every stream raw.
  const out = new Uint8Array(HEADER_SIZE + nblocks * 4 + nbytes + nblocks * typesize * 4);
  const view = new DataView(out.buffer);
  const tmp = shuffle ? new Uint8Array(blocksize) : undefined;
  let pos = HEADER_SIZE + nblocks * 4;
  for (let j = 0; j < nblocks; j++) {
    view.setInt32(HEADER_SIZE + j * 4, pos, true);
    const last = j === nblocks - 1 && leftover > 0;
    const bsize = last ? leftover : blocksize;
    let block = data.subarray(j * blocksize, j * blocksize + bsize);
    if (tmp !== undefined) {
      shuffleBlock(typesize, block, tmp);
      block = tmp.subarray(0, bsize);
    }
    const nsplits = split && !last ? typesize : 1;
    const neblock = bsize / nsplits;
    for (let s = 0; s < nsplits; s++) {
      const stream = block.subarray(s * neblock, (s + 1) * neblock);
      let c = blosclzCompress(stream, out.subarray(pos + 4, pos + 4 + neblock - 1));
      if (c === 0) {
        out.set(stream, pos + 4);
        c = neblock;
      }
      view.setInt32(pos, c, true);
      pos += 4 + c;
    }
    if (pos >= limit) return stored(data, flags, typesize, blocksize);
  }
  writeHeader(view, flags, typesize, nbytes, blocksize, pos);
  return out.slice(0, pos);
}

/**
 * Decompress the Blosc1 buffer `frame` (the whole of it: its header's cbytes
 * must equal `frame.length`).
 *
 * Reads memcpyed buffers, byte and bit shuffle, split and unsplit blocks and
 * the blosclz, LZ4 and LZ4HC compressors. Throws a {@linkcode CodecError}
 * naming what is wrong for anything else: a short or inconsistent header, an
 * unknown version, a size above `maxSize` or beyond what cbytes could hold,
 * offsets or streams outside the buffer, a stream that decodes to the wrong
 * size, and the snappy, zlib and zstd compressors, which are not supported.
 *
 * @example
 * ```ts
 * import { bloscDecompress } from "@aiomas/aiomas/codecs";
 * const hex = "02011308080000000800000018000000930000a46f686169";
 * const frame = new Uint8Array(hex.match(/../g)!.map((h) => parseInt(h, 16)));
 * console.log(Array.from(bloscDecompress(frame))); // [ 147, 0, 0, 164, 111, 104, 97, 105 ]
 * ```
 */
export function bloscDecompress(
  frame: Uint8Array,
  options: BloscDecompressOptions = {},
): Uint8Array {
  const maxSize = options.maxSize ?? DEFAULT_MAX_SIZE;
  if (frame.length < HEADER_SIZE) {
    throw new CodecError(
      `Blosc buffer of ${frame.length} bytes is shorter than its ${HEADER_SIZE}-byte header`,
    );
  }
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const version = frame[0]!;
  if (version !== 1 && version !== 2) {
    throw new CodecError(`Unsupported Blosc format version ${version} (expected 2)`);
  }
  const flags = frame[2]!;
  const typesize = frame[3]!;
  const nbytes = view.getUint32(4, true);
  const blocksize = view.getUint32(8, true);
  const cbytes = view.getUint32(12, true);
  if (cbytes !== frame.length) {
    throw new CodecError(
      `Blosc header says the buffer has ${cbytes} bytes (cbytes) but it has ${frame.length}`,
    );
  }
  if (nbytes > maxSize) {
    throw new CodecError(
      `Blosc buffer would decompress to ${nbytes} bytes, more than maxSize (${maxSize})`,
    );
  }
  if (flags & FLAG_MEMCPYED) {
    if (cbytes !== nbytes + HEADER_SIZE) {
      throw new CodecError(
        `Memcpyed Blosc buffer of ${cbytes} bytes cannot hold its ${nbytes} bytes of data ` +
          `(cbytes must be nbytes + ${HEADER_SIZE})`,
      );
    }
    return frame.slice(HEADER_SIZE);
  }
  if (nbytes === 0) return new Uint8Array(0);
  if (nbytes > cbytes * MAX_RATIO) {
    throw new CodecError(
      `Blosc header claims ${nbytes} bytes from ${cbytes} compressed bytes, ` +
        `beyond any Blosc compressor's ratio`,
    );
  }
  if (typesize === 0) throw new CodecError("Blosc header has typesize 0");
  if (blocksize === 0 || blocksize > nbytes) {
    throw new CodecError(`Blosc blocksize ${blocksize} is not in 1..nbytes (${nbytes})`);
  }
  const nblocks = Math.ceil(nbytes / blocksize);
  const leftover = nbytes % blocksize;
  const dataStart = HEADER_SIZE + nblocks * 4;
  if (dataStart > cbytes) {
    throw new CodecError(
      `Blosc buffer of ${cbytes} bytes is too short for the offsets of its ${nblocks} blocks`,
    );
  }
  const compressor = flags >> 5;
  const out = new Uint8Array(nbytes);
  const shuffled = (flags & FLAG_SHUFFLE) !== 0 && typesize > 1;
  const bitshuffled = !shuffled && (flags & FLAG_BITSHUFFLE) !== 0;
  const tmp = shuffled || bitshuffled ? new Uint8Array(blocksize) : undefined;
  for (let j = 0; j < nblocks; j++) {
    const last = j === nblocks - 1 && leftover > 0;
    const bsize = last ? leftover : blocksize;
    const bstart = view.getInt32(HEADER_SIZE + j * 4, true);
    if (bstart < dataStart || bstart >= cbytes) {
      throw new CodecError(
        `Blosc block ${j} starts at offset ${bstart}, outside the data (${dataStart}..${
          cbytes - 1
        })`,
      );
    }
    const dest = out.subarray(j * blocksize, j * blocksize + bsize);
    const unshuffled = bitshuffled && bsize < typesize ? undefined : tmp;
    const target = unshuffled === undefined ? dest : unshuffled.subarray(0, bsize);
    const nsplits = (flags & FLAG_DONT_SPLIT) === 0 && !last && typesize <= MAX_SPLITS &&
        Math.floor(bsize / typesize) >= MIN_BUFFERSIZE
      ? typesize
      : 1;
    if (bsize % nsplits !== 0) {
      throw new CodecError(
        `Blosc block ${j} of ${bsize} bytes cannot be split into ${nsplits} streams`,
      );
    }
    const neblock = bsize / nsplits;
    let pos = bstart;
    for (let s = 0; s < nsplits; s++) {
      if (pos + 4 > cbytes) {
        throw new CodecError(
          `Blosc block ${j} stream ${s}: its length at offset ${pos} is past the end of the buffer`,
        );
      }
      const c = view.getInt32(pos, true);
      pos += 4;
      if (c < 0 || pos + c > cbytes) {
        throw new CodecError(
          `Blosc block ${j} stream ${s}: ${c} compressed bytes at offset ${pos} do not fit ` +
            `in the buffer of ${cbytes} bytes`,
        );
      }
      const src = frame.subarray(pos, pos + c);
      const streamOut = target.subarray(s * neblock, (s + 1) * neblock);
      if (c === neblock) {
        streamOut.set(src);
      } else {
        decodeStream(compressor, src, streamOut, j, s);
      }
      pos += c;
    }
    if (target !== dest) {
      if (shuffled) unshuffleBlock(typesize, target, dest);
      else bitunshuffleBlock(typesize, target, dest);
    }
  }
  return out;
}

function decodeStream(
  compressor: number,
  src: Uint8Array,
  dest: Uint8Array,
  block: number,
  stream: number,
): void {
  try {
    if (compressor === 0) blosclzDecompress(src, dest);
    else if (compressor === 1) lz4Decompress(src, dest);
    else {
      const name = COMPRESSOR_NAMES[compressor];
      throw new CodecError(
        name === undefined
          ? `unknown compressor code ${compressor}`
          : `the ${name} compressor (code ${compressor}) is not supported: ` +
            "only blosclz and lz4/lz4hc are",
      );
    }
  } catch (cause) {
    if (!(cause instanceof CodecError)) throw cause;
    throw new CodecError(`Blosc block ${block} stream ${stream}: ${cause.message}`, { cause });
  }
}

/** c-blosc 1.21's blocksize for clevel 9 and a non-HCR compressor (blosclz). */
function computeBlocksize(typesize: number, nbytes: number): number {
  if (nbytes < typesize) return 1;
  let blocksize = nbytes;
  if (nbytes >= L1) blocksize = L1 * 8;
  if (splitBlock(typesize, blocksize)) {
    if (blocksize > 1 << 18) blocksize = 1 << 18;
    blocksize *= typesize;
    if (blocksize < 1 << 16) blocksize = 1 << 16;
    if (blocksize > 1 << 20) blocksize = 1 << 20;
  }
  if (blocksize > nbytes) blocksize = nbytes;
  if (blocksize > typesize) blocksize = Math.floor(blocksize / typesize) * typesize;
  return blocksize;
}

/** c-blosc 1.21's default (forward compatible) split rule for blosclz. */
function splitBlock(typesize: number, blocksize: number): boolean {
  return typesize <= MAX_SPLITS && Math.floor(blocksize / typesize) >= MIN_BUFFERSIZE;
}

function stored(data: Uint8Array, flags: number, typesize: number, blocksize: number): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + data.length);
  writeHeader(
    new DataView(out.buffer),
    flags | FLAG_MEMCPYED,
    typesize,
    data.length,
    blocksize,
    out.length,
  );
  out.set(data, HEADER_SIZE);
  return out;
}

function writeHeader(
  view: DataView,
  flags: number,
  typesize: number,
  nbytes: number,
  blocksize: number,
  cbytes: number,
): void {
  view.setUint8(0, 2); // format version
  view.setUint8(1, 1); // blosclz format version
  view.setUint8(2, flags);
  view.setUint8(3, typesize);
  view.setUint32(4, nbytes, true);
  view.setUint32(8, blocksize, true);
  view.setUint32(12, cbytes, true);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Byte shuffle: byte `j` of item `i` goes to `j * n + i`; the tail stays. */
function shuffleBlock(typesize: number, src: Uint8Array, dest: Uint8Array): void {
  const size = src.length;
  const n = Math.floor(size / typesize);
  if (typesize === 8 && LITTLE_ENDIAN && src.byteOffset % 4 === 0) {
    // The common case (aiomas): read whole items as two words.
    const words = new Uint32Array(src.buffer, src.byteOffset, 2 * n);
    for (let i = 0, w = 0; i < n; i++, w += 2) {
      const lo = words[w]!;
      const hi = words[w + 1]!;
      dest[i] = lo;
      dest[n + i] = lo >>> 8;
      dest[2 * n + i] = lo >>> 16;
      dest[3 * n + i] = lo >>> 24;
      dest[4 * n + i] = hi;
      dest[5 * n + i] = hi >>> 8;
      dest[6 * n + i] = hi >>> 16;
      dest[7 * n + i] = hi >>> 24;
    }
  } else {
    for (let j = 0; j < typesize; j++) {
      const base = j * n;
      for (let i = 0, k = j; i < n; i++, k += typesize) dest[base + i] = src[k]!;
    }
  }
  const tail = n * typesize;
  if (tail < size) dest.set(src.subarray(tail), tail);
}

/** Inverse of {@linkcode shuffleBlock}. */
function unshuffleBlock(typesize: number, src: Uint8Array, dest: Uint8Array): void {
  const size = src.length;
  const n = Math.floor(size / typesize);
  if (typesize === 8 && LITTLE_ENDIAN && dest.byteOffset % 4 === 0) {
    // The common case (aiomas): write whole items as two words.
    const words = new Uint32Array(dest.buffer, dest.byteOffset, 2 * n);
    const n2 = 2 * n, n3 = 3 * n, n4 = 4 * n, n5 = 5 * n, n6 = 6 * n, n7 = 7 * n;
    for (let i = 0, w = 0; i < n; i++, w += 2) {
      words[w] = src[i]! | (src[n + i]! << 8) | (src[n2 + i]! << 16) | (src[n3 + i]! << 24);
      words[w + 1] = src[n4 + i]! | (src[n5 + i]! << 8) | (src[n6 + i]! << 16) |
        (src[n7 + i]! << 24);
    }
  } else {
    for (let j = 0; j < typesize; j++) {
      const base = j * n;
      for (let i = 0, k = j; i < n; i++, k += typesize) dest[k] = src[base + i]!;
    }
  }
  const tail = n * typesize;
  if (tail < size) dest.set(src.subarray(tail, size), tail);
}

/**
 * Bit unshuffle as c-blosc 1.x (format version 2) applies it: only when the
 * number of whole items is a multiple of 8, else the block was copied. Bit
 * `k` of byte `j` of item `i` was stored at bit `(j * 8 + k) * n + i` (bits
 * numbered from the least significant of each byte).
 */
function bitunshuffleBlock(typesize: number, src: Uint8Array, dest: Uint8Array): void {
  const size = src.length;
  const n = Math.floor(size / typesize);
  if (n % 8 !== 0) {
    dest.set(src);
    return;
  }
  const rowBytes = n >> 3;
  dest.fill(0, 0, n * typesize);
  for (let j = 0; j < typesize; j++) {
    for (let k = 0; k < 8; k++) {
      const row = (j * 8 + k) * rowBytes;
      const bit = 1 << k;
      for (let b = 0; b < rowBytes; b++) {
        const byte = src[row + b]!;
        if (byte === 0) continue;
        let at = b * 8 * typesize + j;
        for (let i = 0; i < 8; i++, at += typesize) {
          if ((byte >> i) & 1) dest[at]! |= bit;
        }
      }
    }
  }
  const tail = n * typesize;
  if (tail < size) dest.set(src.subarray(tail, size), tail);
}
