import assert from "node:assert/strict";
import { CodecError } from "../errors.ts";
import { bloscCompress, bloscDecompress } from "./blosc.ts";
import { blosclzCompress, blosclzDecompress } from "./blosclz.ts";
import { lz4Decompress } from "./lz4.ts";
import { mulberry32 } from "../tests/prng.ts";
import { fromHex, loadVectors, toHex, type Vector } from "../tests/vectors.ts";

// ---------------------------------------------------------------- helpers

const { vectors } = await loadVectors("msgpack_blosc");

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The MsgPack bytes a vector's frame holds. */
function msgpackOf(v: Vector): Uint8Array {
  if (v.msgpack !== undefined) return v.msgpack;
  if (v.name === "blosc_multiblock_request") {
    // The vector file omits these 1.2 MB; its notes say what they are.
    const head = fromHex("93000692a36c656edb00124f80");
    const out = new Uint8Array(head.length + 4 * 300000);
    out.set(head);
    out.set(new TextEncoder().encode("spam".repeat(300000)), head.length);
    return out;
  }
  return v.payload.slice(16); // memcpyed
}

function assertCodecError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CodecError, `expected a CodecError, got ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

function u32(value: number): number[] {
  return [value & 255, (value >>> 8) & 255, (value >>> 16) & 255, value >>> 24];
}

/** A Blosc header followed by `rest`; cbytes is the total length unless given. */
function buffer(
  flags: number,
  typesize: number,
  nbytes: number,
  blocksize: number,
  rest: number[],
  cbytes = 16 + rest.length,
): Uint8Array {
  return new Uint8Array([
    2,
    1,
    flags,
    typesize,
    ...u32(nbytes),
    ...u32(blocksize),
    ...u32(cbytes),
    ...rest,
  ]);
}

/** A one-block, one-stream, unshuffled blosclz buffer around `stream`. */
function blosclzBuffer(stream: number[], nbytes: number): Uint8Array {
  return buffer(0x10, 1, nbytes, nbytes, [...u32(20), ...u32(stream.length), ...stream]);
}

interface Layout {
  flags: number;
  blocksize: number;
  /** Per block: the compressed size of each stream (the raw ones equal the stream size). */
  streams: { c: number; size: number; bytes: Uint8Array }[][];
}

/**
 * Walk a compressed buffer by the README's rules and check it is laid out as
 * c-blosc lays it out: offsets in order, streams back to back, nothing left.
 */
function layout(frame: Uint8Array): Layout {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const flags = frame[2]!;
  const typesize = frame[3]!;
  const nbytes = view.getUint32(4, true);
  const blocksize = view.getUint32(8, true);
  assert.equal(view.getUint32(12, true), frame.length, "cbytes");
  assert.equal(flags & 0x02, 0, "not memcpyed");
  const nblocks = Math.ceil(nbytes / blocksize);
  let pos = 16 + 4 * nblocks;
  const streams: Layout["streams"] = [];
  for (let j = 0; j < nblocks; j++) {
    assert.equal(view.getInt32(16 + 4 * j, true), pos, `offset of block ${j}`);
    const last = j === nblocks - 1 && nbytes % blocksize !== 0;
    const bsize = last ? nbytes % blocksize : blocksize;
    const split = (flags & 0x10) === 0 && !last && bsize / typesize >= 128;
    const nsplits = split ? typesize : 1;
    const block = [];
    for (let s = 0; s < nsplits; s++) {
      const c = view.getInt32(pos, true);
      block.push({ c, size: bsize / nsplits, bytes: frame.subarray(pos + 4, pos + 4 + c) });
      pos += 4 + c;
    }
    streams.push(block);
  }
  assert.equal(pos, frame.length, "streams end where the buffer ends");
  return { flags, blocksize, streams };
}

/**
 * Walk a blosclz stream as c-blosc 1.21's decoder does and check what it
 * insists on beyond the README's description: the marker on the first byte,
 * a literal run first and last (its decoder stops before a closing match),
 * and no near distance of 8191 (that is the far form's escape).
 */
function checkBlosclzTokens(stream: Uint8Array): { far: number; matches: number } {
  assert.equal(stream[0]! >> 5, 1, "marker bits of the first byte");
  let ip = 1;
  let ctrl = stream[0]! & 31;
  let lastWasLiteral = false;
  let far = 0;
  let matches = 0;
  for (;;) {
    if (ctrl < 32) {
      ip += ctrl + 1;
      lastWasLiteral = true;
    } else {
      matches++;
      if (ctrl >> 5 === 7) { while (stream[ip++] === 255); }
      const code = stream[ip++];
      if (code === 255 && (ctrl & 31) === 31) {
        far++;
        ip += 2;
      }
      lastWasLiteral = false;
    }
    if (ip >= stream.length) break;
    ctrl = stream[ip++]!;
  }
  assert.equal(ip, stream.length, "tokens end with the stream");
  assert.ok(lastWasLiteral, "the stream ends with a literal run");
  return { far, matches };
}

/** Items of `typesize` bytes, little-endian, with slowly rising values. */
function elems(n: number, typesize: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i * typesize < n; i++) {
    let value = Math.floor(i / 50) * 3 + (i % 3);
    for (let k = 0; k < typesize && i * typesize + k < n; k++) {
      out[i * typesize + k] = value & 255;
      value = Math.floor(value / 256);
    }
  }
  return out;
}

/** Long runs of one byte value, with sparse exceptions. */
function ramp(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = (Math.floor(i / 4096) + (i % 1024 === 7 ? 1 : 0) + (i % 4 === 1 ? 1 : 0)) % 256;
  }
  return out;
}

/** MsgPack of an array of small non-negative ints (fixints), as MsgPackCodec writes it. */
function msgpackInts(values: number[]): Uint8Array {
  const out = [0xdc, values.length >> 8, values.length & 255];
  for (const v of values) {
    if (v >= 0 && v < 128) out.push(v);
    else if (v >= -32 && v < 0) out.push(v & 255);
    else if (v >= -128 && v < 128) out.push(0xd0, v & 255);
    else throw new Error(`not a small int: ${v}`);
  }
  return new Uint8Array(out);
}

// ------------------------------------------------- c-blosc 1.21.3 fixtures

/**
 * Buffers written by python-blosc 1.11.1 / c-blosc 1.21.3
 * (`blosc.compress(data, typesize, shuffle=..., cname=...)`) for data made by
 * `elems(n, typesize)` or `ramp(n)` above: compressors, shuffles and layouts
 * the aiomas vectors do not cover.
 */
const FIXTURES: { name: string; data: "elems" | "ramp"; n: number; hex: string[] }[] = [
  {
    name: "lz4_shuffle_split",
    data: "elems",
    n: 4096,
    hex: [
      "020121080010000000100000db00000014000000530000003f00010203001c3f05030403001c3f0708060300",
      "1c3f090a0b03001c3f0e0c0d03001c3f10110f03001c3f12131403001c3f17151603001c3f191a1803001c3f",
      "1b1c1d03001cc0201e1f201e1f201e1f201e1f0c0000001f000100ffe85000000000000c0000001f000100ff",
      "e85000000000000c0000001f000100ffe85000000000000c0000001f000100ffe85000000000000c0000001f",
      "000100ffe85000000000000c0000001f000100ffe85000000000000c0000001f000100ffe8500000000000",
    ],
  },
  {
    name: "lz4hc_noshuffle_ts4",
    data: "elems",
    n: 3000,
    hex: [
      "02012004b80b0000b80b000032010000140000003d0000009000000000010000000209000f0c00a89f050000",
      "0003000000040c00ac9f0700000008000000060c00ac9f090000000a0000000b0c0075500000000a004a0000",
      "00cf00000b000000090000000a000c00139f0e0000000c0000000d0c00ac9f10000000110000000f0c00ac9f",
      "1200000013000000140c00ac9f1700000015000000160c00435000170000004a000000cf1500000016000000",
      "170000000c00459f190000001a000000180c00ac9f1b0000001c0000001d0c00ac9f200000001e0000001f0c",
      "00ac9f2200000023000000210c00115000000022003d000000cf0000230000002100000022000c00779f2400",
      "000025000000260c00ac9f2900000027000000280c00ac9f2b0000002c0000002a0c00a750002c000000",
    ],
  },
  {
    name: "blosclz_bitshuffle",
    data: "elems",
    n: 4096,
    hex: [
      "0201040800100000001000009f01000014000000100100003f9224499224496edbb66ddbb69d244992244952",
      "dbb66ddbb66d244992244992d81fb66ddbb66d2b4992244992e4b66ddbb66ddb499224499224b56ddbb66ddb",
      "46921f244992244992489224499224d9b66ddbb66d9b6ddbb66ddbb6499224499224911f2449922449b26ddb",
      "b66ddb76dbb66ddbb66d92244992244926499224499264db1f000000000000b46ddbb66ddbd6b66ddbb66d1b",
      "000000000000ffffffffffff931e2449922449429224499224c9ffffffffffff000000000000d8b66ddbb66d",
      "6b803f80000800204992244992e4ffe00100803f014902802002000000c058800101ff6fe0033fe00a000700",
      "6cdbb66ddbb6fd802ee00801e0183fe0160002009024e01621e05500020000000d0000002300000000e0fff1",
      "03020000000d0000002300000000e0fff103020000000d0000002300000000e0fff103020000000d00000023",
      "00000000e0fff103020000000d0000002300000000e0fff103020000000d0000002300000000e0fff1030200",
      "00000d0000002300000000e0fff10302000000",
    ],
  },
  {
    name: "lz4_bitshuffle_odd_count",
    data: "elems",
    n: 5000,
    hex: [
      "020124088813000088130000ec010000140000002a0000001300010013010800130208000402000f1800ff5e",
      "1305790113030800130408000f1800b15000000000033c00000012000100120407002300050800130308000f",
      "18007d1307980013080800130608000f1800ff6613098001130a0800130b08000f1800025000000009003500",
      "000011000100110a06003000000b0500410000000906000f1800ff30100e4501410000000c06003000000d05",
      "000f1800e65000000c00004a00000010000100100d0500410000000e06003000000c05000f18005011106600",
      "300000110500410000000f06000f1800ff6810127d01410000001306003000001405000f1800375000120000",
      "00360000005000000000130500410000001406003000001205000f1800ff0111171601300000150500410000",
      "001606000f1800ff185015000000003c00000052000000160001001217070023001508000f18001d13193800",
      "131a0800131808000f1800ff66131b8001131c0800131d08000f1800665000000000002b0000004200001c00",
      "0100121d070023001b08000f1800cd1320e800131e0800131f08000f1800ff48500000000000360000003200",
      "1f0001001220070023001e08001322080013230800132108000f1800ff661324800113250800132608000f18",
      "0098500000000000",
    ],
  },
  {
    name: "blosclz_bitshuffle_ts2_multiblock",
    data: "ramp",
    n: 600003,
    hex: [
      "02010402c327090000000800110c000018000000530900008b0400002300000000e0f2030100ffe0f50000ff",
      "e1f2fb010000e1ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ff77ffe0f700fff7ff6100e0f701fff7ff6200e0f700e3ffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffff73ffe0fff800fffff8ff5e00e0fff801fffff8ff6400e0fff800e7ffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff6fffe0fffffffa00fffffffffaff",
      "5c00e0fffffffa01fffffffffaff6800e0fffffffa00efffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffff67ffe0fffffffffffffffe00fffffffffffffffffeff5800e0fffffffffffffffe01ffffffffffffff",
      "fffeff7000e0fffffffffffffffe00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffff57ff0000e0ffffffffffffffffffffffffffffff",
      "ff0700ffffffffffffffffffffffffffffffffff07ff5000e0ffffffffffffffffffffffffffffffff0701ff",
      "ffffffffffffffffffffffffffffffff07ff8000e0ffffffffffffffffffffffffffffffff0700ffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffff37ff2000e0ffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffff1700ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "17ff4000e0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff1701ffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffff17ffa000e0ffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff550002",
      "000000a8040000245d55555555e031000055e0b63f0255a2aae0340000aae0b63f00aae1b6bfe2377fe1ffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff74ff01aa00e0f50000",
      "00fff6ff5f000155ffe0f50000ffffb6ff61c0ff37ff6280e3ffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffff74ffe0fff800fffff8ff6200e0fff801fffff8ff6400e0fff800",
      "e7ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff6fffe0fffffffa00ffffff",
      "fffaff5c00e0fffffffa01fffffffffaff6800e0fffffffa00efffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffff67ffe0fffffffffffffffe00fffffffffffffffffeff5800e0fffffffffffffffe01ffffffff",
      "fffffffffeff7000e0fffffffffffffffe00ffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffff57ff0000e0ffffffffffffffffffffffff",
      "ffffffff0700ffffffffffffffffffffffffffffffffff07ff5000e0ffffffffffffffffffffffffffffffff",
      "0701ffffffffffffffffffffffffffffffffff07ff8000e0ffffffffffffffffffffffffffffffff0700ffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffff37ff2000e0ffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffff1700ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffff17ff4000e0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff1701ffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff17ffa000e0ffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "5700fff5ffa00002555555ba0200002780818080808180818007018080e0fffffff0030080e3ffffffffffff",
      "fffffffffffaff088081828181818281828007018181e0fffffff0030081e3fffffffffffffffffffffffaff",
      "088182838282828382838007018282e0fffffff0030082e3fffffffffffffffffffffffaff08828384838383",
      "8483848007018383e0fffffff0030083e3fffffffffffffffffffffffaff0883848584848485848580070184",
      "84e0fffffff0030084e3fffffffffffffffffffffffaff088485868585858685868007018585e0fffffff003",
      "0085e3fffffffffffffffffffffffaff088586878686868786878007018686e0fffffff0030086e3ffffffff",
      "fffffffffffffffaff088687888787878887888007018787e0fffffff0030087e3ffffffffffffffffffffff",
      "faff088788898888888988898007018888e0fffffff0030088e3fffffffffffffffffffffffaff0888898a89",
      "89898a898a8007018989e0fffffff0030089e3fffffffffffffffffffffffaff08898a8b8a8a8a8b8a8b8007",
      "018a8ae0fffffff003008ae3fffffffffffffffffffffffaff088a8b8c8b8b8b8c8b8c8007018b8be0ffffff",
      "f003008be3fffffffffffffffffffffffaff088b8c8d8c8c8c8d8c8d8007018c8ce0fffffff003008ce3ffff",
      "fffffffffffffffffffaff088c8d8e8d8d8d8e8d8e8007018d8de0fffffff003008de3ffffffffffffffffff",
      "fffffaff088d8e8f8e8e8e8f8e8f8007018e8ee0fffffff003008ee3fffffffffffffffffffffffaff088e8f",
      "908f8f8f908f908007018f8fe0fffffff003008fe3fffffffffffffffffffffffaff088f9091909090919091",
      "8007019090e0fffffff0030090e3fffffffffffffffffffffffaff089091929191919291928007019191e0ff",
      "fffff0030091e3fffffffffffffffffffffffaff089192939292929392938007019292e0fffffff0030092e3",
      "ffffffb3ff02929392",
    ],
  },
  {
    name: "lz4_shuffle_ts1_multiblock",
    data: "ramp",
    n: 300001,
    hex: [
      "02012101e193040000000400ee0b000018000000e2090000c609000061000100000001020013000c000f0800",
      "ffffffe41f01fc03ffffffeb0f0008fffffffffffffff161010201010102020013010c000f0800ffffffe41f",
      "02fc03ffffffeb0f0008fffffffffffffff161020302020203020013020c000f0800ffffffe41f03fc03ffff",
      "ffeb0f0008fffffffffffffff161030403030304020013030c000f0800ffffffe41f04fc03ffffffeb0f0008",
      "fffffffffffffff161040504040405020013040c000f0800ffffffe41f05fc03ffffffeb0f0008ffffffffff",
      "fffff161050605050506020013050c000f0800ffffffe41f06fc03ffffffeb0f0008fffffffffffffff16106",
      "0706060607020013060c000f0800ffffffe41f07fc03ffffffeb0f0008fffffffffffffff161070807070708",
      "020013070c000f0800ffffffe41f08fc03ffffffeb0f0008fffffffffffffff161080908080809020013080c",
      "000f0800ffffffe41f09fc03ffffffeb0f0008fffffffffffffff161090a0909090a020013090c000f0800ff",
      "ffffe41f0afc03ffffffeb0f0008fffffffffffffff1610a0b0a0a0a0b0200130a0c000f0800ffffffe41f0b",
      "fc03ffffffeb0f0008fffffffffffffff1610b0c0b0b0b0c0200130b0c000f0800ffffffe41f0cfc03ffffff",
      "eb0f0008fffffffffffffff1610c0d0c0c0c0d0200130c0c000f0800ffffffe41f0dfc03ffffffeb0f0008ff",
      "fffffffffffff1610d0e0d0d0d0e0200130d0c000f0800ffffffe41f0efc03ffffffeb0f0008ffffffffffff",
      "fff1610e0f0e0e0e0f0200130e0c000f0800ffffffe41f0ffc03ffffffeb0f0008fffffffffffffff1610f10",
      "0f0f0f100200130f0c000f0800ffffffe41f10fc03ffffffeb0f0008fffffffffffffff16110111010101102",
      "0013100c000f0800ffffffe41f11fc03ffffffeb0f0008fffffffffffffff161111211111112020013110c00",
      "0f0800ffffffe41f12fc03ffffffeb0f0008fffffffffffffff161121312121213020013120c000f0800ffff",
      "ffe41f13fc03ffffffeb0f0008fffffffffffffff161131413131314020013130c000f0800ffffffe41f14fc",
      "03ffffffeb0f0008fffffffffffffff161141514141415020013140c000f0800ffffffe41f15fc03ffffffeb",
      "0f0008fffffffffffffff161151615151516020013150c000f0800ffffffe41f16fc03ffffffeb0f0008ffff",
      "fffffffffff161161716161617020013160c000f0800ffffffe41f17fc03ffffffeb0f0008ffffffffffffff",
      "f161171817171718020013170c000f0800ffffffe41f18fc03ffffffeb0f0008fffffffffffffff161181918",
      "181819020013180c000f0800ffffffe41f19fc03ffffffeb0f0008fffffffffffffff161191a1919191a0200",
      "13190c000f0800ffffffe41f1afc03ffffffeb0f0008fffffffffffffff1611a1b1a1a1a1b0200131a0c000f",
      "0800ffffffe41f1bfc03ffffffeb0f0008fffffffffffffff1611b1c1b1b1b1c0200131b0c000f0800ffffff",
      "e41f1cfc03ffffffeb0f0008fffffffffffffff1611c1d1c1c1c1d0200131c0c000f0800ffffffe41f1dfc03",
      "ffffffeb0f0008fffffffffffffff1611d1e1d1d1d1e0200131d0c000f0800ffffffe41f1efc03ffffffeb0f",
      "0008fffffffffffffff1611e1f1e1e1e1f0200131e0c000f0800ffffffe41f1ffc03ffffffeb0f0008ffffff",
      "fffffffff1611f201f1f1f200200131f0c000f0800ffffffe41f20fc03ffffffeb0f0008fffffffffffffff1",
      "61202120202021020013200c000f0800ffffffe41f21fc03ffffffeb0f0008fffffffffffffff16121222121",
      "2122020013210c000f0800ffffffe41f22fc03ffffffeb0f0008fffffffffffffff161222322222223020013",
      "220c000f0800ffffffe41f23fc03ffffffeb0f0008fffffffffffffff161232423232324020013230c000f08",
      "00ffffffe41f24fc03ffffffeb0f0008fffffffffffffff161242524242425020013240c000f0800ffffffe4",
      "1f25fc03ffffffeb0f0008fffffffffffffff161252625252526020013250c000f0800ffffffe41f26fc03ff",
      "ffffeb0f0008fffffffffffffff161262726262627020013260c000f0800ffffffe41f27fc03ffffffeb0f00",
      "08fffffffffffffff161272827272728020013270c000f0800ffffffe41f28fc03ffffffeb0f0008ffffffff",
      "fffffff161282928282829020013280c000f0800ffffffe41f29fc03ffffffeb0f0008fffffffffffffff161",
      "292a2929292a020013290c000f0800ffffffe41f2afc03ffffffeb0f0008fffffffffffffff1612a2b2a2a2a",
      "2b0200132a0c000f0800ffffffe41f2bfc03ffffffeb0f0008fffffffffffffff1612b2c2b2b2b2c0200132b",
      "0c000f0800ffffffe41f2cfc03ffffffeb0f0008fffffffffffffff1612c2d2c2c2c2d0200132c0c000f0800",
      "ffffffe41f2dfc03ffffffeb0f0008fffffffffffffff1612d2e2d2d2d2e0200132d0c000f0800ffffffe41f",
      "2efc03ffffffeb0f0008fffffffffffffff1612e2f2e2e2e2f0200132e0c000f0800ffffffe41f2ffc03ffff",
      "ffeb0f0008fffffffffffffff1612f302f2f2f300200132f0c000f0800ffffffe41f30fc03ffffffeb0f0008",
      "fffffffffffffff161303130303031020013300c000f0800ffffffe41f31fc03ffffffeb0f0008ffffffffff",
      "fffff161313231313132020013310c000f0800ffffffe41f32fc03ffffffeb0f0008fffffffffffffff16132",
      "3332323233020013320c000f0800ffffffe41f33fc03ffffffeb0f0008fffffffffffffff161333433333334",
      "020013330c000f0800ffffffe41f34fc03ffffffeb0f0008fffffffffffffff161343534343435020013340c",
      "000f0800ffffffe41f35fc03ffffffeb0f0008fffffffffffffff161353635353536020013350c000f0800ff",
      "ffffe41f36fc03ffffffeb0f0008fffffffffffffff161363736363637020013360c000f0800ffffffe41f37",
      "fc03ffffffeb0f0008fffffffffffffff161373837373738020013370c000f0800ffffffe41f38fc03ffffff",
      "eb0f0008fffffffffffffff161383938383839020013380c000f0800ffffffe41f39fc03ffffffeb0f0008ff",
      "fffffffffffff161393a3939393a020013390c000f0800ffffffe41f3afc03ffffffeb0f0008ffffffffffff",
      "fff1613a3b3a3a3a3b0200133a0c000f0800ffffffe41f3bfc03ffffffeb0f0008fffffffffffffff1613b3c",
      "3b3b3b3c0200133b0c000f0800ffffffe41f3cfc03ffffffeb0f0008fffffffffffffff1613c3d3c3c3c3d02",
      "00133c0c000f0800ffffffe41f3dfc03ffffffeb0f0008fffffffffffffff1613d3e3d3d3d3e0200133d0c00",
      "0f0800ffffffe41f3efc03ffffffeb0f0008fffffffffffffff1613e3f3e3e3e3f0200133e0c000f0800ffff",
      "ffe41f3ffc03ffffffeb0f0008fffffffffffffff1613f403f3f3f400200133f0c000f0800ffffffe41f40fc",
      "03ffffffeb0f0008ffffffffffffffec503f3f403f3f080200006140414040404102000008000f0400ffffff",
      "e80002000ffc03ffffffe800f8030002000008000f0400ffffffe80002000ffc03ffffffe561414241414142",
      "02000008000f0400ffffffe80002000ffc03ffffffe800f8030002000008000f0400ffffffe80002000ffc03",
      "ffffffe56142434242424302000008000f0400ffffffe80002000ffc03ffffffe800f8030002000008000f04",
      "00ffffffe80002000ffc03ffffffe56143444343434402000008000f0400ffffffe80002000ffc03ffffffe8",
      "00f8030002000008000f0400ffffffe80002000ffc03ffffffe56144454444444502000008000f0400ffffff",
      "e80002000ffc03ffffffe800f8030002000008000f0400ffffffe80002000ffc03ffffffe561454645454546",
      "02000008000f0400ffffffe80002000ffc03ffffffe800f8030002000008000f0400ffffffe80002000ffc03",
      "ffffffe56146474646464702000008000f0400ffffffe80002000ffc03ffffffe800f8030002000008000f04",
      "00ffffffe80002000ffc03ffffffe56147484747474802000008000f0400ffffffe80002000ffc03ffffffe8",
      "00f8030002000008000f0400ffffffe80002000ffc03ffffffe56148494848484902000008000f0400ffffff",
      "e80002000ffc03ffffffe800f8030002000008000f0400ffffffe80002000ffc03ffffffe561494a4949494a",
      "02000008000f0400ffffffbd50494a494949",
    ],
  },
  {
    name: "blosclz_noshuffle_ts8",
    data: "elems",
    n: 2059,
    hex: [
      "020100080b0800000808000055010000180000004e0100001a00000029000000000000000001008000000280",
      "06e00000e0d617010002270000002300000000e002030001a00b0002a007c000e05f170005a0700003a00700",
      "04a007e04f170104001900000026000000000000058006010003a0070004a007e0d817010000270000002500",
      "000000000460050300000500800000038006010007a0070008a0070006a007e0c11701000027000000250000",
      "00000600800000078006010008a007e087170009a097000aa007000ba007e032170100001b00000024000000",
      "0b0080000009800601000aa007000ba007e0d3170100002c0000002400000a00006000000b60050300000900",
      "8000000a8006e01017000ea01f000ca007000da007e0a417010000270000002a000c000000000000000d0080",
      "00000e8006e0a8170010a0b70011a007000fa007e0151701000003000000110000",
    ],
  },
  {
    name: "blosclz_shuffle_ts4_leftover",
    data: "elems",
    n: 2001,
    hex: [
      "02010104d1070000d0070000aa00000018000000a50000005600000025000102000102e022050301050304e0",
      "25020303070806e025020308090a0be02502030a0e0c0de02502030c10110fe025020311121314e025020313",
      "171516e025020315191a18e02502031a1b1c1de02302021d1b1c0d0000002300000000e0ffe503020000000d",
      "0000002300000000e0ffe503020000000d0000002300000000e0ffe503020000000100000020",
    ],
  },
  {
    name: "zlib",
    data: "elems",
    n: 2048,
    hex: [
      "020161080008000000080000ae000000140000002600000078da63606462200db132b39088d839d848449c5c",
      "dc24223e1e5e129180203f1001005fb807360c00000078da636018d90000010000010c00000078da636018d9",
      "0000010000010c00000078da636018d90000010000010c00000078da636018d90000010000010c00000078da",
      "636018d90000010000010c00000078da636018d90000010000010c00000078da636018d9000001000001",
    ],
  },
  {
    name: "zstd",
    data: "elems",
    n: 2048,
    hex: [
      "02019108000800000008000048000000140000003000000028b52ffd60000735010098000102050304070806",
      "090a0b0e0c0d10110f00072070edfcfa4560100d448368806860d486",
    ],
  },
  {
    name: "snappy",
    data: "elems",
    n: 2048,
    hex: [
      "020141080008000000080000d0000000140000002c000000800208000102ba030008050304ba030008070806",
      "ba030008090a0bba0300080e0c0dba03001410110f10110f1000000080020000fe0100fe0100fe0100fa0100",
      "1000000080020000fe0100fe0100fe0100fa01001000000080020000fe0100fe0100fe0100fa010010000000",
      "80020000fe0100fe0100fe0100fa01001000000080020000fe0100fe0100fe0100fa01001000000080020000",
      "fe0100fe0100fe0100fa01001000000080020000fe0100fe0100fe0100fa0100",
    ],
  },
];

function fixtureData(fixture: (typeof FIXTURES)[number], typesize: number): Uint8Array {
  return fixture.data === "ramp" ? ramp(fixture.n) : elems(fixture.n, typesize);
}

/** Header fields c-blosc 1.21.3 writes: [nbytes, typesize, blocksize, flags less 0x02]. */
const CBLOSC_HEADERS: [number, number, number, number][] = [
  [100, 8, 96, 0x11],
  [128, 1, 128, 0x01],
  [128, 8, 128, 0x11],
  [200, 4, 200, 0x11],
  [200, 16, 192, 0x11],
  [512, 1, 512, 0x01],
  [1000, 8, 1000, 0x11],
  [1023, 4, 1020, 0x01],
  [1023, 16, 1008, 0x11],
  [1111, 8, 1104, 0x01],
  [2000, 16, 2000, 0x11],
  [4096, 16, 4096, 0x01],
  [40000, 16, 40000, 0x01],
  [40000, 32, 40000, 0x11],
  [300001, 1, 262144, 0x01],
  [600003, 2, 524288, 0x01],
  [2500000, 8, 1048576, 0x01],
  [3000000, 3, 786432, 0x01],
];

// ------------------------------------------------------------------ tests

Deno.test("every aiomas vector decompresses to its MsgPack bytes", () => {
  assert.equal(vectors.length, 74);
  for (const v of vectors) {
    const out = bloscDecompress(v.payload);
    assert.ok(equalBytes(out, msgpackOf(v)), v.name);
  }
});

Deno.test("encode_exact vectors compress to exactly aiomas' bytes", () => {
  let exact = 0;
  for (const v of vectors) {
    if (!v.encodeExact) continue;
    assert.equal(toHex(bloscCompress(msgpackOf(v))), toHex(v.payload), v.name);
    exact++;
  }
  assert.ok(exact > 50);
});

Deno.test("every vector round-trips with c-blosc's header fields", () => {
  for (const v of vectors) {
    const data = msgpackOf(v);
    const frame = bloscCompress(data);
    assert.ok(equalBytes(bloscDecompress(frame), data), v.name);
    // Same version, flags (apart from memcpyed), typesize, nbytes, blocksize.
    const theirs = v.payload;
    assert.deepEqual([frame[0], frame[1], frame[2]! & ~2, frame[3]], [2, 1, theirs[2]! & ~2, 8]);
    assert.equal(toHex(frame.subarray(4, 12)), toHex(theirs.subarray(4, 12)), v.name);
    // Never bigger than what Python sent.
    assert.ok(frame.length <= theirs.length, `${v.name}: ${frame.length} > ${theirs.length}`);
  }
});

Deno.test("blocksize and flags follow c-blosc 1.21.3 for other sizes and typesizes", () => {
  for (const [nbytes, typesize, blocksize, flags] of CBLOSC_HEADERS) {
    const data = new Uint8Array(nbytes).map((_, i) => i % 100);
    const frame = bloscCompress(data, { typesize });
    const view = new DataView(frame.buffer);
    assert.deepEqual(
      [frame[2]! & ~2, frame[3], view.getUint32(4, true), view.getUint32(8, true)],
      [flags, typesize, nbytes, blocksize],
      `nbytes ${nbytes} typesize ${typesize}`,
    );
    assert.ok(equalBytes(bloscDecompress(frame, { maxSize: 1 << 30 }), data));
  }
});

Deno.test("c-blosc fixtures: lz4, lz4hc, bit shuffle, no shuffle, several blocks", () => {
  let decoded = 0;
  for (const fixture of FIXTURES) {
    const frame = fromHex(fixture.hex.join(""));
    const name = fixture.name;
    if (/^(snappy|zlib|zstd)$/.test(name)) {
      assertCodecError(
        () => bloscDecompress(frame),
        new RegExp(`${name} compressor .* not supported`),
      );
      continue;
    }
    const expected = fixtureData(fixture, frame[3]!);
    assert.ok(equalBytes(bloscDecompress(frame), expected), name);
    decoded++;
  }
  assert.equal(decoded, 8);
});

Deno.test("an unknown compressor code is named", () => {
  const frame = blosclzBuffer([0x20, 0x61], 1);
  frame[2]! |= 6 << 5;
  assertCodecError(() => bloscDecompress(frame), /unknown compressor code 6/);
  // A memcpyed buffer needs no compressor.
  const stored = buffer(0x02 | (6 << 5), 1, 2, 2, [7, 8]);
  assert.deepEqual(Array.from(bloscDecompress(stored)), [7, 8]);
});

Deno.test("compressed buffers keep c-blosc's layout and blosclz token rules", () => {
  const random = mulberry32(7);
  const cases: [Uint8Array, number][] = [
    [elems(5000, 8), 8],
    [elems(1_100_000, 8), 8], // two blocks: 8 streams, then 1
    [ramp(300_001), 1],
    [elems(100_000, 4), 4],
    [elems(3000, 32), 32], // typesize above 16: never split
    [new Uint8Array(4096).map(() => (random() < 0.9 ? 0 : random() * 256)), 8],
    [new Uint8Array(8000).map((_, i) => (i % 8 === 7 ? random() * 256 : i >> 10)), 8],
    [new TextEncoder().encode("spam".repeat(300_000)), 8],
  ];
  let compressed = 0;
  let raw = 0;
  for (const [data, typesize] of cases) {
    const frame = bloscCompress(data, { typesize });
    assert.ok(equalBytes(bloscDecompress(frame), data));
    const { streams, flags } = layout(frame);
    assert.equal(flags & 0xe0, 0, "blosclz");
    for (const block of streams) {
      for (const { c, size, bytes } of block) {
        assert.ok(c > 0 && c <= size);
        if (c === size) {
          raw++;
          continue;
        }
        checkBlosclzTokens(bytes);
        compressed++;
      }
    }
  }
  assert.ok(compressed > 20 && raw > 0, `${compressed} compressed, ${raw} raw streams`);
});

Deno.test("blosclz encoder uses the far distance form beyond 8191 bytes", () => {
  const random = mulberry32(11);
  const chunk = new Uint8Array(20_000).map(() => random() * 256);
  const data = new Uint8Array(100_000).map((_, i) => chunk[i % chunk.length]!);
  const frame = bloscCompress(data, { typesize: 1, shuffle: false });
  assert.ok(frame.length < 21_000, `${frame.length} bytes`);
  const { streams } = layout(frame);
  const { far } = checkBlosclzTokens(streams[0]![0]!.bytes);
  assert.ok(far >= 1);
  assert.ok(equalBytes(bloscDecompress(frame), data));
  // A far match decodes exactly as described: d = 8191 + 16-bit value.
  const dest = new Uint8Array(8200 + 5);
  const literal = Array.from({ length: 8200 }, (_, i) => (i * 7) & 255);
  const stream: number[] = [];
  for (let i = 0; i < 8200; i += 32) {
    stream.push(Math.min(32, 8200 - i) - 1, ...literal.slice(i, i + 32));
  }
  stream[0]! |= 0x20;
  // Match of 4 bytes (ctrl (2 << 5) | 31), distance 8191 + 8 = 8199, then 1 literal.
  stream.push((2 << 5) | 31, 255, 0, 8, 0, 0x55);
  blosclzDecompress(new Uint8Array(stream), dest);
  assert.deepEqual(Array.from(dest.subarray(8200, 8204)), literal.slice(0, 4));
  assert.equal(dest[8204], 0x55);
});

Deno.test("stored forms: small, incompressible, and a typesize of 1", () => {
  // Below 128 bytes: verbatim with flags 0x13, whatever the content.
  const zeros = new Uint8Array(127);
  assert.equal(toHex(bloscCompress(zeros).subarray(0, 16)), "020113087f000000780000008f000000");
  // Random data does not shrink: memcpyed (0x03 when the block would be split).
  const random = mulberry32(3);
  const noise = new Uint8Array(1111).map(() => random() * 256);
  const frame = bloscCompress(noise);
  assert.equal(toHex(frame.subarray(0, 16)), "02010308570400005004000067040000");
  assert.ok(equalBytes(frame.subarray(16), noise));
  assert.ok(equalBytes(bloscDecompress(frame), noise));
  // Empty input.
  assert.equal(bloscDecompress(bloscCompress(new Uint8Array(0))).length, 0);
  assertCodecError(() => bloscCompress(noise, { typesize: 0 }), /typesize/);
});

Deno.test("round trips of many sizes, typesizes and contents", () => {
  const random = mulberry32(5);
  const sizes = [1, 7, 8, 9, 127, 128, 129, 255, 1000, 1024, 4095, 4097, 32768, 65537, 262145];
  const makers: ((n: number) => Uint8Array)[] = [
    (n) => new Uint8Array(n).map(() => random() * 256),
    (n) => new Uint8Array(n).map((_, i) => i % 100),
    (n) => elems(n, 8),
    (n) => new Uint8Array(n),
    (n) => {
      let v = 0;
      return new Uint8Array(n).map(() => (v += random() < 0.5 ? -1 : 1) & 255);
    },
  ];
  for (const n of sizes) {
    for (const make of makers) {
      const data = make(n);
      for (
        const options of [{}, { typesize: 1 }, { typesize: 4, shuffle: false }, { typesize: 3 }]
      ) {
        const frame = bloscCompress(data, options);
        assert.ok(frame.length <= n + 16);
        assert.ok(equalBytes(bloscDecompress(frame), data), `${n} ${JSON.stringify(options)}`);
      }
    }
  }
});

Deno.test("a 20,000-int MsgPack series compresses at least 4x (c-blosc: 48.7x)", () => {
  const data = msgpackInts(Array.from({ length: 20000 }, (_, i) => i % 100));
  const frame = bloscCompress(data);
  const ratio = data.length / frame.length;
  assert.ok(ratio >= 4, `ratio ${ratio.toFixed(1)}`);
  assert.ok(frame.length <= 411, `${frame.length} bytes; c-blosc 1.21.3 writes 411`);
  assert.ok(equalBytes(bloscDecompress(frame), data));
});

Deno.test("large redundant data compresses about as well as c-blosc", () => {
  const spam = new TextEncoder().encode("spam".repeat(300_000));
  assert.ok(bloscCompress(spam).length <= 4917, "c-blosc: 4917 bytes");
  const floats = new Float64Array(1 << 17).map((_, i) => Math.round(Math.sin(i / 100) * 1000) / 10);
  const bytes = new Uint8Array(floats.buffer);
  const frame = bloscCompress(bytes);
  assert.ok(bytes.length / frame.length > 3, `ratio ${bytes.length / frame.length}`);
  assert.ok(equalBytes(bloscDecompress(frame), bytes));
});

Deno.test("malformed buffers raise a CodecError naming the problem", () => {
  const good = bloscCompress(elems(4096, 8));
  const mutate = (edit: (b: Uint8Array, v: DataView) => void) => {
    const copy = good.slice();
    edit(copy, new DataView(copy.buffer));
    return copy;
  };
  assertCodecError(() => bloscDecompress(good.subarray(0, 10)), /shorter than its 16-byte header/);
  assertCodecError(() => bloscDecompress(mutate((b) => (b[0] = 3))), /format version 3/);
  assertCodecError(() => bloscDecompress(good.subarray(0, good.length - 1)), /cbytes/);
  assertCodecError(
    () => bloscDecompress(good, { maxSize: 4095 }),
    /4096 bytes, more than maxSize \(4095\)/,
  );
  // A header that claims far more than its bytes could hold: refused before allocating.
  assertCodecError(
    () =>
      bloscDecompress(buffer(0x01, 8, 0xfffffff0, 0x100000, [0, 0, 0, 0]), { maxSize: 2 ** 32 }),
    /beyond any Blosc compressor's ratio/,
  );
  assertCodecError(() => bloscDecompress(buffer(0x02, 8, 4, 4, [1, 2, 3])), /memcpyed/i);
  assertCodecError(() => bloscDecompress(mutate((b) => (b[3] = 0))), /typesize 0/);
  assertCodecError(() => bloscDecompress(mutate((_, v) => v.setUint32(8, 0, true))), /blocksize 0/);
  assertCodecError(
    () => bloscDecompress(mutate((_, v) => v.setUint32(8, 5000, true))),
    /blocksize 5000/,
  );
  assertCodecError(
    () => bloscDecompress(mutate((_, v) => v.setUint32(8, 8, true))),
    /too short for the offsets of its 512 blocks/,
  );
  assertCodecError(
    () => bloscDecompress(mutate((_, v) => v.setInt32(16, 9999, true))),
    /block 0 starts at offset 9999/,
  );
  assertCodecError(
    () => bloscDecompress(mutate((_, v) => v.setInt32(16, 4, true))),
    /block 0 starts at offset 4/,
  );
  assertCodecError(
    () => bloscDecompress(mutate((_, v) => v.setInt32(20, 1 << 20, true))),
    /block 0 stream 0: 1048576 compressed bytes .* do not fit/,
  );
  assertCodecError(
    () => bloscDecompress(mutate((_, v) => v.setInt32(20, -5, true))),
    /-5 compressed bytes/,
  );
  // A stream that decodes to the wrong size.
  assertCodecError(
    () => bloscDecompress(blosclzBuffer([0x21, 1, 2], 4)),
    /decoded to 2 bytes, expected 4/,
  );
  assertCodecError(
    () => bloscDecompress(blosclzBuffer([0x22, 1, 2, 3, 0, 9], 3)),
    /past the end of the block/,
  );
  // A match before the start of the block.
  assertCodecError(
    () => bloscDecompress(blosclzBuffer([0x20, 1, 0x20, 5, 0, 7], 5)),
    /reaches 6 bytes back from output offset 1/,
  );
  // Truncated tokens: a literal run, a match, a long match, a far match.
  assertCodecError(() => bloscDecompress(blosclzBuffer([0x23, 1, 2], 4)), /truncated/);
  assertCodecError(() => bloscDecompress(blosclzBuffer([0x20, 1, 0x40], 5)), /truncated/);
  assertCodecError(() => bloscDecompress(blosclzBuffer([0x20, 1, 0xe0, 255], 300)), /truncated/);
  assertCodecError(() => bloscDecompress(blosclzBuffer([0x20, 1, 0x5f, 255, 1], 9)), /truncated/);
  // Split data that cannot be split evenly.
  const uneven = buffer(0x00, 3, 400, 400, [...u32(20), ...u32(400), ...new Array(400).fill(0)]);
  assertCodecError(() => bloscDecompress(uneven), /cannot be split into 3 streams/);
});

Deno.test("lz4 block decoder: sequences and errors", () => {
  const out = new Uint8Array(11);
  lz4Decompress(new Uint8Array([0x24, 0x61, 0x62, 0x02, 0x00, 0x10, 0x63]), out);
  assert.equal(new TextDecoder().decode(out), "ababababab" + "c");
  // Long literal and match lengths (15 + extension bytes).
  const lits = new Array(300).fill(0).map((_, i) => i & 255);
  const long = new Uint8Array([0xff, 255, 30, ...lits, 1, 0, 255, 5, 0x10, 9]);
  const dest = new Uint8Array(300 + 15 + 255 + 5 + 4 + 1);
  lz4Decompress(long, dest);
  assert.ok(dest.subarray(300, 300 + 279).every((b) => b === lits[299]));
  assert.equal(dest.at(-1), 9);
  assertCodecError(
    () => lz4Decompress(new Uint8Array([0x14, 1, 0, 0]), new Uint8Array(10)),
    /zero match offset/,
  );
  assertCodecError(
    () => lz4Decompress(new Uint8Array([0x14, 1, 5, 0, 0x00]), new Uint8Array(10)),
    /before the start/,
  );
  assertCodecError(
    () => lz4Decompress(new Uint8Array([0x14, 1, 1]), new Uint8Array(10)),
    /truncated/,
  );
  assertCodecError(() => lz4Decompress(new Uint8Array([0x30, 1]), new Uint8Array(3)), /truncated/);
  assertCodecError(
    () => lz4Decompress(new Uint8Array([0x20, 1, 2]), new Uint8Array(1)),
    /past the end/,
  );
  assertCodecError(
    () => lz4Decompress(new Uint8Array([0x10, 1]), new Uint8Array(2)),
    /decoded to 1 bytes/,
  );
  assertCodecError(() => lz4Decompress(new Uint8Array([]), new Uint8Array(2)), /truncated/);
});

Deno.test("blosclz codec on its own: runs, overlaps and tiny inputs", () => {
  for (const text of ["a", "ab", "abcde", "aaaaaa", "abababababab", "x".repeat(70_000) + "yz"]) {
    const data = new TextEncoder().encode(text);
    const dest = new Uint8Array(data.length + 64);
    const size = blosclzCompress(data, dest);
    const stream = size === 0 ? undefined : dest.subarray(0, size);
    if (stream === undefined) continue;
    checkBlosclzTokens(stream);
    const back = new Uint8Array(data.length);
    blosclzDecompress(stream, back);
    assert.ok(equalBytes(back, data), text.slice(0, 20));
  }
  // A destination too small for the stream: 0, nothing written past it.
  assert.equal(blosclzCompress(new Uint8Array([1, 2, 3, 4, 5, 6]), new Uint8Array(5)), 0);
  assertCodecError(() => blosclzDecompress(new Uint8Array(0), new Uint8Array(1)), /empty/);
});

Deno.test("fuzz: mutated buffers decode or raise CodecError, quickly", () => {
  const random = mulberry32(20240601);
  const sources: Uint8Array[] = [
    ...vectors.filter((v) => v.name !== "blosc_multiblock_request").map((v) => v.payload),
    ...FIXTURES.map((f) => fromHex(f.hex.join(""))),
    bloscCompress(elems(5000, 8)),
    bloscCompress(ramp(70_000), { typesize: 1 }),
    bloscCompress(elems(3000, 4), { typesize: 4, shuffle: false }),
  ];
  // Mostly the compressed ones: that is where the decoder has work to do.
  const compressed = sources.filter((s) => (s[2]! & 0x02) === 0);
  const start = performance.now();
  let ok = 0;
  let failed = 0;
  const ITERATIONS = 6000;
  for (let i = 0; i < ITERATIONS; i++) {
    const pool = random() < 0.8 ? compressed : sources;
    let frame = pool[Math.floor(random() * pool.length)]!.slice();
    const edits = 1 + Math.floor(random() * 4);
    for (let e = 0; e < edits; e++) {
      const r = random();
      const at = random() < 0.5
        ? Math.floor(random() * Math.min(64, frame.length))
        : Math.floor(random() * frame.length);
      if (r < 0.5) frame[at]! ^= 1 << Math.floor(random() * 8);
      else if (r < 0.8) {
        frame[at] = [0, 255, 0x7f, 0x80, 0x1f, 0xe0, random() * 256][Math.floor(random() * 7)]!;
      } else if (r < 0.9) frame = frame.subarray(0, at);
      else {frame = new Uint8Array([
          ...frame.subarray(0, at),
          random() * 256,
          ...frame.subarray(at),
        ]);}
    }
    // Usually keep cbytes consistent so that the mutation reaches the blocks.
    if (frame.length >= 16 && random() < 0.8) {
      new DataView(frame.buffer, frame.byteOffset).setUint32(12, frame.length, true);
    }
    try {
      bloscDecompress(frame, { maxSize: 4 << 20 });
      ok++;
    } catch (err) {
      if (!(err instanceof CodecError)) {
        throw new Error(`iteration ${i}: ${err} for ${toHex(frame.subarray(0, 64))}`, {
          cause: err,
        });
      }
      failed++;
    }
  }
  // The stream decoders alone, on random bytes.
  for (let i = 0; i < 3000; i++) {
    const src = new Uint8Array(1 + Math.floor(random() * 64)).map(() => random() * 256);
    const dest = new Uint8Array(Math.floor(random() * 512));
    for (const decode of [blosclzDecompress, lz4Decompress]) {
      try {
        decode(src, dest);
      } catch (err) {
        if (!(err instanceof CodecError)) throw err;
      }
    }
  }
  const elapsed = performance.now() - start;
  assert.ok(failed > ITERATIONS / 3 && ok > 100, `${ok} decoded, ${failed} refused`);
  assert.ok(elapsed < 5000, `fuzzing took ${elapsed.toFixed(0)} ms`);
});

// Optional: when Debian's python3-blosc (c-blosc 1.21.3) is installed, the
// real c-blosc must read what bloscCompress writes.
const CBLOSC = (() => {
  try {
    return new Deno.Command("/usr/bin/python3", { args: ["-c", "import blosc"], stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "c-blosc 1.21.3 (python3-blosc) decompresses what bloscCompress writes",
  ignore: !CBLOSC,
  fn: async () => {
    const random = mulberry32(9);
    const inputs: [Uint8Array, number, boolean][] = [
      [msgpackInts(Array.from({ length: 20000 }, (_, i) => i % 100)), 8, true],
      [elems(1_100_000, 8), 8, true],
      [ramp(300_001), 1, true],
      [
        new Uint8Array(100_000).map((_, i) => (i % 20_000 < 10_000 ? random() * 256 : i & 7)),
        1,
        false,
      ],
      [new TextEncoder().encode("spam".repeat(300_000)), 8, true],
      [elems(70_001, 4), 4, true],
      [elems(3000, 32), 32, true],
    ];
    const dir = await Deno.makeTempDir();
    try {
      for (const [i, [data, typesize, shuffle]] of inputs.entries()) {
        await Deno.writeFile(`${dir}/${i}.in`, data);
        await Deno.writeFile(`${dir}/${i}.blosc`, bloscCompress(data, { typesize, shuffle }));
      }
      const script = `
import blosc, sys
for i in range(${inputs.length}):
    data = open(f"${dir}/{i}.in", "rb").read()
    assert blosc.decompress(open(f"${dir}/{i}.blosc", "rb").read()) == data, i
print("ok")`;
      const { success, stdout, stderr } = await new Deno.Command("/usr/bin/python3", {
        args: ["-c", script],
      }).output();
      const td = new TextDecoder();
      assert.ok(success, td.decode(stderr));
      assert.equal(td.decode(stdout).trim(), "ok");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
