/**
 * The date serializer every container registers first (`__type__` id 0), as
 * Python aiomas does for Arrow dates.
 *
 * @module
 */

import { CodecError } from "../errors.ts";
import { describe } from "../codecs/describe.ts";
import { invalidDate } from "../codecs/serializers.ts";
import type { SerializerTriple } from "../codecs/types.ts";

/**
 * Format a date as Python's `str(arrow)` does in UTC:
 * `2010-03-27T00:00:00+00:00`, with microseconds only when non-zero.
 *
 * @example
 * ```ts
 * import { formatPythonDate } from "@aiomas/aiomas/agent";
 * console.log(formatPythonDate(new Date("2016-01-01T12:30:45.120Z"))); // 2016-01-01T12:30:45.120000+00:00
 * ```
 */
export function formatPythonDate(date: Date): string {
  if (Number.isNaN(date.getTime())) throw invalidDate();
  const iso = date.toISOString(); // 2016-01-01T12:30:45.120Z
  const ms = date.getUTCMilliseconds();
  return `${iso.slice(0, 19)}${ms === 0 ? "" : `.${String(ms * 1000).padStart(6, "0")}`}+00:00`;
}

function parseDate(text: unknown): Date {
  // Only a string is looked at: the data came from a peer.
  const date = typeof text === "string" ? new Date(text) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw new CodecError(`Invalid date ${describe(text)}: expected an ISO 8601 string`);
  }
  return date;
}

/**
 * The date serializer triple: `Date` to Python's ISO form and back (any ISO
 * 8601 string with an offset is accepted). A leaf: a date's data is a string,
 * and a custom type inside it is refused.
 *
 * @example
 * ```ts
 * import { dateSerializer } from "@aiomas/aiomas/agent";
 * const [, toPlain, fromPlain] = dateSerializer();
 * console.log(toPlain(new Date(0))); // 1970-01-01T00:00:00+00:00
 * console.log(fromPlain("2016-01-01T12:30:45.123456+02:00").toISOString()); // 2016-01-01T10:30:45.123Z
 * ```
 */
export function dateSerializer(): SerializerTriple<Date> {
  return [Date, formatPythonDate, parseDate, { leaf: true }];
}
