/**
 * {@linkcode MsgPackCodec}: the MessagePack codec of Python aiomas' `MsgPack`,
 * byte-compatible with `msgpack.packb(..., use_bin_type=True)`.
 *
 * What travels how:
 *
 * | JavaScript | MessagePack | decodes as |
 * | --- | --- | --- |
 * | `null`, `undefined` (top level, array items, `Map` values) | nil | `null` |
 * | `undefined` as a plain object's field | (field omitted, like `JSON.stringify`) | - |
 * | `boolean` | true / false | `boolean` |
 * | integral `number` that fits 64 bits (not `-0`) | smallest int form | `number`, or `bigint` beyond ±(2^53-1) |
 * | other `number` (fractions, `-0`, `NaN`, ±`Infinity`, huge) | float64 | `number` |
 * | `bigint` | smallest int form; `RangeError` past 64 bits | as above |
 * | `string` | str | `string` |
 * | `Uint8Array` | bin | `Uint8Array` (a copy) |
 * | arrays | array | arrays |
 * | plain objects, `Map`s | map | plain object if every key is a string, else `Map` |
 * | `Date` (no serializer registered for `Date`) | timestamp ext (type -1) | `Date` |
 * | {@linkcode Ext} | ext | {@linkcode Ext} |
 * | instances of registered classes | `{"__type__": [typeid, data]}` | the revived value |
 *
 * Decoding never trusts the input: truncated data, lengths past the end,
 * nesting deeper than `MAX_DEPTH`, trailing bytes, the reserved byte `0xc1`,
 * invalid UTF-8 and malformed timestamps all throw a `CodecError` that names
 * the byte offset.
 *
 * @module
 */

import { CodecError } from "../errors.ts";
import { MAX_DEPTH, SerializerRegistry, TYPE_TAG } from "./serializers.ts";
import type { Codec, Constructor, FromPlain, ToPlain } from "./types.ts";

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

/** The size of an output chunk (larger messages get a chunk of their own). */
const CHUNK_SIZE = 65536;
const EMPTY = new Uint8Array(0);
/** An output chunk larger than this is dropped after its message is done. */
const MAX_RETAINED = 16 * 1024 * 1024;
/** Strings shorter than this are UTF-8 encoded/decoded in JavaScript. */
const SHORT_STRING = 64;
const TWO_32 = 4294967296;
const TWO_63N = 1n << 63n;
const TWO_64N = 1n << 64n;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const fromCharCode = String.fromCharCode;

// 0x81 (fixmap 1), 0xa8 "__type__" (fixstr 8), 0x92 (fixarray 2)
const TAG_HEADER = new Uint8Array([0x81, 0xa8, ...textEncoder.encode(TYPE_TAG), 0x92]);

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

/** Options of {@linkcode MsgPackCodec}. */
export interface MsgPackCodecOptions {
  /**
   * Decode bin values as copies (`true`, the default), so the caller may
   * reuse the buffer it decoded from, or as views into it (`false`, no
   * copying: much faster for large binary data).
   */
  copyBinary?: boolean;
}

/**
 * The MessagePack codec (Python aiomas' `MsgPack`). Custom types travel as
 * `{"__type__": [typeid, data]}` maps, never as extension types, so Python
 * peers decode them with aiomas' own hooks.
 *
 * `Uint8Array`s decode as copies, not as views into the input, so the
 * caller may reuse the buffer it decoded from (see
 * {@linkcode MsgPackCodecOptions.copyBinary}). `encode` returns bytes that
 * later calls never overwrite; to save a copy per message they are a view
 * into a shared chunk of memory (so `byteOffset` may be non-zero and
 * `.buffer` holds other messages too: never transfer or detach it).
 *
 * `undefined` is encoded as nil, except as the value of a plain object's
 * field, which is left out (as `JSON.stringify` and `JsonCodec` do). A
 * serializer registered for exactly `Date`, `Map` or `Uint8Array` wins over
 * their native MessagePack forms.
 *
 * Subclasses (such as a compressing codec) may override `encode` and
 * `decode` and call `super`.
 *
 * @example
 * ```ts
 * import { MsgPackCodec } from "@aiomas/aiomas/codecs";
 * const codec = new MsgPackCodec();
 * const bytes = codec.encode([0, 0, "ohai"]);
 * console.log(bytes); // Uint8Array(8) [ 147, 0, 0, 164, 111, 104, 97, 105 ]
 * console.log(codec.decode(bytes)); // [ 0, 0, "ohai" ]
 * ```
 *
 * @example Custom types
 * ```ts
 * import { MsgPackCodec } from "@aiomas/aiomas/codecs";
 * class Point {
 *   constructor(public x: number, public y: number) {}
 * }
 * const codec = new MsgPackCodec();
 * codec.addSerializer(Point, (p) => [p.x, p.y], ([x, y]) => new Point(x, y));
 * const copy = codec.decode(codec.encode({ p: new Point(3, 4) })) as { p: Point };
 * console.log(copy.p instanceof Point, copy.p.y); // true 4
 * ```
 */
