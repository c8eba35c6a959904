/**
 * {@linkcode MsgPackCodec}: the MessagePack codec of Python aiomas' `MsgPack`,
 * byte-compatible with `msgpack.packb(..., use_bin_type=True)`.
 *
 * What travels how:
 *
 * | JavaScript | MessagePack | decodes as |
 * | --- | --- | --- |
 * | `null`, `undefined` (array items, `Map` values) | nil | `null` |
 * | `undefined` as a plain object's field | (field omitted, like `JSON.stringify`) | - |
 * | `undefined` as the whole value | `CodecError` | - |
 * | `boolean` | true / false | `boolean` |
 * | safe integer `number` (within ±(2^53-1), not `-0`) | smallest int form | `number` |
 * | other `number` (fractions, `-0`, `NaN`, ±`Infinity`, beyond 2^53) | float64 | `number` |
 * | `bigint` | smallest int form; `CodecError` past 64 bits | `number` within ±(2^53-1), else `bigint` |
 * | `string` | str (a lone surrogate becomes U+FFFD; in a map key it is a `CodecError`) | `string` |
 * | `Uint8Array` | bin | `Uint8Array` (a copy; see {@linkcode MsgPackCodec.decodeOwned} for views) |
 * | arrays | array | arrays |
 * | plain objects, `Map`s | map | plain object if every key is a string, else `Map` (wire order) |
 * | `Date` (no serializer registered for `Date`) | timestamp ext (type -1) | `Date`, or {@linkcode Timestamp} beyond `Date`'s range |
 * | {@linkcode Timestamp} | timestamp ext (type -1) | as above |
 * | {@linkcode Ext} | ext | {@linkcode Ext} |
 * | instances of registered classes | `{"__type__": [typeid, data]}` | the revived value |
 *
 * Decoding never trusts the input: truncated data, lengths past the end,
 * nesting deeper than `MAX_DEPTH`, trailing bytes, the reserved byte `0xc1`,
 * invalid UTF-8 (CESU-8 surrogates too) and malformed timestamps all throw a
 * `CodecError` that names the byte offset.
 *
 * @module
 */

import { MsgPackReader } from "./msgpack_reader.ts";
import {
  writeMsgPack,
  writeMsgPackInto,
  writeMsgPackParts,
  type WriterContext,
} from "./msgpack_writer.ts";
import { SerializerRegistry } from "./serializers.ts";
import type { Codec, Constructor, FromPlain, SerializerOptions, ToPlain } from "./types.ts";

export { Ext, Timestamp } from "./msgpack_ext.ts";

const NO_CLASSES: ReadonlySet<unknown> = new Set();

/** Options of {@linkcode MsgPackCodec}. */
export interface MsgPackCodecOptions {
  /**
   * Decode bin values as copies (`true`, the default), so the caller may
   * reuse the buffer it decoded from, or as views into it (`false`, no
   * copying: much faster for large binary data). Channels reuse their read
   * buffer, so give them the default: they decode big frames without
   * copying anyway ({@linkcode MsgPackCodec.decodeOwned}).
   */
  copyBinary?: boolean | undefined;
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
 * into a chunk of memory that all codecs of the process share (so
 * `byteOffset` may be non-zero and `.buffer` holds other messages too:
 * never transfer or detach it). An idle codec holds no encoder memory.
 *
 * `undefined` is encoded as nil, except as the value of a plain object's
 * field, which is left out (as `JSON.stringify` and `JsonCodec` do), and as
 * the whole value, which is a `CodecError`. A serializer registered for
 * exactly `Date`, `Map` or `Uint8Array` wins over their native MessagePack
 * forms. A `Map` is written as it is, even with a `"__type__"` key (the way
 * to send a raw tag on purpose); a plain object with a `"__type__"` key is
 * refused.
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
  readonly #registry = new SerializerRegistry();
  /**
   * Classes with a serializer for exactly them (they win over native forms);
   * the `Object` fallback is not one of them. Made for the first such class.
   */
  #exact: Set<unknown> | undefined;
  #context: WriterContext = { registry: this.#registry, exact: NO_CLASSES };
  readonly #reader: MsgPackReader;
  /** Whether `encode` and `decode` are this class's (not a subclass's, such as a compressing one). */
  readonly #plainEncode: boolean;
  readonly #plainDecode: boolean;

  /**
   * Make a codec. With `{ copyBinary: false }` decoded bin values are views
   * into the decoded input instead of copies (faster for large binary data;
   * only safe if the caller never reuses that input buffer).
   */
  constructor(options: MsgPackCodecOptions = {}) {
    this.#reader = new MsgPackReader(this.#registry, options.copyBinary ?? true);
    const proto = new.target.prototype;
    this.#plainEncode = proto.encode === MsgPackCodec.prototype.encode;
    this.#plainDecode = proto.decode === MsgPackCodec.prototype.decode;
  }

  /** Register a serializer; see {@linkcode Codec.addSerializer}. */
  addSerializer<T>(
    type: Constructor<T>,
    toPlain: ToPlain<T>,
    fromPlain: FromPlain<T>,
    options?: SerializerOptions,
  ): void {
    this.#registry.add(type, toPlain, fromPlain, options);
    if ((type as unknown) === Object) return;
    if (this.#exact === undefined) {
      this.#exact = new Set();
      this.#context = { registry: this.#registry, exact: this.#exact };
    }
    this.#exact.add(type);
  }

