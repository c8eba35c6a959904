/**
 * Uploads, client and server in separate processes: MB/s of RPC MsgPack
 * calls `upload(bytes)` (the server answers the byte count, which is
 * checked) with 1 KiB, 64 KiB, 1 MiB and 16 MiB payloads, against the raw
 * socket: frames of the same size, written like the channel writes them, each
 * answered by a 4-byte frame holding the received length (`raw.ts`).
 * For 1 MiB and 16 MiB, a third row shows a raw socket that also copies
 * each frame into memory of its own, as a receiver must that hands messages
 * over to be kept (its ratio is to the plain raw socket; the goals compare
 * RPC with the plain one), and a fourth an RPC server with
 * `recycleReadBuffers` (views of a request's bins are valid until it is
 * answered: its memory is read into again, not allocated per upload).
 * 256 uploads in flight for 1 KiB, 16 for the bigger ones. Five
 * repetitions of about a second each per row, interleaved: big uploads vary
 * with the allocator's state (each received message needs fresh memory,
 * which may have been given back to the system and must be paged in again)
 * more than shorter repetitions even out.
 *
 * Run alone: `deno run -A bench/upload_bench.ts [--quick]`.
 *
 * @module
 */

import { openConnection, type RpcClient } from "../rpc/mod.ts";
import { MsgPackCodec } from "../codecs/msgpack.ts";
import { inFlight, interleave, type Measurement, type Workload } from "./measure.ts";
import { type BenchOptions, effort } from "./net_bench.ts";
import { connectRaw, type RawClient, rawUploadClient } from "./raw.ts";
import { type ServerProcess, spawnServer } from "./server.ts";

const GROUP = "upload, 2 processes";
const KIB = 1024;
const MIB = 1024 * 1024;

/** Repetitions of the upload rows, and seconds each (full runs). */
const UPLOAD_EFFORT = { reps: 5, target: 1 };
/** The upload sizes: label, bytes, uploads in flight, warm-up uploads (full, quick). */
const SIZES: Array<[string, number, number, number, number]> = [
  ["1 KiB", KIB, 256, 20_000, 5_000],
  ["64 KiB", 64 * KIB, 16, 2_000, 500],
  ["1 MiB", MIB, 16, 160, 48],
  ["16 MiB", 16 * MIB, 16, 32, 16],
];

/** The name of the raw row of a size. */
export function rawUploadName(label: string, window: number): string {
  return `raw socket, ${label} frames, ${window} in flight`;
}

/** The sizes that also get a raw row copying each frame. */
const COPY_SIZES = ["1 MiB", "16 MiB"];

/** The name of the raw row of a size that copies each frame out. */
export function rawCopyUploadName(label: string, window: number): string {
  return `raw socket, ${label} frames, each copied out, ${window} in flight`;
}

/** The name of the RPC row of a size. */
export function rpcUploadName(label: string, window: number): string {
  return `RPC (MsgPack) upload(${label}), ${window} in flight`;
}

/** The sizes that also get an RPC row with recycled read buffers (frames of 256 KiB or more). */
const RECYCLE_SIZES = ["1 MiB", "16 MiB"];

/** The name of the RPC row of a size whose server recycles read buffers. */
export function rpcRecycledUploadName(label: string, window: number): string {
  return `RPC (MsgPack, recycleReadBuffers) upload(${label}), ${window} in flight`;
}

/** The raw and RPC MsgPack upload rows, interleaved. */
export async function bench(options: BenchOptions = {}): Promise<Measurement[]> {
  let raw: ServerProcess | undefined;
  let rawCopy: ServerProcess | undefined;
  let rpc: ServerProcess | undefined;
  let rpcRecycled: ServerProcess | undefined;
  const servers = {
    async open() {
      raw ??= await spawnServer("raw-upload");
      rawCopy ??= await spawnServer("raw-upload-copy");
      rpc ??= await spawnServer("rpc", "msgpack");
      rpcRecycled ??= await spawnServer("rpc", "msgpack", { recycle: true });
    },
  };
  const workloads: Workload[] = [];
  // The copying raw rows run after all others: the garbage a copying server
  // leaves is collected on background threads, which would slow the row after it.
  const copyWorkloads: Workload[] = [];
  for (const [label, size, window, warmup, quickWarmup] of SIZES) {
    const common = {
      group: GROUP,
      unit: "MB/s",
      scale: size / 1e6,
      warmup: options.quick ? quickWarmup : warmup,
      minCount: window,
    };
    // A raw row: frames of `size` to the raw server `port()` serves.
    const rawRow = (name: string, port: () => number, baseline?: string): Workload => {
      let rawClient: RawClient | undefined;
      return {
        ...common,
        name,
        baseline,
        setup: async () => {
          await servers.open();
          rawClient = rawUploadClient(await connectRaw(port()), size);
        },
        run: (count) => inFlight((i) => rawClient!.call(i), count, window),
        teardown: async () => await rawClient?.close(),
      };
    };
    workloads.push(rawRow(rawUploadName(label, window), () => raw!.port));
    if (COPY_SIZES.includes(label)) {
      copyWorkloads.push(
        rawRow(rawCopyUploadName(label, window), () => rawCopy!.port, rawUploadName(label, window)),
      );
    }
    const payload = new Uint8Array(size).fill(0x5a);
    // An RPC row: uploads of `payload` to the RPC server `port()` serves.
    const rpcRow = (name: string, port: () => number): Workload => {
      let client: RpcClient | undefined;
      return {
        ...common,
        name,
        baseline: rawUploadName(label, window),
        setup: async () => {
          await servers.open();
          client = await openConnection({ hostname: "127.0.0.1", port: port() }, {
            codec: MsgPackCodec,
          });
        },
        run: (count) =>
          inFlight(
            () =>
              client!.remote.upload(payload).then((got) => {
                if (got !== size) throw new Error(`upload: server got ${got} B, sent ${size} B`);
              }),
            count,
            window,
          ),
        teardown: async () => await client?.close(),
      };
    };
    workloads.push(rpcRow(rpcUploadName(label, window), () => rpc!.port));
    if (RECYCLE_SIZES.includes(label)) {
      workloads.push(rpcRow(rpcRecycledUploadName(label, window), () => rpcRecycled!.port));
    }
  }
  try {
    return await interleave(
      [...workloads, ...copyWorkloads],
      options.quick ? effort(options) : UPLOAD_EFFORT,
    );
  } finally {
    await raw?.close();
    await rawCopy?.close();
    await rpc?.close();
    await rpcRecycled?.close();
  }
}

if (import.meta.main) {
  for (const m of await bench({ quick: Deno.args.includes("--quick") })) {
    console.log(
      m.name.padEnd(48),
      m.error ?? `${m.value.toFixed(0)} (${m.min?.toFixed(0)}..${m.max?.toFixed(0)})`,
      m.unit,
    );
  }
  Deno.exit(0);
}
