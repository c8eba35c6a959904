/**
 * Safe words for error messages: {@linkcode describe} names a decoded value
 * without calling into it, and {@linkcode addPlace} / {@linkcode placed}
 * tell where in an encoded value a `CodecError` arose (`$[2].when`).
 *
 * @module
 */

import { CodecError } from "../errors.ts";

const MAX_TEXT = 40;

/**
 * Describe `value` for an error message without calling any of its methods
 * or getters: a decoded value may be a proxy for a remote object (proxies
 * are functions), on which `String()`, `JSON.stringify` or a template would
 * turn into network calls. Strings are quoted and cut after 40 characters;
 * objects are named by their kind only.
 *
 * @example
 * ```ts
 * import { describe } from "./describe.ts";
 * console.log(describe("2016"), describe(() => 1), describe([1]), describe("x".repeat(99)));
 * // "2016" a function an array "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"... (99 characters)
 * ```
 */
export function describe(value: unknown): string {
  switch (typeof value) {
    case "string":
      return value.length <= MAX_TEXT
        ? JSON.stringify(value)
        : `${JSON.stringify(value.slice(0, MAX_TEXT))}... (${value.length} characters)`;
    case "number":
    case "boolean":
    case "undefined":
      return String(value);
    case "bigint":
      return value >= -(10n ** 30n) && value <= 10n ** 30n
        ? `${value}n`
        : `a bigint of ${value.toString(16).length * 4} bits`;
    case "symbol":
      return "a symbol";
    case "function":
      return "a function";
    default:
      if (value === null) return "null";
      if (Array.isArray(value)) return "an array";
      return "an object";
  }
}

/** Where in the value an encode error arose: segments, innermost last. */
const places = new WeakMap<CodecError, string[]>();
/** Errors whose message already names their place (a nested encode's). */
const finished = new WeakSet<CodecError>();

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * Record that `error` arose inside the item `key` (an array index or a map
 * key) of the value being encoded, and return it for re-throwing. Other
 * errors pass unchanged.
 */
export function addPlace(error: unknown, key: unknown): unknown {
  if (!(error instanceof CodecError) || finished.has(error)) return error;
  let segment: string;
  if (typeof key === "number") segment = `[${key}]`;
  else if (typeof key === "string") {
    segment = IDENTIFIER.test(key) && key.length <= MAX_TEXT ? `.${key}` : `[${describe(key)}]`;
  } else segment = `[${describe(key)}]`;
  const list = places.get(error);
  if (list === undefined) places.set(error, [segment]);
  else list.push(segment);
  return error;
}

/**
 * Finish an encode error at the top level: a `CodecError` gets its place
 * appended to the message (`... (at $[2].when)`). Returns the error.
 */
export function placed(error: unknown): unknown {
  if (!(error instanceof CodecError) || finished.has(error)) return error;
  const list = places.get(error);
  error.message += ` (at $${list === undefined ? "" : list.reverse().join("")})`;
  finished.add(error);
  return error;
}
