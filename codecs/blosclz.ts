/**
 * The blosclz block format of c-blosc 1.x (a FastLZ level-2 variant): a
 * decoder that checks every length and distance, and a hash-table LZ77
 * encoder whose streams c-blosc 1.21 reads.
 *
 * A stream is a sequence of tokens. The first byte's top 3 bits are a marker
 * (`1 << 5`) and the first token is always a literal run. A control byte
 * `ctrl < 32` copies `ctrl + 1` literal bytes. Otherwise it is a match of
 * `(ctrl >> 5) + 2` bytes (`7` means: add the following bytes while they are
 * 255, and the first byte below 255 too); then the distance byte, with
 * `d = ((ctrl & 31) << 8) + byte`; when that byte is 255 and `ctrl & 31` is
 * 31, `d = 8191 + next two bytes (big-endian)`. The match copies, byte by
 * byte, from `d + 1` bytes back in the output.
 *
 * @example
 * ```ts
 * import { blosclzCompress, blosclzDecompress } from "@aiomas/aiomas/codecs";
 * const data = new TextEncoder().encode("spam".repeat(100));
 * const stream = new Uint8Array(data.length);
 * const size = blosclzCompress(data, stream);
 * const copy = new Uint8Array(data.length);
 * blosclzDecompress(stream.subarray(0, size), copy);
 * console.log(size < data.length, new TextDecoder().decode(copy) === "spam".repeat(100)); // true true
 * ```
 *
 * @module
 */

import { CodecError } from "../errors.ts";

/** Largest distance `d` of the near (2-byte) form. */
const MAX_NEAR = 8190;
/** Largest distance `d` of the far (4-byte) form. */
const MAX_FAR = 8191 + 65535;
/** Longest literal run of one token. */
const MAX_COPY = 32;
/** Largest hash table: 2^16 entries. */
const MAX_HASH_LOG = 16;
/** Shortest match worth a token (near form: 2 bytes for 4). */
const MIN_MATCH = 4;
/** Shortest match worth the far form (4 bytes). */
const MIN_FAR_MATCH = 6;

const hashTable = new Int32Array(1 << MAX_HASH_LOG);

/**
 * Decode the blosclz stream `src` into `dest`, which it must fill exactly.
 *
 * Throws a {@linkcode CodecError} naming the input offset for a truncated
 * token, a match that reaches before the start of `dest`, output past the end
 * of `dest`, or a stream that decodes to fewer bytes than `dest.length`.
 * Never reads or writes outside `src` and `dest`.
 *
 * @example
 * ```ts
 * import { blosclzDecompress } from "@aiomas/aiomas/codecs";
 * // literal "ab" (marker 0x20 | 1), a match of 6 bytes at distance 2, literal "c".
 * const out = new Uint8Array(9);
 * blosclzDecompress(new Uint8Array([0x21, 0x61, 0x62, 0x80, 0x01, 0x00, 0x63]), out);
 * console.log(new TextDecoder().decode(out)); // ababababc
 * ```
 */
export function blosclzDecompress(src: Uint8Array, dest: Uint8Array): void {
  const inEnd = src.length;
  const outEnd = dest.length;
  if (inEnd === 0) {
    if (outEnd === 0) return;
    throw new CodecError(`blosclz stream is empty but must decode to ${outEnd} bytes`);
  }
  let ip = 0;
  let op = 0;
  let ctrl = src[ip++]! & 31;
  for (;;) {
    if (ctrl >= 32) {
      const start = ip - 1;
      let len = (ctrl >> 5) - 1;
      const high = (ctrl & 31) << 8;
      if (len === 6) {
        let code: number;
        do {
          if (ip >= inEnd) throw truncated(start);
          code = src[ip++]!;
          len += code;
        } while (code === 255);
      }
      if (ip >= inEnd) throw truncated(start);
      const code = src[ip++]!;
      let d = high + code;
      if (code === 255 && high === 31 << 8) {
        if (ip + 2 > inEnd) throw truncated(start);
        d = 8191 + ((src[ip]! << 8) | src[ip + 1]!);
        ip += 2;
      }
      len += 3;
      let ref = op - d - 1;
      if (ref < 0) {
        throw new CodecError(
          `blosclz match at input offset ${start} reaches ${d + 1} bytes back from output ` +
            `offset ${op}, before the start of the block`,
        );
      }
      if (op + len > outEnd) throw overflow(start, op + len, outEnd);
      if (d === 0) {
        dest.fill(dest[ref]!, op, op + len);
        op += len;
      } else if (d >= len) {
        if (len > 32) dest.copyWithin(op, ref, ref + len);
        else for (let i = 0; i < len; i++) dest[op + i] = dest[ref + i]!;
        op += len;
      } else {
        const end = op + len;
        while (op < end) dest[op++] = dest[ref++]!;
      }
    } else {
      const n = ctrl + 1;
      if (ip + n > inEnd) throw truncated(ip - 1);
      if (op + n > outEnd) throw overflow(ip - 1, op + n, outEnd);
      if (n > 16) {
        dest.set(src.subarray(ip, ip + n), op);
        op += n;
        ip += n;
      } else {
        for (let i = 0; i < n; i++) dest[op++] = src[ip++]!;
      }
    }
    if (ip >= inEnd) break;
    ctrl = src[ip++]!;
  }
  if (op !== outEnd) {
    throw new CodecError(`blosclz stream decoded to ${op} bytes, expected ${outEnd}`);
  }
}