export class MsgPackCodec implements Codec {
  #registry = new SerializerRegistry();
  /** Classes with a serializer for exactly them (they win over native forms). */
  #exact = new Set<unknown>();

  // Encoder state: one growable buffer per codec.
  // Encoder state: messages are written one after another into a chunk and
  // returned as views of it; a full chunk is replaced (never overwritten),
  // so a returned message stays valid for as long as its holder keeps it.
  #buf: Uint8Array<ArrayBuffer> = EMPTY;
  #view = new DataView(EMPTY.buffer);
  #pos = 0;
  /** Where the message being encoded starts in `#buf`. */
  #start = 0;
  /** The size of the previous message: the room the next one probably needs. */
  #lastSize = 0;
  /** Whether `encode` is running (a serializer may call it again). */
  #busy = false;

  // Decoder state.
  #in: Uint8Array = new Uint8Array(0);
  #at = 0;
  #end = 0;

  /** Whether decoded bin values are copies (the default) or views. */
  readonly #copyBinary: boolean;

  /**
   * Make a codec. With `{ copyBinary: false }` decoded bin values are views
   * into the decoded input instead of copies (faster for large binary data;
   * only safe if the caller never reuses that input buffer).
   */
  constructor(options: MsgPackCodecOptions = {}) {
    this.#copyBinary = options.copyBinary ?? true;
  }

  /** Register a serializer; see {@linkcode Codec.addSerializer}. */
  addSerializer<T>(type: Constructor<T>, toPlain: ToPlain<T>, fromPlain: FromPlain<T>): void {
    this.#registry.add(type, toPlain, fromPlain);
    this.#exact.add(type);
  }

  /**
   * Encode `value` as MessagePack. Throws a `CodecError` for values it
   * cannot carry (functions, symbols, instances of classes without a
   * serializer, nesting deeper than `MAX_DEPTH`, which includes cycles) and a
   * `RangeError` for a `bigint` outside the 64-bit range.
   */
  encode(value: unknown): Uint8Array {
    if (this.#busy) return this.#encodeNested(value);
    const want = this.#lastSize + 64;
    // (A transferred chunk has length 0 and gets replaced here too.)
    if (this.#buf.length - this.#pos < want) {
      // A large message gets a chunk of about its own size.
      this.#setBuffer(new Uint8Array(want > CHUNK_SIZE ? want + (want >> 3) : CHUNK_SIZE));
      this.#pos = 0;
    }
    this.#start = this.#pos;
    this.#busy = true;
    try {
      this.#write(value, 0);
    } catch (err) {
      this.#pos = this.#start;
      throw err;
    } finally {
      this.#busy = false;
    }
    const start = this.#start;
    const end = this.#pos;
    this.#lastSize = end - start;
    const out = this.#buf.subarray(start, end);
    if (this.#buf.length > MAX_RETAINED) this.#setBuffer(EMPTY);
    return out;
  }

  /** `encode` called from inside a serializer: append, copy out, rewind. */
  #encodeNested(value: unknown): Uint8Array {
    const rel = this.#pos - this.#start;
    try {
      this.#write(value, 0);
      return this.#buf.slice(this.#start + rel, this.#pos);
    } finally {
      this.#pos = this.#start + rel;
    }
  }

  /**
   * Decode one MessagePack value that fills `bytes` exactly. Throws a
   * `CodecError` naming the byte offset for malformed input.
   */
  decode(bytes: Uint8Array): unknown {
    const savedIn = this.#in;
    const savedAt = this.#at;
    const savedEnd = this.#end;
    this.#in = bytes;
    this.#at = 0;
    this.#end = bytes.length;
    try {
      const value = this.#read(0);
      if (this.#at !== this.#end) {
        throw new CodecError(
          `MsgPack: ${this.#end - this.#at} trailing byte(s) after the value at offset ${this.#at}`,
        );
      }
      return value;
    } finally {
      this.#in = savedIn;
      this.#at = savedAt;
      this.#end = savedEnd;
    }
  }

  // ---------------------------------------------------------------- encoder

  #setBuffer(buf: Uint8Array<ArrayBuffer>): void {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer);
  }

