/**
 * The codec rules of issues 15, 19 and 21: what may nest in what, error
 * messages that never call into decoded data, places in encode errors,
 * strict JSON, map order, numbers.
 */
import assert from "node:assert/strict";
import { dateSerializer } from "../agent/dates.ts";
import { CodecError } from "../errors.ts";
import { JsonCodec } from "./json.ts";
import { MsgPackCodec, Timestamp } from "./msgpack.ts";
import { ndarraySerializer } from "./ndarray.ts";
import { createCodec } from "./serializers.ts";
import type { Codec, CodecClass } from "./types.ts";

const text = new TextEncoder();
const CODECS: CodecClass[] = [JsonCodec, MsgPackCodec];

/** What a reference-like serializer saw: revivals and every probe of its proxies. */
interface Spy {
  revived: unknown[];
  probes: string[];
}

/** A stand-in for the RPC reference serializer: data is a path, values are function proxies. */
function referenceLike(spy: Spy): Parameters<Codec["addSerializer"]> {
  class Ref {}
  return [Ref, () => "x", (path: unknown) => {
    spy.revived.push(path);
    return new Proxy(() => {}, {
      get(_target, key) {
        spy.probes.push(String(key));
        return () => {};
      },
      apply() {
        spy.probes.push("()");
      },
    });
  }, { leaf: true }];
}

/** The bytes of `value` in `codec`'s format, plain objects with `__type__` written raw. */
function raw(codecClass: CodecClass, value: unknown): Uint8Array {
  if (codecClass === JsonCodec) return text.encode(JSON.stringify(value));
  const toMaps = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(toMaps);
    if (typeof v !== "object" || v === null) return v;
    const entries = Object.entries(v).map(([k, item]) => [k, toMaps(item)] as const);
    return "__type__" in v ? new Map(entries) : Object.fromEntries(entries);
  };
  return new MsgPackCodec().encode(toMaps(value));
}

Deno.test("issue 15.1: a reference inside a date's data is refused before it is revived", () => {
  const frame = [0, 1, ["agents/1/add", [{ __type__: [0, { __type__: [1, "x"] }] }], {}]];
  for (const codecClass of CODECS) {
    const spy: Spy = { revived: [], probes: [] };
    const codec = createCodec(codecClass, [dateSerializer]);
    codec.addSerializer(...referenceLike(spy));
    assert.throws(
      () => codec.decode(raw(codecClass, frame)),
      (error: unknown) => error instanceof CodecError && /plain data only/.test(error.message),
      codecClass.name,
    );
    assert.deepEqual(spy, { revived: [], probes: [] }, codecClass.name);
    // A proxy handed to the date serializer directly is only described by its type.
    const [, , fromPlain] = dateSerializer();
    const proxy = referenceLike(spy)[2]("y");
    assert.throws(() => fromPlain(proxy), /Invalid date a function/);
    assert.deepEqual(spy.probes, [], codecClass.name);
  }
});

Deno.test("issue 15.1: references nest in user types, not in references or ndarrays", () => {
  class Box {
    constructor(readonly inner: unknown) {}
  }
  for (const codecClass of CODECS) {
    const spy: Spy = { revived: [], probes: [] };
    const codec = createCodec(codecClass, [ndarraySerializer]);
    codec.addSerializer(Box, (b) => b.inner, (inner) => new Box(inner));
    codec.addSerializer(...referenceLike(spy));
    const box = codec.decode(raw(codecClass, { __type__: [1, { __type__: [2, "a/b"] }] }));
    assert.ok(box instanceof Box && typeof box.inner === "function", codecClass.name);
    for (const bad of [[2, { __type__: [2, "x"] }], [0, { type: { __type__: [2, "x"] } }]]) {
      assert.throws(() => codec.decode(raw(codecClass, { __type__: bad })), /plain data only/);
    }
    // A tag map with other keys is malformed.
    assert.throws(
      () => codec.decode(raw(codecClass, { __type__: [1, 1], extra: { __type__: [2, "x"] } })),
      /no key besides __type__/,
    );
    assert.deepEqual(spy.revived, ["a/b"], codecClass.name);
    assert.deepEqual(spy.probes, [], codecClass.name);
  }
});

