import assert from "node:assert/strict";
import { CodecError } from "../errors.ts";
import { Ext, MsgPackCodec, Timestamp } from "./msgpack.ts";
import { ndarraySerializer } from "./ndarray.ts";
import { createCodec, MAX_DEPTH } from "./serializers.ts";
import { mulberry32 } from "../tests/prng.ts";
import { convert, fromHex, loadVectors, toHex } from "../tests/vectors.ts";

function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Encode `value`, check the bytes, decode them and check the result. */
function roundTrip(value: unknown, expectedHex: string, decoded: unknown = value): void {
  const codec = new MsgPackCodec();
  const bytes = codec.encode(value);
  assert.equal(toHex(bytes), expectedHex.replace(/\s+/g, ""), `encoding ${String(value)}`);
  assert.deepStrictEqual(codec.decode(bytes), decoded);
}

function assertCodecError(fn: () => unknown, pattern: RegExp = /offset \d+/): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CodecError, `expected a CodecError, got ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("msgpack: nil, booleans", () => {
  roundTrip(null, "c0");
  roundTrip(true, "c3");
  roundTrip(false, "c2");
  // undefined as the whole value has no form (in an array it is nil).
  assertCodecError(() => new MsgPackCodec().encode(undefined), /undefined.*\(at \$\)$/);
});

Deno.test("msgpack: integer size boundaries", () => {
  const cases: [number, string][] = [
    [0, "00"],
    [1, "01"],
    [127, "7f"],
    [128, "cc80"],
    [255, "ccff"],
    [256, "cd0100"],
    [65535, "cdffff"],
    [65536, "ce00010000"],
    [2 ** 32 - 1, "ceffffffff"],
    [2 ** 32, "cf0000000100000000"],
    [2 ** 40, "cf0000010000000000"],
    [Number.MAX_SAFE_INTEGER, "cf001fffffffffffff"],
    [-1, "ff"],
    [-32, "e0"],
    [-33, "d0df"],
    [-128, "d080"],
    [-129, "d1ff7f"],
    [-32768, "d18000"],
    [-32769, "d2ffff7fff"],
    [-(2 ** 31), "d280000000"],
    [-(2 ** 31) - 1, "d3ffffffff7fffffff"],
    [-(2 ** 40), "d3ffffff0000000000"],
    [-Number.MAX_SAFE_INTEGER, "d3ffe0000000000001"],
  ];
  for (const [value, bytes] of cases) roundTrip(value, bytes);
});

Deno.test("msgpack: integers beyond 2^53 decode as bigint", () => {
  // A number beyond the safe integers is a float, as any non-safe-integer number.
  roundTrip(2 ** 53, "cb4340000000000000");
  roundTrip(-(2 ** 53), "cbc340000000000000");
  roundTrip(2 ** 64, "cb43f0000000000000");
  roundTrip(2n ** 53n + 1n, "cf0020000000000001");
  roundTrip(2n ** 63n, "cf8000000000000000");
  roundTrip(-(2n ** 63n), "d38000000000000000");
  roundTrip(2n ** 64n - 1n, "cfffffffffffffffff");
  roundTrip(2n ** 63n - 1n, "cf7fffffffffffffff");
  // Small bigints use the smallest form and come back as numbers.
  roundTrip(5n, "05", 5);
  roundTrip(-200n, "d1ff38", -200);
  roundTrip(2n ** 32n, "cf0000000100000000", 2 ** 32);
  const codec = new MsgPackCodec();
  assertCodecError(() => codec.encode([1, { n: 2n ** 64n }]), /64 bits.*\(at \$\[1\]\.n\)$/);
  assertCodecError(() => codec.encode(-(2n ** 63n) - 1n), /64 bits/);
  // Wide forms carrying small values decode as numbers.
  assert.equal(codec.decode(fromHex("cf0000000000000005")), 5);
  assert.equal(codec.decode(fromHex("d3ffffffffffffffff")), -1);
  assert.equal(codec.decode(fromHex("d0ff")), -1);
  assert.equal(codec.decode(fromHex("d1ffff")), -1);
  assert.equal(codec.decode(fromHex("d2ffffffff")), -1);
  assert.equal(codec.decode(fromHex("cd0005")), 5);
});

Deno.test("msgpack: floats are float64; float32 decodes", () => {
  roundTrip(1.5, "cb3ff8000000000000");
  roundTrip(-0, "cb8000000000000000");
  roundTrip(0.1, "cb3fb999999999999a");
  roundTrip(Infinity, "cb7ff0000000000000");
  roundTrip(-Infinity, "cbfff0000000000000");
  roundTrip(NaN, "cb7ff8000000000000");
  roundTrip(2 ** 64, "cb43f0000000000000");
  roundTrip(1e21, "cb444b1ae4d6e2ef50");
  const codec = new MsgPackCodec();
  assert.equal(codec.decode(fromHex("ca3fc00000")), 1.5);
  assert.equal(codec.decode(fromHex("cac0200000")), -2.5);
  assert.ok(Number.isNaN(codec.decode(fromHex("ca7fc00000"))));
});

Deno.test("msgpack: string size classes", () => {
  const codec = new MsgPackCodec();
  const cases: [number, string][] = [
    [0, "a0"],
    [31, "bf"],
    [32, "d920"],
    [255, "d9ff"],
    [256, "da0100"],
    [65535, "daffff"],
    [65536, "db00010000"],
  ];
  for (const [n, head] of cases) {
    const text = "x".repeat(n);
    const bytes = codec.encode(text);
    assert.equal(toHex(bytes.subarray(0, head.length / 2)), head, `string of ${n} bytes`);
    assert.equal(bytes.length, head.length / 2 + n);
    assert.equal(codec.decode(bytes), text);
  }
});

Deno.test("msgpack: non-ASCII strings pick the header from the byte length", () => {
  const codec = new MsgPackCodec();
  const cases: [string, string][] = [
    ["é".repeat(15), "be"], // 30 bytes
    ["é".repeat(16), "d920"], // 16 chars, 32 bytes: fixstr guess moved to str8
    ["€".repeat(21), "d93f"], // 63 bytes
    ["€".repeat(63), "d9bd"], // short path, 189 bytes
    ["€".repeat(100), "da012c"], // long path, 300 bytes: str8 guess moved to str16
    ["€".repeat(30000), "db00015f90"], // 90000 bytes: str16 guess moved to str32
    ["😀".repeat(7), "bc"], // surrogate pairs, 28 bytes
    ["a😀b€c\u0000\u007f\u0080\u07ff\u0800\uffff", "b6"],
  ];
  for (const [text, head] of cases) {
    const bytes = codec.encode(text);
    const expected = new TextEncoder().encode(text);
    assert.ok(toHex(bytes).startsWith(head), head);
    assert.equal(toHex(bytes.subarray(bytes.length - expected.length)), toHex(expected));
    assert.equal(codec.decode(bytes), text);
  }
  // Lone surrogates become U+FFFD, as TextEncoder does.
  assert.equal(toHex(codec.encode("a\ud800")), "a461efbfbd");
  assert.equal(toHex(codec.encode("\udc00".repeat(70))).slice(0, 6), "d9d2ef");
});

Deno.test("msgpack: array and map size classes", () => {
  const codec = new MsgPackCodec();
  const cases: [number, string, string][] = [
    [0, "90", "80"],
    [15, "9f", "8f"],
    [16, "dc0010", "de0010"],
    [65535, "dcffff", "deffff"],
    [65536, "dd00010000", "df00010000"],
  ];
  for (const [n, arrayHead, mapHead] of cases) {
    const array = Array.from({ length: n }, (_, i) => i % 100);
    const bytes = codec.encode(array);
    assert.equal(toHex(bytes.subarray(0, arrayHead.length / 2)), arrayHead);
    assert.deepStrictEqual(codec.decode(bytes), array);
    const map: Record<string, number> = {};
    for (let i = 0; i < n; i++) map[`k${i}`] = i % 100;
    const mapBytes = codec.encode(map);
    assert.equal(toHex(mapBytes.subarray(0, mapHead.length / 2)), mapHead);
    assert.deepStrictEqual(codec.decode(mapBytes), map);
  }
});

Deno.test("msgpack: bin size classes; decoded bytes are copies", () => {
  const codec = new MsgPackCodec();
  const cases: [number, string][] = [
    [0, "c400"],
    [3, "c403"],
    [255, "c4ff"],
    [256, "c50100"],
    [65535, "c5ffff"],
    [65536, "c600010000"],
  ];
  for (const [n, head] of cases) {
    const data = new Uint8Array(n).map((_, i) => i * 7);
    const bytes = codec.encode(data);
    assert.equal(toHex(bytes.subarray(0, head.length / 2)), head);
    assert.equal(bytes.length, head.length / 2 + n);
    assert.deepStrictEqual(codec.decode(bytes), data);
  }
  const input = fromHex("c403010203");
  const decoded = codec.decode(input) as Uint8Array;
  input[2] = 99;
  assert.deepStrictEqual(decoded, new Uint8Array([1, 2, 3]));
  assert.equal(decoded.byteOffset, 0);
  // With copyBinary: false, views into the input.
  const views = new MsgPackCodec({ copyBinary: false });
  const view = views.decode(input) as Uint8Array;
  assert.equal(view.buffer, input.buffer);
  assert.deepStrictEqual(view, new Uint8Array([99, 2, 3]));
});

Deno.test("msgpack: ext types; unknown ones decode to Ext and encode back", () => {
  const cases: [number, string][] = [
    [1, "d4"],
    [2, "d5"],
    [4, "d6"],
    [8, "d7"],
    [16, "d8"],
    [0, "c700"],
    [3, "c703"],
    [255, "c7ff"],
    [256, "c80100"],
    [65536, "c900010000"],
  ];
  const codec = new MsgPackCodec();
  for (const [n, head] of cases) {
    const ext = new Ext(5, new Uint8Array(n).fill(0xab));
    const bytes = codec.encode(ext);
    assert.equal(toHex(bytes.subarray(0, head.length / 2 + 1)), head + "05");
    assert.deepStrictEqual(codec.decode(bytes), ext);
  }
  roundTrip(new Ext(-128, new Uint8Array([1])), "d48001");
  assertCodecError(() => codec.encode(new Ext(128, new Uint8Array(1))), /-128\.\.127/);
});

Deno.test("msgpack: timestamps, all three sizes, both ways", () => {
  // timestamp 32: whole seconds in 0..2^32-1
  roundTrip(new Date(0), "d6ff00000000");
  roundTrip(new Date(1700000000000), "d6ff6553f100");
  roundTrip(new Date((2 ** 32 - 1) * 1000), "d6ffffffffff");
  // timestamp 64: nanoseconds or seconds up to 2^34-1
  roundTrip(new Date(1500), "d7ff7735940000000001");
  roundTrip(new Date(2 ** 32 * 1000), "d7ff0000000100000000");
  roundTrip(new Date((2 ** 34 - 1) * 1000 + 1), "d7ff003d0903ffffffff");
  // timestamp 96: before 1970 or from 2^34 seconds on
  roundTrip(new Date(-1), "c70cff3b8b87c0ffffffffffffffff");
  roundTrip(new Date(-1000), "c70cff00000000ffffffffffffffff");
  roundTrip(new Date(-86400000 * 365.25 * 100), "c70cff00000000ffffffff43e6ec80");
  roundTrip(new Date(2 ** 34 * 1000), "c70cff000000000000000400000000");
  const codec = new MsgPackCodec();
  // Nanoseconds below a millisecond are cut off.
  // 0x005b8d80 >> 2 = 1500000 ns: 1.5 ms
  assert.deepStrictEqual(codec.decode(fromHex("d7ff005b8d8000000001")), new Date(1001));
  assert.deepStrictEqual(codec.decode(fromHex("d7ff0000000400000001")), new Date(1000)); // 1 ns
  assert.deepStrictEqual(codec.decode(fromHex("c70cff1dcd6500fffffffffffffffe")), new Date(-1500));
  // Malformed timestamps.
  assertCodecError(() => codec.decode(fromHex("d5ff0000")), /timestamp at offset 0/);
  assertCodecError(() => codec.decode(fromHex("c70cff3b9aca00000000000000000000")), /nanoseconds/);
  // Beyond Date's range: an exact Timestamp that encodes back to the same bytes.
  for (const hex of ["c70cff000000007fffffffffffffff", "c70cff3b9ac9ff8000000000000000"]) {
    const far = codec.decode(fromHex(hex));
    assert.ok(far instanceof Timestamp);
    assert.equal(toHex(codec.encode(far)), hex);
  }
  assert.deepStrictEqual(
    codec.decode(fromHex("c70cff3b9ac9ff8000000000000000")),
    new Timestamp(-(2n ** 63n), 999999999),
  );
  // The last second Date holds, with nanoseconds that would cross its end.
  assert.ok(
    codec.decode(codec.encode(new Timestamp(8640000000000n, 999000000))) instanceof Timestamp,
  );
  assert.deepStrictEqual(
    codec.decode(codec.encode(new Timestamp(8640000000000n))),
    new Date(8.64e15),
  );
  assertCodecError(() => codec.encode({ when: new Date(NaN) }), /invalid Date.*\(at \$\.when\)$/);
});

Deno.test("msgpack: maps decode to plain objects; __proto__ is ordinary data", () => {
  const codec = new MsgPackCodec();
  const proto = new TextEncoder().encode("__proto__");
  const bytes = concat([0x82, 0xa9], proto, [0x81, 0xa1, 0x78, 0x01, 0xa1, 0x79, 0x02]);
  const value = codec.decode(bytes) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
  assert.ok(Object.hasOwn(value, "__proto__"));
  assert.deepStrictEqual(Object.getOwnPropertyDescriptor(value, "__proto__")?.value, { x: 1 });
  assert.equal((value as { x?: unknown }).x, undefined);
  assert.deepStrictEqual(Object.keys(value), ["__proto__", "y"]);
  // And it encodes back the same.
  assert.equal(toHex(codec.encode(value)), toHex(bytes));
  const parsed = JSON.parse('{"__proto__": [1]}');
  assert.deepStrictEqual(codec.decode(codec.encode(parsed)), parsed);
  // Null-prototype objects encode as maps too.
  const bare = Object.assign(Object.create(null), { a: 1 });
  assert.equal(toHex(codec.encode(bare)), "81a16101");
});

Deno.test("msgpack: Map instances; maps with non-string keys decode to Map", () => {
  roundTrip(new Map<unknown, unknown>([[1, "a"], ["b", 2]]), "8201a161a16202");
  roundTrip(new Map([["a", 1]]), "81a16101", { a: 1 });
  const codec = new MsgPackCodec();
  // String keys first, then a non-string key: everything lands in one Map.
  const mixed = codec.decode(fromHex("84a16101a1620202c3c0c2")) as Map<unknown, unknown>;
  assert.ok(mixed instanceof Map);
  assert.deepStrictEqual([...mixed], [["a", 1], ["b", 2], [2, true], [null, false]]);
  const nested = new Map<unknown, unknown>([[[1, 2], new Map([[true, null]])]]);
  assert.deepStrictEqual(codec.decode(codec.encode(nested)), nested);
});

Deno.test("msgpack: undefined is nil in arrays and omitted from object fields", () => {
  roundTrip([undefined, 1], "92c001", [null, 1]);
  roundTrip({ a: undefined, b: 1 }, "81a16201", { b: 1 });
  roundTrip(new Map([["a", undefined]]), "81a161c0", { a: null });
  // 16 fields, one undefined: the map16 header shrinks to a fixmap.
  const wide: Record<string, unknown> = {};
  for (let i = 0; i < 16; i++) wide[`k${i}`] = i === 7 ? undefined : i;
  const codec = new MsgPackCodec();
  const bytes = codec.encode([wide, "after"]);
  assert.equal(toHex(bytes.subarray(0, 2)), "928f");
  const expected = { ...wide };
  delete expected.k7;
  assert.deepStrictEqual(codec.decode(bytes), [expected, "after"]);
});

Deno.test("msgpack: functions, symbols and unknown classes are refused", () => {
  const codec = new MsgPackCodec();
  assertCodecError(() => codec.encode(() => 1), /function/);
  assertCodecError(() => codec.encode([Symbol("x")]), /symbol/);
  class Unknown {}
  assertCodecError(() => codec.encode({ u: new Unknown() }), /Unknown: register a serializer/);
  assertCodecError(() => codec.encode(new Float64Array(2)), /register a serializer/);
  // The codec still works after a failed encode.
  assert.equal(toHex(codec.encode([1, "a"])), "9201a161");
});

Deno.test("msgpack: custom types as __type__ maps in registration order", () => {
  class A {
    constructor(readonly v: number) {}
  }
  class B {
    constructor(readonly s: string) {}
  }
  const codec = new MsgPackCodec();
  codec.addSerializer(A, (a) => a.v, (v: number) => new A(v));
  codec.addSerializer(B, (b) => b.s, (s: string) => new B(s));
  const bytes = codec.encode([new B("x"), new A(3)]);
  assert.equal(
    toHex(bytes),
    "92" + "81a85f5f747970655f5f" + "9201a178" + "81a85f5f747970655f5f" + "920003",
  );
  const decoded = codec.decode(bytes) as [B, A];
  assert.ok(decoded[0] instanceof B && decoded[1] instanceof A);
  assert.deepStrictEqual(decoded, [new B("x"), new A(3)]);
  // A peer without the serializers: unknown typeid.
  const plain = new MsgPackCodec();
  assertCodecError(() => plain.decode(bytes), /offset 1: Unknown __type__ id 1/);
  assertCodecError(() => plain.decode(fromHex("81a85f5f747970655f5fc0")), /Malformed/);
});

Deno.test("msgpack: Date uses the registry when a Date serializer is registered", () => {
  const codec = new MsgPackCodec();
  codec.addSerializer(Date, (d) => d.toISOString(), (s: string) => new Date(s));
  codec.addSerializer(Object, () => "ref", (s) => ({ ref: s }));
  const date = new Date(Date.UTC(2016, 0, 1));
  const bytes = codec.encode(date);
  assert.equal(toHex(bytes.subarray(0, 12)), "81a85f5f747970655f5f9200");
  assert.deepStrictEqual(codec.decode(bytes), date);
  // Without one, even with an Object fallback, a Date is a timestamp.
  const other = new MsgPackCodec();
  other.addSerializer(Object, () => "ref", (s) => ({ ref: s }));
  assert.equal(toHex(other.encode(new Date(0))), "d6ff00000000");
  assert.equal(toHex(other.encode(new Map())), "80");
  class Service {}
  assert.equal(toHex(other.encode(new Service())), "81a85f5f747970655f5f9200a3726566");
});

Deno.test("msgpack: a serializer may call encode and decode itself", () => {
  class Boxed {
    constructor(readonly inner: unknown) {}
  }
  const codec: MsgPackCodec = new MsgPackCodec();
  codec.addSerializer(
    Boxed,
    (b) => codec.encode(b.inner),
    (bytes: Uint8Array) => new Boxed(codec.decode(bytes)),
  );
  const value = [1, new Boxed({ a: [1, 2] }), "x".repeat(100000), new Boxed("y")];
  const decoded = codec.decode(codec.encode(value));
  assert.deepStrictEqual(decoded, value);
});

Deno.test("msgpack: encoded messages are never overwritten", () => {
  const codec = new MsgPackCodec();
  const kept: [Uint8Array, string, unknown][] = [];
  for (let i = 0; i < 3000; i++) {
    const value = i % 500 === 0
      ? { big: new Uint8Array(100000 + i).fill(i & 0xff) }
      : [i, "s".repeat(i % 300)];
    const bytes = codec.encode(value);
    kept.push([bytes, toHex(bytes.subarray(0, 64)), value]);
  }
  for (const [bytes, head, value] of kept) {
    assert.equal(toHex(bytes.subarray(0, 64)), head);
    assert.deepStrictEqual(codec.decode(bytes), value);
  }
});

Deno.test("msgpack: nesting limit and cycles", () => {
  const codec = new MsgPackCodec();
  let deep: unknown = 1;
  for (let i = 0; i < MAX_DEPTH; i++) deep = [deep];
  assert.deepStrictEqual(codec.decode(codec.encode(deep)), deep);
  assertCodecError(() => codec.encode([deep]), /nested deeper/);
  const tooDeep = concat(new Uint8Array(MAX_DEPTH + 1).fill(0x91), [0xc0]);
  assertCodecError(() => codec.decode(tooDeep), /offset 512.*nested deeper/);
  const mapDeep = concat(
    ...Array.from({ length: MAX_DEPTH + 1 }, () => [0x81, 0xa1, 0x6b]),
    [0xc0],
  );
  assertCodecError(() => codec.decode(mapDeep), /nested deeper/);
  const cycle: unknown[] = [1];
  cycle.push(cycle);
  assertCodecError(() => codec.encode(cycle), /cycle/);
  const objCycle: Record<string, unknown> = {};
  objCycle.self = objCycle;
  assertCodecError(() => codec.encode(objCycle), /cycle/);
});

Deno.test("msgpack: hostile input fails fast with the offset", () => {
  const codec = new MsgPackCodec();
  const t0 = performance.now();
  assertCodecError(() => codec.decode(fromHex("ddffffffff00")), /offset 0 claims 4294967295 items/);
  assertCodecError(() => codec.decode(fromHex("dfffffffff0000")), /offset 0 claims 4294967295/);
  assertCodecError(() => codec.decode(fromHex("dbffffffff61")), /truncated input at offset 0/);
  assertCodecError(() => codec.decode(fromHex("c6ffffffff00")), /truncated input at offset 0/);
  assertCodecError(() => codec.decode(fromHex("c9ffffffff0100")), /truncated input at offset 0/);
  assertCodecError(() => codec.decode(fromHex("9201")), /array at offset 0 claims 2 items/);
  assertCodecError(() => codec.decode(fromHex("92cd00")), /truncated input at offset 1/);
  assertCodecError(() => codec.decode(fromHex("")), /truncated input at offset 0/);
  assertCodecError(() => codec.decode(fromHex("cb0000")), /offset 0/);
  assertCodecError(
    () => codec.decode(fromHex("0101")),
    /trailing byte\(s\) after the value at offset 1/,
  );
  assertCodecError(() => codec.decode(fromHex("92c1c0")), /reserved byte 0xc1 at offset 1/);
  assert.ok(performance.now() - t0 < 100);
  // Every strict prefix of a valid message is truncated.
  const valid = codec.encode([0, 17, ["m", [1.5, "é€😀", true, null, 2n ** 60n], { k: "v" }]]);
  for (let n = 0; n < valid.length; n++) {
    assertCodecError(() => codec.decode(valid.subarray(0, n)), /offset \d+/);
  }
});

Deno.test("msgpack: invalid UTF-8 is a CodecError", () => {
  const codec = new MsgPackCodec();
  const bad = [
    "c3", // truncated sequence
    "c328", // bad continuation
    "c080", // overlong
    "e08080", // overlong 3-byte
    "eda080", // surrogate
    "f08f8080", // overlong 4-byte
    "f4908080", // above U+10FFFF
    "f5808080",
    "ff",
    "80",
  ];
  for (const seq of bad) {
    const body = fromHex("61" + seq);
    assertCodecError(() => codec.decode(concat([0xa0 | body.length], body)), /UTF-8.*offset 0/);
    // As a map key (through the key cache).
    assertCodecError(() => codec.decode(concat([0x81, 0xa0 | body.length], body, [0xc0])));
    // The long path (TextDecoder).
    const long = concat(new TextEncoder().encode("a".repeat(100)), body);
    assertCodecError(() => codec.decode(concat([0xd9, long.length], long)), /UTF-8/);
  }
  // Valid edge characters pass both paths.
  for (const text of ["\u0080\u07ff\u0800\ud7ff\ue000\uffff\u{10000}\u{10ffff}", "\ufeffbom"]) {
    assert.equal(codec.decode(codec.encode(text)), text);
    assert.equal(codec.decode(codec.encode(text.repeat(20))), text.repeat(20));
  }
});

Deno.test("msgpack: cached map keys stay correct", () => {
  const codec = new MsgPackCodec();
  for (let i = 0; i < 20000; i++) {
    const key = `k${i.toString(36)}`;
    const value = { [key]: i, ["é" + key]: -i, "": 0 };
    assert.deepStrictEqual(codec.decode(codec.encode(value)), value);
  }
});

// ------------------------------------------------------------ Python vectors

class Tagged0 {
  constructor(readonly data: unknown) {}
}
class Tagged1 {
  constructor(readonly data: unknown) {}
}
class Tagged2 {
  constructor(readonly data: unknown) {}
}
const TAGGED = [Tagged0, Tagged1, Tagged2];

Deno.test("msgpack: Python aiomas vectors decode, and encode exactly", async () => {
  const file = await loadVectors("msgpack");
  assert.ok(file.vectors.length >= 79);
  let exact = 0;
  for (const vector of file.vectors) {
    const codec = new MsgPackCodec();
    const count = file.contexts[vector.context]!.serializers.length;
    for (let id = 0; id < count; id++) {
      const Tagged = TAGGED[id]!;
      codec.addSerializer(Tagged, (t) => t.data, (data) => new Tagged(data));
    }
    const { frame, payload } = vector;
    const length = new DataView(frame.buffer, frame.byteOffset).getUint32(0);
    assert.equal(length, payload.length, vector.name);
    const expected = convert(vector.raw, (id, data) => new TAGGED[id]!(data));
    assert.deepStrictEqual(codec.decode(payload), expected, vector.name);
    if (vector.encodeExact) {
      assert.equal(toHex(codec.encode(expected)), toHex(payload), vector.name);
      exact++;
    }
  }
  assert.ok(exact >= 70, `${exact} exact vectors`);
});

// ------------------------------------------------------------------ ndarray

Deno.test("ndarray: typed arrays round-trip through MsgPackCodec", () => {
  const codec = createCodec(MsgPackCodec, [ndarraySerializer]);
  const arrays = [
    new Float64Array([1.5, -2.25, NaN, Infinity]),
    new Float32Array([0.5, -1]),
    new Int8Array([-128, 0, 127]),
    new Uint8ClampedArray([0, 255]),
    new Int16Array([-32768, 32767]),
    new Uint16Array([65535, 1]),
    new Int32Array([-(2 ** 31), 2 ** 31 - 1]),
    new Uint32Array([2 ** 32 - 1]),
    new BigInt64Array([-(2n ** 63n), 5n]),
    new BigUint64Array([2n ** 64n - 1n]),
    new Float64Array(0),
  ];
  for (const array of arrays) {
    const decoded = codec.decode(codec.encode({ a: array })) as { a: unknown };
    const expected = array instanceof Uint8ClampedArray ? new Uint8Array(array) : array;
    assert.deepStrictEqual(decoded.a, expected);
  }
  // The wire form, as aiomas' NumPy serializer writes it.
  const bytes = codec.encode(new Int32Array([1, 256]));
  const expected = "81a85f5f747970655f5f9200" + // {"__type__": [0,
    "83a474797065a33c6934" + // {"type": "<i4",
    "a573686170659102" + // "shape": [2],
    "a464617461c4080100000000010000"; // "data": bytes}]}
  assert.equal(toHex(bytes), expected);
  // Uint8Array stays bin; a subarray sends only its own elements.
  assert.equal(toHex(codec.encode(new Uint8Array([1, 2]))), "c4020102");
  const whole = new Float64Array([1, 2, 3, 4]);
  assert.deepStrictEqual(
    codec.decode(codec.encode(whole.subarray(1, 3))),
    new Float64Array([2, 3]),
  );
});

Deno.test("ndarray: decoding NumPy dtypes, byte orders and shapes", () => {
  const codec = createCodec(MsgPackCodec, [ndarraySerializer]);
  const tag = (type: string, shape: number[], data: number[]) =>
    codec.encode(new Map([["__type__", [0, { type, shape, data: new Uint8Array(data) }]]]));
  assert.deepStrictEqual(
    codec.decode(tag(">i4", [2], [0, 0, 0, 1, 0, 0, 1, 0])),
    new Int32Array([1, 256]),
  );
  assert.deepStrictEqual(codec.decode(tag("|u1", [3], [1, 2, 3])), new Uint8Array([1, 2, 3]));
  assert.deepStrictEqual(codec.decode(tag("<i1", [1], [255])), new Int8Array([-1]));
  assert.deepStrictEqual(
    codec.decode(tag("<u2", [2, 2], [1, 0, 2, 0, 3, 0, 4, 0])),
    new Uint16Array([1, 2, 3, 4]),
  );
  assert.deepStrictEqual(
    codec.decode(tag(">f8", [], [0x3f, 0xf8, 0, 0, 0, 0, 0, 0])),
    new Float64Array([1.5]),
  );
  // Unaligned data (a view at an odd offset) is copied into an aligned array.
  const views = new MsgPackCodec({ copyBinary: false });
  views.addSerializer(...ndarraySerializer());
  const bytes = concat([0], tag("<f8", [1], [0, 0, 0, 0, 0, 0, 0xf8, 0x3f]));
  assert.deepStrictEqual(views.decode(bytes.subarray(1)), new Float64Array([1.5]));
  assertCodecError(() => codec.decode(tag("<c8", [1], [0, 0, 0, 0, 0, 0, 0, 0])), /dtype/);
  assertCodecError(() => codec.decode(tag("|i4", [1], [0, 0, 0, 0])), /byte order/);
  assertCodecError(() => codec.decode(tag("<i4", [2], [0, 0, 0, 0])), /needs 8 bytes, got 4/);
  assertCodecError(() => codec.decode(tag("<i4", [-1], [])), /shape/);
  assertCodecError(
    () => codec.decode(codec.encode(new Map([["__type__", [0, "nope"]]]))),
    /expected/,
  );
});

// --------------------------------------------------------------------- fuzz

function randomValue(rand: () => number, depth: number): unknown {
  const pick = Math.floor(rand() * (depth > 3 ? 9 : 13));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return rand() < 0.5;
    case 2:
      return Math.floor(rand() * 300) - 150;
    case 3:
      return Math.floor((rand() - 0.5) * 2 ** (rand() * 53));
    case 4:
      return rand() * 1e6;
    case 5:
      return [..."abcé€😀xyz"].slice(0, Math.floor(rand() * 10)).join("").repeat(
        Math.floor(rand() * 12),
      );
    case 6:
      return new Uint8Array(Math.floor(rand() * 40)).map(() => rand() * 256);
    case 7:
      return new Date(Math.floor((rand() - 0.3) * 1e13));
    case 8:
      return 2n ** 53n + BigInt(Math.floor(rand() * 2 ** 52)) * 1025n;
    case 9:
    case 10:
      return Array.from({ length: Math.floor(rand() * 20) }, () => randomValue(rand, depth + 1));
    case 11: {
      const out: Record<string, unknown> = {};
      const n = Math.floor(rand() * 18);
      for (let i = 0; i < n; i++) out[`k${Math.floor(rand() * 30)}`] = randomValue(rand, depth + 1);
      return out;
    }
    default:
      return new Ext(Math.floor(rand() * 100), new Uint8Array(Math.floor(rand() * 20)));
  }
}

Deno.test("msgpack: fuzz: random and mutated input decodes or throws CodecError", () => {
  const rand = mulberry32(0xa10a5);
  const codec = new MsgPackCodec();
  codec.addSerializer(Tagged0, (t) => t.data, (data) => new Tagged0(data));
  const start = performance.now();
  let decoded = 0;
  for (let round = 0; round < 20000; round++) {
    let input: Uint8Array;
    if (round % 5 === 0) {
      input = new Uint8Array(Math.floor(rand() * 64)).map(() => rand() * 256);
    } else {
      const value = randomValue(rand, 0);
      const valid = codec.encode(value);
      if (round % 50 === 1) assert.deepStrictEqual(codec.decode(valid), value);
      const bytes = Array.from(valid);
      const edits = 1 + Math.floor(rand() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rand() * (bytes.length + 1));
        const kind = rand();
        if (kind < 0.4) bytes[at] = Math.floor(rand() * 256);
        else if (kind < 0.6) bytes.length = at;
        else if (kind < 0.8) bytes.splice(at, 0, Math.floor(rand() * 256));
        else bytes.splice(at, 1 + Math.floor(rand() * 4));
      }
      input = new Uint8Array(bytes);
    }
    try {
      codec.decode(input);
      decoded++;
    } catch (err) {
      if (!(err instanceof CodecError)) {
        throw new Error(`round ${round}: ${toHex(input)} threw ${err}`, { cause: err });
      }
      assert.match(err.message, /offset \d+/, `round ${round}: ${toHex(input)}`);
    }
  }
  assert.ok(decoded > 100, `${decoded} decoded`);
  assert.ok(performance.now() - start < 5000, "fuzz took too long");
});

Deno.test("msgpack decodeAt: decodes a range as decode decodes its view, errors counted from start", () => {
  const codec = new MsgPackCodec();
  const inner = codec.encode([0, 7, ["echo", [1.5, "ü", new Uint8Array([1, 2])], { a: null }]]);
  const bytes = concat([0xc1, 0xc1, 0xc1], inner, [0xc1]);
  assert.deepEqual(codec.decodeAt(bytes, 3, 3 + inner.length), codec.decode(inner));
  const malformed = [
    [0x93, 0x01], // truncated
    [0x01, 0x02], // trailing byte
    [0xa2, 0xff, 0xfe], // invalid UTF-8
    [0x91, 0xc1], // reserved byte
    [0xdc, 0xff, 0xff], // array longer than the input
  ];
  for (const bad of malformed) {
    const padded = concat([0x00, 0x00], bad, [0x00]);
    assert.throws(() => codec.decode(new Uint8Array(bad)), CodecError);
    let expected = "";
    try {
      codec.decode(new Uint8Array(bad));
    } catch (error) {
      expected = (error as Error).message;
    }
    assert.throws(() => codec.decodeAt(padded, 2, 2 + bad.length), { message: expected });
  }
  // A subclass that overrides decode gets its decode of the view.
  class Tagged extends MsgPackCodec {
    override decode(data: Uint8Array): unknown {
      return ["tagged", super.decode(data)];
    }
  }
  assert.deepEqual(new Tagged().decodeAt(bytes, 3, 3 + inner.length), [
    "tagged",
    codec.decode(inner),
  ]);
});

Deno.test("msgpack encodeInto: the bytes of encode, -1 when they do not fit", () => {
  const codec = new MsgPackCodec();
  const values = [
    [0, 1, ["echo", [42], {}]],
    { a: [1.5, -7, 2n ** 60n] },
    "ü".repeat(40),
    new Date(0),
  ];
  for (const value of values) {
    const expected = codec.encode(value);
    // Room to spare: the writer reserves for the worst case of a string (3 bytes a unit).
    const target = new Uint8Array(7 + 3 * expected.length + 16).fill(0xee);
    const end = codec.encodeInto(value, target, 7);
    assert.equal(end, 7 + expected.length);
    assert.deepEqual(target.subarray(7, end), expected);
    assert.deepEqual([...target.subarray(0, 7)], new Array(7).fill(0xee));
    // One byte short: -1.
    assert.equal(codec.encodeInto(value, new Uint8Array(7 + expected.length - 1), 7), -1);
  }
  // Errors are those of encode.
  assert.throws(() => codec.encodeInto([1, () => 1], new Uint8Array(64), 0), {
    name: "CodecError",
    message: /\(at \$\[1\]\)$/,
  });
  assert.throws(() => codec.encodeInto(undefined, new Uint8Array(64), 0), CodecError);
  // A serializer that encodes again (nested) works when the message fits, and falls back when not.
  class Point {
    constructor(public x: number) {}
  }
  codec.addSerializer(Point, (p) => codec.encode([p.x]), (b) => new Point(0 + (b as never)));
  const nested = codec.encode([new Point(3)]);
  const target = new Uint8Array(64);
  assert.deepEqual(target.subarray(0, codec.encodeInto([new Point(3)], target, 0)), nested);
  assert.equal(codec.encodeInto([new Point(3)], new Uint8Array(4), 0), -1);
});