function truncated(offset: number): CodecError {
  return new CodecError(`blosclz stream truncated in the token at input offset ${offset}`);
}

function overflow(offset: number, size: number, limit: number): CodecError {
  return new CodecError(
    `blosclz token at input offset ${offset} writes past the end of the block ` +
      `(${size} > ${limit} bytes)`,
  );
}

/**
 * Compress `src` into `dest` as one blosclz stream and return its length, or
 * `0` when the stream would not fit in `dest` (pass a `dest` shorter than
 * `src` to keep only streams that shrink the data). Streams always end with a
 * literal run, as c-blosc's decoder requires.
 *
 * Greedy LZ77 with a hash table of 4-byte sequences, backward match
 * extension and the far (up to 73,727 bytes back) distance form.
 *
 * @example
 * ```ts
 * import { blosclzCompress } from "@aiomas/aiomas/codecs";
 * const zeros = new Uint8Array(1000);
 * const out = new Uint8Array(999);
 * console.log(blosclzCompress(zeros, out)); // 10
 * ```
 */
export function blosclzCompress(src: Uint8Array, dest: Uint8Array): number {
  const n = src.length;
  const outEnd = dest.length;
  if (n === 0) return 0;
  // Last position where a 4-byte match may start and still leave one byte
  // for the closing literal run.
  const limit = n - MIN_MATCH - 1;
  let op = 0;
  let anchor = 0;
  if (limit > 0) {
    let hashLog = 8;
    while (hashLog < MAX_HASH_LOG && 1 << hashLog < n) hashLog++;
    const shift = 32 - hashLog;
    const table = hashTable;
    table.fill(-1, 0, 1 << hashLog);
    const matchEnd = n - 1;
    let ip = 0;
    while (ip <= limit) {
      const seq = src[ip]! | (src[ip + 1]! << 8) | (src[ip + 2]! << 16) | (src[ip + 3]! << 24);
      const h = Math.imul(seq, 0x9e3779b1) >>> shift;
      let ref = table[h]!;
      table[h] = ip;
      const offset = ip - ref;
      if (
        ref < 0 || offset > MAX_FAR + 1 ||
        (src[ref]! | (src[ref + 1]! << 8) | (src[ref + 2]! << 16) | (src[ref + 3]! << 24)) !== seq
      ) {
        // Skip faster through data that does not compress.
        ip += 1 + ((ip - anchor) >> 7);
        continue;
      }
      let end = ip + MIN_MATCH;
      while (end < matchEnd && src[end]! === src[end - offset]!) end++;
      let start = ip;
      while (start > anchor && ref > 0 && src[start - 1]! === src[ref - 1]!) {
        start--;
        ref--;
      }
      const len = end - start;
      const d = offset - 1;
      if (d > MAX_NEAR && len < MIN_FAR_MATCH) {
        ip++;
        continue;
      }
      // Worst case: literals with their control bytes, then a match token.
      const litLen = start - anchor;
      if (op + litLen + (litLen >> 5) + 1 + 8 + ((len - 9) / 255 | 0) > outEnd) return 0;
      op = writeLiterals(src, anchor, start, dest, op);
      op = writeMatch(dest, op, len, d);
      anchor = end;
      // Index a few positions inside the match so later data finds them.
      if (end <= limit) {
        const from = len < 32 ? start + 1 : end - 3;
        for (let p = from; p < end; p++) {
          const s = src[p]! | (src[p + 1]! << 8) | (src[p + 2]! << 16) | (src[p + 3]! << 24);
          table[Math.imul(s, 0x9e3779b1) >>> shift] = p;
        }
      }
      ip = end;
    }
  }
  const litLen = n - anchor;
  if (op + litLen + Math.ceil(litLen / MAX_COPY) > outEnd) return 0;
  op = writeLiterals(src, anchor, n, dest, op);
  dest[0]! |= 1 << 5;
  return op;
}

function writeLiterals(
  src: Uint8Array,
  from: number,
  to: number,
  dest: Uint8Array,
  op: number,
): number {
  while (from < to) {
    const run = Math.min(MAX_COPY, to - from);
    dest[op++] = run - 1;
    for (let i = 0; i < run; i++) dest[op++] = src[from++]!;
  }
  return op;
}

function writeMatch(dest: Uint8Array, op: number, len: number, d: number): number {
  const far = d > MAX_NEAR;
  const high = far ? 31 : d >> 8;
  if (len <= 8) {
    dest[op++] = ((len - 2) << 5) | high;
  } else {
    dest[op++] = (7 << 5) | high;
    let rest = len - 9;
    for (; rest >= 255; rest -= 255) dest[op++] = 255;
    dest[op++] = rest;
  }
  if (far) {
    const x = d - 8191;
    dest[op++] = 255;
    dest[op++] = x >> 8;
    dest[op++] = x & 255;
  } else {
    dest[op++] = d & 255;
  }
  return op;
}
