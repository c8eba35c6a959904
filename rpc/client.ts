/**
 * {@linkcode RpcClient}: one RPC connection. It calls the peer through
 * `remote` and serves the peer's calls into the local service, so both sides
 * of a connection can call each other.
 *
 * @module
 */

import { cutText } from "./metrics.ts";
import type { Channel, Request } from "../channel/channel.ts";
import type { ReplyObserver } from "../channel/pending.ts";
import { isPlainObject } from "../codecs/serializers.ts";
import { NotExposedError, TimeoutError } from "../errors.ts";
import { type Caller, type CallOptions, createProxy, proxyState, type RemoteOf } from "./proxy.ts";
import { ReferenceTable, RELEASE_PATH, splitLentPath } from "./references.ts";
import { resolvePath } from "./router.ts";

/** Options of an RPC connection. */
export interface RpcOptions {
  /**
   * Default deadline of every call through this connection, in seconds
   * (default: none). Deadlines run on real time, even when the application
   * uses an `ExternalClock` (see docs/clocks.md).
   */
  callTimeout?: number | undefined;
  /** @deprecated Use `callTimeout` (the same: the default call deadline in seconds). */
  timeout?: number | undefined;
  /**
   * The path of a local service passed to the peer, tried before the
   * generic search (containers answer `"agents/<id>"` for their agents).
   */
  servicePath?: (service: object) => string | undefined;
  /**
   * Turn an agent address the peer passed (an agent proxy it forwarded)
   * into a proxy; `undefined`: call it back through the peer. Containers
   * connect to the address themselves.
   */
  resolveAgent?: ((address: string) => unknown) | undefined;
  /**
   * Give references lent by the peer back when their proxy is disposed or
   * garbage-collected (default `true`; see docs/lifetimes.md). With `false`,
   * the peer keeps every object it lent until the connection closes.
   */
  release?: boolean | undefined;
  /**
   * Watches every call through this connection, both ways (see
   * {@linkcode RpcMonitor}); `undefined` (the default) costs nothing.
   */
  monitor?: RpcMonitor | undefined;
}

/**
 * Watches the calls of RPC connections: each outgoing request and its reply,
 * each incoming request and the reply sent for it. Containers on an
 * `ExternalClock` install one to count calls for the `Simulation`; metrics and
 * tracing can use the same hook. Every method runs synchronously on the
 * connection's hot path: keep it cheap, and never throw. The RPC layer's own
 * requests (paths under `aiomas/`: heartbeats, releases) are not reported.
 *
 * Each `...Sent`/`...Received` pair is matched by the token the first method
 * returns (for example a record with the path and the start time, for
 * latencies): every `requestSent` is followed by exactly one `replyReceived`
 * (also when the call fails, times out or the connection closes), and every
 * `requestReceived` by exactly one `replySent`.
 *
 * @example Count calls and failures per path
 * ```ts
 * import { expose, openConnection, type RpcMonitor, startServer } from "@aiomas/aiomas/rpc";
 *
 * const calls = new Map<string, number>();
 * let failed = 0;
 * const monitor: RpcMonitor = {
 *   requestSent: (_channel, path) => calls.set(path, (calls.get(path) ?? 0) + 1),
 *   replyReceived: (_token, ok) => {
 *     if (!ok) failed++;
 *   },
 *   requestReceived: () => undefined,
 *   replySent: () => {},
 * };
 * const server = await startServer("tcp://127.0.0.1:0", { ping: expose(() => "pong") });
 * const client = await openConnection(server.url, { monitor });
 * await client.remote.ping();
 * await client.remote.nope().catch(() => {});
 * console.log(calls.get("ping"), calls.get("nope"), failed); // 1 1 1
 * await client.close();
 * await server.close();
 * ```
 */
export interface RpcMonitor {
  /** A request to `path` is sent on `channel`; the result is the token of this call. */
  requestSent(channel: Channel, path: string): unknown;
  /** The reply to the call of `token` arrived: `ok`, or failed with `error`. */
  replyReceived(token: unknown, ok: boolean, error?: unknown): void;
  /**
   * A request to `path` came in on `channel`; the result is the token of this
   * request. A path longer than 256 characters (a peer may send megabytes)
   * comes cut to 256 and marked with `...`, so a monitor can keep it.
   */
  requestReceived(channel: Channel, path: string): unknown;
  /** The reply to the request of `token` is sent: `ok`, or the handler failed with `error`. */
  replySent(token: unknown, ok: boolean, error?: unknown): void;
  /**
   * Run the exposed function `fn` for the request of `token` (optional):
   * lets a monitor give the handler an async context of its own.
   */
  runHandler?<R>(token: unknown, fn: () => R): R;
}

/** Whether `path` is one of the RPC layer's own requests (`aiomas/...`). */
function isInternal(path: string): boolean {
  // The second letter first: agent paths ("agents/...") start with "a" too.
  return path.charCodeAt(1) === 105 /* i */ && path.charCodeAt(0) === 97 /* a */ &&
    path.startsWith("aiomas/");
}

