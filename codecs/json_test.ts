import assert from "node:assert/strict";
import { CodecError, JsonCodec } from "@aiomas/aiomas/codecs";

const text = new TextEncoder();

Deno.test("json: decodes Python's formatting, NaN/Infinity and big integers", () => {
  const codec = new JsonCodec();
  const value = codec.decode(
    text.encode('[1, 0, {"a": NaN, "b": -Infinity, "c": 9223372036854775807, "d": 1e+16}]'),
  ) as [number, number, Record<string, unknown>];
  assert.ok(Number.isNaN(value[2].a));
  assert.equal(value[2].b, -Infinity);
  assert.equal(value[2].c, 9223372036854775807n);
  assert.equal(value[2].d, 1e16);
  assert.deepEqual(codec.decode(text.encode('"\\u00e9\\ud83d\\ude00"')), "é😀");
  // Digits inside strings are left alone.
  assert.equal(codec.decode(text.encode('"12345678901234567890 NaN"')), "12345678901234567890 NaN");
});

Deno.test("json: encodes compact JSON; custom types as __type__ tags in registration order", () => {
  class Point {
    constructor(public x: number, public y: number) {}
  }
  const codec = new JsonCodec();
  codec.addSerializer(Date, (d) => d.toISOString(), (s: string) => new Date(s));
  codec.addSerializer(Point, (p) => [p.x, p.y], ([x, y]: [number, number]) => new Point(x, y));
  const bytes = codec.encode([new Point(3, 4), { at: new Date(0) }]);
  assert.equal(
    new TextDecoder().decode(bytes),
    '[{"__type__":[1,[3,4]]},{"at":{"__type__":[0,"1970-01-01T00:00:00.000Z"]}}]',
  );
  const [point, { at }] = codec.decode(bytes) as [Point, { at: Date }];
  assert.ok(point instanceof Point && point.x === 3);
  assert.ok(at instanceof Date && at.getTime() === 0);
});

Deno.test("json: bad input is a CodecError; __proto__ keys stay data", () => {
  const codec = new JsonCodec();
  for (const bad of ["[1,", "{'a': 1}", "\xff", '{"__type__": [5, 1]}']) {
    assert.throws(() => codec.decode(text.encode(bad)), CodecError, bad);
  }
  assert.throws(() => codec.decode(new Uint8Array([0xff, 0xfe])), CodecError);
  const json = '{"__proto__": {"polluted": 1}}';
  const value = codec.decode(text.encode(json)) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const tagged = new JsonCodec();
  tagged.addSerializer(Date, (d) => d.toISOString(), (s: string) => new Date(s));
  const withTag = tagged.decode(
    text.encode('{"__proto__": {"__type__": [0, "2016-01-01T00:00:00Z"]}}'),
  ) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(withTag), Object.prototype);
  assert.ok(Object.getOwnPropertyDescriptor(withTag, "__proto__")?.value instanceof Date);
});

Deno.test("json: refuses values it cannot carry", () => {
  const codec = new JsonCodec();
  assert.throws(() => codec.encode({ f: () => 1 }), CodecError);
  assert.equal(
    new TextDecoder().decode(codec.encode([10n ** 20n, -0, NaN])),
    "[100000000000000000000,-0.0,NaN]",
  );
  assert.throws(() => codec.encode(new (class Opaque {})()), /register a serializer/);
  const cycle: unknown[] = [];
  cycle.push(cycle);
  assert.throws(() => codec.encode(cycle), CodecError);
});

Deno.test("extraSerializers take @serializable classes and refuse other classes", async () => {
  const { createCodec, serializable } = await import("@aiomas/aiomas/codecs");
  @serializable
  class Point {
    constructor(public x = 0, public y = 0) {}
  }
  class Plain {}
  const codec = createCodec(JsonCodec, [Point]);
  const copy = codec.decode(codec.encode(new Point(1, 2))) as Point;
  assert.ok(copy instanceof Point && copy.y === 2);
  assert.throws(
    () => createCodec(JsonCodec, [Plain]),
    /Plain in extraSerializers is not @serializable/,
  );
});

