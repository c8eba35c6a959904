/**
 * The MessagePack extension values: {@linkcode Ext} (any type this codec does
 * not interpret) and {@linkcode Timestamp} (type -1 beyond `Date`'s range).
 *
 * @module
 */

import { CodecError } from "../errors.ts";

/**
 * A MessagePack extension value of a type this codec does not interpret
 * (every type but the timestamp, -1). Decoded unknown extensions become
 * `Ext`s, and encoding an `Ext` writes it back unchanged.
 *
 * @example
 * ```ts
 * import { Ext, MsgPackCodec } from "@aiomas/aiomas/codecs";
 * const codec = new MsgPackCodec();
 * const bytes = codec.encode(new Ext(7, new Uint8Array([1, 2])));
 * console.log(bytes); // Uint8Array(4) [ 213, 7, 1, 2 ]
 * const ext = codec.decode(bytes) as Ext;
 * console.log(ext.type, ext.data); // 7 Uint8Array(2) [ 1, 2 ]
 * ```
 */
export class Ext {
  /** The extension type, an integer in -128..127. */
  readonly type: number;
  /** The extension's payload. */
  readonly data: Uint8Array;

  /** Make an extension value of `type` (-128..127) carrying `data`. */
  constructor(type: number, data: Uint8Array) {
    this.type = type;
    this.data = data;
  }
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/**
 * A MessagePack timestamp (extension type -1) that a `Date` cannot hold:
 * the format allows ±2^63 seconds, `Date` only ±8.64e15 milliseconds (about
 * ±275,000 years). `MsgPackCodec` decodes a timestamp to a `Date` when its
 * seconds are within `Date`'s range (cutting nanoseconds to milliseconds),
 * and to a `Timestamp`, exact, beyond it. Encoding a `Timestamp` writes the
 * smallest timestamp form, so a decoded one encodes back to the same bytes.
 *
 * @example
 * ```ts
 * import { MsgPackCodec, Timestamp } from "@aiomas/aiomas/codecs";
 * const codec = new MsgPackCodec();
 * const far = new Timestamp(2n ** 62n, 5);
 * const copy = codec.decode(codec.encode(far)) as Timestamp;
 * console.log(copy.seconds, copy.nanoseconds); // 4611686018427387904n 5
 * ```
 */
export class Timestamp {
  /** Seconds since 1970-01-01T00:00:00Z, a signed 64-bit integer. */
  readonly seconds: bigint;
  /** Nanoseconds after `seconds`, 0..999,999,999. */
  readonly nanoseconds: number;

  /**
   * Make a timestamp; a `CodecError` if `seconds` does not fit 64 bits or
   * `nanoseconds` is not an integer in 0..999,999,999.
   */
  constructor(seconds: bigint, nanoseconds = 0) {
    if (typeof seconds !== "bigint" || seconds < INT64_MIN || seconds > INT64_MAX) {
      throw new CodecError("Timestamp: seconds must be a bigint within the signed 64-bit range");
    }
    if (!Number.isInteger(nanoseconds) || nanoseconds < 0 || nanoseconds > 999_999_999) {
      throw new CodecError("Timestamp: nanoseconds must be an integer in 0..999999999");
    }
    this.seconds = seconds;
    this.nanoseconds = nanoseconds;
  }
}
