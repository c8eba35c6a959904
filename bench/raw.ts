/**
 * The baselines of `deno task bench`: length-prefixed frames on a bare
 * `Deno.Conn`, no codec, in the two ways a hand-written client and server
 * can write them:
 *
 * - **batched** (the fair baseline): a {@linkcode CoalescingWriter} writes the
 *   first frame at once and every frame queued while that write is in flight
 *   together in the next write, exactly as the aiomas channel does;
 * - **per frame**: one `conn.write()` per frame (what a naive echo does).
 *
 * Every frame's payload starts with a 32-bit sequence number that the client
 * checks on the reply, so a lost, reordered or corrupted reply fails the row.
 *
 * @module
 */

/** The raw echo's payload size: a small JSON RPC request (`[0, 123456, ["echo", [42], {}]]`). */
export const ECHO_PAYLOAD = 31;
/** An echo frame numbered 0. */
const ECHO_FRAME = makeFrame(ECHO_PAYLOAD);

/** Write all of `data`. */
export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await conn.write(data.subarray(written));
}

/** Frames at least this big are written from the caller's buffer, not copied. */
const COPY_LIMIT = 256 * 1024;

/**
 * Writes frames the way the channel does: the first one at once, and the
 * frames queued while a write is in flight together in the next write. Small
 * frames are copied into one output buffer (two buffers take turns); frames
 * of 256 KiB and more are written from the caller's array.
 */
export class CoalescingWriter {
  #conn: Deno.Conn;
  #chunks: Uint8Array[] = [];
  #buffer: Uint8Array<ArrayBuffer> = new Uint8Array(64 * 1024);
  #spare: Uint8Array<ArrayBuffer> | undefined;
  #start = 0;
  #end = 0;
  #writing = false;
  /** The first write error, if any (the connection is then useless). */
  error: unknown;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Room for `size` more bytes in the output buffer; returns where to write them. */
  #reserve(size: number): number {
    if (this.#end + size > this.#buffer.length) {
      const bigger = new Uint8Array(Math.max(2 * this.#buffer.length, this.#end + size));
      bigger.set(this.#buffer.subarray(0, this.#end));
      this.#buffer = bigger;
    }
    const at = this.#end;
    this.#end += size;
    return at;
  }

  /** Queue a copy of `source[from..to)`, which holds complete frames. */
  copy(source: Uint8Array, from = 0, to = source.length): void {
    if (to - from >= COPY_LIMIT) {
      this.#cut();
      this.#chunks.push(source.subarray(from, to));
    } else {
      const at = this.#reserve(to - from);
      this.#buffer.set(source.subarray(from, to), at);
    }
    this.#kick();
  }

  /** Queue an echo frame numbered `seq` (payload {@linkcode ECHO_PAYLOAD} bytes). */
  echo(seq: number): void {
    const at = this.#reserve(4 + ECHO_PAYLOAD);
    const buffer = this.#buffer;
    buffer.set(ECHO_FRAME, at);
    buffer[at + 4] = seq >>> 24;
    buffer[at + 5] = seq >>> 16;
    buffer[at + 6] = seq >>> 8;
    buffer[at + 7] = seq;
    this.#kick();
  }

  /** Close the coalesced run of small frames as one chunk. */
  #cut(): void {
    if (this.#end > this.#start) {
      this.#chunks.push(this.#buffer.subarray(this.#start, this.#end));
      this.#start = this.#end;
    }
  }

  #kick(): void {
    if (!this.#writing) {
      this.#writing = true;
      void this.#loop();
    }
  }

