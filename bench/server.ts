/**
 * The server side of `deno task bench`. Run as a subprocess, so that client
 * and server have a process (and a V8 isolate) each:
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/server.ts <kind> <codec> [--heartbeat=S] [--no-release] [--no-metrics] [--recycle] \
 *   [+ <kind> <codec> [flags]]...
 * ```
 *
 * It listens on 127.0.0.1 (a free port per server; `+` separates several
 * servers of one process), prints `{"ports": [N, ...]}` as its first
 * line, then answers commands on stdin, one per line: `rss` prints
 * `{"rss": bytes}` (VmRSS after a forced garbage collection). It exits when
 * stdin closes. The same servers run inside the bench process for the
 * one-process rows ({@linkcode startBenchServer}).
 *
 * Kinds: `raw-batch`, `raw-frame`, `raw-upload`, `raw-upload-copy`, `pump` (see `raw.ts`),
 * `channel` (a channel echo), `rpc` ({@linkcode benchService}), `agent` (a
 * container with an {@linkcode EchoAgent}), and the peer libraries `birpc`,
 * `capnweb`, `capnweb-ws` (see `peers.ts`). Codecs: `json`, `msgpack` (for
 * `channel`, `rpc` and `agent`).
 *
 * @module
 */

import { Agent, Container } from "../agent/mod.ts";
import { startServer as startChannelServer } from "../channel/mod.ts";
import { JsonCodec } from "../codecs/json.ts";
import { MsgPackCodec } from "../codecs/msgpack.ts";
import type { CodecClass } from "../codecs/types.ts";
import { expose, startServer as startRpcServer } from "../rpc/mod.ts";
import { type RawKind, serveEach, serveRaw } from "./raw.ts";

/** The peer libraries' servers (`peers.ts`). */
export type PeerKind = "birpc" | "capnweb" | "capnweb-ws";
/** What a bench server can be. */
export type ServerKind = RawKind | PeerKind | "channel" | "rpc" | "agent";
/** The codecs of the `channel` and `rpc` kinds. */
export type CodecName = "json" | "msgpack";

/** Options of a bench server (and of its clients, `net_bench.ts`). */
export interface BenchServerOptions {
  /** The `heartbeat` option (seconds) of RPC and channel connections. */
  heartbeat?: number;
  /** The `release` option of RPC connections (`false`: lent references are kept). */
  release?: boolean;
  /** The `metrics` option of containers (`agent` kind; `false`: no call metrics). */
  metrics?: boolean;
  /** The `recycleReadBuffers` option of RPC connections (`rpc` kind). */
  recycle?: boolean;
}

/** The command-line flags of `options`, for `bench/server.ts`. */
function optionArgs(options: BenchServerOptions): string[] {
  const args: string[] = [];
  if (options.heartbeat !== undefined) args.push(`--heartbeat=${options.heartbeat}`);
  if (options.release === false) args.push("--no-release");
  if (options.metrics === false) args.push("--no-metrics");
  if (options.recycle) args.push("--recycle");
  return args;
}

/** `options` from the command-line flags of {@linkcode optionArgs}. */
function parseOptionArgs(args: readonly string[]): BenchServerOptions {
  const heartbeat = args.find((arg) => arg.startsWith("--heartbeat="));
  return {
    heartbeat: heartbeat ? Number(heartbeat.slice("--heartbeat=".length)) : undefined,
    release: args.includes("--no-release") ? false : undefined,
    metrics: args.includes("--no-metrics") ? false : undefined,
    recycle: args.includes("--recycle") ? true : undefined,
  };
}

/** A running bench server. */
export interface BenchServer {
  /** Its port on 127.0.0.1. */
  port: number;
  /** Stop it and close its connections. */
  close(): Promise<void>;
}

/** The codec class of a codec name. */
export function codecClass(name: CodecName): CodecClass {
  return name === "msgpack" ? MsgPackCodec : JsonCodec;
}

