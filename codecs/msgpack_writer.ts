/**
 * The MessagePack encoder behind `MsgPackCodec.encode`. One writer (and one
 * output chunk) serves every codec instance of the process, so an idle
 * connection holds no encoder memory; it is reentrant (a serializer may
 * encode again, with any codec).
 *
 * @module
 */

import { CodecError } from "../errors.ts";
import { addPlace, describe, placed } from "./describe.ts";
import { Ext, Timestamp } from "./msgpack_ext.ts";
import {
  invalidDate,
  MAX_DEPTH,
  type SerializerRegistry,
  tooDeep,
  TYPE_TAG,
  typeKey,
} from "./serializers.ts";

/** The size of an output chunk (larger messages get a chunk of their own). */
const CHUNK_SIZE = 65536;
const EMPTY = new Uint8Array(0);
/** An output chunk larger than this is dropped after its message is done. */
const MAX_RETAINED = 16 * 1024 * 1024;
/** `encodeParts` passes bins of at least this many bytes by reference. */
export const BIG_BIN = 64 * 1024;
/** Strings shorter than this are UTF-8 encoded in JavaScript. */
const SHORT_STRING = 64;
const TWO_32 = 4294967296;
const TWO_63N = 1n << 63n;
const TWO_64N = 1n << 64n;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

const textEncoder = new TextEncoder();

// 0x81 (fixmap 1), 0xa8 "__type__" (fixstr 8), 0x92 (fixarray 2)
const TAG_HEADER = new Uint8Array([0x81, 0xa8, ...textEncoder.encode(TYPE_TAG), 0x92]);

/** What a codec hands the writer: its serializers. */
export interface WriterContext {
  /** The codec's serializers. */
  readonly registry: SerializerRegistry;
  /** Classes with a serializer for exactly them (they win over native forms). */
  readonly exact: ReadonlySet<unknown>;
}

/**
 * Messages are written one after another into a chunk and returned as views
 * of it; a full chunk is replaced (never overwritten), so a returned message
 * stays valid for as long as its holder keeps it.
 */
class Writer {
  #buf: Uint8Array<ArrayBuffer> = EMPTY;
  #view = new DataView(EMPTY.buffer);
  #pos = 0;
  /** Where the message being encoded starts in `#buf`. */
  #start = 0;
  /** The size of the previous message: the room the next one probably needs. */
  #lastSize = 0;
  /** Whether `encode` is running (a serializer may call it again). */
  #busy = false;
  /** Set when a short string had a lone surrogate replaced. */
  #lone = false;
  /** Whether big bins are left out of the chunk and passed by reference. */
  #byReference = false;
  /** Where the bins left out go: offsets relative to `#start`. */
  #binAt: number[] = [];
  #bins: Uint8Array[] = [];
  #registry!: SerializerRegistry;
  #exact!: ReadonlySet<unknown>;
  /** Whether `encodeInto` runs: the buffer is the caller's and cannot grow. */
  #into = false;
  /** The last target of `encodeInto` and a view of it. */
  #target: Uint8Array = EMPTY;
  #targetView = new DataView(EMPTY.buffer);

