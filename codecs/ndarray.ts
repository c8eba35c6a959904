/**
 * {@linkcode ndarraySerializer}: typed arrays as NumPy-style arrays, the
 * JavaScript side of the NumPy serializer in aiomas' documentation
 * (`{"type": dtype.str, "shape": shape, "data": bytes}`). For
 * `MsgPackCodec` and codecs built on it (JSON cannot carry the bytes).
 *
 * @module
 */

import { CodecError } from "../errors.ts";
import { describe } from "./describe.ts";
import { isPlainObject, TypedArray } from "./serializers.ts";
import type { SerializerTriple } from "./types.ts";

/** A typed array constructor of the kind {@linkcode ndarraySerializer} handles. */
interface ArrayClass {
  readonly BYTES_PER_ELEMENT: number;
  new (length: number): ArrayBufferView & { readonly length: number };
}

/** How a typed array travels: the data of the `__type__` tag. */
export interface NdarrayData {
  /** A NumPy dtype string such as `"<f8"` (little-endian float64) or `"|u1"`. */
  type: string;
  /** The array's shape; typed arrays are sent as `[length]`. */
  shape: number[];
  /** The elements' bytes in the dtype's byte order. */
  data: Uint8Array;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const Float16: ArrayClass | undefined = (globalThis as { Float16Array?: ArrayClass })
  .Float16Array;

const CLASSES: [ArrayClass, string][] = [
  [Int8Array, "|i1"],
  [Uint8Array, "|u1"],
  [Uint8ClampedArray, "|u1"],
  [Int16Array, "<i2"],
  [Uint16Array, "<u2"],
  [Int32Array, "<i4"],
  [Uint32Array, "<u4"],
  [BigInt64Array, "<i8"],
  [BigUint64Array, "<u8"],
  [Float32Array, "<f4"],
  [Float64Array, "<f8"],
];
if (Float16 !== undefined) CLASSES.push([Float16, "<f2"]);

const DTYPES = new Map<unknown, string>(CLASSES);
const BY_KIND = new Map<string, ArrayClass>([
  ["i1", Int8Array],
  ["u1", Uint8Array],
  ["i2", Int16Array],
  ["u2", Uint16Array],
  ["i4", Int32Array],
  ["u4", Uint32Array],
  ["i8", BigInt64Array],
  ["u8", BigUint64Array],
  ["f4", Float32Array],
  ["f8", Float64Array],
]);
if (Float16 !== undefined) BY_KIND.set("f2", Float16);

function toPlain(array: ArrayBufferView): NdarrayData {
  const type = DTYPES.get(array.constructor);
  if (type === undefined) {
    throw new CodecError(
      `ndarraySerializer cannot encode a ${array.constructor?.name ?? "view"}: ` +
        "only typed arrays are supported",
    );
  }
  const length = (array as unknown as { length: number }).length;
  let data = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  const size = array.byteLength / length;
  if (!LITTLE_ENDIAN && size > 1) data = swapped(data, size);
  return { type, shape: [length], data };
}

function fromPlain(plain: unknown): ArrayBufferView {
  // Peer data: only a plain object's own fields are read.
  const { type, shape, data } = (isPlainObject(plain) ? plain : {}) as Partial<NdarrayData>;
  if (typeof type !== "string" || !Array.isArray(shape) || !(data instanceof Uint8Array)) {
    throw new CodecError("ndarray: expected {type: string, shape: number[], data: bytes}");
  }
  const order = type.charAt(0);
  const ArrayType = BY_KIND.get(type.slice(1));
  if (ArrayType === undefined || !"<>|=".includes(order) || type.length !== 3) {
    throw new CodecError(`ndarray: unsupported dtype ${describe(type)}`);
  }
  const size = ArrayType.BYTES_PER_ELEMENT;
  if (order === "|" && size !== 1) {
    throw new CodecError(`ndarray: dtype ${type} needs a byte order ("<" or ">")`);
  }
  let count = 1;
  for (const dim of shape as unknown[]) {
    if (typeof dim !== "number" || !Number.isSafeInteger(dim) || dim < 0) {
      throw new CodecError(`ndarray: invalid shape: dimension ${describe(dim)}`);
    }
    count *= dim;
  }
  if (count * size !== data.length) {
    throw new CodecError(
      `ndarray: a shape of ${shape.length} dimension(s), ${count} element(s) of ${type} needs ` +
        `${count * size} bytes, got ${data.length}`,
    );
  }
  const out = new ArrayType(count);
  const bigEndian = order === ">" || (order === "=" && !LITTLE_ENDIAN);
  const bytes = size > 1 && bigEndian === LITTLE_ENDIAN ? swapped(data, size) : data;
  new Uint8Array(out.buffer, 0, data.length).set(bytes);
  return out;
}

/** Copy `data` with the bytes of each `size`-byte element reversed. */
function swapped(data: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i += size) {
    for (let j = 0; j < size; j++) out[i + j] = data[i + size - 1 - j]!;
  }
  return out;
}

/**
 * A serializer for typed arrays (`Int8Array` ... `Float64Array`, the bigint
 * arrays and, where the runtime has it, `Float16Array`), for
 * `extraSerializers`: an array travels as
 * `{"type": "<f8", "shape": [n], "data": <bytes>}`, the form of the NumPy
 * serializer in aiomas' documentation, so a Python peer can use that
 * serializer at the same `__type__` id.
 *
 * It is registered for the common base class `TypedArray`, so it handles
 * every typed array class without a serializer of its own. `Uint8Array`s
 * keep travelling as plain MessagePack bin values (only a serializer for
 * exactly `Uint8Array` would change that).
 *
 * Decoding accepts the dtypes `i1 u1 i2 u2 i4 u4 i8 u8 f4 f8` (and `f2`
 * with `Float16Array`) with byte order `<`, `>` (byte-swapped), `=` (native)
 * or, for one-byte types, `|`. Encoding writes NumPy's own `dtype.str`:
 * `"|i1"`, `"|u1"` for the byte types, `"<..."` otherwise. A shape with more
 * than one dimension decodes as a flat array of all elements (row-major, as
 * NumPy sends them). The result is always a fresh, aligned array. It is a
 * leaf serializer: a custom type inside its data is refused.
 *
 * @example
 * ```ts
 * import { createCodec, MsgPackCodec, ndarraySerializer } from "@aiomas/aiomas/codecs";
 * const codec = createCodec(MsgPackCodec, [ndarraySerializer]);
 * const copy = codec.decode(codec.encode([new Float64Array([1.5, 2.5])]));
 * console.log(copy); // [ Float64Array(2) [ 1.5, 2.5 ] ]
 * ```
 */
export function ndarraySerializer(): SerializerTriple<ArrayBufferView> {
  return [TypedArray, toPlain, fromPlain, { leaf: true }];
}