/** What a callback passed to {@linkcode benchService}'s `callback` offers. */
export interface Callback {
  /** Called back once by the server with the number it was given. */
  report(x: number): number | Promise<number>;
}

/**
 * The RPC service of the bench: `echo(x)`, `upload(bytes)` (answers the byte
 * count) and `callback(cb, x)` (calls `cb.report(x)` back and answers its result).
 */
export const benchService = {
  echo: expose((x: unknown) => x),
  upload: expose((data: unknown) => data instanceof Uint8Array ? data.length : -1),
  callback: expose(async (cb: Callback, x: number) => await cb.report(x)),
};

/** The agent of the `agent` kind's container: `echo(x)` answers `x`. */
export class EchoAgent extends Agent {
  /** Answer `x`. */
  @expose
  echo(x: unknown): unknown {
    return x;
  }
}

/** The id of the `agent` kind's {@linkcode EchoAgent} (its container's first agent). */
export const ECHO_AGENT_ID = "0";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

/**
 * Load `peers.ts` (and with it the peer libraries from npm) only when a peer
 * row runs: the specifier is computed so that type-checking a module that
 * imports this one does not fetch them.
 */
export function importPeers(): Promise<PeersModule> {
  const url = new URL(["peers", "ts"].join("."), import.meta.url);
  return import(url.href);
}

/** What `peers.ts` exports. */
export interface PeersModule {
  /** Start a peer library's echo server on 127.0.0.1. */
  startPeerServer(kind: PeerKind): BenchServer;
  /** Connect a peer library's client. */
  connectPeer(kind: PeerKind, port: number): Promise<PeerClient>;
}

/** A peer library's client: `echo(x)` and `close()`. */
export interface PeerClient {
  /** Call the server's `echo(x)`. */
  echo(x: number): Promise<unknown>;
  /** Close the connection. */
  close(): void;
}

/** Start a bench server of `kind` on 127.0.0.1 in this process. */
export async function startBenchServer(
  kind: ServerKind,
  codec: CodecName = "json",
  options: BenchServerOptions = {},
): Promise<BenchServer> {
  if (kind === "birpc" || kind === "capnweb" || kind === "capnweb-ws") {
    const { startPeerServer } = await importPeers();
    return startPeerServer(kind);
  }
  if (kind === "channel") {
    const server = await startChannelServer(LOCAL, (channel) => {
      channel.setHandler((request) => request.reply(request.content));
    }, { codec: codecClass(codec), heartbeat: options.heartbeat });
    return { port: (server.addr as { port: number }).port, close: () => server.close() };
  }
  if (kind === "agent") {
    const container = await Container.create(LOCAL, {
      codec: codecClass(codec),
      metrics: options.metrics,
    });
    const agent = new EchoAgent(container);
    if (!agent.addr.endsWith(`/${ECHO_AGENT_ID}`)) throw new Error(`Echo agent at ${agent.addr}`);
    const port = Number(new URL(container.addr).port);
    return { port, close: () => container.shutdown() };
  }
  if (kind === "rpc") {
    const server = await startRpcServer(LOCAL, benchService, {
      codec: codecClass(codec),
      heartbeat: options.heartbeat,
      release: options.release,
      recycleReadBuffers: options.recycle,
    });
    return { port: (server.addr as { port: number }).port, close: () => server.close() };
  }
  return serveEach(Deno.listen(LOCAL), (conn) => serveRaw(conn, kind));
}

/** This process's resident set size in bytes (VmRSS), after a forced GC when exposed. */
export async function rss(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  try {
    const status = await Deno.readTextFile("/proc/self/status");
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    if (match) return Number(match[1]) * 1024;
  } catch { /* not Linux */ }
  return Deno.memoryUsage().rss;
}

/** Lines of a byte stream. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let at: number;
    while ((at = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, at);
      rest = rest.slice(at + 1);
    }
  }
  if (rest) yield rest;
}

/** A bench server in a subprocess. */
export interface ServerProcess extends BenchServer {
  /** The server's RSS in bytes, after a forced GC. */
  rss(): Promise<number>;
}