  encode(value: unknown, context: WriterContext): Uint8Array {
    if (value === undefined) {
      throw placed(new CodecError("MsgPack: cannot encode undefined: send null instead"));
    }
    if (this.#busy) return this.#encodeNested(value, context);
    return this.#encodeTop(value, context, false);
  }

  /**
   * Encode `value` as pieces that are written one after another: bins of
   * {@linkcode BIG_BIN} bytes or more are pieces of their own, not copies.
   * Without such bins: the message, as `encode` returns it.
   */
  encodeParts(value: unknown, context: WriterContext): Uint8Array | Uint8Array[] {
    if (value === undefined || this.#busy) return this.encode(value, context);
    const message = this.#encodeTop(value, context, true);
    const bins = this.#bins;
    if (bins.length === 0) return message;
    const binAt = this.#binAt;
    const parts: Uint8Array[] = [];
    let from = 0;
    for (let i = 0; i < bins.length; i++) {
      const at = binAt[i]!;
      if (at > from) parts.push(message.subarray(from, at));
      parts.push(bins[i]!);
      from = at;
    }
    if (from < message.length) parts.push(message.subarray(from));
    this.#bins = [];
    this.#binAt = [];
    return parts;
  }

  /**
   * Encode `value` into `target` from `offset` on; returns the offset after
   * it, or -1 if it does not fit before `target`'s end (or `encode` is
   * running: a serializer's nested call). Throws what `encode` throws.
   */
  encodeInto(value: unknown, context: WriterContext, target: Uint8Array, offset: number): number {
    if (value === undefined) {
      throw placed(new CodecError("MsgPack: cannot encode undefined: send null instead"));
    }
    if (this.#busy) return -1;
    const buf = this.#buf;
    const view = this.#view;
    const pos = this.#pos;
    const start = this.#start;
    if (target !== this.#target) {
      this.#target = target;
      this.#targetView = new DataView(
        target.buffer as ArrayBuffer,
        target.byteOffset,
        target.byteLength,
      );
    }
    this.#buf = target as Uint8Array<ArrayBuffer>;
    this.#view = this.#targetView;
    this.#pos = this.#start = offset;
    this.#into = true;
    this.#busy = true;
    this.#registry = context.registry;
    this.#exact = context.exact;
    try {
      this.#write(value, 0);
      return this.#pos;
    } catch (error) {
      if (error === NO_ROOM) return -1;
      throw placed(error);
    } finally {
      this.#busy = false;
      this.#into = false;
      this.#buf = buf;
      this.#view = view;
      this.#pos = pos;
      this.#start = start;
    }
  }

  /** Encode a message; `byReference`: leave big bins out (`encodeParts`). */
  #encodeTop(value: unknown, context: WriterContext, byReference: boolean): Uint8Array {
    const want = this.#lastSize + 64;
    // (A transferred chunk has length 0 and gets replaced here too.)
    if (this.#buf.length - this.#pos < want) {
      // A large message gets a chunk of about its own size.
      this.#setBuffer(new Uint8Array(want > CHUNK_SIZE ? want + (want >> 3) : CHUNK_SIZE));
      this.#pos = 0;
    }
    this.#start = this.#pos;
    this.#busy = true;
    this.#byReference = byReference;
    this.#registry = context.registry;
    this.#exact = context.exact;
    try {
      this.#write(value, 0);
    } catch (error) {
      this.#pos = this.#start;
      if (this.#bins.length > 0) {
        this.#bins = [];
        this.#binAt = [];
      }
      throw placed(error);
    } finally {
      this.#busy = false;
      this.#byReference = false;
    }
    const start = this.#start;
    const end = this.#pos;
    this.#lastSize = end - start;
    const out = this.#buf.subarray(start, end);
    if (this.#buf.length > MAX_RETAINED) this.#setBuffer(EMPTY);
    return out;
  }

  /** `encode` called from inside a serializer: append, copy out, rewind. */
  #encodeNested(value: unknown, context: WriterContext): Uint8Array {
    const rel = this.#pos - this.#start;
    const registry = this.#registry;
    const exact = this.#exact;
    const byReference = this.#byReference;
    this.#registry = context.registry;
    this.#exact = context.exact;
    // The nested message is one piece: its bins are copied.
    this.#byReference = false;
    try {
      this.#write(value, 0);
      return this.#buf.slice(this.#start + rel, this.#pos);
    } catch (error) {
      throw placed(error);
    } finally {
      this.#pos = this.#start + rel;
      this.#registry = registry;
      this.#exact = exact;
      this.#byReference = byReference;
    }
  }

  #setBuffer(buf: Uint8Array<ArrayBuffer>): void {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer);
  }

