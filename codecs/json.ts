/**
 * {@linkcode JsonCodec}: the default codec, JSON text in UTF-8.
 *
 * @module
 */

import { CodecError } from "../errors.ts";
import { SerializerRegistry, TYPE_TAG } from "./serializers.ts";
import type { Codec, Constructor, FromPlain, ToPlain } from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

// Tokens that standard JSON lacks but Python's `json` writes: NaN, +-Infinity
// and integers past 2^53 (which `JSON.parse` would silently round).
const EXTENDED_TOKEN = /"(?:[^"\\]|\\.)*"|(-?Infinity|NaN|(?<![\d.eE+-])-?\d{16,}(?![\d.eE]))/g;
const LONG_DIGITS = /\d{16}/;
const SENTINEL = "\u0000aiomas:";

/**
 * The default codec: JSON, as Python aiomas' `JSON` codec. Encodes compact
 * JSON; decodes Python's `", "`/`": "` separators, `\uXXXX` escapes,
 * `NaN`/`Infinity` and integers of any size (those past 2^53 as `bigint`).
 * Custom types travel as `{"__type__": [typeid, data]}` maps.
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

  /** Encode `value` as compact UTF-8 JSON. */
  encode(value: unknown): Uint8Array {
    const plain = this.#serializers.toPlainTree(value);
    return encoder.encode(JSON.stringify(plain));
  }

  /** Decode UTF-8 JSON bytes; custom-type tags become their values. */
  decode(bytes: Uint8Array): unknown {
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch (cause) {
      throw new CodecError("JSON payload is not valid UTF-8", { cause });
    }
    let value: unknown;
    try {
      value = LONG_DIGITS.test(text) ? parseExtended(text) : JSON.parse(text);
    } catch (cause) {
      if (cause instanceof CodecError) throw cause;
      try {
        value = parseExtended(text);
      } catch {
        throw new CodecError(`Invalid JSON payload: ${(cause as Error).message}`, { cause });
      }
    }
    return text.includes(TYPE_TAG) ? this.#serializers.reviveTree(value) : value;
  }

  /** Register a serializer; see {@linkcode Codec.addSerializer}. */
  addSerializer<T>(type: Constructor<T>, toPlain: ToPlain<T>, fromPlain: FromPlain<T>): void {
    this.#serializers.add(type, toPlain, fromPlain);
  }
}

function parseExtended(text: string): unknown {
  let found = false;
  const quoted = text.replace(EXTENDED_TOKEN, (match, token: string | undefined) => {
    if (token === undefined) return match;
    found = true;
    return `"\\u0000aiomas:${token}"`;
  });
  const value = JSON.parse(quoted);
  return found ? restoreTokens(value) : value;
}

function restoreTokens(value: unknown): unknown {
  if (typeof value === "string") {
    if (!value.startsWith(SENTINEL)) return value;
    const token = value.slice(SENTINEL.length);
    if (token === "NaN" || token.endsWith("Infinity")) return Number(token);
    const big = BigInt(token);
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(big)
      : big;
  }
  if (typeof value !== "object" || value === null) return value;
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const item = record[key];
    const restored = restoreTokens(item);
    if (restored !== item) Object.defineProperty(record, key, { value: restored });
  }
  return value;
}