/** One server of a bench server process. */
export interface ServerSpec {
  kind: ServerKind;
  codec?: CodecName;
  options?: BenchServerOptions;
}

/** A bench server process with several listeners, one per {@linkcode ServerSpec}. */
export interface ServerProcesses extends ServerProcess {
  /** The listeners' ports, in the order of the specs (`port` is the first). */
  ports: number[];
}

/** Separates the specs on the command line of `bench/server.ts`. */
const SPEC_SEPARATOR = "+";

/**
 * Spawn `deno run -A bench/server.ts <kind> <codec>` and wait for its port.
 * Its stderr goes to ours.
 */
export function spawnServer(
  kind: ServerKind,
  codec: CodecName = "json",
  options: BenchServerOptions = {},
): Promise<ServerProcess> {
  return spawnServers([{ kind, codec, options }]);
}

/**
 * Spawn one bench server process serving every spec on a port of its own
 * (`bench/server.ts <kind> <codec> [flags] + <kind> <codec> [flags] ...`):
 * rows that compare a feature on and off then share the processes, so the
 * difference between two processes does not pass for the feature's cost.
 */
export async function spawnServers(specs: readonly ServerSpec[]): Promise<ServerProcesses> {
  const args = ["run", "-A", "--v8-flags=--expose-gc", import.meta.url];
  for (const [i, { kind, codec = "json", options = {} }] of specs.entries()) {
    if (i > 0) args.push(SPEC_SEPARATOR);
    args.push(kind, codec, ...optionArgs(options));
  }
  const what = specs.map((spec) => `${spec.kind} ${spec.codec ?? "json"}`).join(", ");
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const output = lines(child.stdout);
  const writer = child.stdin.getWriter();
  const next = async () => {
    const { value, done } = await output.next();
    if (done) throw new Error(`bench server ${what} exited`);
    return JSON.parse(value) as Record<string, number>;
  };
  let ports: number[];
  try {
    ports = (await next()).ports as unknown as number[];
  } catch (error) {
    try {
      child.kill();
    } catch { /* gone */ }
    throw error;
  }
  let queue = Promise.resolve<unknown>(undefined);
  return {
    port: ports[0],
    ports,
    rss() {
      const result = queue.then(async () => {
        await writer.write(new TextEncoder().encode("rss\n"));
        return (await next()).rss;
      });
      queue = result.catch(() => {});
      return result;
    },
    async close() {
      await queue;
      try {
        await writer.close();
      } catch { /* gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 3000);
      await child.status;
      clearTimeout(timer);
      // Drain stdout so its resource is released.
      for await (const _ of output) { /* nothing */ }
    },
  };
}

/** The specs of a `bench/server.ts` command line. */
function parseSpecs(args: readonly string[]): ServerSpec[] {
  const specs: ServerSpec[] = [];
  let start = 0;
  for (let i = 0; i <= args.length; i++) {
    if (i < args.length && args[i] !== SPEC_SEPARATOR) continue;
    const [kind, codec = "json", ...flags] = args.slice(start, i);
    specs.push({
      kind: kind as ServerKind,
      codec: codec as CodecName,
      options: parseOptionArgs(flags),
    });
    start = i + 1;
  }
  return specs;
}

if (import.meta.main) {
  const servers: BenchServer[] = [];
  for (const spec of parseSpecs(Deno.args)) {
    servers.push(await startBenchServer(spec.kind, spec.codec, spec.options));
  }
  const write = (value: unknown) => console.log(JSON.stringify(value));
  write({ ports: servers.map((server) => server.port) });
  for await (const line of lines(Deno.stdin.readable)) {
    if (line.trim() === "rss") write({ rss: await rss() });
  }
  await Promise.all(servers.map((server) => server.close()));
  Deno.exit(0);
}
