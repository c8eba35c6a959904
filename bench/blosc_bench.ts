/**
 * Blosc benchmark: compression and decompression rates of
 * {@linkcode bloscCompress} and {@linkcode bloscDecompress} on a 1 MiB
 * redundant payload (a float64 series and an int32 series), the ratio they
 * reach on it, and the ratio on the MsgPack bytes of a 20,000-int series.
 *
 * Run alone: `deno run -A bench/blosc_bench.ts`.
 *
 * @module
 */

import { bloscCompress, bloscDecompress } from "../codecs/blosc.ts";
import { MsgPackCodec } from "../codecs/msgpack.ts";
import { type Measurement, repeatRate } from "./measure.ts";

const MIB = 1024 * 1024;

/** 1 MiB: half a slowly varying float64 series, half a repeating int32 series. */
function redundantPayload(): Uint8Array {
  const bytes = new Uint8Array(MIB);
  const floats = new Float64Array(bytes.buffer, 0, MIB / 16);
  for (let i = 0; i < floats.length; i++) floats[i] = Math.round(Math.sin(i / 100) * 1000) / 10;
  const ints = new Int32Array(bytes.buffer, MIB / 2, MIB / 8);
  for (let i = 0; i < ints.length; i++) ints[i] = (i * 7) % 1000;
  return bytes;
}

let sink = 0;

/** Measure compression and decompression rates (MB/s) and ratios. */
export async function bench(): Promise<Measurement[]> {
  const payload = redundantPayload();
  const frame = bloscCompress(payload);
  const mb = payload.length / 1e6;
  const compress = await repeatRate("codec", "blosc compress 1 MiB redundant", "MB/s", () => {
    for (let i = 0; i < 5; i++) sink += bloscCompress(payload).length;
  }, 5 * mb);
  const decompress = await repeatRate("codec", "blosc decompress 1 MiB redundant", "MB/s", () => {
    for (let i = 0; i < 5; i++) sink += bloscDecompress(frame).length;
  }, 5 * mb);
  const series = new MsgPackCodec().encode(Array.from({ length: 20_000 }, (_, i) => i % 100));
  const seriesRatio = series.length / bloscCompress(series).length;
  return [
    compress,
    decompress,
    {
      group: "codec",
      name: "blosc ratio 1 MiB redundant",
      value: payload.length / frame.length,
      unit: "x",
    },
    {
      group: "codec",
      name: "blosc ratio MsgPack 20,000-int series",
      value: seriesRatio,
      unit: "x",
    },
  ];
}

if (import.meta.main) {
  const results = await bench();
  const width = Math.max(...results.map((m) => m.name.length));
  for (const m of results) {
    console.log(`${m.name.padEnd(width)}  ${m.value.toFixed(1).padStart(10)} ${m.unit}`);
  }
  void sink;
}
