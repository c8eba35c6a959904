/**
 * The hostile-peer suite's harness: fixture servers in a subprocess (so a
 * crash ends them and fails the test), good clients that check real answers,
 * and a raw attacker that writes any bytes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Agent, Container } from "../agent/mod.ts";
import { openConnection as openChannel } from "../channel/mod.ts";
import { type Codec, createCodec, isPlainObject } from "../codecs/mod.ts";
import { openConnection as openRpc } from "../rpc/mod.ts";
import { codecClass, Point, serializersFor, type TypeIds } from "./fixtures_hostile/service.ts";
import { frame, writeAll } from "./helpers.ts";

const ROOT = new URL("../", import.meta.url);

/** How long a good client may wait for its answers before the server counts as hung. */
const GOOD_CLIENT_DEADLINE_MS = 20_000;

/** Reject with `message` when `promise` takes longer than `ms` (a hang guard, not a timing check). */
export function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolve after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** Options of {@linkcode FixtureServer.start}. */
export interface FixtureOptions {
  /** Run under `ulimit -n <nofile>` (a shell starts Deno with that descriptor limit). */
  nofile?: number;
  /** Run with `--v8-flags=--expose-gc`; then {@linkcode FixtureServer.collectGarbage} works. */
  exposeGc?: boolean;
  /** Options for the fixture's server (limits such as `frameTimeout`), passed as JSON. */
  limits?: Record<string, unknown>;
  /** Serve TLS with these files (the CA, the server's certificate and key). */
  tls?: TlsFiles;
}

/** A CA and a certificate signed by it, as files (see tests/pki.ts). */
export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** A fixture server running in its own `deno run` process. */
export class FixtureServer {
  readonly layer: string;
  readonly codecName: string;
  url = "";
  types: TypeIds = { point: 0, money: 1 };
  /** The live view's URL of a container started with the `inspect` option. */
  inspectUrl: string | undefined;
  /** The server's TLS files; clients use the same CA, certificate and key. */
  tls: TlsFiles | undefined;
  #child: Deno.ChildProcess;
  #exit: Deno.CommandStatus | undefined;
  #status: Promise<Deno.CommandStatus>;
  #stderr = "";
  #stderrDone: Promise<void>;
  #stdoutLine: Promise<string>;

