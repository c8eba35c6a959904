/**
 * Codec benchmark: encode and decode rates of {@linkcode MsgPackCodec}
 * against the peer libraries used their fastest documented way, on an
 * RPC-sized request and a ~1 MiB message carrying bytes, every contender's
 * round trip checked once, repetitions interleaved:
 *
 * - `@msgpack/msgpack` with one reused `Encoder` and `Decoder` (its README:
 *   "Reusing Encoder and Decoder instances");
 * - `msgpackr`'s `pack`/`unpack` (its shared `Packr({ useRecords: false })`,
 *   the standard MessagePack that Python reads), with its native addon
 *   (`msgpackr-extract`, which speeds up decoding strings) as it loads in
 *   Deno, and without it: msgpackr reads `MSGPACKR_NATIVE_ACCELERATION_DISABLED=true`
 *   from the environment when it loads, so those rows come from a
 *   subprocess started with it.
 *
 * Run alone: `deno run -A bench/codec_bench.ts [--quick]`.
 *
 * @module
 */

import { deepStrictEqual } from "node:assert/strict";
// deno-lint-ignore no-import-prefix -- bench-only comparison dependencies
import { Decoder as MpDecoder, Encoder as MpEncoder } from "npm:@msgpack/msgpack@3";
// deno-lint-ignore no-import-prefix
import { isNativeAccelerationEnabled, pack as mrPack, unpack as mrUnpack } from "npm:msgpackr@1";
import { MsgPackCodec } from "../codecs/msgpack.ts";
import { interleave, type Measurement, type Workload } from "./measure.ts";
import type { BenchOptions } from "./net_bench.ts";

const GROUP = "codec";

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
  peer: boolean;
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

const MSGPACKR_JS = "msgpackr (pure JS, native addon disabled)";

function contenders(jsOnly: boolean): Contender[] {
  const msgpackr = {
    name: jsOnly
      ? MSGPACKR_JS
      : isNativeAccelerationEnabled
      ? "msgpackr (native addon)"
      : "msgpackr (native addon did not load)",
    peer: true,
    encode: (v: unknown) => mrPack(v),
    decode: (b: Uint8Array) => mrUnpack(b),
  };
  if (jsOnly) return [msgpackr];
  const ours = new MsgPackCodec();
  const views = new MsgPackCodec({ copyBinary: false });
  const encoder = new MpEncoder();
  const decoder = new MpDecoder();
  return [
    { name: "ours", peer: false, encode: (v) => ours.encode(v), decode: (b) => ours.decode(b) },
    {
      name: "ours, copyBinary: false",
      peer: false,
      encode: (v) => views.encode(v),
      decode: (b) => views.decode(b),
    },
    {
      name: "@msgpack/msgpack (reused Encoder/Decoder)",
      peer: true,
      encode: (v) => encoder.encode(v),
      decode: (b) => decoder.decode(b),
    },
    msgpackr,
  ];
}

let sink: unknown;

/** The label of a message's size. */
function sizeLabel(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** Rows of `codec` (or only msgpackr without its addon, `jsOnly`). */
async function measure(options: BenchOptions, jsOnly: boolean): Promise<Measurement[]> {
  const cases = [
    { label: "small", value: rpcMessage(), warmup: options.quick ? 2_000 : 20_000 },
    { label: "1 MiB", value: bigMessage(), warmup: options.quick ? 10 : 100 },
  ];
  const workloads: Workload[] = [];
  const meta: Array<{ key: string; peer: boolean }> = [];
  const peersOf = new Map<string, string[]>();
  for (const { label, value, warmup } of cases) {
    for (const c of contenders(jsOnly)) {
      const bytes = c.encode(value);
      // Every contender must round-trip the message (bin data may come back as views).
      deepStrictEqual(normalize(c.decode(bytes)), normalize(value), `${c.name} round trip`);
      const size = label === "small" ? "small message" : "1 MiB message";
      for (const op of ["encode", "decode"] as const) {
        const key = `${op} ${size}`;
        const name = `msgpack ${op} ${size}, ${sizeLabel(bytes.length)} (${c.name})`;
        if (c.peer) peersOf.set(key, [...peersOf.get(key) ?? [], name]);
        const run = op === "encode"
          ? (count: number) => {
            for (let i = 0; i < count; i++) sink = c.encode(value);
            return Promise.resolve();
          }
          : (count: number) => {
            for (let i = 0; i < count; i++) sink = c.decode(bytes);
            return Promise.resolve();
          };
        workloads.push({ group: GROUP, name, unit: "ops/s", warmup, minCount: 10, run });
        meta.push({ key, peer: c.peer });
      }
    }
  }
  const rows = await interleave(workloads, { reps: 3, target: options.quick ? 0.03 : 0.12 });
  // Our rows are compared with the fastest peer on the same operation and message.
  return rows.map((row, i) => {
    const w = meta[i];
    if (w.peer) return row;
    const peers = rows.filter((r) => peersOf.get(w.key)?.includes(r.name) && !r.error);
    const best = peers.sort((a, b) => b.value - a.value)[0];
    return best ? { ...row, baseline: best.name } : row;
  });
}

/** Bytes as plain arrays, so views and copies compare equal. */
function normalize(value: unknown): unknown {
  if (value instanceof Uint8Array) {
    return {
      bytes: value.length,
      sum: value.reduce((a, b) => a + b),
    };
  }
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  }
  return value;
}

/** msgpackr without its native addon, measured in a subprocess started with it disabled. */
async function msgpackrWithoutAddon(options: BenchOptions): Promise<Measurement[]> {
  const args = ["run", "-A", import.meta.url, "--json", "--js-only"];
  if (options.quick) args.push("--quick");
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    env: { MSGPACKR_NATIVE_ACCELERATION_DISABLED: "true" },
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error("codec_bench.ts --js-only failed");
  return JSON.parse(new TextDecoder().decode(output.stdout)) as Measurement[];
}

/** The codec rows: ours and the peers, then msgpackr without its addon (subprocess). */
export async function bench(options: BenchOptions = {}): Promise<Measurement[]> {
  const rows = await measure(options, false);
  try {
    rows.push(...await msgpackrWithoutAddon(options));
  } catch (error) {
    rows.push({ group: GROUP, name: MSGPACKR_JS, value: NaN, unit: "ops/s", error: String(error) });
  }
  return rows;
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  if (Deno.args.includes("--json")) {
    const rows = await measure({ quick }, Deno.args.includes("--js-only"));
    console.log(JSON.stringify(rows));
  } else {
    for (const m of await bench({ quick })) {
      console.log(
        m.name.padEnd(78),
        m.error ?? `${Math.round(m.value)} (${Math.round(m.min!)}..${Math.round(m.max!)})`,
        m.unit,
      );
    }
  }
  void sink;
  Deno.exit(0);
}