  /** Make room for `n` more bytes: move the message so far to a larger chunk. */
  #grow(n: number): void {
    const used = this.#pos - this.#start;
    const buf = new Uint8Array(Math.max(CHUNK_SIZE, (used + n) * 2));
    buf.set(this.#buf.subarray(this.#start, this.#pos));
    this.#setBuffer(buf);
    this.#start = 0;
    this.#pos = used;
  }

  #write(value: unknown, depth: number): void {
    switch (typeof value) {
      case "string":
        this.#writeString(value);
        return;
      case "number":
        this.#writeNumber(value);
        return;
      case "boolean":
        if (this.#pos + 1 > this.#buf.length) this.#grow(1);
        this.#buf[this.#pos++] = value ? 0xc3 : 0xc2;
        return;
      case "object":
        if (value === null) {
          if (this.#pos + 1 > this.#buf.length) this.#grow(1);
          this.#buf[this.#pos++] = 0xc0;
        } else {
          this.#writeObject(value, depth);
        }
        return;
      case "undefined":
        if (this.#pos + 1 > this.#buf.length) this.#grow(1);
        this.#buf[this.#pos++] = 0xc0;
        return;
      case "bigint":
        this.#writeBigInt(value);
        return;
      default:
        // The RPC layer's reference serializer (the Object fallback) passes proxies on.
        if (typeof value === "function" && this.#registry.lookup(value) !== undefined) {
          this.#writeInstance(value, depth);
          return;
        }
        throw new CodecError(
          `MsgPack: cannot encode a ${typeof value}: expose it or send data instead`,
        );
    }
  }

  #writeNumber(v: number): void {
    if (this.#pos + 9 > this.#buf.length) this.#grow(9);
    const buf = this.#buf;
    let pos = this.#pos;
    if (Number.isInteger(v)) {
      if (v >= 0) {
        if (v < 0x80) {
          if (v === 0 && 1 / v < 0) {
            this.#writeFloat(v);
            return;
          }
          buf[pos++] = v;
        } else if (v < 0x100) {
          buf[pos++] = 0xcc;
          buf[pos++] = v;
        } else if (v < 0x10000) {
          buf[pos++] = 0xcd;
          buf[pos++] = v >>> 8;
          buf[pos++] = v;
        } else if (v < TWO_32) {
          buf[pos++] = 0xce;
          buf[pos++] = v >>> 24;
          buf[pos++] = v >>> 16;
          buf[pos++] = v >>> 8;
          buf[pos++] = v;
        } else if (v < 18446744073709551616) {
          buf[pos] = 0xcf;
          const hi = Math.floor(v / TWO_32);
          this.#view.setUint32(pos + 1, hi);
          this.#view.setUint32(pos + 5, v - hi * TWO_32);
          pos += 9;
        } else {
          this.#writeFloat(v);
          return;
        }
      } else if (v >= -32) {
        buf[pos++] = v & 0xff;
      } else if (v >= -128) {
        buf[pos++] = 0xd0;
        buf[pos++] = v & 0xff;
      } else if (v >= -32768) {
        buf[pos++] = 0xd1;
        buf[pos++] = v >> 8;
        buf[pos++] = v;
      } else if (v >= -2147483648) {
        buf[pos++] = 0xd2;
        buf[pos++] = v >> 24;
        buf[pos++] = v >> 16;
        buf[pos++] = v >> 8;
        buf[pos++] = v;
      } else if (v >= -9223372036854775808) {
        buf[pos] = 0xd3;
        const hi = Math.floor(v / TWO_32);
        this.#view.setInt32(pos + 1, hi);
        this.#view.setUint32(pos + 5, v - hi * TWO_32);
        pos += 9;
      } else {
        this.#writeFloat(v);
        return;
      }
      this.#pos = pos;
    } else {
      this.#writeFloat(v);
    }
  }

  /** Write a float64 (room for 9 bytes is already made). */
  #writeFloat(v: number): void {
    const pos = this.#pos;
    this.#buf[pos] = 0xcb;
    this.#view.setFloat64(pos + 1, v);
    this.#pos = pos + 9;
  }

  #writeBigInt(v: bigint): void {
    if (v >= -9007199254740991n && v <= 9007199254740991n) {
      this.#writeNumber(Number(v));
      return;
    }
    if (this.#pos + 9 > this.#buf.length) this.#grow(9);
    const pos = this.#pos;
    if (v > 0n) {
      if (v >= TWO_64N) {
        throw new RangeError(`MsgPack: bigint ${v} does not fit in 64 bits (uint64 max 2^64-1)`);
      }
      this.#buf[pos] = 0xcf;
      this.#view.setBigUint64(pos + 1, v);
    } else {
      if (v < -TWO_63N) {
        throw new RangeError(`MsgPack: bigint ${v} does not fit in 64 bits (int64 min -2^63)`);
      }
      this.#buf[pos] = 0xd3;
      this.#view.setBigInt64(pos + 1, v);
    }
    this.#pos = pos + 9;
  }

  #writeString(s: string): void {
    const len = s.length;
    // Worst case: 3 bytes per UTF-16 unit plus a 5-byte header.
    if (this.#pos + len * 3 + 5 > this.#buf.length) this.#grow(len * 3 + 5);
    const buf = this.#buf;
    const pos = this.#pos;
    if (len < SHORT_STRING) {
      // At most 3 * 63 bytes: a fixstr or a str8. Guess from `len` (exact for ASCII).
      const head = len < 32 ? 1 : 2;
      let q = pos + head;
      for (let i = 0; i < len; i++) {
        let c = s.charCodeAt(i);
        if (c < 0x80) {
          buf[q++] = c;
        } else if (c < 0x800) {
          buf[q++] = 0xc0 | (c >> 6);
          buf[q++] = 0x80 | (c & 0x3f);
        } else {
          if (c >= 0xd800 && c <= 0xdfff) {
            const d = i + 1 < len ? s.charCodeAt(i + 1) : 0;
            if (c < 0xdc00 && d >= 0xdc00 && d <= 0xdfff) {
              i++;
              c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
              buf[q++] = 0xf0 | (c >> 18);
              buf[q++] = 0x80 | ((c >> 12) & 0x3f);
              buf[q++] = 0x80 | ((c >> 6) & 0x3f);
              buf[q++] = 0x80 | (c & 0x3f);
              continue;
            }
            c = 0xfffd; // a lone surrogate, as TextEncoder does
          }
          buf[q++] = 0xe0 | (c >> 12);
          buf[q++] = 0x80 | ((c >> 6) & 0x3f);
          buf[q++] = 0x80 | (c & 0x3f);
        }
      }
      const n = q - pos - head;
      if (n < 32) {
        if (head !== 1) {
          buf.copyWithin(pos + 1, pos + 2, q);
          q--;
        }
        buf[pos] = 0xa0 | n;
      } else {
        if (head !== 2) {
          buf.copyWithin(pos + 2, pos + 1, q);
          q++;
        }
        buf[pos] = 0xd9;
        buf[pos + 1] = n;
      }
      this.#pos = q;
      return;
    }
    // Long strings: the header size guessed from `len` is a lower bound.
    const head = len < 0x100 ? 2 : len < 0x10000 ? 3 : 5;
    const n = textEncoder.encodeInto(s, buf.subarray(pos + head)).written;
    const need = n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
    if (need !== head) buf.copyWithin(pos + need, pos + head, pos + head + n);
    if (need === 2) {
      buf[pos] = 0xd9;
      buf[pos + 1] = n;
    } else if (need === 3) {
      buf[pos] = 0xda;
      buf[pos + 1] = n >>> 8;
      buf[pos + 2] = n;
    } else {
      buf[pos] = 0xdb;
      this.#view.setUint32(pos + 1, n);
    }
    this.#pos = pos + need + n;
  }

  /** Write an array/map/bin/ext header: `fix` is the fix form (or -1), `b8` the 8-bit form (or -1). */
  #writeHeader(n: number, fix: number, fixMax: number, b8: number, b16: number): void {
    if (this.#pos + 5 > this.#buf.length) this.#grow(5);
    const buf = this.#buf;
    const pos = this.#pos;
    if (n <= fixMax) {
      buf[pos] = fix | n;
      this.#pos = pos + 1;
    } else if (b8 >= 0 && n < 0x100) {
      buf[pos] = b8;
      buf[pos + 1] = n;
      this.#pos = pos + 2;
    } else if (n < 0x10000) {
      buf[pos] = b16;
      buf[pos + 1] = n >>> 8;
      buf[pos + 2] = n;
      this.#pos = pos + 3;
    } else {
      buf[pos] = b16 + 1;
      this.#view.setUint32(pos + 1, n);
      this.#pos = pos + 5;
    }
  }

  #writeObject(value: object, depth: number): void {
    if (Array.isArray(value)) {
      if (depth >= MAX_DEPTH) throw tooDeep();
      const n = value.length;
      this.#writeHeader(n, 0x90, 15, -1, 0xdc);
      for (let i = 0; i < n; i++) this.#write(value[i], depth + 1);
      return;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      this.#writeRecord(value as Record<string, unknown>, depth);
    } else if (value instanceof Uint8Array && !this.#exact.has(value.constructor)) {
      this.#writeBin(value);
    } else {
      this.#writeInstance(value, depth);
    }
  }