  async #loop(): Promise<void> {
    try {
      while (true) {
        this.#cut();
        if (this.#chunks.length === 0) break;
        const chunks = this.#chunks;
        const used = this.#buffer;
        this.#chunks = [];
        // Small frames queued from now on go to the other buffer.
        this.#buffer = this.#spare ?? new Uint8Array(used.length);
        this.#spare = undefined;
        this.#start = this.#end = 0;
        for (const chunk of chunks) await writeAll(this.#conn, chunk);
        if (used.length <= 1 << 20) this.#spare = used;
      }
    } catch (error) {
      this.error = error;
      this.#chunks = [];
    } finally {
      this.#writing = false;
    }
  }
}

/**
 * Reads frames from `conn` and calls `onFrame(buffer, start, size)` for each
 * payload (a view valid only during the call). The buffer grows to the
 * largest frame and stays that size. Resolves at the end of the stream.
 */
export async function readFrames(
  conn: Deno.Conn,
  onFrame: (buffer: Uint8Array, start: number, size: number) => void,
): Promise<void> {
  let buffer = new Uint8Array(64 * 1024);
  let view = new DataView(buffer.buffer);
  let start = 0;
  let end = 0;
  while (true) {
    while (end - start >= 4) {
      const size = view.getUint32(start);
      if (end - start - 4 < size) {
        if (4 + size > buffer.length) {
          const bigger = new Uint8Array(Math.max(4 + size, 2 * buffer.length));
          bigger.set(buffer.subarray(start, end));
          buffer = bigger;
          view = new DataView(buffer.buffer);
          end -= start;
          start = 0;
        }
        break;
      }
      onFrame(buffer, start + 4, size);
      start += 4 + size;
    }
    if (start === end) start = end = 0;
    else if (
      start > 0 && (buffer.length - end < 4096 ||
        (end - start >= 4 && start + 4 + view.getUint32(start) > buffer.length))
    ) {
      buffer.copyWithin(0, start, end);
      end -= start;
      start = 0;
    }
    const n = await conn.read(buffer.subarray(end));
    if (n === null) return;
    end += n;
  }
}

/** A frame of `size` payload bytes carrying sequence number `seq` in its first 4 bytes. */
export function makeFrame(size: number, seq = 0, fill = 0x61): Uint8Array {
  const frame = new Uint8Array(4 + size).fill(fill);
  const view = new DataView(frame.buffer);
  view.setUint32(0, size);
  if (size >= 4) view.setUint32(4, seq);
  return frame;
}

/** A raw call client: `call(seq)` sends one echo frame and resolves when its reply arrives. */
export interface RawClient {
  /** Send the frame numbered `seq`; resolves with its reply, checked. */
  call(seq: number): Promise<void>;
  /** Close the connection. */
  close(): void;
}

/**
 * A raw echo client on `conn`: each call writes a {@linkcode ECHO_PAYLOAD}-byte
 * frame numbered `seq` (batched or one write per frame) and awaits its own
 * reply; replies come back in order and each one's number is checked.
 */
export function rawEchoClient(conn: Deno.Conn, batched: boolean): RawClient {
  const replies = orderedReplies<number>(conn, "raw echo", (seq, buffer, start, size) => {
    const got = size >= 4
      ? (buffer[start] << 24 | buffer[start + 1] << 16 | buffer[start + 2] << 8 |
        buffer[start + 3]) >>> 0
      : -1;
    return size !== ECHO_PAYLOAD || got !== seq
      ? `raw echo: wrong reply (${size} B, #${got}, expected #${seq})`
      : undefined;
  });
  const writer = batched ? new CoalescingWriter(conn) : undefined;
  return {
    call(seq) {
      const reply = replies.expect(seq);
      if (replies.failed) return reply;
      if (writer) writer.echo(seq);
      else writeAll(conn, makeFrame(ECHO_PAYLOAD, seq)).catch((error) => replies.fail(error));
      return reply;
    },
    close: () => closeQuietly(conn),
  };
}

/**
 * Replies that come back on `conn` in the order of their calls: `expect()`
 * queues a call's expectation and resolves once `check` accepts its reply
 * (`check` returns an error text, or `undefined`). The first failure, or the
 * end of the connection, rejects every waiting call and every later one.
 */
function orderedReplies<T>(
  conn: Deno.Conn,
  what: string,
  check: (expected: T, buffer: Uint8Array, start: number, size: number) => string | undefined,
): { expect(expected: T): Promise<void>; fail(error: Error): void; readonly failed: boolean } {
  const waiters: Array<{ expected: T; resolve(): void; reject(error: unknown): void }> = [];
  let head = 0;
  let failure: Error | undefined;
  const fail = (error: Error) => {
    failure ??= error;
    for (let i = head; i < waiters.length; i++) waiters[i].reject(failure);
    waiters.length = head = 0;
  };
  readFrames(conn, (buffer, start, size) => {
    const waiter = waiters[head];
    if (waiter === undefined) return fail(new Error(`${what}: unexpected reply`));
    waiters[head++] = undefined!;
    if (head > 1024 && head * 2 > waiters.length) {
      waiters.splice(0, head);
      head = 0;
    }
    const problem = check(waiter.expected, buffer, start, size);
    if (problem !== undefined) {
      const error = new Error(problem);
      waiter.reject(error);
      return fail(error);
    }
    waiter.resolve();
  }).then(
    () => fail(new Error(`${what}: connection closed`)),
    (error) => fail(error instanceof Error ? error : new Error(String(error))),
  );
  return {
    expect(expected) {
      if (failure) return Promise.reject(failure);
      const reply = new Promise<void>((resolve, reject) =>
        waiters.push({ expected, resolve, reject })
      );
      reply.catch(() => {}); // the caller may be gone when a failure rejects every waiter
      return reply;
    },
    fail,
    get failed() {
      return failure !== undefined;
    },
  };
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* closed */ }
}

/**
 * The byte pump: `count` echo frames with `window` in flight, sent as one
 * write per batch and counted as the bytes come back (no per-call promise,
 * no parsing beyond the frame headers), each reply's number checked. The
 * socket's ceiling for small frames.
 */
