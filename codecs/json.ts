/**
 * {@linkcode JsonCodec}: the default codec, JSON text in UTF-8.
 *
 * @module
 */

import { CodecError } from "../errors.ts";
import { MAX_DEPTH, SerializerRegistry, TYPE_TAG } from "./serializers.ts";
import type { Codec, Constructor, FromPlain, ToPlain } from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

// Tokens that standard JSON lacks but Python's `json` writes: NaN, +-Infinity
// and integers past 2^53 (which `JSON.parse` would silently round).
const EXTENDED_TOKEN = /"(?:[^"\\]|\\.)*"|(-?Infinity|NaN|(?<![\d.eE+-])-?\d{16,}(?![\d.eE]))/g;
const LONG_DIGITS = /\d{16}/;
/** A fresh marker for tokens JSON lacks: random, so a peer's strings cannot pose as one. */
function newMarker(): string {
  return `aiomas-${crypto.getRandomValues(new Uint32Array(2)).join("-")}:`;
}
// The tokens parseExtended quotes (a peer's string that merely looks like one stays a string).
const NUMBER_TOKEN = /^(?:-?Infinity|NaN|-?\d+)$/;

/** A number as Python's `json` writes it (floats keep a `.0`). */
function pythonNumber(value: number | bigint): string {
  if (typeof value === "bigint") return value.toString();
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (Object.is(value, -0)) return "-0.0";
  const text = String(value);
  return text.includes("e") ? text : `${text}.0`;
}

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

  /**
   * Encode `value` as compact UTF-8 JSON. Like Python's `json`, non-finite
   * numbers are written as `NaN`/`Infinity`, and `bigint`s as plain digits.
   */
  encode(value: unknown): Uint8Array {
    let marker: string | undefined;
    const plain = this.#serializers.toPlainTree(value, (number) => {
      marker ??= newMarker();
      return marker + pythonNumber(number);
    });
    const text = JSON.stringify(plain);
    if (marker === undefined) return encoder.encode(text);
    // Unquote the marked strings: "<marker>NaN" becomes NaN.
    return encoder.encode(text.replace(new RegExp(`"${marker}([^"]*)"`, "g"), "$1"));
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
      } catch (error) {
        if (error instanceof CodecError) throw error;
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

/**
 * Parse JSON with Python's extra tokens: each is quoted with a random marker
 * (which a peer cannot guess, so its strings stay strings), then restored.
 */
function parseExtended(text: string): unknown {
  const marker = newMarker();
  let found = false;
  const quoted = text.replace(EXTENDED_TOKEN, (match, token: string | undefined) => {
    if (token === undefined) return match;
    found = true;
    return `"${marker}${token}"`;
  });
  const value = JSON.parse(quoted);
  return found ? restoreTokens(value, marker) : value;
}

function restoreTokens(value: unknown, marker: string, depth = 0): unknown {
  if (typeof value === "string") {
    if (!value.startsWith(marker)) return value;
    const token = value.slice(marker.length);
    // Only tokens this module quoted are turned back; other text stays a string.
    if (!NUMBER_TOKEN.test(token)) return value;
    if (token === "NaN" || token.endsWith("Infinity")) return Number(token);
    const big = BigInt(token);
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(big)
      : big;
  }
  if (typeof value !== "object" || value === null) return value;
  if (depth > MAX_DEPTH) throw new CodecError(`Value nested deeper than ${MAX_DEPTH} levels`);
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const item = record[key];
    const restored = restoreTokens(item, marker, depth + 1);
    if (restored !== item) Object.defineProperty(record, key, { value: restored });
  }
  return value;
}
