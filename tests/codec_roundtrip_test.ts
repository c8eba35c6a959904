/**
 * Seeded differential and round-trip tests of the codecs (issue 21): random
 * values through `JsonCodec` and `MsgPackCodec` come back equal, with maps
 * in wire order and integers on the documented side of the number/bigint
 * line; values a codec cannot carry are `CodecError`s naming their place;
 * mutated JSON texts decode exactly when `JSON.parse` reads them and are
 * refused otherwise. A failing seed is printed and reproduces.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type Codec,
  CodecError,
  JsonCodec,
  MsgPackBloscCodec,
  MsgPackCodec,
} from "@aiomas/aiomas/codecs";
import { expose, openConnection, startServer } from "@aiomas/aiomas/rpc";
import { mulberry32 } from "./prng.ts";

type Rng = () => number;

const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, items.length)]!;

/** Integers at every MessagePack boundary, and the number/bigint line. */
const BOUNDARIES: bigint[] = [0n, 1n, 127n, 128n, 255n, 256n, 65535n, 65536n, 2n ** 31n, 2n ** 32n]
  .flatMap((b) => [b - 1n, b, b + 1n, -b - 1n, -b, -b + 1n])
  .concat([
    2n ** 53n - 1n,
    2n ** 53n,
    -(2n ** 53n) + 1n,
    -(2n ** 53n),
    2n ** 63n - 1n,
    2n ** 63n,
    -(2n ** 63n),
    2n ** 64n - 1n,
  ]);

const STRINGS = ["", "a", "0", "10", "__proto__", "héllo", "日本", "😀x", "\u00ff", "\ufeffbom"];

function randomString(rng: Rng): string {
  if (rng() < 0.4) return pick(rng, STRINGS);
  const length = rng() < 0.9 ? int(rng, 40) : int(rng, 400);
  let out = "";
  for (let i = 0; i < length; i++) {
    const kind = int(rng, 10);
    if (kind < 6) out += String.fromCharCode(32 + int(rng, 95));
    else if (kind < 8) out += String.fromCharCode(0x80 + int(rng, 0x700));
    else if (kind < 9) out += String.fromCharCode(0x800 + int(rng, 0xd000));
    else out += String.fromCodePoint(0x10000 + int(rng, 0x100000));
  }
  return out;
}

function randomNumber(rng: Rng): number | bigint {
  switch (int(rng, 6)) {
    case 0: {
      const b = pick(rng, BOUNDARIES);
      return rng() < 0.5 ? b : Number(b);
    }
    case 1:
      return pick(rng, [NaN, Infinity, -Infinity, -0, 0.5, 1e16, 1e300, 5e-324]);
    case 2:
      return (rng() - 0.5) * 10 ** int(rng, 30);
    case 3:
      return int(rng, 2 ** 31) - 2 ** 30;
    default:
      return BigInt(int(rng, 2 ** 30)) * BigInt(int(rng, 2 ** 30)) * (rng() < 0.5 ? -1n : 1n);
  }
}