Deno.test("issue 19.1: Date travels as an ISO string in JSON even with an Object fallback", () => {
  const codec = new JsonCodec();
  codec.addSerializer(Object, () => "ref", (path) => path);
  assert.equal(
    new TextDecoder().decode(codec.encode({ at: new Date(0) })),
    '{"at":"1970-01-01T00:00:00.000Z"}',
  );
  // MsgPack: its timestamp extension, also before the fallback.
  const msgpack = new MsgPackCodec();
  msgpack.addSerializer(Object, () => "ref", (path) => path);
  assert.deepEqual(msgpack.decode(msgpack.encode(new Date(5))), new Date(5));
});

Deno.test("JSON writes Maps with string keys as objects; a Map sends a raw tag on purpose", () => {
  const codec = new JsonCodec();
  const bytes = codec.encode(new Map([["__type__", [0, "x"]]]));
  assert.equal(new TextDecoder().decode(bytes), '{"__type__":[0,"x"]}');
  assert.equal(
    new TextDecoder().decode(
      codec.encode({ m: new Map<string, unknown>([["b", 1n], ["a", [NaN]]]) }),
    ),
    '{"m":{"b":1,"a":[NaN]}}',
  );
  assert.throws(
    () => codec.encode([new Map([[1, 2]])]),
    /not a string \(1\).*\(at \$\[0\]\[1\]\)$/,
  );
});

Deno.test("json: encoded messages are never overwritten, whatever their size", () => {
  const codec = new JsonCodec();
  const other = new JsonCodec();
  const kept: [Uint8Array, unknown][] = [];
  for (let i = 0; i < 3000; i++) {
    const value = i % 400 === 0
      ? ["x".repeat(20_000 + i)]
      : [i, "é".repeat(i % 70), "s".repeat(i % 90)];
    kept.push([(i % 2 ? codec : other).encode(value), value]);
  }
  for (const [bytes, value] of kept) assert.deepEqual(codec.decode(bytes), value);
});

Deno.test("issue 21.3: encode errors are CodecErrors naming the place", () => {
  for (const codecClass of CODECS) {
    const codec = new codecClass();
    const cases: [unknown, RegExp][] = [
      [undefined, /undefined.*\(at \$\)$/],
      [[1, 2, { when: new Date(NaN) }], /invalid Date.*\(at \$\[2\]\.when\)$/],
      [{ "a b": [() => 1] }, /function.*\(at \$\["a b"\]\[0\]\)$/],
      [[{ __type__: [0, 1] }], /"__type__" key.*\(at \$\[0\]\.__type__\)$/],
    ];
    if (codecClass === MsgPackCodec) {
      cases.push([[0, [2n ** 70n]], /64 bits.*\(at \$\[1\]\[0\]\)$/]);
    }
    for (const [value, pattern] of cases) {
      assert.throws(
        () => codec.encode(value),
        (error: unknown) => error instanceof CodecError && pattern.test(error.message),
        `${codecClass.name} ${pattern}`,
      );
    }
    // With a date serializer (a container's codec) too.
    const dated = createCodec(codecClass, [dateSerializer]);
    assert.throws(() => dated.encode({ d: new Date(NaN) }), /invalid Date.*\(at \$\.d\)$/);
    const cycle: unknown[] = [];
    cycle.push(cycle);
    assert.throws(() => codec.encode(cycle), /\(is there a cycle\?\)/);
  }
});

