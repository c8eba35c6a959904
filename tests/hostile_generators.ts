/**
 * The hostile-peer suite's generators: hostile values, paths and frames,
 * seeded random values and mutants of valid frames. The batches of
 * tests/hostile_attacks.ts send them.
 *
 * @module
 */

import { bloscCompress } from "../codecs/blosc.ts";
import { Ext } from "../codecs/mod.ts";
import { frame } from "./helpers.ts";
import { FixtureServer } from "./hostile_harness.ts";
import { mulberry32 } from "./prng.ts";

/** A seeded random source with helpers. */
export class Rng {
  readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = mulberry32(seed);
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** One item of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  /** Random bytes. */
  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256));
  }
}

const tag = (id: unknown, data: unknown) => ({ __type__: [id, data] });

/** The exact frame content of issue 15 item 1 (a reference inside a date tag). */
export const ISSUE_15_1 = [0, 1, ["agents/1/add", [{ __type__: [0, { __type__: [1, "x"] }] }], {}]];

/** Valid request paths (or channel ops) of a fixture's layer. */
export function paths(server: FixtureServer): string[] {
  if (server.layer === "channel") return ["add", "echo", "fail"];
  if (server.layer === "rpc") return ["add", "echo", "fail", "callBack", "sub/mul"];
  return ["agents/1/add", "agents/0/echo", "agents/1/callBack", "agents/0/sub/mul", "validate_aid"];
}

/** The content of a request for `path` with `args`, in the layer's form. */
export function request(
  server: FixtureServer,
  path: unknown,
  args: unknown,
  kwargs: unknown = {},
): unknown[] {
  if (server.layer === "channel") return Array.isArray(args) ? [path, ...args] : [path, args];
  return [path, args, kwargs];
}

/** Every `__type__` id the server knows, plus ids it does not. */
function typeIdsOf(server: FixtureServer): unknown[] {
  const t = server.types;
  const known = [t.date, t.point, t.money, t.ndarray, t.ref].filter((id) => id !== undefined);
  const max = Math.max(...(known as number[]));
  return [...known, max + 1, -1, 0.5, 2 ** 32, "0", null, [0], Number.MAX_SAFE_INTEGER];
}

/** Hostile custom-type values: references, dates and user types nested in each other. */
export function hostileValues(server: FixtureServer): unknown[] {
  const t = server.types;
  const refId = t.ref ?? 99;
  const ref = (path: string) => tag(refId, path);
  const probes = {
    then: ref("x"),
    toJSON: ref("x"),
    toString: ref("x"),
    valueOf: ref("x"),
    constructor: ref("x"),
    [Symbol.toPrimitive.description!]: ref("x"),
  };
  const leaves: unknown[] = [
    "x",
    "agents/0",
    "",
    "2016-01-01T00:00:00+00:00",
    0,
    -1,
    1.5,
    true,
    null,
    [],
    {},
    { x: 1, y: 2 },
    "a".repeat(70_000),
    ref("x"),
    ref("agents/0"),
    ref(""),
    ref("@0"),
    tag(refId, 0),
    tag(refId, [ref("x")]),
    probes,
    { ...probes, x: 1, y: 2 },
    JSON.parse('{"__proto__": {"__type__": [0, "x"]}, "x": 1}'),
    { type: "<f8", shape: [1], data: new Uint8Array(8) },
    { type: "<f8", shape: [2 ** 40], data: new Uint8Array(8) },
    { type: "<f8", shape: [ref("x")], data: new Uint8Array(8) },
    { type: ref("x"), shape: [1], data: ref("x") },
    { type: "<f8", shape: [1e6, 1e6, 1e6], data: new Uint8Array(0) },
  ];
  const out: unknown[] = [...leaves.slice(13)];
  const ids = typeIdsOf(server);
  for (const id of ids) {
    for (const leaf of leaves) out.push(tag(id, leaf));
    out.push(tag(id, tag(id, ref("x"))));
    out.push({ __type__: [id, "x"], extra: ref("x") });
    out.push({ __type__: ref("x") });
    out.push({ __type__: [id] });
    out.push({ __type__: [id, "x", "y"] });
  }
  for (const outer of ids.slice(0, 5)) {
    for (const inner of ids.slice(0, 5)) {
      out.push(tag(outer, tag(inner, ref("x"))));
      out.push(tag(outer, [tag(inner, "x"), probes]));
      out.push(tag(outer, { x: tag(inner, ref("x")), y: probes }));
    }
  }
  out.push(new Ext(-1, new Uint8Array(3)), new Ext(5, new Uint8Array(0)));
  return out;
}

