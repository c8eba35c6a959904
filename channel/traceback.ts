/**
 * Turning errors into the traceback text of an `EXCEPTION` frame. Python
 * aiomas sends `traceback.format_exception(...)` output, whose last line is
 * `Type: message`; we send the JavaScript stack in the same shape, so Python
 * and Deno users both read a familiar error.
 *
 * @module
 */

import { NotExposedError } from "../errors.ts";

/**
 * Format `error` as a Python-style traceback ending in `Type: message\n`.
 * `NotExposedError` is sent as Python's `LookupError`.
 *
 * @example
 * ```ts
 * import { formatTraceback } from "@aiomas/aiomas/channel";
 * const text = formatTraceback(new TypeError("boom"));
 * console.log(text.endsWith("TypeError: boom\n")); // true
 * ```
 */
export function formatTraceback(error: unknown): string {
  if (!(error instanceof Error)) return `Error: ${String(error)}\n`;
  const type = error instanceof NotExposedError ? "LookupError" : error.name || "Error";
  const message = error.message.replaceAll("\n", " ");
  const frames = (error.stack ?? "").split("\n").filter((line) => /^\s+at /.test(line));
  const head = frames.length > 0
    ? `Traceback (most recent call last):\n${frames.reverse().join("\n")}\n`
    : "";
  return `${head}${type}: ${message}\n`;
}