/** The request being dispatched (see {@linkcode currentCall}); set only while its function starts. */
let currentClient: RpcClient<unknown> | undefined;
let currentFn: ((...args: unknown[]) => unknown) | undefined;
let currentThis: unknown;

/** Which connection called an exposed function (see {@linkcode currentCall}). */
export interface RpcCall {
  /** The connection the request came in on. */
  readonly client: RpcClient;
  /** The exposed function the request named. */
  readonly fn: (...args: unknown[]) => unknown;
  /** The service it is called on (its `this`). */
  readonly thisArg: unknown;
}

/**
 * The RPC request being dispatched right now: its connection, the exposed
 * function and its `this`. Defined only during the synchronous start of that
 * function (before its first `await`), and `undefined` for direct calls, so a
 * function that checks who called it must do so first, and should compare
 * `fn` and `thisArg` with itself (a direct call made by another exposed
 * function sees that function's request). The Manager uses it to obey only
 * authorized connections.
 *
 * @example
 * ```ts
 * import { currentCall, expose, openConnection, startServer } from "@aiomas/aiomas/rpc";
 * function whoAmI(): string {
 *   return currentCall()?.client.channel.peer ?? "a direct call";
 * }
 * const server = await startServer("tcp://127.0.0.1:0", { whoAmI: expose(whoAmI) });
 * const client = await openConnection(server.url);
 * console.log(String(await client.remote.whoAmI()).startsWith("tcp://127.0.0.1:")); // true
 * console.log(whoAmI()); // a direct call
 * await client.close();
 * await server.close();
 * ```
 */
export function currentCall(): RpcCall | undefined {
  return currentClient === undefined
    ? undefined
    : { client: currentClient, fn: currentFn!, thisArg: currentThis };
}

const noop = () => {};
/** The longest path a monitor sees; longer ones (a peer may send megabytes) are cut. */
const MAX_MONITORED_PATH = 256;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/**
 * One RPC connection: `remote` calls the peer's service; the local `service`
 * (if any) answers the peer's calls. Made by `openConnection()` and, for each
 * client, by `startServer()`.
 *
 * @example
 * ```ts
 * import { expose, openConnection, startServer } from "@aiomas/aiomas/rpc";
 *
 * class Calculator {
 *   @expose
 *   add(a: number, b: number): number {
 *     return a + b;
 *   }
 * }
 * const server = await startServer("tcp://127.0.0.1:0", new Calculator());
 * const client = await openConnection<Calculator>(server.url);
 * console.log(await client.remote.add(1, 2)); // 3
 * await client.close();
 * await server.close();
 * ```
 */
export class RpcClient<T = unknown> implements Caller {
  /** The channel under this connection. */
  readonly channel: Channel;
  /** The local service that the peer may call (`undefined`: none). */
  readonly service: unknown;
  /** Default deadline of calls in seconds (the `callTimeout` option); `undefined` or `0`: none. */
  timeout: number | undefined;

  /** What this connection lent to the peer and borrowed from it. */
  #references: ReferenceTable;
  #monitor: RpcMonitor | undefined;
  // Tells the monitor of a reply (the channel calls it); made only with a monitor.
  #replyObserver: ReplyObserver | undefined;
  // Made on first use: a server's side of a connection seldom calls its client.
  #remote: RemoteOf<T> | undefined;

