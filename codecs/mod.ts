/**
 * Codecs turn messages into bytes and back: {@linkcode JsonCodec} (the
 * default), plus serializers for custom types.
 *
 * @example
 * ```ts
 * import { JsonCodec } from "@aiomas/aiomas/codecs";
 * const codec = new JsonCodec();
 * console.log(codec.decode(codec.encode({ spam: [1, 2] }))); // { spam: [ 1, 2 ] }
 * ```
 *
 * @module
 */

export type {
  Codec,
  CodecClass,
  Constructor,
  FromPlain,
  SerializerOptions,
  SerializerSpec,
  SerializerTriple,
  ToPlain,
} from "./types.ts";
export {
  createCodec,
  isPlainObject,
  MAX_DEPTH,
  type ReplaceNumber,
  serializable,
  type SerializableClass,
  type SerializerEntry,
  SerializerRegistry,
  TYPE_TAG,
  TypedArray,
} from "./serializers.ts";
export { JsonCodec } from "./json.ts";
export { Ext, MsgPackCodec, type MsgPackCodecOptions, Timestamp } from "./msgpack.ts";
export { type NdarrayData, ndarraySerializer } from "./ndarray.ts";
export {
  bloscCompress,
  type BloscCompressOptions,
  bloscDecompress,
  type BloscDecompressOptions,
} from "./blosc.ts";
export { blosclzCompress, blosclzDecompress } from "./blosclz.ts";
export { lz4Decompress } from "./lz4.ts";
export { MsgPackBloscCodec, type MsgPackBloscCodecOptions } from "./msgpack_blosc.ts";
export { AiomasError, CodecError } from "../errors.ts";