/** Where a hostile value can sit in a message. */
export function placements(server: FixtureServer, value: unknown, path: string): unknown[] {
  return [
    [0, 0, request(server, path, [value, 1])],
    [0, 0, request(server, path, [1, value])],
    [0, 0, request(server, path, [value], { k: value })],
    [0, 0, request(server, value, [1, 2])],
    [0, 0, value],
    [0, value, request(server, path, [1, 2])],
    [value, 0, request(server, path, [1, 2])],
    [1, 0, value],
    [2, 0, value],
    value,
  ];
}

/** Hostile paths: prototype members, relative segments, non-strings, huge. */
export function hostilePaths(server: FixtureServer): unknown[] {
  const base = server.layer === "container" ? ["agents/0/", "agents/1/", ""] : [""];
  const names = [
    "__proto__",
    "constructor",
    "constructor/prototype",
    "prototype",
    "__proto__/constructor",
    "toString",
    "valueOf",
    "hasOwnProperty",
    "__defineGetter__",
    "then",
    "add/call",
    "add/apply",
    "add/bind",
    "echo/constructor",
    "sub/__proto__",
    "sub/mul/constructor",
    "sub/constructor/constructor",
    "#calculator",
    "../",
    "..",
    ".",
    "./add",
    "../add",
    "add/..",
    "",
    "/",
    "//add",
    "add/",
    "@0",
    "@0/add",
    "@x",
    "agents",
    "agents/999",
    "agents/999/add",
    "agents/0/constructor/prototype",
    "agents/0/container/shutdown",
    "agents/0/container",
    "agents/__proto__",
    "agents/constructor",
    "agents/get",
    "agents/set",
    "agents/clear",
    "validate_aid/constructor",
    "a".repeat(100_000),
    "a/".repeat(10_000),
    "add\u0000",
    "\u{1F600}",
    "aiomas/heartbeat",
    "aiomas/release",
    "aiomas/",
    "aiomas/release/constructor",
    "^",
    "^add",
    "^^^^^^^^add",
    "^@0",
    "@0/constructor",
    "@-1",
    "tcp://127.0.0.1:1/0/add",
    "tcp://127.0.0.1:1/0",
    "ipc://[/tmp/x]/0/add",
    "local://x/0/add",
  ];
  const out: unknown[] = [];
  for (const prefix of base) for (const name of names) out.push(prefix + name);
  out.push(0, -1, 1.5, null, true, [], ["add"], {}, { toString: "add" }, new Uint8Array([97]));
  return out;
}

/** The library's own request paths with hostile arguments. */
export function hostileInternalCalls(server: FixtureServer): unknown[] {
  const ref = { __type__: [server.types.ref ?? 0, "x"] };
  const argLists: unknown[][] = [
    [],
    [null, null],
    [["@0"], [1]],
    [["@0", "@1"], [1]],
    [["@0"], [-1]],
    [["@0"], [Infinity]],
    [["@0"], [NaN]],
    [[ref], [1]],
    [["@0"], [ref]],
    [ref, ref],
    [{ length: 1e9 }, { length: 1e9 }],
    [Array.from({ length: 10_000 }, (_, i) => `@${i}`), Array(10_000).fill(1)],
  ];
  const out: unknown[] = [];
  for (const path of ["aiomas/release", "aiomas/heartbeat", "^echo", "^aiomas/release"]) {
    for (const args of argLists) out.push([0, 9, request(server, path, args, { k: ref })]);
  }
  return out;
}

/** Valid frames of the layer, with custom types of every serializer. */
function validContents(server: FixtureServer): unknown[] {
  const t = server.types;
  const values: unknown[] = [
    1,
    "two",
    [1.5, null, true],
    { a: { b: [1] } },
    tag(t.point, { x: 1, y: 2 }),
    tag(t.money, 5),
  ];
  if (t.date !== undefined) values.push(tag(t.date, "2016-01-01T00:00:00+00:00"));
  if (t.ndarray !== undefined) {
    values.push(tag(t.ndarray, { type: "<f8", shape: [2], data: new Uint8Array(16) }));
  }
  if (t.ref !== undefined) values.push(tag(t.ref, ""));
  const out: unknown[] = [];
  for (const path of paths(server)) {
    for (const value of values) out.push([0, 3, request(server, path, [value, 2])]);
  }
  out.push([1, 0, "reply to nothing"], [2, 0, "Traceback: nothing"]);
  return out;
}