Deno.test("issue 21.2: JSON accepts only valid JSON plus Python's NaN/Infinity/big integers", () => {
  const codec = new JsonCodec();
  for (
    const bad of [
      "{Infinity: 1}",
      "{NaN: 2}",
      "[0012345678901234567]",
      "-00000000000000000001",
      "[00000000000000001]",
      "[00012]",
      "-0001",
      "[1,]",
      "[-]",
      "[1.]",
      "[.5]",
      "[+1]",
      "[-NaN]",
      "[infinity]",
      '["a\tb"]',
      '["\\x"]',
      "[1] x",
      '{"a" 1}',
      "[" + "1".repeat(4400) + "]",
      "",
    ]
  ) {
    assert.throws(
      () => codec.decode(text.encode(bad)),
      (error: unknown) => error instanceof CodecError && !/aiomas-/.test(error.message),
      bad,
    );
  }
  assert.deepEqual(
    codec.decode(text.encode("[NaN, -Infinity, Infinity, -0, 12345678901234567890, 1e400]")),
    [NaN, -Infinity, Infinity, -0, 12345678901234567890n, Infinity],
  );
  assert.deepEqual(codec.decode(text.encode("[-9007199254740993, 9007199254740991]")), [
    -9007199254740993n,
    9007199254740991,
  ]);
});

Deno.test("issue 15.7: long strings with 16-digit numbers decode", () => {
  const codec = new JsonCodec();
  const long = "x".repeat(9_000_000);
  const copy = codec.decode(text.encode(JSON.stringify([long, 0.1234567890123456]))) as unknown[];
  assert.equal((copy[0] as string).length, long.length);
  assert.equal(copy[1], 0.1234567890123456);
});

Deno.test("issue 21.1: maps keep wire order, also when they become a Map", () => {
  const codec = new MsgPackCodec();
  const hex = (s: string) => new Uint8Array(s.match(/../g)!.map((b) => parseInt(b, 16)));
  // {"": nil, "0": "", 1: ""}
  const map = codec.decode(hex("83a0c0a130a001a0")) as Map<unknown, unknown>;
  assert.deepEqual([...map.keys()], ["", "0", 1]);
  // Same with map32/str32 headers.
  const wide = codec.decode(hex("df00000003db00000000c0db0000000130db0000000001db00000000"));
  assert.deepEqual([...(wide as Map<unknown, unknown>).keys()], ["", "0", 1]);
  const mixed = new Map<unknown, unknown>([["b", 1], ["10", 2], ["2", 3], [true, 4], ["a", 5]]);
  assert.deepEqual([...(codec.decode(codec.encode(mixed)) as Map<unknown, unknown>)], [...mixed]);
});

Deno.test("issue 19.8: one number rule for both codecs", () => {
  const values = [5n, 5, 2 ** 60, 2n ** 60n, -(2n ** 63n), 9007199254740991, 0.5, -0];
  const expected = [5, 5, 2 ** 60, 2n ** 60n, -(2n ** 63n), 9007199254740991, 0.5, -0];
  for (const codecClass of CODECS) {
    const codec = new codecClass();
    assert.deepStrictEqual(codec.decode(codec.encode(values)), expected, codecClass.name);
  }
});

Deno.test("issue 21.5: lone surrogates", () => {
  const json = new JsonCodec();
  assert.deepEqual(json.decode(json.encode({ "\ud800": "\udc00" })), { "\ud800": "\udc00" });
  const msgpack = new MsgPackCodec();
  assert.equal(msgpack.decode(msgpack.encode("a\ud800")), "a\ufffd");
  const keys = Object.fromEntries([["ok", 1], ["\ud800", 1], ["\ud801", 2]]);
  assert.throws(() => msgpack.encode(keys), /lone surrogate.*\(at \$\["\\ud800"\]\)$/);
  assert.throws(() => msgpack.encode(new Map([["x\udfff".repeat(40), 1]])), /lone surrogate/);
  // CESU-8 (a surrogate as three bytes) is invalid UTF-8, as in Python.
  assert.throws(() => msgpack.decode(new Uint8Array([0xa3, 0xed, 0xa0, 0x80])), CodecError);
});

Deno.test("issue 21.4: a timestamp beyond Date's range keeps its seconds and nanoseconds", () => {
  const codec = new MsgPackCodec();
  const far = new Timestamp(-(2n ** 62n), 123456789);
  const bytes = codec.encode([far]).slice();
  const [copy] = codec.decode(bytes) as [Timestamp];
  assert.deepStrictEqual(copy, far);
  assert.deepEqual(codec.encode([copy]), bytes);
  assert.throws(() => new Timestamp(2n ** 63n), CodecError);
  assert.throws(() => new Timestamp(0n, 1e9), CodecError);
});
