/**
 * {@linkcode MsgPackBloscCodec}: MessagePack compressed into a Blosc1 buffer,
 * byte-compatible with Python aiomas' `MsgPackBlosc` codec.
 *
 * @module
 */

import { bloscCompress, bloscDecompress } from "./blosc.ts";
import { MsgPackCodec, type MsgPackCodecOptions } from "./msgpack.ts";

/** Options of {@linkcode MsgPackBloscCodec}. */
export interface MsgPackBloscCodecOptions extends MsgPackCodecOptions {
  /**
   * Largest uncompressed message accepted, in bytes: a frame whose Blosc
   * header claims more is refused with a `CodecError` before anything is
   * allocated. Default 64 MiB.
   */
  maxSize?: number | undefined;
}

/**
 * Python aiomas' `MsgPackBlosc` codec: the MessagePack bytes of
 * {@linkcode MsgPackCodec}, compressed as `blosc.compress(data, typesize=8)`
 * does (blosclz, byte shuffle, clevel 9). Messages below 128 bytes are stored
 * uncompressed, byte for byte as Python writes them. Decodes any Blosc1
 * buffer compressed with blosclz or LZ4; malformed ones raise a
 * `CodecError`.
 *
 * @example
 * ```ts
 * import { MsgPackBloscCodec } from "@aiomas/aiomas/codecs";
 * const codec = new MsgPackBloscCodec();
 * const small = codec.encode([0, 0, "ohai"]);
 * console.log(small.length); // 24
 * const big = codec.encode([0, 1, ["len", "spam".repeat(10000)]]);
 * console.log(big.length < 1000); // true
 * console.log((codec.decode(big) as [number, number, [string, string]])[2][1].length); // 40000
 * ```
 */
export class MsgPackBloscCodec extends MsgPackCodec {
  readonly #maxSize: number | undefined;

  /** Make a codec; see {@linkcode MsgPackBloscCodecOptions}. */
  constructor(options: MsgPackBloscCodecOptions = {}) {
    super(options);
    this.#maxSize = options.maxSize;
  }

  /** Encode `value` as MessagePack in a Blosc1 buffer. */
  override encode(value: unknown): Uint8Array {
    return bloscCompress(super.encode(value));
  }

  /** Decompress a Blosc1 buffer and decode the MessagePack in it. */
  override decode(bytes: Uint8Array): unknown {
    return super.decode(bloscDecompress(bytes, { maxSize: this.#maxSize }));
  }
}
