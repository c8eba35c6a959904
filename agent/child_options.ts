/**
 * The options of a managed container that are named by strings, so they
 * can cross a worker or process boundary: codecs by built-in name or module
 * spec, serializers by module spec, clocks as a {@linkcode ClockSpec}.
 *
 * @module
 */

import type { Clock } from "../clocks/clock.ts";
import { ExternalClock } from "../clocks/external.ts";
import { RealtimeClock } from "../clocks/realtime.ts";
import { JsonCodec } from "../codecs/json.ts";
import { MsgPackCodec } from "../codecs/msgpack.ts";
import { MsgPackBloscCodec } from "../codecs/msgpack_blosc.ts";
import type { CodecClass, SerializerSpec } from "../codecs/types.ts";
import { importSpec } from "./module_spec.ts";

/**
 * A clock that can be named across a worker or process boundary:
 * `"realtime"` (the default), or an `ExternalClock` starting at the UTC date
 * `external` (an ISO 8601 string) with `time()` equal to `initTime`.
 */
export type ClockSpec = "realtime" | { external: string; initTime?: number };

/**
 * The codecs a child container knows by name.
 *
 * @example
 * ```ts
 * import { BUILTIN_CODECS } from "@aiomas/aiomas/agent";
 * console.log(Object.keys(BUILTIN_CODECS)); // [ "JsonCodec", "MsgPackCodec", "MsgPackBloscCodec" ]
 * ```
 */
export const BUILTIN_CODECS: Readonly<Record<string, CodecClass>> = Object.freeze({
  JsonCodec,
  MsgPackCodec,
  MsgPackBloscCodec,
});

/**
 * The name of a built-in codec (`"MsgPackCodec"`), a module spec
 * (`"./codec.ts#MyCodec"`, anything with a `/`, `.`, `:` or `#`), or an error
 * for a bare name that is not a built-in codec.
 */
export function checkCodecName(codec: string): string {
  if (typeof codec !== "string" || codec === "") {
    throw new TypeError(`A codec name must be a non-empty string, got ${String(codec)}`);
  }
  if (/^\w+$/.test(codec) && !Object.hasOwn(BUILTIN_CODECS, codec)) {
    throw new TypeError(
      `Unknown codec "${codec}": use ${
        Object.keys(BUILTIN_CODECS).map((name) => `"${name}"`).join(", ")
      }, or name your own with a module spec ("./my_codec.ts#${codec}")`,
    );
  }
  return codec;
}

/**
 * Resolve a codec given as a class, the name of a built-in codec
 * (`"JsonCodec"`, `"MsgPackCodec"`, `"MsgPackBloscCodec"`), or a module spec
 * (`"./codec.ts#MyCodec"`, imported as the program's own: see
 * {@linkcode importSpec}).
 *
 * @throws {TypeError} for a bare name that is no built-in codec.
 *
 * @example
 * ```ts
 * import { resolveCodec } from "@aiomas/aiomas/agent";
 * console.log((await resolveCodec("MsgPackCodec"))?.name); // MsgPackCodec
 * ```
 */
export async function resolveCodec(
  codec: CodecClass | string | undefined,
): Promise<CodecClass | undefined> {
  if (codec === undefined || typeof codec === "function") return codec;
  const name = checkCodecName(codec);
  const value = Object.hasOwn(BUILTIN_CODECS, name) ? BUILTIN_CODECS[name] : await importSpec(name);
  if (typeof value !== "function") {
    throw new TypeError(
      `"${codec}" does not name a codec class: name an exported class that implements Codec`,
    );
  }
  return value as CodecClass;
}

/**
 * Resolve `extraSerializers` given as specs or module specs.
 *
 * @example
 * ```ts
 * import { dateSerializer, resolveSerializers } from "@aiomas/aiomas/agent";
 * const serializers = await resolveSerializers([dateSerializer]);
 * console.log(serializers?.length); // 1
 * ```
 */
export async function resolveSerializers(
  serializers: readonly (SerializerSpec | string)[] | undefined,
): Promise<SerializerSpec[] | undefined> {
  if (serializers === undefined) return undefined;
  const resolved: SerializerSpec[] = [];
  for (const entry of serializers) {
    const value = typeof entry === "string" ? await importSpec(entry) : entry;
    const ok = typeof value === "function" ||
      typeof (value as { __serializer__?: unknown } | null)?.__serializer__ === "function";
    if (!ok) {
      throw new TypeError(
        `Serializer ${String(entry)} is neither a function returning [Type, toPlain, ` +
          "fromPlain] nor a @serializable class",
      );
    }
    resolved.push(value as SerializerSpec);
  }
  return resolved;
}

/**
 * Make the clock a {@linkcode ClockSpec} names (a `Clock` is returned as is).
 *
 * @example
 * ```ts
 * import { resolveClock } from "@aiomas/aiomas/agent";
 * const clock = resolveClock({ external: "2016-01-01T00:00:00Z", initTime: 5 });
 * console.log(clock.time(), clock.utcnow().toISOString()); // 5 2016-01-01T00:00:05.000Z
 * ```
 */
export function resolveClock(clock: ClockSpec | Clock | undefined): Clock {
  if (clock === undefined || clock === "realtime") return new RealtimeClock();
  if (typeof clock === "object" && "external" in clock) {
    return new ExternalClock(clock.external, clock.initTime ?? 0);
  }
  if (typeof clock === "object" && typeof clock.time === "function") return clock;
  throw new TypeError(
    `Invalid clock ${
      JSON.stringify(clock)
    }: use "realtime" or { external: "2016-01-01T00:00:00Z" }`,
  );
}
