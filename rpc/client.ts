/**
 * {@linkcode RpcClient}: one RPC connection. It calls the peer through
 * `remote` and serves the peer's calls into the local service, so both sides
 * of a connection can call each other.
 *
 * @module
 */

import type { Channel, Request } from "../channel/channel.ts";
import { isPlainObject } from "../codecs/serializers.ts";
import { CodecError, TimeoutError } from "../errors.ts";
import { type Caller, type CallOptions, createProxy, type RemoteOf } from "./proxy.ts";
import { isService, resolvePath, servicePath } from "./router.ts";

/** Options of an RPC connection. */
export interface RpcOptions {
  /** Default deadline of every call through this connection, in seconds (none by default). */
  timeout?: number;
  /**
   * The path of a local service passed to the peer, tried before the
   * generic search (containers answer `"agents/<id>"` for their agents).
   */
  servicePath?: (service: object) => string | undefined;
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
  /** A proxy for the peer's root service. */
  readonly remote: RemoteOf<T>;
  /** Default deadline of calls in seconds; `undefined` or `0`: none. */
  timeout: number | undefined;

  #refs = new Map<string, object>();
  #refNames = new WeakMap<object, string>();
  #servicePath: ((service: object) => string | undefined) | undefined;

  /**
   * Serve `service` on `channel` and register the reference serializer on
   * its codec. Call before the channel reads its first frame (in the
   * channel's `setup` hook).
   */
  constructor(channel: Channel, service: unknown, options: RpcOptions = {}) {
    this.channel = channel;
    this.service = service;
    this.timeout = options.timeout;
    this.#servicePath = options.servicePath;
    this.remote = createProxy(this, "") as RemoteOf<T>;
    channel.codec.addSerializer(
      Object,
      (value: object) => this.#referencePath(value),
      (path: unknown) => {
        if (typeof path !== "string") throw new CodecError("A reference's data must be a path");
        return createProxy(this, path);
      },
    );
    channel.setHandler((request) => this.#handle(request));
  }

  /** Resolves when the connection is closed. */
  get closed(): Promise<void> {
    return this.channel.closed;
  }

  /** Close the connection; pending calls reject with `ConnectionError`. */
  close(): Promise<void> {
    return this.channel.close();
  }

  /** Send `[path, args, kwargs]` and resolve with the result; used by proxies. */
  call(
    path: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    options?: CallOptions,
  ): Promise<unknown> {
    const timeout = options?.timeout ?? this.timeout;
    const signal = options?.signal;
    const content = [path, args, kwargs];
    if (!timeout && signal === undefined) return this.channel.send(content);
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
    let result: unknown;
    try {
      const { fn, thisArg } = resolvePath(this.service, path, this.#refs);
      for (const _ in kwargs) {
        args.push(kwargs);
        break;
      }
      const outerClient = currentClient, outerFn = currentFn, outerThis = currentThis;
      currentClient = this as RpcClient<unknown>;
      currentFn = fn;
      currentThis = thisArg;
      try {
        result = fn.apply(thisArg, args);
      } finally {
        currentClient = outerClient;
        currentFn = outerFn;
        currentThis = outerThis;
      }
    } catch (error) {
      request.fail(error);
      return;
    }
    if (isThenable(result)) {
      result.then((value) => request.reply(value), (error) => request.fail(error));
    } else request.reply(result);
  }

  /** The path under which the peer can call `value` back. */
  #referencePath(value: object): string {
    if (!isService(value)) {
      throw new CodecError(
        `Cannot encode an instance of ${value.constructor?.name ?? "an unknown class"}: ` +
          "register a serializer for it, or expose its methods to pass it by reference",
      );
    }
    const known = this.#refNames.get(value);
    if (known !== undefined) return known;
    const path = this.#servicePath?.(value) ?? servicePath(this.service, value);
    if (path !== undefined) return path;
    // Not part of the local service tree: serve it under a connection-local name.
    const name = `@${this.#refs.size}`;
    this.#refs.set(name, value);
    this.#refNames.set(value, name);
    return name;
  }
}