export async function pump(conn: Deno.Conn, count: number, window: number): Promise<void> {
  const frameSize = 4 + ECHO_PAYLOAD;
  const batch = new Uint8Array(frameSize * window);
  const view = new DataView(batch.buffer);
  let sent = 0;
  let received = 0;
  const sendUpTo = (limit: number) => {
    const n = Math.min(limit, count - sent);
    if (n <= 0) return undefined;
    for (let i = 0; i < n; i++) {
      view.setUint32(i * frameSize, ECHO_PAYLOAD);
      view.setUint32(i * frameSize + 4, sent + i);
      batch.fill(0x61, i * frameSize + 8, (i + 1) * frameSize);
    }
    sent += n;
    return writeAll(conn, batch.subarray(0, n * frameSize));
  };
  const buffer = new Uint8Array(1 << 16);
  const bufferView = new DataView(buffer.buffer);
  let end = 0;
  await sendUpTo(window);
  while (received < count) {
    const n = await conn.read(buffer.subarray(end));
    if (n === null) throw new Error("pump: connection closed");
    end += n;
    let at = 0;
    let complete = 0;
    for (; end - at >= frameSize; at += frameSize, complete++) {
      if (
        bufferView.getUint32(at) !== ECHO_PAYLOAD ||
        bufferView.getUint32(at + 4) !== received + complete
      ) {
        throw new Error(`pump: wrong frame at #${received + complete}`);
      }
    }
    buffer.copyWithin(0, at, end);
    end -= at;
    received += complete;
    if (complete > 0) await sendUpTo(complete);
  }
}

/** Connect to 127.0.0.1:`port` with Nagle's algorithm off. */
export async function connectRaw(port: number): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  return conn;
}

/**
 * A raw upload client: `call(seq)` writes one frame of `size` payload bytes
 * (batched), and the server answers each frame with a 4-byte payload holding
 * the received payload's length, which is checked.
 */
export function rawUploadClient(conn: Deno.Conn, size: number): RawClient {
  const frame = makeFrame(size, 0, 0x5a);
  const replies = orderedReplies<number>(conn, "raw upload", (sent, buffer, start, n) => {
    const got = n === 4 ? new DataView(buffer.buffer, start, 4).getUint32(0) : -1;
    return got !== sent ? `raw upload: server received ${got} B, sent ${sent} B` : undefined;
  });
  const writer = new CoalescingWriter(conn);
  return {
    call() {
      const reply = replies.expect(size);
      if (!replies.failed) writer.copy(frame);
      return reply;
    },
    close: () => closeQuietly(conn),
  };
}

/**
 * Accept connections on `listener` (with Nagle's algorithm off) and hand
 * each to `serve`; `close()` stops listening, closes every open connection
 * and waits for the accept loop to end.
 */
export function serveEach(
  listener: Deno.TcpListener,
  serve: (conn: Deno.TcpConn) => unknown,
): { port: number; close(): Promise<void> } {
  const conns = new Set<Deno.TcpConn>();
  const serving = (async () => {
    for await (const conn of listener) {
      conn.setNoDelay(true);
      conns.add(conn);
      // A connection served by a promise is forgotten when it ends; others stay until close().
      const served = serve(conn);
      if (served instanceof Promise) served.catch(() => {}).finally(() => conns.delete(conn));
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    async close() {
      listener.close();
      for (const conn of conns) closeQuietly(conn);
      await serving;
    },
  };
}

/** The raw server kinds of {@linkcode serveRaw}. */
export type RawKind = "raw-frame" | "raw-batch" | "raw-upload" | "raw-upload-copy" | "pump";

/**
 * Serve one raw connection: `raw-batch` echoes every frame through a
 * {@linkcode CoalescingWriter}; `raw-frame` with one write per frame;
 * `raw-upload` answers every frame with its payload length;
 * `raw-upload-copy` too, after copying the payload into memory of its own
 * (as a receiver must that hands each message over to be kept); `pump`
 * echoes the bytes as they come, unparsed.
 */
export async function serveRaw(conn: Deno.Conn, kind: RawKind): Promise<void> {
  try {
    if (kind === "pump") {
      const buffer = new Uint8Array(1 << 16);
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) return;
        await writeAll(conn, buffer.subarray(0, n));
      }
    }
    if (kind === "raw-frame") {
      // One write per frame, in order: the replies of one read wait for each other.
      let chain = Promise.resolve();
      await readFrames(conn, (buffer, start, size) => {
        const frame = buffer.slice(start - 4, start + size);
        chain = chain.then(() => writeAll(conn, frame)).catch(() => {});
      });
      await chain;
      return;
    }
    const writer = new CoalescingWriter(conn);
    await readFrames(conn, (buffer, start, size) => {
      // (A view of a big frame would be overwritten by the next read: copy it.)
      if (kind === "raw-batch") {
        if (size < COPY_LIMIT) writer.copy(buffer, start - 4, start + size);
        else writer.copy(buffer.slice(start - 4, start + size));
      } else {
        let received = size;
        if (kind === "raw-upload-copy") {
          // The copy's last byte is checked, so that the copy is made.
          const copy = buffer.slice(start, start + size);
          if (copy[size - 1] !== buffer[start + size - 1]) received = 0;
        }
        const ack = new Uint8Array(8);
        const view = new DataView(ack.buffer);
        view.setUint32(0, 4);
        view.setUint32(4, received);
        writer.copy(ack);
      }
    });
  } catch {
    /* the client went away */
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}
