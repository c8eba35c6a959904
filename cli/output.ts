/**
 * Printing results of the command line as JSON.
 *
 * @module
 */

import { proxyPath } from "../rpc/proxy.ts";

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * Format a call's result as one line of JSON: dates as ISO 8601 strings
 * (UTC), bigints as decimal strings, `Uint8Array`s as base64 strings, other
 * typed arrays as arrays, maps as objects, sets as arrays, remote references
 * as `"<proxy PATH>"`, and `undefined` as `null` (`NaN` and infinities also
 * print as `null`, as in JSON).
 *
 * @example
 * ```ts
 * import { formatResult } from "@aiomas/aiomas/cli";
 * console.log(formatResult({ n: 2n ** 64n, at: new Date(0), raw: new Uint8Array([1, 2]) }));
 * // {"n":"18446744073709551616","at":"1970-01-01T00:00:00.000Z","raw":"AQI="}
 * ```
 */
export function formatResult(value: unknown): string {
  return JSON.stringify(printable(value, new Set())) ?? "null";
}

/**
 * A JSON-ready copy of `value`. Walks the value itself instead of using a
 * `JSON.stringify` replacer: a remote proxy answers any property, so
 * `JSON.stringify` would call its `toJSON` remotely.
 */
function printable(value: unknown, seen: Set<object>): unknown {
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "function") {
    const path = proxyPath(value);
    return path === undefined ? null : `<proxy ${path === "" ? "/" : path}>`;
  }
  if (typeof value !== "object" || value === null) return value ?? null;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array) return toBase64(value);
  if (ArrayBuffer.isView(value)) {
    return value instanceof DataView
      ? toBase64(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
      : Array.from(value as unknown as ArrayLike<number | bigint>, (item) => printable(item, seen));
  }
  if (seen.has(value)) return "<cycle>";
  seen.add(value);
  try {
    if (Array.isArray(value) || value instanceof Set) {
      return Array.from(value, (item) => printable(item, seen));
    }
    const entries = value instanceof Map ? [...value] : Object.entries(value);
    return Object.fromEntries(entries.map(([key, item]) => [String(key), printable(item, seen)]));
  } finally {
    seen.delete(value);
  }
}

/** This folder: stack frames in it are the command line's own, not the user's. */
const CLI_DIR = new URL("./", import.meta.url).href;

/**
 * An error for the user: its type and message, then the stack frames of the
 * user's code (never the command line's own frames or the runtime's).
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const head = `${error.name}: ${error.message}`;
  const frames = (error.stack ?? "").split("\n").filter((line) =>
    /^\s+at /.test(line) && !line.includes(CLI_DIR) && !line.includes("ext:")
  );
  return [head, ...frames].join("\n");
}
