/**
 * Loader for the wire vectors recorded from Python aiomas 2.0
 * (`tests/vectors/*.json`, copied from the maintainers' `shared/vectors`; see the README there).
 * It reads a vector file and turns its JSON conventions into the JavaScript
 * values they stand for: `{"$bytes": hex}` is a `Uint8Array`, `{"$int": "..."}`
 * a `bigint`, `{"$float": "..."}` a `number` and `{"$str_repeat": [s, n]}`
 * the string `s` repeated `n` times.
 *
 * @module
 */

/** The directory of the vector files: `tests/vectors/`. */
export const VECTORS_DIR: URL = new URL("./vectors/", import.meta.url);

/** The vector files, by the codec they were recorded with. */
export type VectorFileName = "json" | "msgpack" | "msgpack_blosc";

/** Which side of the TCP connection wrote a frame. */
export type Direction = "client->server" | "server->client";

/** One recorded frame. */
export interface Vector {
  /** Unique name in its file, such as `rpc_kwargs_request`. */
  readonly name: string;
  /** The exchange the frame belongs to; its frames are consecutive, in wire order. */
  readonly scenario: string;
  /** What the frame is. */
  readonly description: string;
  /** The `__type__` table of the connection: a key of {@linkcode VectorFile.contexts}. */
  readonly context: string;
  /** `client->server`: written by the side that opened the connection. */
  readonly direction: Direction;
  /** The whole frame: 4-byte big-endian payload length, then the payload. */
  readonly frame: Uint8Array;
  /** The payload (the frame without its header). */
  readonly payload: Uint8Array;
  /** The MsgPack bytes a Blosc payload holds, where the file records them (`msgpack_hex`). */
  readonly msgpack?: Uint8Array | undefined;
  /** `decoded` exactly as the file has it (custom types as `{"__type__": [id, data]}`). */
  readonly raw: unknown;
  /** Whether encoding the decoded value must give exactly {@linkcode Vector.frame}. */
  readonly encodeExact: boolean;
  /** The payload as text (JSON vectors only). */
  readonly payloadText?: string | undefined;
  /** `true` for a frame this loader made, not one recorded from Python. */
  readonly synthesized?: boolean;
}

/** A parsed vector file. */
export interface VectorFile {
  /** The file's name without `.json`. */
  readonly codec: VectorFileName;
  /** The aiomas codec class the frames were recorded with (`JSON`, `MsgPack`, `MsgPackBlosc`). */
  readonly codecClass: string;
  /** Per context, the `__type__` table: `"0: arrow.Arrow ..."`, `"1: RPC reference ..."`. */
  readonly contexts: Readonly<Record<string, { serializers: readonly string[] }>>;
  /** The vectors in wire order. */
  readonly vectors: readonly Vector[];
}

interface RawVector {
  name: string;
  scenario: string;
  description: string;
  context: string;
  direction: Direction;
  frame_hex: string;
  decoded: unknown;
  encode_exact: boolean;
  payload_text?: string;
  msgpack_hex?: string;
}

/** Whether the vector directory exists (a checkout without `../shared` has none). */
export function vectorsAvailable(): boolean {
  try {
    return Deno.statSync(VECTORS_DIR).isDirectory;
  } catch {
    return false;
  }
}

/** Parse a hex string into bytes. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || /[^0-9a-f]/i.test(hex)) throw new TypeError(`Invalid hex "${hex}"`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Format bytes as lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Read and parse `<VECTORS_DIR>/<name>.json`. */
export async function loadVectors(name: VectorFileName): Promise<VectorFile> {
  const text = await Deno.readTextFile(new URL(`${name}.json`, VECTORS_DIR));
  const file = JSON.parse(text) as {
    codec: VectorFileName;
    codec_class: string;
    contexts: Record<string, { serializers: string[] }>;
    vectors: RawVector[];
  };
  const vectors = file.vectors.map((v): Vector => {
    const frame = fromHex(v.frame_hex);
    return {
      name: v.name,
      scenario: v.scenario,
      description: v.description,
      context: v.context,
      direction: v.direction,
      frame,
      payload: frame.subarray(4),
      msgpack: v.msgpack_hex === undefined ? undefined : fromHex(v.msgpack_hex),
      raw: v.decoded,
      encodeExact: v.encode_exact,
      payloadText: v.payload_text,
    };
  });
  return { codec: file.codec, codecClass: file.codec_class, contexts: file.contexts, vectors };
}

/** Turns the data of a `{"__type__": [typeid, data]}` map into a value (data already converted). */
export type TagMapper = (typeid: number, data: unknown) => unknown;

/**
 * Turn a vector's `decoded` into the JavaScript value it stands for. With
 * `tag`, every `{"__type__": [typeid, data]}` map is replaced by
 * `tag(typeid, data)`; without, such maps stay as they are.
 */
export function convert(raw: unknown, tag?: TagMapper): unknown {
  if (Array.isArray(raw)) return raw.map((item) => convert(item, tag));
  if (typeof raw !== "object" || raw === null) return raw;
  const record = raw as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length === 1) {
    const key = keys[0]!;
    const value = record[key];
    switch (key) {
      case "$bytes":
        return fromHex(value as string);
      case "$int":
        return BigInt(value as string);
      case "$float":
        return Number(value as string);
      case "$str_repeat": {
        const [text, times] = value as [string, number];
        return text.repeat(times);
      }
      case "__type__": {
        const [typeid, data] = value as [number, unknown];
        const converted = convert(data, tag);
        return tag ? tag(typeid, converted) : { __type__: [typeid, converted] };
      }
    }
  }
  const out: Record<string, unknown> = {};
  for (const key of keys) out[key] = convert(record[key], tag);
  return out;
}
