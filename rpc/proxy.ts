/**
 * Proxies turn `remote.sub.method(1, 2)` into a request
 * `["sub/method", [1, 2], {}]`, and the types that make such calls checked
 * at compile time.
 *
 * @module
 */

import { Kwargs } from "./expose.ts";

/** Per-call options: a deadline and a cancellation signal. */
export interface CallOptions {
  /** Reject with a `TimeoutError` after this many seconds; `0` or `undefined`: no deadline. */
  timeout?: number;
  /** Reject with the signal's reason when it aborts. */
  signal?: AbortSignal;
}

/** What a proxy sends its calls through (an RPC connection). */
export interface Caller {
  /** Send `[path, args, kwargs]` and resolve with the result. */
  call(
    path: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    options?: CallOptions,
  ): Promise<unknown>;
}

/**
 * The remote form of a service type: every method returns a promise of its
 * result, and every object member is a remote sub-service.
 *
 * @example
 * ```ts
 * import type { Remote } from "@aiomas/aiomas/rpc";
 * class Calculator {
 *   add(a: number, b: number): number { return a + b; }
 * }
 * type RemoteCalculator = Remote<Calculator>; // { add(a, b): Promise<number> }
 * const typed: RemoteCalculator = { add: (a, b) => Promise.resolve(a + b) };
 * console.log(await typed.add(1, 2)); // 3
 * ```
 */
export type Remote<T> = {
  readonly [K in keyof T]: T[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : T[K] extends object ? Remote<T[K]>
    : never;
};

/**
 * An untyped proxy: any member is a callable sub-proxy. What
 * `openConnection()` gives without a type argument.
 */
export interface DynamicRemote {
  /** Call the remote function at this proxy's path. */
  (...args: unknown[]): Promise<unknown>;
  /** A proxy for the member `name` (path `"<this path>/name"`). */
  readonly [name: string]: DynamicRemote;
}

/** `Remote<T>`, or {@linkcode DynamicRemote} when `T` is not given. */
export type RemoteOf<T> = unknown extends T ? DynamicRemote : Remote<T>;

const PROXY_TARGET = Symbol("aiomas.proxyTarget");
const EMPTY_KWARGS: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

interface ProxyTarget {
  readonly caller: Caller;
  readonly path: string;
}

/** Split a trailing {@linkcode Kwargs} marker off `args`. */
function splitKwargs(args: unknown[]): [unknown[], Record<string, unknown>] {
  const last = args[args.length - 1];
  if (last instanceof Kwargs) return [args.slice(0, -1), last.values as Record<string, unknown>];
  return [args, EMPTY_KWARGS];
}

const INSPECT = Symbol.for("Deno.customInspect");

/**
 * Make a proxy whose calls go through `caller` under `path` (`""` is the
 * peer's root service). `label` is how the proxy prints (default
 * `RemoteProxy('<path>')`).
 */
export function createProxy(caller: Caller, path: string, label?: string): DynamicRemote {
  const children = new Map<string, DynamicRemote>();
  const target = function () {} as unknown as ProxyTarget & (() => void);
  const show = () => label ?? `RemoteProxy('${path}')`;
  return new Proxy(target, {
    get(_target, name) {
      if (name === PROXY_TARGET) return { caller, path };
      if (name === Symbol.toPrimitive || name === INSPECT) return show;
      // Not thenable: `await proxy` must not try to call a remote `then`.
      if (typeof name !== "string" || name === "then") return undefined;
      let child = children.get(name);
      if (child === undefined) {
        child = createProxy(caller, path === "" ? name : `${path}/${name}`);
        children.set(name, child);
      }
      return child;
    },
    apply(_target, _thisArg, args: unknown[]) {
      const [positional, keywords] = splitKwargs(args);
      return caller.call(path, positional, keywords);
    },
  }) as unknown as DynamicRemote;
}

/**
 * Pass a local service by reference through a typed proxy: `ref(service)`
 * is `service` itself at run time (an object with exposed members always
 * travels as a reference), typed as the `Remote<T>` that the peer receives.
 *
 * @example
 * ```ts
 * import { expose, openConnection, ref, type Remote, startServer } from "@aiomas/aiomas/rpc";
 *
 * class Progress {
 *   @expose
 *   report(percent: number): string {
 *     return `${percent}%`;
 *   }
 * }
 * class Worker {
 *   @expose
 *   async work(progress: Remote<Progress>): Promise<string> {
 *     return await progress.report(100);
 *   }
 * }
 * const server = await startServer("tcp://127.0.0.1:0", new Worker());
 * const client = await openConnection<Worker>(server.url);
 * console.log(await client.remote.work(ref(new Progress()))); // 100%
 * await client.close();
 * await server.close();
 * ```
 */
export function ref<T extends object>(service: T): Remote<T> {
  return service as unknown as Remote<T>;
}

/** The path of a proxy made by {@linkcode createProxy}, or `undefined`. */
export function proxyPath(value: unknown): string | undefined {
  if (typeof value !== "function") return undefined;
  return (value as unknown as { [PROXY_TARGET]?: ProxyTarget })[PROXY_TARGET]?.path;
}

/**
 * Call a remote function with a deadline or a cancellation signal.
 * A timed-out call rejects with a `TimeoutError`, an aborted one with the
 * signal's reason; a reply that comes later is dropped.
 *
 * @example
 * ```ts ignore
 * import { callWith } from "@aiomas/aiomas/rpc";
 * const sum = await callWith({ timeout: 0.5 }, client.remote.add, 1, 2);
 * ```
 */
export function callWith<A extends unknown[], R>(
  options: CallOptions,
  remoteFunction: (...args: A) => Promise<R>,
  ...args: A
): Promise<R> {
  const target = (remoteFunction as unknown as { [PROXY_TARGET]?: ProxyTarget })[PROXY_TARGET];
  if (target === undefined) {
    return Promise.reject(new TypeError("callWith() takes a remote function (a proxy member)"));
  }
  const [positional, keywords] = splitKwargs(args);
  return target.caller.call(target.path, positional, keywords, options) as Promise<R>;
}
