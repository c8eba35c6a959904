import assert from "node:assert/strict";
import { CodecError } from "../errors.ts";
import { bloscCompress } from "./blosc.ts";
import { MsgPackCodec } from "./msgpack.ts";
import { MsgPackBloscCodec } from "./msgpack_blosc.ts";
import { convert, loadVectors, toHex } from "../tests/vectors.ts";

const file = await loadVectors("msgpack_blosc");

/**
 * A codec with one stand-in serializer per `__type__` id of the vector's
 * context, each giving back the tag it decoded, so that decoded values
 * compare equal to the vector's `decoded` maps.
 */
function codecFor(context: string): MsgPackBloscCodec {
  const codec = new MsgPackBloscCodec();
  const count = file.contexts[context]!.serializers.length;
  for (let id = 0; id < count; id++) {
    class StandIn {}
    codec.addSerializer(StandIn, () => null, (data: unknown) => ({ __type__: [id, data] }));
  }
  return codec;
}

/**
 * `value` with every plain `{"__type__": ...}` object turned into a `Map`:
 * codecs refuse a plain object with that key, and write a `Map` as it is.
 */
function rawTags(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rawTags);
  if (typeof value !== "object" || value === null || value.constructor !== Object) return value;
  const entries = Object.entries(value).map(([k, v]) => [k, rawTags(v)] as const);
  return "__type__" in value ? new Map(entries) : Object.fromEntries(entries);
}

Deno.test("every MsgPackBlosc vector decodes to its value", () => {
  assert.equal(file.vectors.length, 74);
  for (const v of file.vectors) {
    assert.deepStrictEqual(codecFor(v.context).decode(v.payload), convert(v.raw), v.name);
  }
});

Deno.test("encode_exact vectors encode to exactly Python's bytes", () => {
  let count = 0;
  for (const v of file.vectors) {
    if (!v.encodeExact) continue;
    const codec = new MsgPackBloscCodec();
    // Tags are raw maps here, so no serializers are needed to encode them.
    const bytes = codec.encode(rawTags(convert(v.raw)));
    assert.equal(toHex(bytes), toHex(v.payload), v.name);
    count++;
  }
  assert.ok(count >= 60, `${count} exact vectors`);
});

Deno.test("every vector's value round-trips, and compressed ones are no larger than Python's", () => {
  for (const v of file.vectors) {
    const codec = codecFor(v.context);
    const value = convert(v.raw);
    const bytes = codec.encode(rawTags(value));
    assert.deepStrictEqual(codec.decode(bytes), value, v.name);
    assert.ok(bytes.length <= v.payload.length, v.name);
  }
});

Deno.test("large redundant messages round-trip compressed", () => {
  const codec = new MsgPackBloscCodec();
  // [message, minimum ratio]; c-blosc 1.21.3 gets 2.5x on the second one too.
  const messages: [unknown, number][] = [
    [[0, 1, ["len", "spam".repeat(300_000)]], 100],
    [[
      1,
      2,
      Array.from({ length: 50_000 }, (_, i) => ({ t: i, v: (i % 17) * 0.5, ok: i % 3 === 0 })),
    ], 2],
    [[0, 3, {
      blob: new Uint8Array(2_000_000).map((_, i) => (i >> 12) & 255),
      name: "x".repeat(1000),
    }], 50],
    [[0, 4, Array.from({ length: 100_000 }, (_, i) => 2 ** 40 + (i % 256))], 10],
  ];
  for (const [message, ratio] of messages) {
    const bytes = codec.encode(message);
    const plain = new MsgPackCodec().encode(message);
    assert.ok(bytes.length * ratio < plain.length, `${bytes.length} vs ${plain.length}`);
    assert.deepStrictEqual(codec.decode(bytes), message);
  }
});

Deno.test("a MsgPack series of 20,000 small ints shrinks at least 4x", () => {
  const codec = new MsgPackBloscCodec();
  const series = Array.from({ length: 20_000 }, (_, i) => i % 100);
  const plain = new MsgPackCodec().encode(series);
  const bytes = codec.encode(series);
  const ratio = plain.length / bytes.length;
  assert.ok(ratio >= 4, `ratio ${ratio.toFixed(1)}`);
  assert.deepStrictEqual(codec.decode(bytes), series);
});

Deno.test("custom types and the codec's options", () => {
  class Point {
    constructor(public x: number, public y: number) {}
  }
  const codec = new MsgPackBloscCodec();
  codec.addSerializer(Point, (p) => [p.x, p.y], ([x, y]: [number, number]) => new Point(x, y));
  const points = Array.from({ length: 1000 }, (_, i) => new Point(i % 10, 2));
  const copy = codec.decode(codec.encode([0, 0, points])) as [number, number, Point[]];
  assert.ok(copy[2][999] instanceof Point);
  assert.deepStrictEqual(copy[2], points);
  // maxSize is checked before anything is allocated.
  const small = new MsgPackBloscCodec({ maxSize: 1000 });
  assert.throws(
    () => small.decode(codec.encode("spam".repeat(1000))),
    (err: unknown) => err instanceof CodecError && /more than maxSize \(1000\)/.test(err.message),
  );
});

Deno.test("malformed frames raise a CodecError", () => {
  const codec = new MsgPackBloscCodec();
  const good = codec.encode([0, 0, ["len", "spam".repeat(500)]]);
  const cases: Uint8Array[] = [
    new Uint8Array(0),
    good.subarray(0, 15),
    good.subarray(0, good.length - 1),
    new Uint8Array([...good.subarray(0, 16), 0, 0, 0, 0]),
    // Valid Blosc holding invalid MsgPack (a lone str8 header).
    bloscCompress(new Uint8Array([0xd9])),
    // Valid Blosc holding MsgPack with trailing bytes.
    bloscCompress(new Uint8Array([0xc0, 0xc0])),
  ];
  const corrupt = good.slice();
  corrupt[30]! ^= 0xff;
  cases.push(corrupt);
  for (const [i, bytes] of cases.entries()) {
    assert.throws(() => codec.decode(bytes), (err: unknown) => {
      assert.ok(err instanceof CodecError, `case ${i}: ${err}`);
      return true;
    });
  }
});