  /**
   * Serve `service` on `channel` and register the reference serializer on
   * its codec. Call before the channel reads its first frame (in the
   * channel's `setup` hook).
   */
  constructor(channel: Channel, service: unknown, options: RpcOptions = {}) {
    this.channel = channel;
    this.service = service;
    this.timeout = options.callTimeout ?? options.timeout;
    const monitor = this.#monitor = options.monitor;
    if (monitor !== undefined) {
      this.#replyObserver = (token, ok, replyOrError) =>
        monitor.replyReceived(token, ok, ok ? undefined : replyOrError);
    }
    this.#references = new ReferenceTable(this, channel, service, options);
    channel.setHandler((request) => this.#handle(request));
  }

  /** A proxy for the peer's root service. */
  get remote(): RemoteOf<T> {
    return this.#remote ??= createProxy(this, "") as RemoteOf<T>;
  }

  /** Resolves when the connection is closed. */
  get closed(): Promise<void> {
    return this.channel.closed;
  }

  /** How many objects this side lent to the peer and the peer still holds. */
  get lentCount(): number {
    return this.#references.lentCount;
  }

  /** Close the connection; pending calls reject with `ConnectionError`. */
  close(): Promise<void> {
    return this.channel.close();
  }

  /**
   * Send `[path, args, kwargs]` and resolve with the result; used by proxies.
   * The returned promise is handled: a call nobody awaits cannot become an
   * unhandled rejection when the connection closes.
   */
  call(
    path: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    options?: CallOptions,
  ): Promise<unknown> {
    const monitor = this.#monitor;
    const timeout = options?.timeout ?? this.timeout;
    const direct = !timeout && options?.signal === undefined;
    if (monitor === undefined || isInternal(path)) {
      if (direct) return this.channel.send([path, args, kwargs]);
      // A rejection of `send`'s own promise never counts as unhandled; a deadline's may.
      const reply = this.#callWithDeadline(path, [path, args, kwargs], timeout, options?.signal);
      reply.catch(noop);
      return reply;
    }
    const token = monitor.requestSent(this.channel, path);
    if (direct) {
      // The channel tells the monitor: no promise handler per call.
      return this.channel.sendObserved([path, args, kwargs], this.#replyObserver!, token);
    }
    const reply = this.#callWithDeadline(path, [path, args, kwargs], timeout, options?.signal);
    reply.then(
      () => monitor.replyReceived(token, true),
      (error) => monitor.replyReceived(token, false, error),
    );
    return reply;
  }

  #callWithDeadline(
    path: string,
    content: unknown[],
    timeout: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    const timer = timeout
      ? setTimeout(
        () =>
          controller.abort(
            new TimeoutError(
              `Call to "${path}" on ${this.channel.peer} timed out after ${timeout} s`,
            ),
          ),
        timeout * 1000,
      )
      : undefined;
    return this.channel.send(content, { signal: controller.signal }).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    });
  }

  #handle(request: Request): void {
    const content = request.content;
    if (
      !Array.isArray(content) || content.length !== 3 || typeof content[0] !== "string" ||
      !Array.isArray(content[1]) || !isPlainObject(content[2])
    ) {
      request.fail(new TypeError("An RPC request's content must be [path, args, kwargs]"));
      return;
    }
    const [path, args, kwargs] = content as [string, unknown[], Record<string, unknown>];
    const monitor = this.#monitor;
    if (monitor === undefined || isInternal(path)) {
      this.#dispatch(request, path, args, kwargs, undefined, undefined);
      return;
    }
    const token = monitor.requestReceived(
      this.channel,
      path.length <= MAX_MONITORED_PATH ? path : cutText(path, MAX_MONITORED_PATH),
    );
    if (monitor.runHandler === undefined) {
      this.#dispatch(request, path, args, kwargs, monitor, token);
    } else {
      monitor.runHandler(token, () => this.#dispatch(request, path, args, kwargs, monitor, token));
    }
  }

  /** Serve a request and answer it (telling `monitor`, if any, how it went). */
  #dispatch(
    request: Request,
    path: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    monitor: RpcMonitor | undefined,
    token: unknown,
  ): void {
    let result: unknown;
    try {
      const first = path.charCodeAt(0);
      // Heartbeats (`aiomas/heartbeat`) are answered by the channel and never get here.
      if (first === 97 /* a */ && path === RELEASE_PATH) {
        this.#references.takeBack(args);
        request.reply(null);
        return;
      }
      if (first === 64 /* @ */ || first === 94 /* ^ */ || path.includes("://")) {
        result = this.#forward(path, args, kwargs);
      } else {
        const { fn, thisArg } = resolvePath(this.service, path);
        result = this.#invoke(fn, thisArg, args, kwargs);
      }
    } catch (error) {
      monitor?.replySent(token, false, error);
      request.fail(error);
      return;
    }
    if (monitor === undefined) {
      if (isThenable(result)) {
        result.then((value) => request.reply(value), (error) => request.fail(error));
      } else request.reply(result);
    } else if (isThenable(result)) {
      result.then((value) => {
        monitor.replySent(token, true);
        request.reply(value);
      }, (error) => {
        monitor.replySent(token, false, error);
        request.fail(error);
      });
    } else {
      monitor.replySent(token, true);
      request.reply(result);
    }
  }

  /**
   * A call to something this side lent: a local object under `@<n>`, a
   * proxy it forwards (`@<n>` or an agent address), or, with `^`, an object
   * of the peer itself that this side passed back to a peer that could not
   * take it as its own.
   */
  #forward(path: string, args: unknown[], kwargs: Record<string, unknown>): unknown {
    if (path.charCodeAt(0) === 94 /* ^ */) return this.call(path.slice(1), args, kwargs);
    const [name, rest = ""] = splitLentPath(path);
    const lent = this.#references.lent(name);
    if (lent === undefined) {
      throw new NotExposedError(
        `"${name.slice(0, 200)}" is not lent on this connection (released, or never passed)`,
      );
    }
    const state = proxyState(lent);
    if (state !== undefined) {
      return state.caller.call(
        rest === "" ? state.path : state.path === "" ? rest : `${state.path}/${rest}`,
        args,
        kwargs,
      );
    }
    const { fn, thisArg } = resolvePath(lent, rest);
    return this.#invoke(fn, thisArg, args, kwargs);
  }

  /** Call an exposed function for the peer; {@linkcode currentCall} tells it who called. */
  #invoke(
    fn: (...args: unknown[]) => unknown,
    thisArg: unknown,
    args: unknown[],
    kwargs: Record<string, unknown>,
  ): unknown {
    for (const _ in kwargs) {
      args.push(kwargs);
      break;
    }
    const outerClient = currentClient, outerFn = currentFn, outerThis = currentThis;
    currentClient = this as RpcClient<unknown>;
    currentFn = fn;
    currentThis = thisArg;
    try {
      return fn.apply(thisArg, args);
    } finally {
      currentClient = outerClient;
      currentFn = outerFn;
      currentThis = outerThis;
    }
  }
}
