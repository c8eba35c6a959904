import assert from "node:assert/strict";
import { CodecError } from "../errors.ts";
import { MsgPackCodec } from "./msgpack.ts";
import { MsgPackBloscCodec } from "./msgpack_blosc.ts";
import { ndarraySerializer } from "./ndarray.ts";

const KIB = 1024;

/** The pieces of an `encodeParts` result. */
function pieces(parts: Uint8Array | Uint8Array[]): Uint8Array[] {
  return Array.isArray(parts) ? parts : [parts];
}

function concat(parts: Uint8Array | readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(parts)) return parts as Uint8Array;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function bin(size: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff);
}

class Blob {
  constructor(readonly data: Uint8Array) {}
}

Deno.test("msgpack encodeParts: the pieces are encode's bytes, big bins by reference", () => {
  const big = bin(64 * KIB, 1);
  const bigger = bin(300 * KIB, 2);
  const small = bin(64 * KIB - 1, 3);
  // A map of 16 entries whose header shrinks to a fixmap when `undefined` ones are left out.
  const wide: Record<string, unknown> = { first: big };
  for (let i = 0; i < 14; i++) wide[`k${i}`] = i % 2 ? undefined : i;
  wide.last = bigger;
  const values: Array<[unknown, Uint8Array[]]> = [
    [[0, 7, ["upload", [big], {}]], [big]],
    [[big, bigger, big], [big, bigger, big]],
    [{ a: big, b: undefined, c: [small, bigger] }, [big, bigger]],
    [wide, [big, bigger]],
    [{ outer: wide, tail: "x".repeat(100) }, [big, bigger]],
    [[small, "spam", 1.5, null], []],
    [big, [big]],
  ];
  for (const [value, byReference] of values) {
    const codec = new MsgPackCodec();
    const parts = pieces(codec.encodeParts(value));
    assert.deepEqual(concat(parts), codec.encode(value));
    assert.equal(Array.isArray(codec.encodeParts(value)), byReference.length > 0);
    assert.deepEqual(parts.filter((part) => byReference.includes(part)), byReference);
    assert.ok(!parts.includes(small));
  }
});

Deno.test("msgpack encodeParts: serializers, nested encodes and errors", () => {
  const codec = new MsgPackCodec();
  codec.addSerializer(Blob, (blob) => ({ data: blob.data }), (plain) => plain as Blob);
  const big = bin(100 * KIB, 4);
  const value = [new Blob(big), new Float64Array(20_000)];
  codec.addSerializer(...ndarraySerializer());
  let parts = pieces(codec.encodeParts(value));
  assert.deepEqual(concat(parts), codec.encode(value));
  assert.ok(parts.includes(big));
  // A serializer that encodes on its own gets one contiguous copy.
  const inner = new MsgPackCodec();
  class Packed {
    constructor(readonly data: Uint8Array) {}
  }
  codec.addSerializer(Packed, (p) => inner.encode([p.data]), (b) => new Packed(b as Uint8Array));
  parts = pieces(codec.encodeParts([new Packed(big), big]));
  assert.deepEqual(concat(parts), codec.encode([new Packed(big), big]));
  assert.equal(parts.filter((part) => part === big).length, 1);
  // A failure after a big bin leaves nothing behind for the next message.
  assert.throws(() => codec.encodeParts([big, Symbol("no")]), CodecError);
  assert.deepEqual(codec.encodeParts(["ok"]), codec.encode(["ok"]));
});

Deno.test("msgpack encodeParts: a subclass that overrides encode gets its encoding in one piece", () => {
  const codec = new MsgPackBloscCodec();
  const value = [0, 1, ["upload", [new Uint8Array(200 * KIB)], {}]];
  const parts = codec.encodeParts(value);
  assert.ok(parts instanceof Uint8Array);
  assert.deepEqual(parts, codec.encode(value));
  assert.deepEqual(codec.decode(parts), value);
});

Deno.test("msgpack decodeOwned: big bins are views into the given bytes, others copies", () => {
  const codec = new MsgPackCodec();
  const big = bin(64 * KIB, 5);
  const small = bin(1000, 6);
  const bytes = codec.encode([big, small]).slice();
  const [gotBig, gotSmall] = codec.decodeOwned(bytes) as Uint8Array[];
  assert.deepEqual(gotBig, big);
  assert.deepEqual(gotSmall, small);
  assert.equal(gotBig!.buffer, bytes.buffer);
  assert.notEqual(gotSmall!.buffer, bytes.buffer);
  // A bin under a quarter of the input would pin the rest: a copy.
  const mostly = codec.encode([big, "x".repeat(200 * KIB)]).slice();
  const [copied] = codec.decodeOwned(mostly) as Uint8Array[];
  assert.deepEqual(copied, big);
  assert.notEqual(copied!.buffer, mostly.buffer);
  // decode never gives views (copyBinary's default).
  assert.notEqual((codec.decode(bytes) as Uint8Array[])[0]!.buffer, bytes.buffer);
  // A subclass that overrides decode (decompression) is used as it is.
  const blosc = new MsgPackBloscCodec();
  assert.deepEqual(blosc.decodeOwned(blosc.encode([big])), [big]);
});
