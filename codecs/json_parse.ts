/**
 * A strict JSON parser for the texts `JSON.parse` cannot read exactly: those
 * with `NaN`, `Infinity`, `-Infinity` (which Python's `json` writes) or with
 * integers beyond 2^53 (which become `bigint`s). Everything else that is not
 * valid JSON is a `CodecError` naming the offset.
 *
 * @module
 */

import { CodecError } from "../errors.ts";
import { defineProtoKey, MAX_DEPTH } from "./serializers.ts";

/** Python refuses to read integers longer than this (`sys.int_info.default_max_str_digits`). */
export const MAX_INTEGER_DIGITS = 4300;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
// A run of string characters that need no attention.
// deno-lint-ignore no-control-regex -- JSON forbids raw control characters in strings
const STRING_RUN = /[^"\\\u0000-\u001f]*/y;
const DIGITS = /[0-9]*/y;

/**
 * Parse `text` as JSON plus Python's `NaN`/`Infinity`/`-Infinity`.
 * Integers (no fraction, no exponent) within ±(2^53-1) are numbers, those
 * beyond are `bigint`s; other numbers are numbers. Keys are kept in the
 * order of the text (as far as JavaScript objects allow: integer-like keys
 * come first), a `"__proto__"` key is an own property.
 *
 * @example
 * ```ts
 * import { parseJson } from "./json_parse.ts";
 * console.log(parseJson('[NaN, 12345678901234567890, 0.5]')); // [ NaN, 12345678901234567890n, 0.5 ]
 * ```
 */
export function parseJson(text: string): unknown {
  const parser = new Parser(text);
  parser.space();
  const value = parser.value(0);
  parser.space();
  if (parser.pos !== text.length) throw parser.error("unexpected text after the value");
  return value;
}

class Parser {
  pos = 0;
  readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  error(what: string): CodecError {
    return new CodecError(`Invalid JSON at character ${this.pos}: ${what}`);
  }

  space(): void {
    const text = this.text;
    let pos = this.pos;
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
    this.pos = pos;
  }

  value(depth: number): unknown {
    const text = this.text;
    const c = text.charCodeAt(this.pos);
    switch (c) {
      case 0x22: // "
        return this.string();
      case 0x7b: // {
        return this.object(depth);
      case 0x5b: // [
        return this.array(depth);
      case 0x74: // t
        return this.literal("true", true);
      case 0x66: // f
        return this.literal("false", false);
      case 0x6e: // n
        return this.literal("null", null);
      case 0x4e: // N
        return this.literal("NaN", NaN);
      case 0x49: // I
        return this.literal("Infinity", Infinity);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        throw this.error(this.pos >= text.length ? "unexpected end" : "expected a value");
    }
  }

  literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) throw this.error("expected a value");
    this.pos += word.length;
    return value;
  }

  number(): number | bigint {
    const text = this.text;
    const start = this.pos;
    let pos = start;
    if (text.charCodeAt(pos) === 0x2d) {
      pos++;
      if (text.startsWith("Infinity", pos)) {
        this.pos = pos + 8;
        return -Infinity;
      }
    }
    const first = text.charCodeAt(pos);
    if (first === 0x30) {
      pos++;
      const next = text.charCodeAt(pos);
      if (next >= 0x30 && next <= 0x39) {
        this.pos = pos;
        throw this.error("a number may not have leading zeros");
      }
    } else if (first >= 0x31 && first <= 0x39) {
      DIGITS.lastIndex = pos + 1;
      DIGITS.test(text);
      pos = DIGITS.lastIndex;
    } else {
      this.pos = pos;
      throw this.error("expected a digit");
    }
    const intEnd = pos;
    let c = text.charCodeAt(pos);
    if (c === 0x2e) { // .
      pos = this.digits(pos + 1);
      c = text.charCodeAt(pos);
    }
    if (c === 0x65 || c === 0x45) { // e E
      pos++;
      c = text.charCodeAt(pos);
      if (c === 0x2b || c === 0x2d) pos++;
      pos = this.digits(pos);
    }
    this.pos = pos;
    const token = text.slice(start, pos);
    if (pos !== intEnd) return +token;
    const value = +token;
    if (value >= -MAX_SAFE && value <= MAX_SAFE) return value;
    if (token.length > MAX_INTEGER_DIGITS + 1) {
      this.pos = start;
      throw this.error(`an integer of more than ${MAX_INTEGER_DIGITS} digits`);
    }
    return BigInt(token);
  }

  /** Consume one or more digits from `pos`; return where they end. */
  digits(pos: number): number {
    DIGITS.lastIndex = pos;
    DIGITS.test(this.text);
    if (DIGITS.lastIndex === pos) {
      this.pos = pos;
      throw this.error("expected a digit");
    }
    return DIGITS.lastIndex;
  }

  string(): string {
    const text = this.text;
    const start = this.pos + 1;
    let pos = start;
    let escaped = false;
    for (;;) {
      STRING_RUN.lastIndex = pos;
      STRING_RUN.test(text);
      pos = STRING_RUN.lastIndex;
      const c = text.charCodeAt(pos);
      if (c === 0x22) break;
      if (c === 0x5c) {
        escaped = true;
        pos += 2;
        continue;
      }
      this.pos = pos;
      throw this.error(
        pos >= text.length ? "unterminated string" : "control character in a string",
      );
    }
    this.pos = pos + 1;
    if (!escaped) return text.slice(start, pos);
    try {
      return JSON.parse(text.slice(start - 1, pos + 1));
    } catch {
      this.pos = start - 1;
      throw this.error("invalid escape in a string");
    }
  }

  array(depth: number): unknown[] {
    if (depth >= MAX_DEPTH) throw this.error(`nested deeper than ${MAX_DEPTH} levels`);
    const out: unknown[] = [];
    this.pos++;
    this.space();
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.space();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x5d) return out;
      if (c !== 0x2c) {
        this.pos--;
        throw this.error("expected ',' or ']'");
      }
      this.space();
    }
  }

  object(depth: number): Record<string, unknown> {
    if (depth >= MAX_DEPTH) throw this.error(`nested deeper than ${MAX_DEPTH} levels`);
    const out: Record<string, unknown> = {};
    const text = this.text;
    this.pos++;
    this.space();
    if (text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return out;
    }
    for (;;) {
      if (text.charCodeAt(this.pos) !== 0x22) throw this.error("expected a string key");
      const key = this.string();
      this.space();
      if (text.charCodeAt(this.pos) !== 0x3a) throw this.error("expected ':'");
      this.pos++;
      this.space();
      const item = this.value(depth + 1);
      if (key === "__proto__") defineProtoKey(out, item);
      else out[key] = item;
      this.space();
      const c = text.charCodeAt(this.pos++);
      if (c === 0x7d) return out;
      if (c !== 0x2c) {
        this.pos--;
        throw this.error("expected ',' or '}'");
      }
      this.space();
    }
  }
}