/** A random value: base types, hostile tags, odd numbers, deep or wide shapes. */
export function randomValue(server: FixtureServer, rng: Rng, depth = 0): unknown {
  const kind = rng.int(depth > 4 ? 8 : 12);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.pick([true, false]);
    case 2:
      return rng.pick([0, -1, 1.5, 2 ** 53 + 2, -(2 ** 63), 1e308, NaN, -0, Infinity]);
    case 3:
      return rng.pick(["", "x", "agents/0", "__type__", "\u0000", "2016-01-01T00:00:00Z"]);
    case 4:
      return rng.bytes(rng.int(16));
    case 5:
      return rng.pick(hostileValues(server));
    case 6:
      return tag(rng.pick(typeIdsOf(server)), randomValue(server, rng, depth + 1));
    case 7:
      return rng.pick([2n ** 64n - 1n, -(2n ** 63n), 12345678901234567n]);
    case 8:
    case 9:
      return Array.from({ length: rng.int(4) }, () => randomValue(server, rng, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) {
        const key = rng.pick(["a", "__type__", "then", "toJSON", "__proto__", "constructor", "x"]);
        Object.defineProperty(object, key, {
          value: randomValue(server, rng, depth + 1),
          enumerable: true,
          configurable: true,
          writable: true,
        });
      }
      return object;
    }
  }
}

/** Replace a random node of `value` by `replacement` (type confusion). */
function confuse(value: unknown, rng: Rng, replacement: unknown): unknown {
  if (Array.isArray(value) && value.length > 0 && rng.int(3) > 0) {
    const copy = [...value];
    const i = rng.int(copy.length);
    copy[i] = confuse(copy[i], rng, replacement);
    return copy;
  }
  return replacement;
}

/** A mutant of a valid frame: the bytes, and whether the framing is intact. */
export interface Mutant {
  bytes: Uint8Array;
  /** False when the header was changed: the server may wait for bytes that never come. */
  framed: boolean;
  /** How it was made, for the failure report. */
  how: string;
}

/** Make one mutant of a valid frame. */
export function mutate(server: FixtureServer, rng: Rng): Mutant {
  const codec = server.codec();
  const message = rng.pick(validContents(server));
  const kind = rng.int(8);
  if (kind === 0) {
    // Type confusion: a valid encoding of a wrong structure.
    const mutated = confuse(message, rng, randomValue(server, rng));
    try {
      return { bytes: frame(codec.encode(mutated)), framed: true, how: "type confusion" };
    } catch {
      return { bytes: frame(codec.encode(message)), framed: true, how: "unencodable confusion" };
    }
  }
  if (server.codecName === "MsgPackBloscCodec" && rng.int(2) === 0) {
    // Mutate the MessagePack inside, then compress it validly: the decoder behind
    // the decompressor sees the mutant.
    const msgpack: FixtureServer = Object.assign(Object.create(FixtureServer.prototype), {
      layer: server.layer,
      types: server.types,
      codecName: "MsgPackCodec",
    });
    const inner = mutate(msgpack, rng);
    const compressed = bloscCompress(inner.bytes.subarray(4), { typesize: 8 });
    return { bytes: frame(compressed), framed: true, how: `compressed ${inner.how}` };
  }
  const payload = codec.encode(message).slice();
  if (kind === 1 && rng.int(2) === 0) return spliceTokens(server, payload, rng);
  if (kind <= 3) {
    // Bit flips in the payload.
    const flips = 1 + rng.int(8);
    for (let i = 0; i < flips; i++) payload[rng.int(payload.length)] ^= 1 << rng.int(8);
    return { bytes: frame(payload), framed: true, how: `${flips} bit flips` };
  }
  if (kind === 4) {
    const cut = rng.int(payload.length);
    return { bytes: frame(payload.subarray(0, cut)), framed: true, how: `truncated at ${cut}` };
  }
  if (kind === 5) {
    // Random bytes spliced in.
    const at = rng.int(payload.length);
    const junk = rng.bytes(1 + rng.int(8));
    const out = new Uint8Array(payload.length + junk.length);
    out.set(payload.subarray(0, at));
    out.set(junk, at);
    out.set(payload.subarray(at), at + junk.length);
    return { bytes: frame(out), framed: true, how: `inserted ${junk.length} bytes at ${at}` };
  }
  // Length-field lies: the header promises more or fewer bytes than follow.
  const bytes = frame(payload);
  const view = new DataView(bytes.buffer);
  const lie = rng.pick([
    0,
    payload.length - 1,
    payload.length + 1,
    payload.length * 2,
    0x7fffffff,
    0xffffffff,
    64 * 1024 * 1024,
    64 * 1024 * 1024 + 1,
  ]);
  view.setUint32(0, Math.max(0, lie));
  return { bytes, framed: false, how: `length ${lie} for ${payload.length} bytes` };
}

