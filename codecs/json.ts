/**
 * {@linkcode JsonCodec}: the default codec, JSON text in UTF-8.
 *
 * @module
 */

import { CodecError } from "../errors.ts";
import { placed } from "./describe.ts";
import { parseJson } from "./json_parse.ts";
import { SerializerRegistry, TYPE_TAG } from "./serializers.ts";
import type { Codec, Constructor, FromPlain, SerializerOptions, ToPlain } from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Payloads up to this size that are ASCII are decoded in JavaScript. */
const SHORT_ASCII = 64;
const fromCharCode = String.fromCharCode;

/** Character codes of a short payload (reused). */
const codes: number[] = [];
/** Set by {@linkcode shortAscii}: whether the text has a run of 16 digits. */
let longDigits = false;

/**
 * `bytes[start, end)` as text if they are ASCII (`undefined` if not), in one
 * pass that also tells whether they hold a run of 16 digits (`longDigits`).
 */
function shortAscii(bytes: Uint8Array, start: number, end: number): string | undefined {
  const n = end - start;
  codes.length = n;
  let run = 0;
  let long = false;
  for (let i = 0; i < n; i++) {
    const b = bytes[start + i]!;
    if (b >= 0x80) return undefined;
    codes[i] = b;
    if (b >= 0x30 && b <= 0x39) {
      if (++run >= 16) long = true;
    } else run = 0;
  }
  longDigits = long;
  return fromCharCode.apply(null, codes);
}

/** The output chunk that short messages are written into, shared by all JSON codecs. */
let chunk = new Uint8Array(0);
let chunkPos = 0;
const CHUNK_SIZE = 65536;
/** Texts longer than this get a buffer of their own. */
const MAX_IN_CHUNK = 8192;

/**
 * `text` as UTF-8. Short texts are written one after another into a shared
 * chunk and returned as views of it (no buffer per message); a full chunk
 * is replaced, never overwritten, so a returned view stays valid.
 */
function utf8(text: string): Uint8Array {
  const n = text.length;
  if (n > MAX_IN_CHUNK) return encoder.encode(text);
  if (chunk.length - chunkPos < n * 3) {
    chunk = new Uint8Array(CHUNK_SIZE);
    chunkPos = 0;
  }
  const start = chunkPos;
  if (n <= SHORT_ASCII) {
    let p = start;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) {
        p = -1;
        break;
      }
      chunk[p++] = c;
    }
    if (p >= 0) {
      chunkPos = p;
      return chunk.subarray(start, p);
    }
  }
  chunkPos = start + encoder.encodeInto(text, chunk.subarray(start)).written;
  return chunk.subarray(start, chunkPos);
}

// A run of 16 digits: the text may hold an integer that JSON.parse would
// round (beyond 2^53), so it goes through parseJson, which keeps it exact.
const LONG_DIGITS = /\d{16}/;

/** `JSON.rawJSON` (V8 12.x+; not in TypeScript's lib yet): text that `JSON.stringify` writes as is. */
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

/** A fresh marker for NaN/Infinity: random, so a value's strings cannot pose as one. */
function newMarker(): string {
  return `aiomas-${crypto.getRandomValues(new Uint32Array(2)).join("-")}:`;
}

/** A number as Python's `json` writes it (floats keep a `.0`). */
function pythonNumber(value: number): string {
  if (Object.is(value, -0)) return "-0.0";
  const text = String(value);
  return text.includes("e") ? text : `${text}.0`;
}

/**
 * The default codec: JSON, as Python aiomas' `JSON` codec. Encodes compact
 * JSON; decodes Python's `", "`/`": "` separators, `\uXXXX` escapes,
 * `NaN`/`Infinity` and integers of any size (those past 2^53 as `bigint`).
 * Anything else that is not valid JSON is a `CodecError`. Custom types
 * travel as `{"__type__": [typeid, data]}` maps.
 *
 * Numbers: a safe integer (within ±(2^53-1)) is written as an integer,
 * every other `number` as a float (`1e+16`, `-0.0`, `NaN`); a `bigint` as
 * an integer of any size. Decoding gives a `number` for integers within
 * ±(2^53-1) and for floats, a `bigint` for integers beyond.
 *
 * @example
 * ```ts
 * import { JsonCodec } from "@aiomas/aiomas/codecs";
 * const codec = new JsonCodec();
 * const bytes = codec.encode([0, 0, "ohai"]);
 * console.log(new TextDecoder().decode(bytes)); // [0,0,"ohai"]
 * console.log(codec.decode(bytes)); // [ 0, 0, "ohai" ]
 * ```
 */
export class JsonCodec implements Codec {
  #serializers = new SerializerRegistry();
  /** Whether `encode` is this class's own (not a subclass's). */
  readonly #plainEncode = Object.getPrototypeOf(this).encode === JsonCodec.prototype.encode;