  /**
   * Encode `value` as MessagePack. Throws a `CodecError` that names the
   * place of the value (such as `$[2].when`) for what it cannot carry:
   * functions, symbols, instances of classes without a serializer, bigints
   * past 64 bits, invalid `Date`s, plain objects with a `__type__` key, map
   * keys with lone surrogates, `undefined` as the whole value, and nesting
   * deeper than `MAX_DEPTH` (which includes cycles).
   */
  encode(value: unknown): Uint8Array {
    return writeMsgPack(value, this.#context);
  }

  /**
   * Encode `value` like {@linkcode MsgPackCodec.encode} into `target` from
   * `offset` on, and return the offset after the encoding; `-1` if it may
   * not fit before the end of `target` (room is checked for the worst case
   * of each item, such as 3 bytes per UTF-16 unit of a string; the bytes
   * from `offset` on may then have changed) or the codec is busy (a
   * serializer's nested call). A subclass that overrides `encode` (such as
   * `MsgPackBloscCodec`) always gets `-1`; whoever sets `encode` on an
   * instance sets `encodeInto` too (as the RPC layer's reference table does). Channels write small messages straight into their output
   * buffer this way (see {@linkcode Codec.encodeInto}).
   *
   * @example
   * ```ts
   * import { MsgPackCodec } from "@aiomas/aiomas/codecs";
   * const codec = new MsgPackCodec();
   * const target = new Uint8Array(64);
   * const end = codec.encodeInto([0, 0, "ohai"], target, 4);
   * console.log(end, target.subarray(4, end)); // 12 Uint8Array(8) [ 147, 0, 0, 164, 111, 104, 97, 105 ]
   * console.log(codec.encodeInto("x".repeat(100), target, 4)); // -1
   * ```
   */
  encodeInto(value: unknown, target: Uint8Array, offset: number): number {
    if (!this.#plainEncode) return -1;
    return writeMsgPackInto(value, this.#context, target, offset);
  }

  /**
   * Encode `value` like {@linkcode MsgPackCodec.encode}, but with every
   * `Uint8Array` of 64 KiB or more left out of the copy: the result is then
   * a list of pieces whose concatenation is the encoding, and such an array
   * is a piece of its own, the caller's array itself (so its bytes are read
   * when the pieces are written); the other pieces are views as `encode`
   * returns them. Without such arrays (and for a subclass that overrides
   * `encode`, such as `MsgPackBloscCodec`) it returns what `encode` does.
   * Channels send requests this way (see {@linkcode Codec.encodeParts}).
   *
   * @example
   * ```ts
   * import { MsgPackCodec } from "@aiomas/aiomas/codecs";
   * const codec = new MsgPackCodec();
   * const data = new Uint8Array(100_000);
   * const parts = codec.encodeParts(["upload", [data], {}]) as Uint8Array[];
   * console.log(parts.length, parts[1] === data); // 3 true
   * console.log(codec.encodeParts(["small"]) instanceof Uint8Array); // true
   * ```
   */
  encodeParts(value: unknown): Uint8Array | Uint8Array[] {
    if (!this.#plainEncode) return this.encode(value);
    return writeMsgPackParts(value, this.#context);
  }

  /**
   * Decode one MessagePack value that fills `bytes` exactly. Throws a
   * `CodecError` naming the byte offset for malformed input.
   */
  decode(bytes: Uint8Array): unknown {
    return this.#reader.decode(bytes);
  }

  /**
   * Decode `bytes[start, end)` like {@linkcode MsgPackCodec.decode} decodes
   * `bytes.subarray(start, end)`, without making that view (error messages
   * count offsets from `start`). A subclass that overrides `decode` (such as
   * `MsgPackBloscCodec`), or a `decode` set on the instance, gets its
   * `decode` of the view. Channels decode
   * frames this way (see {@linkcode Codec.decodeAt}).
   *
   * @example
   * ```ts
   * import { MsgPackCodec } from "@aiomas/aiomas/codecs";
   * const codec = new MsgPackCodec();
   * const bytes = new Uint8Array([0xff, ...codec.encode([1, "two"]), 0xff]);
   * console.log(codec.decodeAt(bytes, 1, bytes.length - 1)); // [ 1, "two" ]
   * ```
   */
  decodeAt(bytes: Uint8Array, start: number, end: number): unknown {
    // A `decode` of a subclass (or set on the instance) must not be bypassed.
    if (this.decode !== MsgPackCodec.prototype.decode) {
      return this.decode(bytes.subarray(start, end));
    }
    return this.#reader.decodeAt(bytes, start, end);
  }

  /**
   * Decode like {@linkcode MsgPackCodec.decode} input that the caller gives
   * away (it never changes or reuses `bytes`): a bin of 64 KiB or more that
   * fills at least a quarter of `bytes` decodes as a view into them, not a
   * copy (its `byteOffset` may be non-zero and its `buffer` holds the rest of
   * `bytes`). A subclass that overrides `decode` (such as
   * `MsgPackBloscCodec`) gets its `decode`. Channels decode big frames this
   * way (see {@linkcode Codec.decodeOwned}).
   *
   * @example
   * ```ts
   * import { MsgPackCodec } from "@aiomas/aiomas/codecs";
   * const codec = new MsgPackCodec();
   * const bytes = codec.encode([new Uint8Array(100_000)]).slice();
   * const [data] = codec.decodeOwned(bytes) as [Uint8Array];
   * console.log(data.length, data.buffer === bytes.buffer); // 100000 true
   * ```
   */
  decodeOwned(bytes: Uint8Array): unknown {
    if (!this.#plainDecode) return this.decode(bytes);
    return this.#reader.decode(bytes, true);
  }
}
