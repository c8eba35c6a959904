/**
 * Codec benchmark: encode and decode rates of {@linkcode MsgPackCodec}
 * against `@msgpack/msgpack` and `msgpackr` (pure JavaScript builds) for an
 * RPC-sized request and a ~1 MiB message carrying bytes.
 *
 * Run alone: `deno run -A bench/codec_bench.ts`.
 *
 * @module
 */

// deno-lint-ignore no-import-prefix -- bench-only comparison dependencies
import { decode as mpDecode, encode as mpEncode } from "npm:@msgpack/msgpack@3";
// deno-lint-ignore no-import-prefix
import { pack as mrPack, unpack as mrUnpack } from "npm:msgpackr@1";
import { MsgPackCodec } from "../codecs/msgpack.ts";
import { type Measurement, medianRate } from "./measure.ts";

/** A request triple as the RPC layer sends it. */
function rpcMessage(): unknown {
  return [0, 17, ["agents/3/set_power", [12.5, "battery-7", true, null, [1, 2, 3]], {
    unit: "kW",
    ts: 1700000000,
    source: "grid-operator",
    note: "ramp up slowly, please",
    limits: { min: -50.25, max: 50.25, step: 0.5 },
  }]];
}

/** About 1 MiB: four 256 KiB chunks of bytes plus some metadata. */
function bigMessage(): unknown {
  const chunks: Uint8Array[] = [];
  for (let c = 0; c < 4; c++) {
    const chunk = new Uint8Array(256 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + c) & 0xff;
    chunks.push(chunk);
  }
  return {
    id: 1,
    chunks,
    meta: { name: "snapshot-42", created: 1700000000, tags: ["a", "b", "c"], ratio: 0.75 },
  };
}

interface Contender {
  name: string;
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

function contenders(): Contender[] {
  const ours = new MsgPackCodec();
  const views = new MsgPackCodec({ copyBinary: false });
  return [
    { name: "ours", encode: (v) => ours.encode(v), decode: (b) => ours.decode(b) },
    {
      name: "ours, copyBinary: false",
      encode: (v) => views.encode(v),
      decode: (b) => views.decode(b),
    },
    { name: "@msgpack/msgpack", encode: (v) => mpEncode(v), decode: (b) => mpDecode(b) },
    { name: "msgpackr", encode: (v) => mrPack(v), decode: (b) => mrUnpack(b) },
  ];
}

let sink: unknown;

/** Measure encode and decode rates (ops/s) of every contender on both messages. */
export async function bench(): Promise<Measurement[]> {
  const out: Measurement[] = [];
  const cases = [
    { label: "", value: rpcMessage(), ops: 20000 },
    { label: "", value: bigMessage(), ops: 100 },
  ];
  for (const { value, ops } of cases) {
    // Warm every contender up first: the first one measured would otherwise
    // pay for the heap growing (which matters for the 1 MiB case).
    for (const c of contenders()) {
      for (let i = 0; i < ops; i++) sink = c.decode(c.encode(value));
    }
    for (const c of contenders()) {
      const bytes = c.encode(value);
      const label = bytes.length < 1024
        ? `${bytes.length} B`
        : `${(bytes.length / 1048576).toFixed(1)} MiB`;
      const encodeRate = await medianRate(
        () => {
          for (let i = 0; i < ops; i++) sink = c.encode(value);
        },
        ops,
        7,
        3,
      );
      const decodeRate = await medianRate(
        () => {
          for (let i = 0; i < ops; i++) sink = c.decode(bytes);
        },
        ops,
        7,
        3,
      );
      out.push({
        group: "codec",
        name: `msgpack encode ${label} (${c.name})`,
        value: encodeRate,
        unit: "ops/s",
      });
      out.push({
        group: "codec",
        name: `msgpack decode ${label} (${c.name})`,
        value: decodeRate,
        unit: "ops/s",
      });
    }
  }
  return out;
}

if (import.meta.main) {
  const results = await bench();
  const width = Math.max(...results.map((m) => m.name.length));
  for (const m of results) {
    console.log(
      `${m.name.padEnd(width)}  ${
        Math.round(m.value).toLocaleString("en-US").padStart(12)
      } ${m.unit}`,
    );
  }
  void sink;
}
