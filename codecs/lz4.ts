/**
 * A checked decoder for LZ4 blocks (the raw block format, no frame), as
 * c-blosc writes them for its `lz4` and `lz4hc` compressors.
 *
 * @example
 * ```ts
 * import { lz4Decompress } from "@aiomas/aiomas/codecs";
 * // token 0x24: 2 literals "ab", then a match of 4 + 4 bytes at offset 2;
 * // token 0x10: the closing literal "c".
 * const out = new Uint8Array(11);
 * lz4Decompress(new Uint8Array([0x24, 0x61, 0x62, 0x02, 0x00, 0x10, 0x63]), out);
 * console.log(new TextDecoder().decode(out)); // abababababc
 * ```
 *
 * @module
 */

import { CodecError } from "../errors.ts";

/**
 * Decode the LZ4 block `src` into `dest`, which it must fill exactly.
 *
 * Throws a {@linkcode CodecError} naming the input offset for a truncated
 * sequence, a zero offset or one that reaches before the start of `dest`,
 * output past the end of `dest`, or a block that decodes to fewer bytes than
 * `dest.length`. Never reads or writes outside `src` and `dest`.
 *
 * @example
 * ```ts
 * import { lz4Decompress } from "@aiomas/aiomas/codecs";
 * const out = new Uint8Array(3);
 * lz4Decompress(new Uint8Array([0x30, 0x61, 0x62, 0x63]), out); // literals only
 * console.log(new TextDecoder().decode(out)); // abc
 * ```
 */
export function lz4Decompress(src: Uint8Array, dest: Uint8Array): void {
  const inEnd = src.length;
  const outEnd = dest.length;
  let ip = 0;
  let op = 0;
  for (;;) {
    if (ip >= inEnd) throw truncated(ip);
    const start = ip;
    const token = src[ip++]!;
    let litLen = token >> 4;
    if (litLen === 15) {
      let b: number;
      do {
        if (ip >= inEnd) throw truncated(start);
        b = src[ip++]!;
        litLen += b;
      } while (b === 255);
    }
    if (ip + litLen > inEnd) throw truncated(start);
    if (op + litLen > outEnd) throw overflow(start, op + litLen, outEnd);
    if (litLen > 16) {
      dest.set(src.subarray(ip, ip + litLen), op);
      ip += litLen;
      op += litLen;
    } else {
      for (let i = 0; i < litLen; i++) dest[op++] = src[ip++]!;
    }
    // The last sequence has literals only.
    if (ip === inEnd) break;
    if (ip + 2 > inEnd) throw truncated(start);
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    let len = token & 15;
    if (len === 15) {
      let b: number;
      do {
        if (ip >= inEnd) throw truncated(start);
        b = src[ip++]!;
        len += b;
      } while (b === 255);
    }
    len += 4;
    if (offset === 0) {
      throw new CodecError(`LZ4 sequence at input offset ${start} has a zero match offset`);
    }
    let ref = op - offset;
    if (ref < 0) {
      throw new CodecError(
        `LZ4 match at input offset ${start} reaches ${offset} bytes back from output ` +
          `offset ${op}, before the start of the block`,
      );
    }
    if (op + len > outEnd) throw overflow(start, op + len, outEnd);
    if (offset === 1) {
      dest.fill(dest[ref]!, op, op + len);
      op += len;
    } else if (offset >= len && len > 32) {
      dest.copyWithin(op, ref, ref + len);
      op += len;
    } else {
      const end = op + len;
      while (op < end) dest[op++] = dest[ref++]!;
    }
  }
  if (op !== outEnd) {
    throw new CodecError(`LZ4 block decoded to ${op} bytes, expected ${outEnd}`);
  }
}

function truncated(offset: number): CodecError {
  return new CodecError(`LZ4 block truncated in the sequence at input offset ${offset}`);
}

function overflow(offset: number, size: number, limit: number): CodecError {
  return new CodecError(
    `LZ4 sequence at input offset ${offset} writes past the end of the block ` +
      `(${size} > ${limit} bytes)`,
  );
}