  /**
   * Encode `value` as compact UTF-8 JSON. Like Python's `json`, non-finite
   * numbers are written as `NaN`/`Infinity`, and `bigint`s as plain digits.
   * A `Date` without a serializer is written as its ISO string, a `Map`
   * with string keys as an object. A value it cannot carry (also
   * `undefined` at the top level, an invalid `Date`, a plain object with a
   * `__type__` key) is a `CodecError` that names its place, such as
   * `$[2].when`.
   *
   * To save a buffer per message, a short message is a view into a chunk
   * of memory that all JSON codecs share (so `byteOffset` may be non-zero
   * and `.buffer` holds other messages too: never transfer or detach it);
   * later calls never overwrite it.
   */
  encode(value: unknown): Uint8Array {
    return utf8(this.#text(value));
  }

  /**
   * Encode `value` like {@linkcode JsonCodec.encode} into `target` from
   * `offset` on, and return the offset after the encoding; `-1` if it may
   * not fit before the end of `target` (the bytes from `offset` on may then
   * have changed). A subclass that overrides `encode` always gets `-1`;
   * whoever sets `encode` on an instance sets `encodeInto` too (as the RPC
   * layer's reference table does).
   * Channels write small messages straight into their output buffer this
   * way (see {@linkcode Codec.encodeInto}).
   *
   * @example
   * ```ts
   * import { JsonCodec } from "@aiomas/aiomas/codecs";
   * const target = new Uint8Array(32);
   * const end = new JsonCodec().encodeInto([0, 0, "ohai"], target, 4);
   * console.log(end, new TextDecoder().decode(target.subarray(4, end))); // 16 [0,0,"ohai"]
   * ```
   */
  encodeInto(value: unknown, target: Uint8Array, offset: number): number {
    if (!this.#plainEncode) return -1;
    const text = this.#text(value);
    const n = text.length;
    if (offset + n > target.length) return -1;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) {
        // Not ASCII: up to 3 bytes per UTF-16 unit.
        if (offset + 3 * n > target.length) return -1;
        return offset + encoder.encodeInto(text, target.subarray(offset)).written;
      }
      target[offset + i] = c;
    }
    return offset + n;
  }

  /** `value` as JSON text. */
  #text(value: unknown): string {
    if (value === undefined) {
      throw placed(new CodecError("JSON: cannot encode undefined: send null instead"));
    }
    let marker: string | undefined;
    let plain: unknown;
    try {
      plain = this.#serializers.toPlainTree(value, (number) => {
        if (typeof number === "bigint") return rawJSON(number.toString());
        if (Number.isFinite(number)) return rawJSON(pythonNumber(number));
        marker ??= newMarker();
        return marker + String(number);
      });
    } catch (error) {
      throw placed(error);
    }
    const text = JSON.stringify(plain);
    if (marker === undefined) return text;
    // Unquote the marked strings: "<marker>NaN" becomes NaN.
    return text.replaceAll(`"${marker}NaN"`, "NaN").replaceAll(
      `"${marker}Infinity"`,
      "Infinity",
    ).replaceAll(`"${marker}-Infinity"`, "-Infinity");
  }

  /** Decode UTF-8 JSON bytes; custom-type tags become their values. */
  decode(bytes: Uint8Array): unknown {
    return this.#decode(bytes, 0, bytes.length);
  }

  /**
   * Decode `bytes[start, end)` like {@linkcode JsonCodec.decode} decodes
   * `bytes.subarray(start, end)`; a short ASCII payload (most messages) is
   * read without making that view. A subclass that overrides `decode` (or a
   * `decode` set on the instance) gets its `decode` of the view. Channels decode frames this way (see
   * {@linkcode Codec.decodeAt}).
   *
   * @example
   * ```ts
   * import { JsonCodec } from "@aiomas/aiomas/codecs";
   * const bytes = new TextEncoder().encode(' [1, "two"] ');
   * console.log(new JsonCodec().decodeAt(bytes, 1, bytes.length - 1)); // [ 1, "two" ]
   * ```
   */
  decodeAt(bytes: Uint8Array, start: number, end: number): unknown {
    if (this.decode !== JsonCodec.prototype.decode) return this.decode(bytes.subarray(start, end));
    return this.#decode(bytes, start, end);
  }

  #decode(bytes: Uint8Array, start: number, end: number): unknown {
    // Short ASCII (most messages): faster than a TextDecoder call and a regex.
    let text = end - start <= SHORT_ASCII ? shortAscii(bytes, start, end) : undefined;
    let long = longDigits;
    if (text === undefined) {
      try {
        text = decoder.decode(bytes.subarray(start, end));
      } catch (cause) {
        throw new CodecError("JSON payload is not valid UTF-8", { cause });
      }
      long = LONG_DIGITS.test(text);
    }
    let value: unknown;
    if (long) {
      value = parseJson(text);
    } else {
      try {
        value = JSON.parse(text);
      } catch {
        // NaN or Infinity, or invalid: parseJson says which, and where.
        value = parseJson(text);
      }
    }
    return text.includes(TYPE_TAG) ? this.#serializers.reviveTree(value) : value;
  }

  /** Register a serializer; see {@linkcode Codec.addSerializer}. */
  addSerializer<T>(
    type: Constructor<T>,
    toPlain: ToPlain<T>,
    fromPlain: FromPlain<T>,
    options?: SerializerOptions,
  ): void {
    this.#serializers.add(type, toPlain, fromPlain, options);
  }
}