  /** Make room for `n` more bytes: move the message so far to a larger chunk. */
  #grow(n: number): void {
    if (this.#into) throw NO_ROOM;
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
        if (typeof value === "function" && this.#registry.fallback !== undefined) {
          this.#writeInstance(value, depth);
          return;
        }
        throw new CodecError(
          `MsgPack: cannot encode a ${typeof value}: expose it or send data instead`,
        );
    }
  }

  /** Safe integers (not `-0`) in the smallest int form; every other number as a float64. */
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
        } else if (v <= MAX_SAFE) {
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
      } else if (v >= -MAX_SAFE) {
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
    if (v >= TWO_64N || v < -TWO_63N) {
      throw new CodecError(
        `MsgPack: bigint ${describe(v)} does not fit in 64 bits (-2^63..2^64-1): ` +
          "send it as a string, or use JsonCodec",
      );
    }
    if (this.#pos + 9 > this.#buf.length) this.#grow(9);
    const pos = this.#pos;
    if (v > 0n) {
      this.#buf[pos] = 0xcf;
      this.#view.setBigUint64(pos + 1, v);
    } else {
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
            this.#lone = true;
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

  /**
   * Write a map key that is a string. A lone surrogate is refused here: it
   * would become U+FFFD, and two keys differing only there would collide.
   */
  #writeKey(key: string): void {
    this.#lone = false;
    this.#writeString(key);
    if (this.#lone || (key.length >= SHORT_STRING && !key.isWellFormed())) {
      throw new CodecError(
        "MsgPack: a map key with a lone surrogate (UTF-16 half of a pair) cannot be sent: " +
          "UTF-8 has no form for it, and it could collide with another key",
      );
    }
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
      let i = 0;
      try {
        for (; i < n; i++) this.#write(value[i], depth + 1);
      } catch (error) {
        throw addPlace(error, i);
      }
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
    if (isEmpty(value)) {
      // No keys list for `{}` (the kwargs of most calls).
      if (this.#pos + 1 > this.#buf.length) this.#grow(1);
      this.#buf[this.#pos++] = 0x80;
      return;
    }
    const keys = Object.keys(value);
    const n = keys.length;
    // Relative to the message start: a chunk change moves the message.
    const rel = this.#pos - this.#start;
    this.#writeHeader(n, 0x80, 15, -1, 0xde);
    let skipped = 0;
    let key = "";
    try {
      for (let i = 0; i < n; i++) {
        key = keys[i]!;
        const item = value[key];
        if (item === undefined) {
          skipped++;
          continue;
        }
        if (key === TYPE_TAG) throw typeKey();
        this.#writeKey(key);
        this.#write(item, depth + 1);
      }
    } catch (error) {
      throw addPlace(error, key);
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
      // Bins left out of this map's entries move with them.
      const binAt = this.#binAt;
      const rel = start - this.#start;
      for (let i = 0; i < binAt.length; i++) {
        if (binAt[i]! > rel) binAt[i] = binAt[i]! - (oldHead - newHead);
      }
    }
    const end = this.#pos;
    this.#pos = start;
    this.#writeHeader(m, 0x80, 15, -1, 0xde);
    this.#pos = end;
  }

  #writeBin(value: Uint8Array): void {
    const n = value.length;
    this.#writeHeader(n, 0, -1, 0xc4, 0xc5);
    if (n >= BIG_BIN && this.#byReference) {
      // Left out: a piece of its own after the bytes so far.
      this.#binAt.push(this.#pos - this.#start);
      this.#bins.push(value);
      return;
    }
    if (this.#pos + n > this.#buf.length) this.#grow(n);
    if (n < 16) {
      const buf = this.#buf;
      let pos = this.#pos;
      for (let i = 0; i < n; i++) buf[pos++] = value[i]!;
    } else {
      this.#buf.set(value, this.#pos);
    }
    this.#pos += n;
  }

  #writeInstance(value: object, depth: number): void {
    const registry = this.#registry;
    if (typeof value !== "function" && !this.#exact.has(value.constructor)) {
      if (value instanceof Date) return this.#writeDate(value);
      if (value instanceof Map) return this.#writeMap(value, depth);
      if (value instanceof Ext) return this.#writeExt(value.type, value.data);
      if (value instanceof Timestamp) {
        return this.#writeTimestamp(value.seconds, value.nanoseconds);
      }
    }
    const entry = registry.lookup(value);
    if (entry === undefined) {
      const name: unknown = typeof value === "function" ? "Function" : value.constructor?.name;
      throw new CodecError(
        `MsgPack: cannot encode an instance of ${
          typeof name === "string" && name !== "" ? name : "an unknown class"
        }: register a serializer for it (extraSerializers or @serializable)`,
      );
    }
    // The tag is a map holding an array: its data sits two levels deeper.
    if (depth + 1 >= MAX_DEPTH) throw tooDeep();
    const data = registry.toPlain(entry, value);
    if (this.#pos + TAG_HEADER.length > this.#buf.length) this.#grow(TAG_HEADER.length);
    this.#buf.set(TAG_HEADER, this.#pos);
    this.#pos += TAG_HEADER.length;
    this.#writeNumber(entry.id);
    this.#write(data, depth + 2);
  }

  /** A `Map` is written as is, in its order, any keys (a `"__type__"` one too). */
  #writeMap(value: Map<unknown, unknown>, depth: number): void {
    if (depth >= MAX_DEPTH) throw tooDeep();
    this.#writeHeader(value.size, 0x80, 15, -1, 0xde);
    let key: unknown;
    try {
      for (const [k, item] of value) {
        key = k;
        if (typeof k === "string") this.#writeKey(k);
        else this.#write(k, depth + 1);
        this.#write(item, depth + 1);
      }
    } catch (error) {
      throw addPlace(error, key);
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

  #writeDate(date: Date): void {
    const ms = date.getTime();
    if (Number.isNaN(ms)) throw invalidDate();
    const sec = Math.floor(ms / 1000);
    this.#writeTimestamp(sec, (ms - sec * 1000) * 1000000);
  }

  /** The smallest timestamp form, as Python's `msgpack.Timestamp.to_bytes`. */
  #writeTimestamp(seconds: number | bigint, nsec: number): void {
    if (this.#pos + 15 > this.#buf.length) this.#grow(15);
    const buf = this.#buf;
    const view = this.#view;
    const pos = this.#pos;
    const sec = typeof seconds === "number" ? seconds : undefined;
    if (sec !== undefined && sec >= 0 && sec < 0x400000000) {
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
    } else if (sec === undefined && seconds >= 0n && seconds < 0x400000000n) {
      this.#writeTimestamp(Number(seconds), nsec);
    } else {
      buf[pos] = 0xc7; // timestamp 96: ext8 of 12 bytes
      buf[pos + 1] = 12;
      buf[pos + 2] = 0xff;
      view.setUint32(pos + 3, nsec);
      view.setBigInt64(pos + 7, BigInt(seconds));
      this.#pos = pos + 15;
    }
  }
}

/** Whether the plain object `value` has no enumerable properties (as `Object.keys` lists them). */
function isEmpty(value: object): boolean {
  for (const _ in value) return false;
  return true;
}

/** Thrown inside `encodeInto` when the message does not fit. */
const NO_ROOM = new Error("no room");

const shared = new Writer();

/**
 * Encode `value` as MessagePack with `context`'s serializers, into the
 * process-wide output chunk. The result is a view that later calls never
 * overwrite.
 */
export function writeMsgPack(value: unknown, context: WriterContext): Uint8Array {
  return shared.encode(value, context);
}

/**
 * Encode `value` like {@linkcode writeMsgPack}, as pieces to be written one
 * after another when it has bins of {@linkcode BIG_BIN} bytes or more: they
 * are pieces of their own (the caller's `Uint8Array`s, not copies).
 */
export function writeMsgPackParts(
  value: unknown,
  context: WriterContext,
): Uint8Array | Uint8Array[] {
  return shared.encodeParts(value, context);
}

/**
 * Encode `value` into `target` from `offset` on, as `writeMsgPack` would;
 * returns the offset after it, or -1 if it does not fit.
 */
export function writeMsgPackInto(
  value: unknown,
  context: WriterContext,
  target: Uint8Array,
  offset: number,
): number {
  return shared.encodeInto(value, context, target, offset);
}