// Tokens that parsers find hard: for JSON text, and MessagePack headers that claim huge sizes.
const JSON_TOKENS = [
  '"__type__"',
  '{"__type__":[0,"x"]}',
  '"__proto__"',
  '{"__proto__":{"x":1}}',
  '"\\ud800"',
  '"\\u0000"',
  "1e999999",
  "-0",
  "0.1234567890123456",
  "123456789012345678901234567890",
  "NaN",
  "-Infinity",
  "[".repeat(600),
  "]",
  "}",
  ",",
  ":",
  '"',
  "\\",
  "null",
];
const MSGPACK_TOKENS = [
  [0xdb, 0x7f, 0xff, 0xff, 0xff], // str32 of 2 GiB
  [0xc6, 0xff, 0xff, 0xff, 0xff], // bin32 of 4 GiB
  [0xdd, 0x00, 0xff, 0xff, 0xff], // array32 of 16 M
  [0xdf, 0x7f, 0xff, 0xff, 0xff], // map32 of 2 G
  [0xc9, 0xff, 0xff, 0xff, 0xff, 0x05], // ext32
  [0xd7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // timestamp64, nanoseconds too big
  [0xc7, 0x0c, 0xff, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // timestamp96
  [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // uint64 max
  [0xc1], // never used
  [0x81, 0xa8, ...new TextEncoder().encode("__type__"), 0x92, 0x00], // a tag header
  [0x81, 0xa9, ...new TextEncoder().encode("__proto__")],
];

/** Splice a hard token of the codec's syntax into a valid payload. */
function spliceTokens(server: FixtureServer, payload: Uint8Array, rng: Rng): Mutant {
  const token = server.codecName === "JsonCodec"
    ? new TextEncoder().encode(rng.pick(JSON_TOKENS))
    : Uint8Array.from(rng.pick(MSGPACK_TOKENS));
  const at = rng.int(payload.length + 1);
  const cut = rng.int(3);
  const out = new Uint8Array(payload.length + token.length);
  out.set(payload.subarray(0, at));
  out.set(token, at);
  out.set(payload.subarray(Math.min(payload.length, at + cut)), at + token.length);
  const bytes = out.subarray(0, payload.length + token.length - Math.min(cut, payload.length - at));
  return { bytes: frame(bytes), framed: true, how: `token spliced at ${at}` };
}

/** Raw bytes that are no frame of this protocol at all. */
export function garbage(): Uint8Array[] {
  const text = (s: string) => new TextEncoder().encode(s);
  const nested = (n: number) => frame("[".repeat(n) + "]".repeat(n));
  const msgpackNested = (n: number) => {
    const bytes = new Uint8Array(n + 1).fill(0x91);
    bytes[n] = 0xc0;
    return frame(bytes);
  };
  return [
    text("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8\r\n\r\n"),
    text("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]),
    frame(new Uint8Array(0)),
    frame("null"),
    frame("[0,0]"),
    frame("[0,0,null,null]"),
    frame('[0, 0, ["add", [1, 2], {}]] trailing'),
    frame('{"__type__": [0, "x"]}'),
    frame(`[0,0,["add",[1,${"1".repeat(400)}],{}]]`),
    frame(`[0,0,["add",[1,2],{}],${"9".repeat(20)}]`),
    nested(100_000),
    msgpackNested(100_000),
    frame(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff])), // array32 of 4G items
    frame(new Uint8Array([0xdf, 0xff, 0xff, 0xff, 0xff])), // map32 of 4G entries
    frame(new Uint8Array([0xdb, 0xff, 0xff, 0xff, 0xff])), // str32 of 4 GiB
    frame(new Uint8Array([0xc7, 0xff, 0xff])), // ext8 cut short
    frame(new Uint8Array([0xd6, 0xff, 0, 0, 0, 0])), // timestamp ext
    frame(new Uint8Array([0xc7, 12, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0])), // nanos out of range
    frame(
      new Uint8Array([
        0x02,
        0x01,
        0x01,
        0x08,
        0xff,
        0xff,
        0xff,
        0x7f,
        0x20,
        0,
        0,
        0,
        0x20,
        0,
        0,
        0,
      ]),
    ), // blosc: huge nbytes
    frame(new Uint8Array([0x02, 0x01, 0x10, 0x08, 0x10, 0, 0, 0, 0x10, 0, 0, 0, 0x10, 0, 0, 0])), // blosc: lies
    frame(new Uint8Array([0xff, 0xfe, 0xfd])),
  ];
}
