/**
 * The MessagePack decoder behind `MsgPackCodec.decode`: it never trusts its
 * input (every length is checked against the bytes left, nesting is
 * limited) and keeps the wire order of maps.
 *
 * @module
 */

import { CodecError } from "../errors.ts";
import { describe } from "./describe.ts";
import { Ext, Timestamp } from "./msgpack_ext.ts";
import {
  defineProtoKey,
  extraKeys,
  IMPLICIT_KEYS,
  implicitKey,
  MAX_DEPTH,
  nestedInLeaf,
  type SerializerRegistry,
  TYPE_TAG,
} from "./serializers.ts";

/**
 * In input the caller gives away (`decode`'s `owned`), a bin of at least
 * this many bytes that fills at least a quarter of the input is a view.
 */
export const VIEW_BIN = 64 * 1024;
/** Strings shorter than this are UTF-8 decoded in JavaScript. */
const SHORT_STRING = 64;
const TWO_32 = 4294967296;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

const textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const fromCharCode = String.fromCharCode;

// Scratch space for float decoding (faster than a DataView per input).
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
const F32 = new Float32Array(1);
const F32_BYTES = new Uint8Array(F32.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// A cache of decoded short map keys: the same key bytes give the same
// string object, which saves decoding and keeps property stores fast.
const KEY_CACHE_BITS = 12;
const KEY_CACHE_SIZE = 1 << KEY_CACHE_BITS;
const KEY_MAX = 16;
const keyCacheLen = new Uint8Array(KEY_CACHE_SIZE);
const keyCacheBytes = new Uint8Array(KEY_CACHE_SIZE * KEY_MAX);
const keyCacheStr: string[] = new Array<string>(KEY_CACHE_SIZE).fill("");

/** What a reader holds between decodes: one shared empty array, not one per connection. */
const NO_BYTES = new Uint8Array(0);

/**
 * Decodes MessagePack for one codec (its serializers revive `__type__`
 * maps). Reentrant: a serializer may decode again.
 */
export class MsgPackReader {
  readonly #registry: SerializerRegistry;
  /** Whether decoded bin values are copies or views. */
  readonly #copyBinary: boolean;
  /** Whether `#in` is given away: its big bins are views. */
  #owned = false;
  #in: Uint8Array = NO_BYTES;
  #at = 0;
  #end = 0;
  /** Where the value being decoded starts in `#in` (error messages count from there). */
  #base = 0;
  /** How many leaf serializers' data we are inside (tags are refused there). */
  #leaf = 0;
  /** The typeid of the innermost leaf serializer whose data is being read. */
  #leafId: unknown = undefined;

  constructor(registry: SerializerRegistry, copyBinary: boolean) {
    this.#registry = registry;
    this.#copyBinary = copyBinary;
  }

  /**
   * Decode one value that fills `bytes` exactly. `owned`: nobody changes or
   * reuses `bytes` afterwards, so a bin of {@linkcode VIEW_BIN} bytes or more
   * that fills at least a quarter of them may be a view into them.
   */
  decode(bytes: Uint8Array, owned = false): unknown {
    return this.decodeAt(bytes, 0, bytes.length, owned);
  }

  /**
   * Decode one value that fills `bytes[start, end)` exactly, as `decode`
   * would decode that view (error messages count offsets from `start`).
   */
  decodeAt(bytes: Uint8Array, start: number, end: number, owned = false): unknown {
    const savedIn = this.#in;
    const savedAt = this.#at;
    const savedEnd = this.#end;
    const savedBase = this.#base;
    const savedLeaf = this.#leaf;
    const savedOwned = this.#owned;
    this.#in = bytes;
    this.#at = start;
    this.#end = end;
    this.#base = start;
    this.#leaf = 0;
    this.#owned = owned;
    try {
      const value = this.#read(0);
      if (this.#at !== this.#end) {
        throw new CodecError(
          `MsgPack: ${this.#end - this.#at} trailing byte(s) after the value at offset ${
            this.#at - this.#base
          }`,
        );
      }
      return value;
    } finally {
      this.#in = savedIn;
      this.#at = savedAt;
      this.#end = savedEnd;
      this.#base = savedBase;
      this.#leaf = savedLeaf;
      this.#owned = savedOwned;
    }
  }
  #truncated(at: number, need: number): CodecError {
    return new CodecError(
      `MsgPack: truncated input at offset ${at - this.#base}: need ${need} byte(s), ${
        Math.max(0, this.#end - at)
      } left`,
    );
  }

  #read(depth: number): unknown {
    const bytes = this.#in;
    const at = this.#at;
    if (at >= this.#end) throw this.#truncated(at, 1);
    const b = bytes[at]!;
    this.#at = at + 1;
    if (b < 0x80) return b;
    if (b >= 0xe0) return b - 0x100;
    if (b < 0x90) return this.#readMap(b & 0x0f, depth, at);
    if (b < 0xa0) return this.#readArray(b & 0x0f, depth, at);
    if (b < 0xc0) return this.#readString(b & 0x1f, at);
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.#readBin(this.#readLength(1, at), at);
      case 0xc5:
        return this.#readBin(this.#readLength(2, at), at);
      case 0xc6:
        return this.#readBin(this.#readLength(4, at), at);
      case 0xc7:
        return this.#readExt(this.#readLength(1, at), at);
      case 0xc8:
        return this.#readExt(this.#readLength(2, at), at);
      case 0xc9:
        return this.#readExt(this.#readLength(4, at), at);
      case 0xca: {
        const p = this.#need(4, at);
        if (LITTLE_ENDIAN) {
          F32_BYTES[3] = bytes[p]!;
          F32_BYTES[2] = bytes[p + 1]!;
          F32_BYTES[1] = bytes[p + 2]!;
          F32_BYTES[0] = bytes[p + 3]!;
        } else {
          F32_BYTES.set(bytes.subarray(p, p + 4));
        }
        return F32[0];
      }
      case 0xcb: {
        const p = this.#need(8, at);
        if (LITTLE_ENDIAN) {
          F64_BYTES[7] = bytes[p]!;
          F64_BYTES[6] = bytes[p + 1]!;
          F64_BYTES[5] = bytes[p + 2]!;
          F64_BYTES[4] = bytes[p + 3]!;
          F64_BYTES[3] = bytes[p + 4]!;
          F64_BYTES[2] = bytes[p + 5]!;
          F64_BYTES[1] = bytes[p + 6]!;
          F64_BYTES[0] = bytes[p + 7]!;
        } else {
          F64_BYTES.set(bytes.subarray(p, p + 8));
        }
        return F64[0];
      }
      case 0xcc:
        return bytes[this.#need(1, at)]!;
      case 0xcd: {
        const p = this.#need(2, at);
        return (bytes[p]! << 8) | bytes[p + 1]!;
      }
      case 0xce: {
        const p = this.#need(4, at);
        return bytes[p]! * 0x1000000 +
          ((bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!);
      }
      case 0xcf: {
        const p = this.#need(8, at);
        const hi = bytes[p]! * 0x1000000 +
          ((bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!);
        const lo = bytes[p + 4]! * 0x1000000 +
          ((bytes[p + 5]! << 16) | (bytes[p + 6]! << 8) | bytes[p + 7]!);
        const v = hi * TWO_32 + lo;
        return v <= MAX_SAFE ? v : (BigInt(hi) << 32n) | BigInt(lo);
      }
      case 0xd0:
        return (bytes[this.#need(1, at)]! << 24) >> 24;
      case 0xd1: {
        const p = this.#need(2, at);
        return (((bytes[p]! << 8) | bytes[p + 1]!) << 16) >> 16;
      }
      case 0xd2: {
        const p = this.#need(4, at);
        return (bytes[p]! << 24) | (bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!;
      }
      case 0xd3: {
        const p = this.#need(8, at);
        const hi = (bytes[p]! << 24) | (bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!;
        const lo = bytes[p + 4]! * 0x1000000 +
          ((bytes[p + 5]! << 16) | (bytes[p + 6]! << 8) | bytes[p + 7]!);
        const v = hi * TWO_32 + lo;
        return v >= -MAX_SAFE && v <= MAX_SAFE
          ? v
          : BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo));
      }
      case 0xd4:
        return this.#readExt(1, at);
      case 0xd5:
        return this.#readExt(2, at);
      case 0xd6:
        return this.#readExt(4, at);
      case 0xd7:
        return this.#readExt(8, at);
      case 0xd8:
        return this.#readExt(16, at);
      case 0xd9:
        return this.#readString(this.#readLength(1, at), at);
      case 0xda:
        return this.#readString(this.#readLength(2, at), at);
      case 0xdb:
        return this.#readString(this.#readLength(4, at), at);
      case 0xdc:
        return this.#readArray(this.#readLength(2, at), depth, at);
      case 0xdd:
        return this.#readArray(this.#readLength(4, at), depth, at);
      case 0xde:
        return this.#readMap(this.#readLength(2, at), depth, at);
      case 0xdf:
        return this.#readMap(this.#readLength(4, at), depth, at);
      default:
        throw new CodecError(
          `MsgPack: reserved byte 0x${b.toString(16)} at offset ${at - this.#base}`,
        );
    }
  }

  /** Claim `n` bytes after the type byte at `at`; return where they start. */
  #need(n: number, at: number): number {
    const p = this.#at;
    if (p + n > this.#end) throw this.#truncated(at, n + 1);
    this.#at = p + n;
    return p;
  }

  /** Read a big-endian length of `size` (1, 2, 4) bytes. */
  #readLength(size: number, at: number): number {
    const p = this.#need(size, at);
    const bytes = this.#in;
    if (size === 1) return bytes[p]!;
    if (size === 2) return (bytes[p]! << 8) | bytes[p + 1]!;
    return bytes[p]! * 0x1000000 + ((bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!);
  }

  #readBin(n: number, at: number): Uint8Array {
    const p = this.#at;
    if (n > this.#end - p) throw this.#truncated(at, p - at + n);
    this.#at = p + n;
    // A view pins the whole input: only for a bin that is a good part of it.
    if (!this.#copyBinary || (this.#owned && n >= VIEW_BIN && 4 * n >= this.#end - this.#base)) {
      return this.#in.subarray(p, p + n);
    }
    return this.#in.slice(p, p + n);
  }

  #readString(n: number, at: number): string {
    const p = this.#at;
    if (n > this.#end - p) throw this.#truncated(at, p - at + n);
    this.#at = p + n;
    if (n < SHORT_STRING) {
      const s = decodeShort(this.#in, p, n);
      if (s !== undefined) return s;
    }
    try {
      return textDecoder.decode(this.#in.subarray(p, p + n));
    } catch (cause) {
      throw new CodecError(`MsgPack: invalid UTF-8 in the string at offset ${at - this.#base}`, {
        cause,
      });
    }
  }

  #readKey(n: number, at: number): string {
    const p = this.#at;
    if (n > this.#end - p) throw this.#truncated(at, p - at + n);
    if (n > KEY_MAX || n === 0) return this.#readString(n, at);
    const bytes = this.#in;
    let h = n;
    for (let i = 0; i < n; i++) h = Math.imul(h, 31) + bytes[p + i]!;
    const slot = (h ^ (h >>> KEY_CACHE_BITS)) & (KEY_CACHE_SIZE - 1);
    if (keyCacheLen[slot]! === n) {
      const base = slot * KEY_MAX;
      let i = 0;
      while (i < n && keyCacheBytes[base + i]! === bytes[p + i]!) i++;
      if (i === n) {
        this.#at = p + n;
        return keyCacheStr[slot]!;
      }
    }
    const s = this.#readString(n, at);
    keyCacheLen[slot] = n;
    keyCacheBytes.set(bytes.subarray(p, p + n), slot * KEY_MAX);
    keyCacheStr[slot] = s;
    return s;
  }

  #readArray(n: number, depth: number, at: number): unknown[] {
    if (depth >= MAX_DEPTH) {
      throw new CodecError(
        `MsgPack: array at offset ${at - this.#base} nested deeper than ${MAX_DEPTH} levels`,
      );
    }
    // Every item takes at least one byte: refuse impossible counts before allocating.
    if (n > this.#end - this.#at) {
      throw new CodecError(
        `MsgPack: array at offset ${at - this.#base} claims ${n} items but only ${
          this.#end - this.#at
        } byte(s) are left`,
      );
    }
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.#read(depth + 1);
    return out;
  }

  #readMap(n: number, depth: number, at: number): unknown {
    if (depth >= MAX_DEPTH) {
      throw new CodecError(
        `MsgPack: map at offset ${at - this.#base} nested deeper than ${MAX_DEPTH} levels`,
      );
    }
    if (n * 2 > this.#end - this.#at) {
      throw new CodecError(
        `MsgPack: map at offset ${at - this.#base} claims ${n} entries but only ${
          this.#end - this.#at
        } byte(s) are left`,
      );
    }
    const out: Record<string, unknown> = {};
    // The keys in wire order, kept once a key might be an array index (which
    // a JavaScript object would list first), in case the map becomes a Map.
    let order: string[] | undefined;
    for (let i = 0; i < n; i++) {
      const kat = this.#at;
      let key: unknown;
      const b = kat < this.#end ? this.#in[kat]! : 0;
      if (b >= 0xa0 && b < 0xc0) {
        this.#at = kat + 1;
        key = this.#readKey(b & 0x1f, kat);
      } else {
        key = this.#read(depth + 1);
        if (typeof key !== "string") {
          return this.#readMapSlow(order ?? Object.keys(out), out, key, i, n, depth, at);
        }
      }
      if (key === TYPE_TAG) {
        if (n !== 1) throw this.#tagError(extraKeys(), at);
        return this.#readTag(depth + 1, at);
      }
      if (order !== undefined) order.push(key as string);
      else if ((key as string).charCodeAt(0) <= 0x39) {
        order = Object.keys(out);
        order.push(key as string);
      }
      const item = this.#read(depth + 1);
      if (typeof item === "function" && IMPLICIT_KEYS.has(key as string)) {
        throw implicitKey(key as string);
      }
      if (key === "__proto__") defineProtoKey(out, item);
      else out[key as string] = item;
    }
    return out;
  }

  /**
   * Continue a map whose key number `i` is not a string as a `Map`, in wire
   * order: `keys` are the string keys read so far, in wire order.
   */
  #readMapSlow(
    keys: readonly string[],
    done: Record<string, unknown>,
    key: unknown,
    i: number,
    n: number,
    depth: number,
    at: number,
  ): unknown {
    const out = new Map<unknown, unknown>();
    for (const k of keys) out.set(k, done[k]);
    out.set(key, this.#read(depth + 1));
    for (i++; i < n; i++) {
      const k = this.#read(depth + 1);
      if (k === TYPE_TAG) throw this.#tagError(extraKeys(), at);
      out.set(k, this.#read(depth + 1));
    }
    return out;
  }

  /**
   * Read the value of a `__type__` key, `[typeid, data]`, and revive it.
   * Inside a leaf serializer's data no tag may appear: that is refused
   * before anything is revived.
   */
  #readTag(depth: number, at: number): unknown {
    if (this.#leaf !== 0) throw this.#tagError(nestedInLeaf(this.#leafId), at);
    const p = this.#at;
    const b = p < this.#end ? this.#in[p]! : 0;
    let count = -1;
    if (b === 0x92) {
      this.#at = p + 1;
      count = 2;
    } else if (b === 0xdc || b === 0xdd) {
      this.#at = p + 1;
      count = this.#readLength(b === 0xdc ? 2 : 4, p);
    }
    if (count !== 2) {
      throw this.#tagError(
        new CodecError(`Malformed ${TYPE_TAG} tag: expected [typeid, data]`),
        at,
      );
    }
    const id = this.#read(depth + 1);
    const registry = this.#registry;
    let leaf: boolean;
    try {
      leaf = registry.isLeaf(id);
    } catch (error) {
      throw this.#tagError(error, at);
    }
    let data: unknown;
    if (leaf) {
      const savedId = this.#leafId;
      this.#leaf++;
      this.#leafId = id;
      try {
        data = this.#read(depth + 1);
      } finally {
        this.#leaf--;
        this.#leafId = savedId;
      }
    } else {
      data = this.#read(depth + 1);
    }
    try {
      return registry.fromPlain(id, data);
    } catch (error) {
      throw this.#tagError(error, at);
    }
  }

  #tagError(cause: unknown, at: number): CodecError {
    const message = cause instanceof CodecError ? cause.message : describe(cause);
    return new CodecError(`MsgPack: the ${TYPE_TAG} map at offset ${at - this.#base}: ${message}`, {
      cause,
    });
  }

  #readExt(n: number, at: number): unknown {
    const p = this.#at;
    if (n + 1 > this.#end - p) throw this.#truncated(at, p - at + n + 1);
    const bytes = this.#in;
    const type = (bytes[p]! << 24) >> 24;
    this.#at = p + 1 + n;
    if (type !== -1) return new Ext(type, bytes.slice(p + 1, p + 1 + n));
    return readTimestamp(bytes, p + 1, n, at - this.#base);
  }
}

function readU32(bytes: Uint8Array, p: number): number {
  return bytes[p]! * 0x1000000 + ((bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!);
}

/** `Date`'s range in milliseconds. */
const DATE_MS = 8.64e15;

/**
 * Decode the timestamp extension's data (`n` bytes at `p`): a `Date` where
 * it is within `Date`'s range (nanoseconds cut to milliseconds), else an
 * exact {@linkcode Timestamp}.
 */
function readTimestamp(bytes: Uint8Array, p: number, n: number, at: number): Date | Timestamp {
  let sec: number;
  let nsec: number;
  let hi = 0;
  if (n === 4) {
    sec = readU32(bytes, p);
    nsec = 0;
  } else if (n === 8) {
    const top = readU32(bytes, p);
    nsec = Math.floor(top / 4);
    sec = (top & 3) * TWO_32 + readU32(bytes, p + 4);
  } else if (n === 12) {
    nsec = readU32(bytes, p);
    hi = (bytes[p + 4]! << 24) | (bytes[p + 5]! << 16) | (bytes[p + 6]! << 8) | bytes[p + 7]!;
    sec = hi * TWO_32 + readU32(bytes, p + 8);
  } else {
    throw new CodecError(`MsgPack: timestamp at offset ${at} has ${n} data bytes (not 4, 8 or 12)`);
  }
  if (nsec > 999999999) {
    throw new CodecError(`MsgPack: timestamp at offset ${at} has ${nsec} nanoseconds`);
  }
  const ms = sec * 1000 + Math.floor(nsec / 1000000);
  if (ms >= -DATE_MS && ms <= DATE_MS) return new Date(ms);
  // Only a timestamp 96 gets here; its seconds may need all 64 bits.
  return new Timestamp((BigInt(hi) << 32n) | BigInt(readU32(bytes, p + 8)), nsec);
}

/**
 * Decode `n` (< 64) bytes of UTF-8 at `p` in JavaScript, validating as
 * strictly as a fatal `TextDecoder`. Returns `undefined` for invalid input
 * (the caller then lets `TextDecoder` report it).
 */
function decodeShort(bytes: Uint8Array, p: number, n: number): string | undefined {
  const end = p + n;
  // ASCII fast paths.
  switch (n) {
    case 0:
      return "";
    case 1: {
      const a = bytes[p]!;
      if (a < 0x80) return fromCharCode(a);
      break;
    }
    case 2: {
      const a = bytes[p]!, b = bytes[p + 1]!;
      if ((a | b) < 0x80) return fromCharCode(a, b);
      break;
    }
    case 3: {
      const a = bytes[p]!, b = bytes[p + 1]!, c = bytes[p + 2]!;
      if ((a | b | c) < 0x80) return fromCharCode(a, b, c);
      break;
    }
    case 4: {
      const a = bytes[p]!, b = bytes[p + 1]!, c = bytes[p + 2]!, d = bytes[p + 3]!;
      if ((a | b | c | d) < 0x80) return fromCharCode(a, b, c, d);
      break;
    }
  }
  const units: number[] = [];
  let i = p;
  while (i < end) {
    const a = bytes[i++]!;
    if (a < 0x80) {
      units.push(a);
    } else if (a >= 0xc2 && a < 0xe0) {
      if (i >= end) return undefined;
      const b = bytes[i++]!;
      if ((b & 0xc0) !== 0x80) return undefined;
      units.push(((a & 0x1f) << 6) | (b & 0x3f));
    } else if (a >= 0xe0 && a < 0xf0) {
      if (i + 1 >= end) return undefined;
      const b = bytes[i++]!;
      const c = bytes[i++]!;
      if ((b & 0xc0) !== 0x80 || (c & 0xc0) !== 0x80) return undefined;
      if (a === 0xe0 ? b < 0xa0 : a === 0xed && b >= 0xa0) return undefined; // overlong, surrogate
      units.push(((a & 0x0f) << 12) | ((b & 0x3f) << 6) | (c & 0x3f));
    } else if (a >= 0xf0 && a < 0xf5) {
      if (i + 2 >= end) return undefined;
      const b = bytes[i++]!;
      const c = bytes[i++]!;
      const d = bytes[i++]!;
      if ((b & 0xc0) !== 0x80 || (c & 0xc0) !== 0x80 || (d & 0xc0) !== 0x80) return undefined;
      if (a === 0xf0 ? b < 0x90 : a === 0xf4 && b >= 0x90) return undefined; // overlong, > U+10FFFF
      const cp = (((a & 0x07) << 18) | ((b & 0x3f) << 12) | ((c & 0x3f) << 6) | (d & 0x3f)) -
        0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else {
      return undefined;
    }
  }
  return fromCharCode.apply(null, units);
}