Deno.test("json: hostile nesting and marker-like strings", () => {
  const codec = new JsonCodec();
  codec.addSerializer(Date, (d) => d.toISOString(), (s: string) => new Date(s));
  for (const inner of ['"__type__"', "NaN", "12345678901234567890"]) {
    const deep = "[".repeat(100_000) + inner + "]".repeat(100_000);
    assert.throws(() => codec.decode(text.encode(deep)), CodecError, inner);
  }
  // Strings that look like the codec's internal markers stay strings, both ways.
  const tricky = ["\u0000aiomas:7", "aiomas-1-2:NaN", NaN, 2n ** 70n];
  const copy = codec.decode(codec.encode(tricky)) as unknown[];
  assert.deepEqual(copy.slice(0, 2), tricky.slice(0, 2));
  assert.ok(Number.isNaN(copy[2]));
  assert.equal(copy[3], 2n ** 70n);
  const fromPeer = codec.decode(text.encode('["\\u0000aiomas:5.0", 12345678901234567890, "x"]'));
  assert.deepEqual(fromPeer, ["\u0000aiomas:5.0", 12345678901234567890n, "x"]);
});

Deno.test("json: a serializer that fails on bad data is a CodecError; encode is reentrant", async () => {
  const { createCodec, serializable } = await import("@aiomas/aiomas/codecs");
  @serializable
  class Point {
    constructor(public x = 0) {}
  }
  const codec = createCodec(JsonCodec, [Point]);
  for (const data of ["null", "[1]", '"text"']) {
    assert.throws(() => codec.decode(text.encode(`{"__type__": [0, ${data}]}`)), CodecError, data);
  }
  // A serializer may call encode on the same codec, even while big numbers are replaced.
  class Wrapper {
    constructor(readonly inner: unknown) {}
  }
  codec.addSerializer(
    Wrapper,
    (w) => new TextDecoder().decode(codec.encode(w.inner)),
    (s: string) => new Wrapper(codec.decode(text.encode(s))),
  );
  const copy = codec.decode(codec.encode([2n ** 64n, new Wrapper([NaN])])) as [bigint, Wrapper];
  assert.equal(copy[0], 2n ** 64n);
  assert.ok(Number.isNaN((copy[1].inner as number[])[0]));
});

Deno.test("json decodeAt: decodes a range as decode decodes its view", () => {
  const codec = new JsonCodec();
  const text = new TextEncoder();
  const cases = [
    '[0,12,["echo",[1.5],{}]]',
    '"12345678901234567890"',
    "[12345678901234567890, NaN]",
    '{"é": "ü"}',
    `[${"1,".repeat(100)}2]`,
  ];
  for (const json of cases) {
    const bytes = text.encode(`xx${json}y`);
    assert.deepEqual(codec.decodeAt(bytes, 2, bytes.length - 1), codec.decode(text.encode(json)));
  }
  for (const bad of ["[1,", "\u00ff", "[Infinit]"]) {
    const bytes = text.encode(`x${bad}x`);
    assert.throws(() => codec.decodeAt(bytes, 1, bytes.length - 1), CodecError);
  }
  // A subclass that overrides decode gets its decode of the view.
  class Tagged extends JsonCodec {
    override decode(data: Uint8Array): unknown {
      return ["tagged", super.decode(data)];
    }
  }
  const bytes = text.encode("x[1]x");
  assert.deepEqual(new Tagged().decodeAt(bytes, 1, 4), ["tagged", [1]]);
});

Deno.test("json encodeInto: the bytes of encode, -1 when they may not fit", () => {
  const codec = new JsonCodec();
  const values = [[0, 1, ["echo", [42], {}]], { a: [1.5, -0, NaN, 2n ** 70n] }, "é😀".repeat(10)];
  for (const value of values) {
    const expected = codec.encode(value);
    const target = new Uint8Array(5 + 3 * expected.length).fill(0xee);
    const end = codec.encodeInto(value, target, 5);
    assert.equal(end, 5 + expected.length);
    assert.deepEqual(target.subarray(5, end), expected);
    assert.deepEqual([...target.subarray(0, 5)], [0xee, 0xee, 0xee, 0xee, 0xee]);
    assert.equal(codec.encodeInto(value, new Uint8Array(5 + expected.length - 1), 5), -1);
  }
  assert.throws(() => codec.encodeInto([() => 1], new Uint8Array(64), 0), CodecError);
});