/** A random value the codec carries (`binary`: MsgPack, with bytes, Maps and Dates). */
function randomValue(rng: Rng, binary: boolean, depth = 0): unknown {
  const kinds = depth > 4 ? 5 : 9;
  switch (int(rng, kinds + (binary ? 3 : 0))) {
    case 0:
      return null;
    case 1:
      return rng() < 0.5;
    case 2:
    case 3:
      return randomNumber(rng);
    case 4:
      return randomString(rng);
    case 5:
    case 6:
      return Array.from({ length: int(rng, 6) }, () => randomValue(rng, binary, depth + 1));
    case 7:
    case 8: {
      const out: Record<string, unknown> = {};
      for (let i = int(rng, 6); i > 0; i--) {
        Object.defineProperty(out, randomString(rng), {
          value: randomValue(rng, binary, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    case 9:
      return new Uint8Array(Array.from({ length: int(rng, 20) }, () => int(rng, 256)));
    case 10:
      return new Date(int(rng, 2 ** 40) - 2 ** 39);
    default: {
      // A Map with at least one key that is not a string, so it decodes as a Map.
      const map = new Map<unknown, unknown>();
      for (let i = int(rng, 5); i > 0; i--) {
        map.set(randomString(rng), randomValue(rng, binary, depth + 1));
      }
      const keys = [() => int(rng, 1000), () => null, () => true, () => randomString(rng)];
      map.set(pick(rng, keys.slice(0, 3))(), randomValue(rng, binary, depth + 1));
      for (let i = int(rng, 4); i > 0; i--) {
        map.set(pick(rng, keys)(), randomValue(rng, binary, depth + 1));
      }
      return map;
    }
  }
}

/** What `value` decodes to under the documented rules. */
function expected(value: unknown, binary: boolean): unknown {
  if (typeof value === "bigint") {
    return value >= -(2n ** 53n) + 1n && value <= 2n ** 53n - 1n ? Number(value) : value;
  }
  if (value instanceof Date) return binary ? value : value.toISOString();
  if (Array.isArray(value)) return value.map((v) => expected(v, binary));
  if (value instanceof Map) {
    const out = new Map<unknown, unknown>();
    for (const [k, v] of value) out.set(expected(k, binary), expected(v, binary));
    return out;
  }
  if (typeof value === "object" && value !== null && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, {
        value: expected(v, binary),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

/** Structural equality that also checks key order, `-0` and number/bigint types. */
function same(a: unknown, b: unknown, path = "$"): void {
  if (typeof a !== typeof b) assert.fail(`${path}: ${typeof a} vs ${typeof b}`);
  if (typeof a === "number") {
    assert.ok(Object.is(a, b), `${path}: ${a} vs ${b}`);
    return;
  }
  if (typeof a !== "object" || a === null) {
    assert.equal(a, b, path);
    return;
  }
  assert.equal(Object.getPrototypeOf(a), Object.getPrototypeOf(b), `${path}: class`);
  if (a instanceof Map) {
    const bm = b as Map<unknown, unknown>;
    assert.deepEqual([...a.keys()], [...bm.keys()], `${path}: Map keys in order`);
    for (const [k, v] of a) same(v, bm.get(k), `${path}[${String(k)}]`);
  } else if (a instanceof Uint8Array || a instanceof Date) {
    assert.deepStrictEqual(a, b, path);
  } else {
    const ak = Object.keys(a);
    assert.deepEqual(ak, Object.keys(b as object), `${path}: keys in order`);
    for (const k of ak) {
      same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
    }
  }
}

const SEED = Number(Deno.env.get("SEED") ?? 20261126);

Deno.test("codecs: random values round-trip in wire order, on the documented number rule", () => {
  const cases: [() => Codec, boolean][] = [
    [() => new JsonCodec(), false],
    [() => new MsgPackCodec(), true],
    [() => new MsgPackBloscCodec(), true],
  ];
  for (const [make, binary] of cases) {
    const rng = mulberry32(SEED);
    const codec = make();
    for (let i = 0; i < 1500; i++) {
      const value = randomValue(rng, binary);
      const what = `${codec.constructor.name} seed ${SEED} value ${i}`;
      const bytes = codec.encode(value).slice();
      const decoded = codec.decode(bytes);
      same(decoded, expected(value, binary), what);
      // Decoding and encoding again gives the same bytes.
      if (binary) assert.deepEqual(codec.encode(decoded), bytes, what);
    }
  }
});

Deno.test("codecs: bigint boundaries decode on the right side of 2^53", () => {
  for (const codec of [new JsonCodec(), new MsgPackCodec()]) {
    for (const b of BOUNDARIES) {
      const decoded = codec.decode(codec.encode(b));
      const safe = b >= -(2n ** 53n) + 1n && b <= 2n ** 53n - 1n;
      assert.equal(typeof decoded, safe ? "number" : "bigint", `${b}`);
      assert.equal(BigInt(decoded as number | bigint), b);
    }
  }
  // Past 64 bits: a CodecError in MsgPack, digits in JSON.
  for (const b of [2n ** 64n, -(2n ** 63n) - 1n, 2n ** 200n]) {
    assert.throws(() => new MsgPackCodec().encode([b]), /64 bits.*\(at \$\[0\]\)$/);
    assert.equal(new JsonCodec().decode(new JsonCodec().encode(b)), b);
  }
});

/** A value at a random place of a random container; returns it and the place. */
function plant(rng: Rng, bad: unknown): [unknown, string] {
  let value: unknown = bad;
  let place = "";
  for (let depth = int(rng, 4); depth > 0; depth--) {
    if (rng() < 0.5) {
      const index = int(rng, 3);
      const array: unknown[] = Array.from({ length: index }, () => 1);
      array.push(value, "after");
      value = array;
      place = `[${index}]${place}`;
    } else {
      const key = pick(rng, ["a", "when", "x1", "$ok"]);
      value = { before: 1, [key]: value };
      place = `.${key}${place}`;
    }
  }
  return [value, `$${place}`];
}

Deno.test("codecs: what cannot be carried is a CodecError naming its place", () => {
  class Opaque {}
  const rng = mulberry32(SEED);
  const bads: [string, () => unknown, boolean][] = [
    ["function", () => () => 1, true],
    ["symbol", () => Symbol("s"), true],
    ["invalid Date", () => new Date(NaN), true],
    ["instance", () => new Opaque(), true],
    ["__type__ key", () => ({ __type__: [0, 1] }), true],
    [
      "bigint past 64 bits",
      () => 2n ** BigInt(64 + int(rng, 100)) * (rng() < 0.5 ? 1n : -1n),
      false,
    ],
  ];
  for (const codec of [new JsonCodec(), new MsgPackCodec()]) {
    const binary = codec instanceof MsgPackCodec;
    for (let i = 0; i < 300; i++) {
      const [name, make, everywhere] = pick(rng, bads);
      if (!everywhere && !binary) continue;
      const [value, place] = plant(rng, make());
      const suffix = name === "__type__ key" ? `${place}.__type__` : place;
      assert.throws(
        () => codec.encode(value),
        (error: unknown) => error instanceof CodecError && error.message.endsWith(`(at ${suffix})`),
        `${codec.constructor.name} ${name} at ${suffix}`,
      );
    }
    assert.throws(() => codec.encode(undefined), CodecError);
  }
});

/** Mutate a JSON text by a few random edits. */
function mutate(rng: Rng, text: string): string {
  const pieces = [
    "0",
    "00",
    "-",
    ".",
    "e",
    "E+",
    "1",
    "9".repeat(17),
    "NaN",
    "Infinity",
    '"',
    "\\",
    ",",
    ":",
    "[",
    "]",
    "{",
    "}",
    " ",
    "\t",
    "\u0001",
    "null",
    "tru",
  ];
  let out = text;
  for (let edits = 1 + int(rng, 3); edits > 0; edits--) {
    const at = int(rng, out.length + 1);
    const kind = int(rng, 3);
    if (kind === 0) out = out.slice(0, at) + pick(rng, pieces) + out.slice(at);
    else if (kind === 1) out = out.slice(0, at) + out.slice(at + 1 + int(rng, 3));
    else out = out.slice(0, at) + pick(rng, pieces) + out.slice(at + 1);
  }
  return out;
}

/** JSON.parse's reading of a value we decoded: bigints as the double JSON.parse rounds to. */
function asParsed(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(asParsed);
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, { value: asParsed(v), enumerable: true, writable: true });
    }
    return out;
  }
  return value;
}

Deno.test("json: mutated texts decode as JSON.parse reads them, or are refused", () => {
  const rng = mulberry32(SEED);
  const codec = new JsonCodec();
  const encoder = new TextEncoder();
  let accepted = 0;
  for (let i = 0; i < 4000; i++) {
    const base = JSON.stringify(randomValue(rng, false), (_k, v) => {
      if (typeof v === "bigint") return Number(v);
      return typeof v === "number" && !Number.isFinite(v) ? 0 : v;
    }) ?? "null";
    // (Through UTF-8 and back: a cut surrogate pair becomes U+FFFD, as on the wire.)
    const text = new TextDecoder().decode(encoder.encode(mutate(rng, base)));
    let parsed: unknown;
    let valid = true;
    try {
      parsed = JSON.parse(text);
    } catch {
      valid = false;
    }
    let ours: unknown;
    try {
      ours = codec.decode(encoder.encode(text));
    } catch (error) {
      assert.ok(error instanceof CodecError, `seed ${SEED} #${i}: ${error} for ${text}`);
      assert.ok(!valid || text.includes("__type__"), `seed ${SEED} #${i}: ${error} for ${text}`);
      assert.doesNotMatch(String(error), /aiomas-\d/);
      continue;
    }
    accepted++;
    if (valid) {
      assert.deepStrictEqual(asParsed(ours), parsed, `seed ${SEED} #${i}: ${text}`);
    } else {
      // Only Python's extra tokens make invalid JSON acceptable.
      assert.match(text, /NaN|Infinity/, `seed ${SEED} #${i}: accepted ${text}`);
      assert.equal(
        JSON.stringify(asParsed(ours), (_k, v) => Number.isFinite(v) ? v : 0) !== undefined,
        true,
      );
    }
  }
  assert.ok(accepted > 500, `${accepted} accepted`);
});

Deno.test("rpc: a Date over plain JSON RPC arrives as its ISO string (issue 19.1)", async () => {
  class Service {
    @expose
    echo(value: unknown): unknown {
      return value;
    }
  }
  const server = await startServer({ hostname: "127.0.0.1", port: 0 }, new Service());
  const client = await openConnection<Service>(server.addr);
  try {
    assert.equal(await client.remote.echo(new Date(0)), "1970-01-01T00:00:00.000Z");
    assert.deepEqual(await client.remote.echo({ at: [new Date(1)] }), {
      at: ["1970-01-01T00:00:00.001Z"],
    });
  } finally {
    await client.close();
    await server.close();
  }
});