  private constructor(layer: string, codecName: string, options: FixtureOptions) {
    this.layer = layer;
    this.codecName = codecName;
    const denoArgs = ["run", "-A", "tests/fixtures_hostile/server.ts", layer, codecName];
    if (options.exposeGc) denoArgs.splice(2, 0, "--v8-flags=--expose-gc");
    this.tls = options.tls;
    if (options.limits || options.tls) {
      denoArgs.push(
        JSON.stringify({ ...options.limits, ...(options.tls && { tls: options.tls }) }),
      );
    }
    const command = options.nofile === undefined
      ? new Deno.Command(Deno.execPath(), {
        args: denoArgs,
        cwd: ROOT,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      })
      : new Deno.Command("sh", {
        args: ["-c", `ulimit -n ${options.nofile} && exec "$0" "$@"`, Deno.execPath(), ...denoArgs],
        cwd: ROOT,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      });
    const child = command.spawn();
    this.#child = child;
    this.#status = child.status.then((status) => this.#exit = status);
    this.#stderrDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (chunk) => void (this.#stderr += chunk) }),
    ).catch(() => {});
    this.#stdoutLine = (async () => {
      let text = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        text += chunk;
        if (text.includes("\n")) break;
      }
      return text.split("\n")[0];
    })();
  }

  /** Start a fixture server and wait for its address. */
  static async start(
    layer: string,
    codecName: string,
    options: FixtureOptions = {},
  ): Promise<FixtureServer> {
    const server = new FixtureServer(layer, codecName, options);
    const line = await within(
      Promise.race([server.#stdoutLine, server.#status.then(() => "")]),
      30_000,
      `fixture ${layer}/${codecName} did not start`,
    );
    if (line === "") {
      await server.#stderrDone;
      throw new Error(`fixture ${layer}/${codecName} exited at start:\n${server.#stderr}`);
    }
    const { url, types, inspect } = JSON.parse(line);
    server.url = url;
    server.types = types;
    server.inspectUrl = inspect;
    return server;
  }

  /** The server's process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** The host and port the server listens on. */
  get hostPort(): { hostname: string; port: number } {
    const match = /^tcp:\/\/([^:]+):(\d+)/.exec(this.url)!;
    return { hostname: match[1], port: Number(match[2]) };
  }

  /** Everything the server wrote on stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** A codec instance as the server's peers use it (same serializers; no reference serializer). */
  codec(): Codec {
    const codec = createCodec(codecClass(this.codecName)!, []);
    // Codecs refuse plain objects with a `__type__` key; hostile frames send them as raw Maps.
    return {
      encode: (value) => codec.encode(rawTags(value)),
      decode: (bytes) => codec.decode(bytes),
      addSerializer: (...args) => codec.addSerializer(...args),
    };
  }

  /** Assert the process is still running (a crash ends it). */
  assertAlive(context: string): void {
    if (this.#exit !== undefined) {
      throw new assert.AssertionError({
        message:
          `${this.layer}/${this.codecName} server died (${context}): exit code ${this.#exit.code}` +
          `${this.#exit.signal ? ` signal ${this.#exit.signal}` : ""}\n--- stderr ---\n${
            this.#stderr.slice(-6000)
          }`,
      });
    }
  }

  /**
   * Assert the server is alive and a good client gets correct answers to
   * real calls (within a generous deadline, so a hung server fails the test).
   *
   * With `retryFor` (ms), a good client that fails for another reason than a
   * wrong answer (say, it is refused) tries again every 20 ms until that much
   * time has passed. For checks right after peers closed: the server, another
   * process, sees their closes only a little later, and until then it may still
   * count them against a limit such as `maxConnections`.
   */
  async assertHealthy(context: string, options: { retryFor?: number } = {}): Promise<void> {
    const retryUntil = performance.now() + (options.retryFor ?? 0);
    this.assertAlive(context);
    while (true) {
      try {
        await within(
          goodClient(this),
          GOOD_CLIENT_DEADLINE_MS,
          `a good client got no answers from ${this.layer}/${this.codecName} (${context})`,
        );
        break;
      } catch (error) {
        this.assertAlive(context);
        if (!(error instanceof assert.AssertionError) && performance.now() < retryUntil) {
          await sleep(20);
          continue;
        }
        throw new assert.AssertionError({
          message: `${this.layer}/${this.codecName} server is not healthy (${context}): ${
            (error as Error)?.stack ?? error
          }\n--- stderr ---\n${this.#stderr.slice(-4000)}`,
        });
      }
    }
    this.assertAlive(context);
  }

  /** Kill the server, wait for it, and assert it had not crashed before. */
  async stop(): Promise<void> {
    const alive = this.#exit === undefined;
    if (alive) {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }
    await this.#status;
    await this.#stderrDone;
    const triage = Deno.env.get("HOSTILE_TOLERATE");
    if (triage?.startsWith("/")) {
      await Deno.writeTextFile(`${triage}/${this.layer}_${this.codecName}.log`, this.#stderr);
    }
    if (!alive) this.assertAlive("at stop");
  }

  /** CPU time (user + system) the server process used so far, in seconds. */
  async cpuSeconds(): Promise<number> {
    const stat = await Deno.readTextFile(`/proc/${this.pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of stat(5) (utime, stime), counted from after the name.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  }

  /** Ask the server (started with `exposeGc`) for a full garbage collection. */
  async collectGarbage(): Promise<void> {
    Deno.kill(this.pid, "SIGUSR2");
    await sleep(300);
  }

  /** Resident memory of the server process, in bytes. */
  async rssBytes(): Promise<number> {
    const status = await Deno.readTextFile(`/proc/${this.pid}/status`);
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
  }

  /** Open descriptors of the server process. */
  async openFiles(): Promise<number> {
    let count = 0;
    for await (const _ of Deno.readDir(`/proc/${this.pid}/fd`)) count++;
    return count;
  }
}

/** Real calls with checked results, through the layer's own client. */
async function goodClient(server: FixtureServer): Promise<void> {
  const codec = codecClass(server.codecName)!;
  const extraSerializers = serializersFor(server.codecName);
  if (server.layer === "channel") {
    const channel = await openChannel(server.url, { codec, extraSerializers, tls: server.tls });
    try {
      assert.equal(await channel.send(["add", 2, 3]), 5);
      const point = await channel.send(["echo", new Point(1, 2)]);
      assert.ok(point instanceof Point);
      assert.deepEqual({ ...point }, { x: 1, y: 2 });
      assert.deepEqual(await channel.send(["echo", { a: [1, "x", null] }]), { a: [1, "x", null] });
    } finally {
      await channel.close();
    }
    return;
  }
  if (server.layer === "rpc") {
    const client = await openRpc(server.url, { codec, extraSerializers, tls: server.tls });
    try {
      assert.equal(await client.remote.add(2, 3), 5);
      assert.equal(await client.remote.sub.mul(6, 7), 42);
      const point = await client.remote.echo(new Point(3, 4));
      assert.ok(point instanceof Point);
      await assert.rejects(client.remote.fail("on purpose"), /failed: on purpose/);
    } finally {
      await client.close();
    }
    return;
  }
  const container = await Container.create({ hostname: "127.0.0.1", port: 0 }, {
    codec,
    extraSerializers,
    tls: server.tls,
  });
  try {
    class Peer extends Agent {}
    new Peer(container);
    const calculator = await container.connect(`${server.url}1`) as unknown as {
      add(a: number, b: number): Promise<number>;
      echo(value: unknown): Promise<unknown>;
      sub: { mul(a: number, b: number): Promise<number> };
    };
    assert.equal(await calculator.add(2, 3), 5);
    assert.equal(await calculator.sub.mul(6, 7), 42);
    const date = new Date("2016-01-01T00:00:00Z");
    const echoed = await calculator.echo([date, new Point(5, 6)]) as [Date, Point];
    assert.equal(echoed[0].getTime(), date.getTime());
    assert.ok(echoed[1] instanceof Point);
  } finally {
    await container.shutdown();
  }
}

/** What a raw connection saw. */
export interface RawResult {
  /** Decoded frames the server sent (undecodable ones as their byte length). */
  frames: unknown[];
  /** Whether the server closed the connection. */
  closed: boolean;
}

/**
 * A raw TCP peer: writes whatever it is given and collects what comes back.
 * It never answers the server's requests (see {@linkcode RawPeer.onRequest}).
 */
export class RawPeer {
  readonly conn: Deno.Conn;
  readonly frames: unknown[] = [];
  readonly requests: unknown[] = [];
  closed = false;
  /** Called for every request the server sends to this peer (default: ignore it). */
  onRequest: ((id: number, content: unknown) => void) | undefined;
  #codec: Codec;
  #reading: Promise<void>;
  #waiters: Array<() => void> = [];

  private constructor(conn: Deno.Conn, codec: Codec) {
    this.conn = conn;
    this.#codec = codec;
    this.#reading = this.#read();
  }

  /** Connect to `server`. */
  /**
   * Connect to `server`: over TLS with `tls` (default: the server's own files,
   * so a TLS peer is an authenticated one), plain TCP with `null`.
   */
  static async connect(
    server: FixtureServer,
    tls: TlsFiles | null = server.tls ?? null,
  ): Promise<RawPeer> {
    if (tls === null) return new RawPeer(await Deno.connect(server.hostPort), server.codec());
    const conn = await Deno.connectTls({
      ...server.hostPort,
      caCerts: [await Deno.readTextFile(tls.caFile)],
      cert: await Deno.readTextFile(tls.certFile),
      key: await Deno.readTextFile(tls.keyFile),
    });
    await conn.handshake();
    return new RawPeer(conn, server.codec());
  }

  /** Write raw bytes; false if the server has closed the connection. */
  async write(bytes: Uint8Array): Promise<boolean> {
    try {
      await writeAll(this.conn, bytes);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Encode `value` with the server's codec (no serializers) and send it as a
   * frame; false if the codec cannot carry it (bytes in JSON) or the write failed.
   */
  send(value: unknown): Promise<boolean> {
    let bytes: Uint8Array;
    try {
      bytes = frame(this.#codec.encode(value));
    } catch {
      return Promise.resolve(false);
    }
    return this.write(bytes);
  }

  /** Resolve once `count` frames came or the connection closed, or after `ms`. */
  async waitFrames(count: number, ms = 10_000): Promise<void> {
    const deadline = performance.now() + ms;
    while (this.frames.length < count && !this.closed && performance.now() < deadline) {
      await Promise.race([
        new Promise<void>((resolve) => this.#waiters.push(resolve)),
        sleep(Math.max(0, Math.min(200, deadline - performance.now()))),
      ]);
    }
  }

  /** Resolve once the server closed the connection, or after `ms`. */
  async waitClosed(ms = 10_000): Promise<boolean> {
    const deadline = performance.now() + ms;
    while (!this.closed && performance.now() < deadline) {
      await Promise.race([
        new Promise<void>((resolve) => this.#waiters.push(resolve)),
        sleep(Math.max(0, Math.min(200, deadline - performance.now()))),
      ]);
    }
    return this.closed;
  }

  /** Close this side and stop reading. */
  async close(): Promise<void> {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
    await this.#reading;
  }

  async #read(): Promise<void> {
    // Unparsed bytes are buffer[start, end); the buffer doubles when it must grow.
    let buffer = new Uint8Array(65536);
    let start = 0;
    let end = 0;
    try {
      while (true) {
        if (end === buffer.length) {
          const next = new Uint8Array(
            end - start < buffer.length / 2 ? buffer.length : 2 * buffer.length,
          );
          next.set(buffer.subarray(start, end));
          end -= start;
          start = 0;
          buffer = next;
        }
        const count = await this.conn.read(buffer.subarray(end));
        if (count === null) break;
        end += count;
        while (end - start >= 4) {
          const size = new DataView(buffer.buffer, start).getUint32(0);
          if (end - start < 4 + size) break;
          const payload = buffer.slice(start + 4, start + 4 + size);
          start += 4 + size;
          let message: unknown;
          try {
            message = this.#codec.decode(payload);
          } catch {
            message = payload.length;
          }
          if (Array.isArray(message) && message[0] === 0) {
            this.requests.push(message);
            this.onRequest?.(message[1] as number, message[2]);
          } else this.frames.push(message);
          for (const wake of this.#waiters.splice(0)) wake();
        }
      }
    } catch {
      // Reset or closed by us: the same as closed for the attacker.
    }
    this.closed = true;
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/** Run `tasks` with at most `limit` at a time. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      await task(items[index], index);
    }
  });
  await Promise.all(workers);
}

/** `value` with every plain object that has a `__type__` key turned into a `Map` (a raw tag). */
export function rawTags(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rawTags);
  if (!isPlainObject(value)) return value;
  const entries = Object.entries(value).map(([key, item]) => [key, rawTags(item)] as const);
  if (Object.hasOwn(value, "__type__")) return new Map(entries);
  const out: Record<string, unknown> = {};
  for (const [key, item] of entries) {
    Object.defineProperty(out, key, {
      value: item,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