  #writeRecord(value: Record<string, unknown>, depth: number): void {
    if (depth >= MAX_DEPTH) throw tooDeep();
    const keys = Object.keys(value);
    const n = keys.length;
    // Relative to the message start: a chunk change moves the message.
    const rel = this.#pos - this.#start;
    this.#writeHeader(n, 0x80, 15, -1, 0xde);
    let skipped = 0;
    for (let i = 0; i < n; i++) {
      const key = keys[i];
      const item = value[key];
      if (item === undefined) {
        skipped++;
        continue;
      }
      this.#writeString(key);
      this.#write(item, depth + 1);
    }
    if (skipped !== 0) this.#fixMapHeader(this.#start + rel, n, n - skipped);
  }

  /** Rewrite the header of the map at `start` from `n` to `m` entries. */
  #fixMapHeader(start: number, n: number, m: number): void {
    const oldHead = n <= 15 ? 1 : n < 0x10000 ? 3 : 5;
    const newHead = m <= 15 ? 1 : m < 0x10000 ? 3 : 5;
    if (oldHead !== newHead) {
      this.#buf.copyWithin(start + newHead, start + oldHead, this.#pos);
      this.#pos -= oldHead - newHead;
    }
    const end = this.#pos;
    this.#pos = start;
    this.#writeHeader(m, 0x80, 15, -1, 0xde);
    this.#pos = end;
  }

  #writeBin(value: Uint8Array): void {
    const n = value.length;
    this.#writeHeader(n, 0, -1, 0xc4, 0xc5);
    if (this.#pos + n > this.#buf.length) this.#grow(n);
    if (n < 16) {
      const buf = this.#buf;
      let pos = this.#pos;
      for (let i = 0; i < n; i++) buf[pos++] = value[i];
    } else {
      this.#buf.set(value, this.#pos);
    }
    this.#pos += n;
  }

  #writeInstance(value: object, depth: number): void {
    const registry = this.#registry;
    if (typeof value !== "function" && !this.#exact.has(value.constructor)) {
      if (value instanceof Date) return this.#writeTimestamp(value);
      if (value instanceof Map) return this.#writeMap(value, depth);
      if (value instanceof Ext) return this.#writeExt(value.type, value.data);
    }
    const entry = registry.lookup(value);
    if (entry === undefined) {
      throw new CodecError(
        `MsgPack: cannot encode an instance of ${
          value.constructor?.name ?? "an unknown class"
        }: register a serializer for it (extraSerializers or @serializable)`,
      );
    }
    // The tag is a map holding an array: its data sits two levels deeper.
    if (depth + 1 >= MAX_DEPTH) throw tooDeep();
    if (this.#pos + TAG_HEADER.length > this.#buf.length) this.#grow(TAG_HEADER.length);
    this.#buf.set(TAG_HEADER, this.#pos);
    this.#pos += TAG_HEADER.length;
    this.#writeNumber(entry.id);
    this.#write(entry.toPlain(value), depth + 2);
  }

  #writeMap(value: Map<unknown, unknown>, depth: number): void {
    if (depth >= MAX_DEPTH) throw tooDeep();
    this.#writeHeader(value.size, 0x80, 15, -1, 0xde);
    for (const [key, item] of value) {
      this.#write(key, depth + 1);
      this.#write(item, depth + 1);
    }
  }

  #writeExt(type: number, data: Uint8Array): void {
    if (!Number.isInteger(type) || type < -128 || type > 127) {
      throw new CodecError(`MsgPack: extension type ${type} is not an integer in -128..127`);
    }
    if (!(data instanceof Uint8Array)) {
      throw new CodecError("MsgPack: extension data must be a Uint8Array");
    }
    const n = data.length;
    if (this.#pos + n + 6 > this.#buf.length) this.#grow(n + 6);
    const buf = this.#buf;
    let pos = this.#pos;
    switch (n) {
      case 1:
        buf[pos++] = 0xd4;
        break;
      case 2:
        buf[pos++] = 0xd5;
        break;
      case 4:
        buf[pos++] = 0xd6;
        break;
      case 8:
        buf[pos++] = 0xd7;
        break;
      case 16:
        buf[pos++] = 0xd8;
        break;
      default:
        if (n < 0x100) {
          buf[pos++] = 0xc7;
          buf[pos++] = n;
        } else if (n < 0x10000) {
          buf[pos++] = 0xc8;
          buf[pos++] = n >>> 8;
          buf[pos++] = n;
        } else {
          buf[pos] = 0xc9;
          this.#view.setUint32(pos + 1, n);
          pos += 5;
        }
    }
    buf[pos++] = type & 0xff;
    buf.set(data, pos);
    this.#pos = pos + n;
  }

  #writeTimestamp(date: Date): void {
    const ms = date.getTime();
    if (Number.isNaN(ms)) throw new CodecError("MsgPack: cannot encode an invalid Date");
    const sec = Math.floor(ms / 1000);
    const nsec = (ms - sec * 1000) * 1000000;
    if (this.#pos + 15 > this.#buf.length) this.#grow(15);
    const buf = this.#buf;
    const view = this.#view;
    const pos = this.#pos;
    if (sec >= 0 && sec < 0x400000000) {
      if (nsec === 0 && sec < TWO_32) {
        buf[pos] = 0xd6; // timestamp 32
        buf[pos + 1] = 0xff;
        view.setUint32(pos + 2, sec);
        this.#pos = pos + 6;
      } else {
        buf[pos] = 0xd7; // timestamp 64: nsec in 30 bits, then sec in 34 bits
        buf[pos + 1] = 0xff;
        const hi = Math.floor(sec / TWO_32);
        view.setUint32(pos + 2, nsec * 4 + hi);
        view.setUint32(pos + 6, sec - hi * TWO_32);
        this.#pos = pos + 10;
      }
    } else {
      buf[pos] = 0xc7; // timestamp 96: ext8 of 12 bytes
      buf[pos + 1] = 12;
      buf[pos + 2] = 0xff;
      view.setUint32(pos + 3, nsec);
      const hi = Math.floor(sec / TWO_32);
      view.setInt32(pos + 7, hi);
      view.setUint32(pos + 11, sec - hi * TWO_32);
      this.#pos = pos + 15;
    }
  }

  // ---------------------------------------------------------------- decoder

  #truncated(at: number, need: number): CodecError {
    return new CodecError(
      `MsgPack: truncated input at offset ${at}: need ${need} byte(s), ${
        Math.max(0, this.#end - at)
      } left`,
    );
  }

  #read(depth: number): unknown {
    const bytes = this.#in;
    const at = this.#at;
    if (at >= this.#end) throw this.#truncated(at, 1);
    const b = bytes[at];
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
          F32_BYTES[3] = bytes[p];
          F32_BYTES[2] = bytes[p + 1];
          F32_BYTES[1] = bytes[p + 2];
          F32_BYTES[0] = bytes[p + 3];
        } else {
          F32_BYTES.set(bytes.subarray(p, p + 4));
        }
        return F32[0];
      }
      case 0xcb: {
        const p = this.#need(8, at);
        if (LITTLE_ENDIAN) {
          F64_BYTES[7] = bytes[p];
          F64_BYTES[6] = bytes[p + 1];
          F64_BYTES[5] = bytes[p + 2];
          F64_BYTES[4] = bytes[p + 3];
          F64_BYTES[3] = bytes[p + 4];
          F64_BYTES[2] = bytes[p + 5];
          F64_BYTES[1] = bytes[p + 6];
          F64_BYTES[0] = bytes[p + 7];
        } else {
          F64_BYTES.set(bytes.subarray(p, p + 8));
        }
        return F64[0];
      }
      case 0xcc:
        return bytes[this.#need(1, at)];
      case 0xcd: {
        const p = this.#need(2, at);
        return (bytes[p] << 8) | bytes[p + 1];
      }
      case 0xce: {
        const p = this.#need(4, at);
        return bytes[p] * 0x1000000 + ((bytes[p + 1] << 16) | (bytes[p + 2] << 8) | bytes[p + 3]);
      }
      case 0xcf: {
        const p = this.#need(8, at);
        const hi = bytes[p] * 0x1000000 +
          ((bytes[p + 1] << 16) | (bytes[p + 2] << 8) | bytes[p + 3]);
        const lo = bytes[p + 4] * 0x1000000 +
          ((bytes[p + 5] << 16) | (bytes[p + 6] << 8) | bytes[p + 7]);
        const v = hi * TWO_32 + lo;
        return v <= MAX_SAFE ? v : (BigInt(hi) << 32n) | BigInt(lo);
      }
      case 0xd0:
        return (bytes[this.#need(1, at)] << 24) >> 24;
      case 0xd1: {
        const p = this.#need(2, at);
        return (((bytes[p] << 8) | bytes[p + 1]) << 16) >> 16;
      }
      case 0xd2: {
        const p = this.#need(4, at);
        return (bytes[p] << 24) | (bytes[p + 1] << 16) | (bytes[p + 2] << 8) | bytes[p + 3];
      }
      case 0xd3: {
        const p = this.#need(8, at);
        const hi = (bytes[p] << 24) | (bytes[p + 1] << 16) | (bytes[p + 2] << 8) | bytes[p + 3];
        const lo = bytes[p + 4] * 0x1000000 +
          ((bytes[p + 5] << 16) | (bytes[p + 6] << 8) | bytes[p + 7]);
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
        throw new CodecError(`MsgPack: reserved byte 0x${b.toString(16)} at offset ${at}`);
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
    if (size === 1) return bytes[p];
    if (size === 2) return (bytes[p] << 8) | bytes[p + 1];
    return bytes[p] * 0x1000000 + ((bytes[p + 1] << 16) | (bytes[p + 2] << 8) | bytes[p + 3]);
  }

  #readBin(n: number, at: number): Uint8Array {
    const p = this.#at;
    if (n > this.#end - p) throw this.#truncated(at, p - at + n);
    this.#at = p + n;
    return this.#copyBinary ? this.#in.slice(p, p + n) : this.#in.subarray(p, p + n);
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
      throw new CodecError(`MsgPack: invalid UTF-8 in the string at offset ${at}`, { cause });
    }
  }

  #readKey(n: number, at: number): string {
    const p = this.#at;
    if (n > this.#end - p) throw this.#truncated(at, p - at + n);
    if (n > KEY_MAX || n === 0) return this.#readString(n, at);
    const bytes = this.#in;
    let h = n;
    for (let i = 0; i < n; i++) h = Math.imul(h, 31) + bytes[p + i];
    const slot = (h ^ (h >>> KEY_CACHE_BITS)) & (KEY_CACHE_SIZE - 1);
    if (keyCacheLen[slot] === n) {
      const base = slot * KEY_MAX;
      let i = 0;
      while (i < n && keyCacheBytes[base + i] === bytes[p + i]) i++;
      if (i === n) {
        this.#at = p + n;
        return keyCacheStr[slot];
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
      throw new CodecError(`MsgPack: array at offset ${at} nested deeper than ${MAX_DEPTH} levels`);
    }
    // Every item takes at least one byte: refuse impossible counts before allocating.
    if (n > this.#end - this.#at) {
      throw new CodecError(
        `MsgPack: array at offset ${at} claims ${n} items but only ${
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
      throw new CodecError(`MsgPack: map at offset ${at} nested deeper than ${MAX_DEPTH} levels`);
    }
    if (n * 2 > this.#end - this.#at) {
      throw new CodecError(
        `MsgPack: map at offset ${at} claims ${n} entries but only ${
          this.#end - this.#at
        } byte(s) are left`,
      );
    }
    const out: Record<string, unknown> = {};
    let tagged = false;
    for (let i = 0; i < n; i++) {
      const kat = this.#at;
      let key: unknown;
      const b = kat < this.#end ? this.#in[kat] : 0;
      if (b >= 0xa0 && b < 0xc0) {
        this.#at = kat + 1;
        key = this.#readKey(b & 0x1f, kat);
      } else {
        key = this.#read(depth + 1);
        if (typeof key !== "string") return this.#readMapSlow(out, key, i, n, depth, at);
      }
      const item = this.#read(depth + 1);
      if (key === "__proto__") {
        Object.defineProperty(out, key, {
          value: item,
          writable: true,
          enumerable: true,
          configurable: true,
        });
      } else {
        out[key as string] = item;
        if (key === TYPE_TAG) tagged = true;
      }
    }
    return tagged ? this.#revive(out[TYPE_TAG], at) : out;
  }

  /** Continue a map whose key number `i` is not a string as a `Map`. */
  #readMapSlow(
    done: Record<string, unknown>,
    key: unknown,
    i: number,
    n: number,
    depth: number,
    at: number,
  ): unknown {
    const out = new Map<unknown, unknown>();
    for (const k of Object.keys(done)) out.set(k, done[k]);
    out.set(key, this.#read(depth + 1));
    for (i++; i < n; i++) {
      const k = this.#read(depth + 1);
      out.set(k, this.#read(depth + 1));
    }
    return out.has(TYPE_TAG) ? this.#revive(out.get(TYPE_TAG), at) : out;
  }

  #revive(tag: unknown, at: number): unknown {
    try {
      return this.#registry.revive(tag);
    } catch (cause) {
      const message = cause instanceof Error ? cause.message : String(cause);
      throw new CodecError(`MsgPack: the ${TYPE_TAG} map at offset ${at}: ${message}`, { cause });
    }
  }

  #readExt(n: number, at: number): unknown {
    const p = this.#at;
    if (n + 1 > this.#end - p) throw this.#truncated(at, p - at + n + 1);
    const bytes = this.#in;
    const type = (bytes[p] << 24) >> 24;
    this.#at = p + 1 + n;
    if (type !== -1) return new Ext(type, bytes.slice(p + 1, p + 1 + n));
    return readTimestamp(bytes, p + 1, n, at);
  }
}

function tooDeep(): CodecError {
  return new CodecError(
    `MsgPack: value nested deeper than ${MAX_DEPTH} levels (is there a cycle?)`,
  );
}

function readU32(bytes: Uint8Array, p: number): number {
  return bytes[p] * 0x1000000 + ((bytes[p + 1] << 16) | (bytes[p + 2] << 8) | bytes[p + 3]);
}

/** Decode the timestamp extension's data (`n` bytes at `p`) as a `Date`. */
function readTimestamp(bytes: Uint8Array, p: number, n: number, at: number): Date {
  let sec: number;
  let nsec: number;
  if (n === 4) {
    sec = readU32(bytes, p);
    nsec = 0;
  } else if (n === 8) {
    const hi = readU32(bytes, p);
    nsec = Math.floor(hi / 4);
    sec = (hi & 3) * TWO_32 + readU32(bytes, p + 4);
  } else if (n === 12) {
    nsec = readU32(bytes, p);
    const hi = (bytes[p + 4] << 24) | (bytes[p + 5] << 16) | (bytes[p + 6] << 8) | bytes[p + 7];
    sec = hi * TWO_32 + readU32(bytes, p + 8);
  } else {
    throw new CodecError(`MsgPack: timestamp at offset ${at} has ${n} data bytes (not 4, 8 or 12)`);
  }
  if (nsec > 999999999) {
    throw new CodecError(`MsgPack: timestamp at offset ${at} has ${nsec} nanoseconds`);
  }
  const ms = sec * 1000 + Math.floor(nsec / 1000000);
  // Date's range is +-8.64e15 ms; seconds beyond 2^53 are caught here too.
  if (!(ms >= -8.64e15 && ms <= 8.64e15)) {
    throw new CodecError(`MsgPack: timestamp at offset ${at} is outside the range of Date`);
  }
  return new Date(ms);
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
      const a = bytes[p];
      if (a < 0x80) return fromCharCode(a);
      break;
    }
    case 2: {
      const a = bytes[p], b = bytes[p + 1];
      if ((a | b) < 0x80) return fromCharCode(a, b);
      break;
    }
    case 3: {
      const a = bytes[p], b = bytes[p + 1], c = bytes[p + 2];
      if ((a | b | c) < 0x80) return fromCharCode(a, b, c);
      break;
    }
    case 4: {
      const a = bytes[p], b = bytes[p + 1], c = bytes[p + 2], d = bytes[p + 3];
      if ((a | b | c | d) < 0x80) return fromCharCode(a, b, c, d);
      break;
    }
  }
  const units: number[] = [];
  let i = p;
  while (i < end) {
    const a = bytes[i++];
    if (a < 0x80) {
      units.push(a);
    } else if (a >= 0xc2 && a < 0xe0) {
      if (i >= end) return undefined;
      const b = bytes[i++];
      if ((b & 0xc0) !== 0x80) return undefined;
      units.push(((a & 0x1f) << 6) | (b & 0x3f));
    } else if (a >= 0xe0 && a < 0xf0) {
      if (i + 1 >= end) return undefined;
      const b = bytes[i++];
      const c = bytes[i++];
      if ((b & 0xc0) !== 0x80 || (c & 0xc0) !== 0x80) return undefined;
      if (a === 0xe0 ? b < 0xa0 : a === 0xed && b >= 0xa0) return undefined; // overlong, surrogate
      units.push(((a & 0x0f) << 12) | ((b & 0x3f) << 6) | (c & 0x3f));
    } else if (a >= 0xf0 && a < 0xf5) {
      if (i + 2 >= end) return undefined;
      const b = bytes[i++];
      const c = bytes[i++];
      const d = bytes[i++];
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
