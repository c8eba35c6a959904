/**
 * The interfaces every codec implements.
 *
 * @module
 */

/**
 * A class (constructor) whose direct instances a serializer handles.
 * Abstract classes are allowed; only the exact class is matched.
 */
export type Constructor<T = unknown> = abstract new (...args: never[]) => T;

// Serializer functions are declared as methods so that their parameters are
// checked bivariantly: `(date: Date) => string` fits `ToPlain<unknown>`, and a
// list of serializers of different types type-checks without `any`.

/** Turns a value of a custom type into data the base codec can encode. */
export type ToPlain<T> = { toPlain(value: T): unknown }["toPlain"];

/**
 * Turns data decoded by the base codec back into a value of a custom type,
 * e.g. `([x, y]: number[]) => new Point(x, y)`: the data is what `toPlain` made.
 */
export type FromPlain<T> = { fromPlain(data: unknown): T }["fromPlain"];

/**
 * How a serializer's data may nest other custom types (see
 * {@linkcode Codec.addSerializer}).
 */
export interface SerializerOptions {
  /**
   * `true`: the data is plain (strings, numbers, arrays, plain objects,
   * bytes) and never holds another custom type; a `__type__` tag inside it
   * is refused with a `CodecError` before anything in it is revived. The
   * built-in date, reference and ndarray serializers are leaves. Default
   * `false`: the data may hold any custom type, revived first (inner tags
   * before outer ones), as in Python aiomas.
   */
  readonly leaf?: boolean;
}

/**
 * A serializer triple `[Type, toPlain, fromPlain]`, as aiomas' extra
 * serializers return it, optionally followed by {@linkcode SerializerOptions}.
 * `SerializerTriple` without a type argument holds a serializer of any type.
 */
export type SerializerTriple<T = unknown> = readonly [
  Constructor<T>,
  ToPlain<T>,
  FromPlain<T>,
  SerializerOptions?,
];

/**
 * An entry of the `extraSerializers` option: a function returning a
 * serializer triple (aiomas' form), or a class decorated with
 * `@serializable` (TypeScript cannot see what a class decorator adds, so any
 * class is accepted here and checked when the codec is made).
 */
export type SerializerSpec =
  | (() => SerializerTriple)
  | { __serializer__(): SerializerTriple }
  | Constructor<object>;

/**
 * Converts values to bytes and back. A codec instance is made per connection,
 * so its serializers (and their `__type__` ids) belong to that connection.
 *
 * @example A codec round trip
 * ```ts
 * import { type Codec, JsonCodec } from "@aiomas/aiomas/codecs";
 * const codec: Codec = new JsonCodec();
 * console.log(codec.decode(codec.encode([0, 1, "ohai"]))); // [ 0, 1, "ohai" ]
 * ```
 */
export interface Codec {
  /** Encode `value` to bytes. Throws a `CodecError` for values it cannot carry. */
  encode(value: unknown): Uint8Array;
  /**
   * Optional: encode `value` as `encode` does, or as pieces whose
   * concatenation is that encoding, so that big binary data is written from
   * the caller's own memory instead of being copied (`MsgPackCodec` does this
   * for `Uint8Array`s of 64 KiB or more). A channel sends requests this way:
   * such an array must not change until the request's reply arrives.
   */
  encodeParts?(value: unknown): Uint8Array | Uint8Array[];
  /**
   * Optional: encode `value` into `target` from `offset` on, as `encode`
   * would, and return the offset after the encoding, or `-1` when it does
   * not fit before the end of `target` (the caller then uses `encode`).
   * A channel writes small messages straight into its output buffer this
   * way.
   */
  encodeInto?(value: unknown, target: Uint8Array, offset: number): number;
  /** Decode bytes. Throws a `CodecError` for malformed input. */
  decode(bytes: Uint8Array): unknown;
  /**
   * Optional: decode `bytes[start, end)` as `decode(bytes.subarray(start, end))`
   * would, without making that view (`MsgPackCodec` has it). A channel
   * decodes frames in its read buffer this way.
   */
  decodeAt?(bytes: Uint8Array, start: number, end: number): unknown;
  /**
   * Optional: decode bytes that the caller gives away (it never changes or
   * reuses them), so that big binary values may be views into them instead
   * of copies (`MsgPackCodec` does this for bins of 64 KiB or more that fill
   * at least a quarter of the input). A channel decodes big frames this way.
   */
  decodeOwned?(bytes: Uint8Array): unknown;
  /**
   * Register a serializer for the direct instances of `type`. Its `__type__`
   * id is the number of serializers registered before it. A serializer for
   * `Object` is the fallback for class instances that have none of their own
   * (never for the types the codec carries natively, such as `Date`).
   * `options.leaf` says that its data never holds other custom types.
   */
  addSerializer<T>(
    type: Constructor<T>,
    toPlain: ToPlain<T>,
    fromPlain: FromPlain<T>,
    options?: SerializerOptions,
  ): void;
}

/**
 * A codec class, as options take it (`{ codec: MsgPackCodec }`): each
 * connection makes its own instance.
 */
export type CodecClass = new () => Codec;
