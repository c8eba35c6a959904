/**
 * Test helpers: raw sockets that speak (or break) the wire format.
 *
 * @module
 */

/** Frame `payload` with its 4-byte big-endian length. */
export function frame(payload: Uint8Array | string): Uint8Array {
  const body = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** The index of the first byte of `bytes` that is not `fill`, or -1. */
export function firstOther(bytes: Uint8Array, fill: number): number {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== fill) return i;
  return -1;
}

/** Whether every byte of `bytes` is `fill`. */
export function allAre(bytes: Uint8Array, fill: number): boolean {
  return firstOther(bytes, fill) === -1;
}

/** Write all of `data`. */
export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await conn.write(data.subarray(written));
}

/** Read exactly `n` bytes, or `null` if the stream ends first. */
export async function readExact(conn: Deno.Conn, n: number): Promise<Uint8Array | null> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const count = await conn.read(out.subarray(got));
    if (count === null) return null;
    got += count;
  }
  return out;
}

/** Read one frame's payload, or `null` at the end of the stream. */
export async function readFrame(conn: Deno.Conn): Promise<Uint8Array | null> {
  const header = await readExact(conn, 4);
  if (header === null) return null;
  return await readExact(conn, new DataView(header.buffer).getUint32(0));
}

/** Read one JSON frame and parse it. */
export async function readJsonFrame(conn: Deno.Conn): Promise<unknown> {
  const payload = await readFrame(conn);
  return payload === null ? null : JSON.parse(new TextDecoder().decode(payload));
}

/** Resolve when the peer closes `conn` (reads until EOF). */
export async function untilClosed(conn: Deno.Conn): Promise<void> {
  const sink = new Uint8Array(65536);
  try {
    while (await conn.read(sink) !== null) { /* drain */ }
  } catch {
    // A reset also means closed.
  }
}

/** Run `fn` with console.warn silenced; returns what was logged. */
export async function captureWarnings<T>(fn: () => Promise<T>): Promise<[T, string[]]> {
  const original = console.warn;
  const logged: string[] = [];
  console.warn = (...args: unknown[]) => logged.push(args.map(String).join(" "));
  try {
    return [await fn(), logged];
  } finally {
    console.warn = original;
  }
}

/** Resolve with `promise`'s value, or reject after `ms` (a generous bound, not a timing check). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
