/**
 * Proxies turn `remote.sub.method(1, 2)` into a request
 * `["sub/method", [1, 2], {}]`, and the types that make such calls checked
 * at compile time.
 *
 * @module
 */

import { AiomasError } from "../errors.ts";
import { Kwargs } from "./expose.ts";

/** Per-call options: a deadline and a cancellation signal. */
export interface CallOptions {
  /**
   * Reject with a `TimeoutError` after this many seconds; `0` or `undefined`:
   * no deadline. Seconds of real time, also in a container with an
   * `ExternalClock` (see docs/clocks.md).
   */
  timeout?: number | undefined;
  /** Reject with the signal's reason when it aborts. */
  signal?: AbortSignal | undefined;
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
 * The arguments a remote method takes: its own, or with a
 * {@linkcode kwargs} marker in place of (or after) its last argument, which
 * a Deno callee receives as that trailing options object and a Python
 * callee as keyword arguments.
 *
 * @example
 * ```ts
 * import { kwargs, type WithKwargs } from "@aiomas/aiomas/rpc";
 * type Args = WithKwargs<[a: number, options: { b: number }]>;
 * const plain: Args = [1, { b: 2 }];
 * const keywords: Args = [1, kwargs({ b: 2 })];
 * console.log(plain.length, keywords[1] instanceof Object); // 2 true
 * ```
 */
export type WithKwargs<A extends unknown[]> =
  | A
  | [...A, Kwargs]
  | (A extends [...infer Head, unknown] ? [...Head, Kwargs] : never)
  | (A extends [...infer Head, unknown?] ? [...Head, Kwargs] : never);

/**
 * The remote form of a service type: every method returns a promise of its
 * result, and every object member is a remote sub-service. A proxy is
 * disposable: `using` (or `Symbol.dispose`) gives a reference the peer lent
 * back at once instead of when the proxy is garbage-collected.
 *
 * @example
 * ```ts
 * import type { Remote } from "@aiomas/aiomas/rpc";
 * class Calculator {
 *   add(a: number, b: number): number { return a + b; }
 * }
 * // A function that takes the proxy of a remote Calculator: calls are checked.
 * async function sum(calculator: Remote<Calculator>): Promise<number> {
 *   return await calculator.add(1, 2);
 * }
 * console.log(typeof sum); // function
 * ```
 */
export type Remote<T> =
  & {
    readonly [K in keyof T]: T[K] extends (...args: infer A) => infer R
      ? (...args: WithKwargs<A>) => Promise<Awaited<R>>
      : T[K] extends object ? Remote<T[K]>
      : never;
  }
  & Disposable
  & AsyncDisposable;

/**
 * An untyped proxy: any member is a callable sub-proxy. What
 * `openConnection()` gives without a type argument.
 */
export interface DynamicRemote {
  /** Call the remote function at this proxy's path. */
  (...args: unknown[]): Promise<unknown>;
  /** A proxy for the member `name` (path `"<this path>/name"`). */
  readonly [name: string]: DynamicRemote;
  /** Give a lent reference back now (see docs/lifetimes.md); no-op for other proxies. */
  [Symbol.dispose](): void;
  /** Like `Symbol.dispose`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** `Remote<T>`, or {@linkcode DynamicRemote} when `T` is not given. */
export type RemoteOf<T> = unknown extends T ? DynamicRemote : Remote<T>;

const PROXY_STATE = Symbol("aiomas.proxy");
const EMPTY_KWARGS: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;
const DENO_INSPECT = Symbol.for("Deno.customInspect");
const NODE_INSPECT = Symbol.for("nodejs.util.inspect.custom");

/**
 * How long a reference lent by the peer stays valid: until the proxy is
 * disposed or garbage-collected. Made by the RPC connection for `@<n>`
 * references.
 */
export interface Lease {
  /** Whether the reference was given back; calls through it then reject. */
  readonly released: boolean;
  /** Give the reference back to its owner (once; later calls do nothing). */
  release(): void;
}

/** What a proxy stands for; shared with its members. */
export interface ProxyState {
  /** Where calls go. */
  readonly caller: Caller;
  /** The path of this proxy on the peer (`""`: its root service). */
  readonly path: string;
  /** How the proxy prints (default `RemoteProxy('<path>')`). */
  readonly label: string | undefined;
  /** The agent address this proxy stands for, when it is an agent proxy or a member of one. */
  readonly address: string | undefined;
  /** The lease of a lent reference (`@<n>`), shared by the proxy and its members. */
  readonly lease: Lease | undefined;
  /** The proxy this one is a member of: a member keeps its root (and lease) alive. */
  readonly parent: unknown;
  /** Members made so far (made on first access). */
  children: Map<string, DynamicRemote> | undefined;
}

/**
 * Names a proxy never turns into remote members: the ones that runtimes,
 * test frameworks and libraries probe implicitly (`await` looks for `then`,
 * `JSON.stringify` for `toJSON`, ...). Also every name starting with `__`
 * or `@@`. Reach a remote member with such a name with
 * {@linkcode remoteMember}.
 *
 * @example
 * ```ts
 * import { RESERVED_NAMES } from "@aiomas/aiomas/rpc";
 * console.log(RESERVED_NAMES.has("then"), RESERVED_NAMES.has("add")); // true false
 * ```
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  "then",
  "catch",
  "finally",
  "toJSON",
  "toISOString",
  "valueOf",
  "toString",
  "toLocaleString",
  "constructor",
  "prototype",
  "hasOwnProperty",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "asymmetricMatch",
  "$$typeof",
  "nodeType",
  "tagName",
  "inspect",
]);

/** Split a trailing {@linkcode Kwargs} marker off `args`. */
function splitKwargs(args: unknown[]): [unknown[], Record<string, unknown>] {
  const last = args[args.length - 1];
  if (last instanceof Kwargs) return [args.slice(0, -1), last.values as Record<string, unknown>];
  return [args, EMPTY_KWARGS];
}

/** A proxy's target: a bound function that returns the proxy's state. */
type ProxyTarget = () => ProxyState;

function labelOf(state: ProxyState): string {
  return state.label ?? `RemoteProxy('${state.path}')`;
}

function released(state: ProxyState): Promise<never> {
  const rejected = Promise.reject(
    new AiomasError(
      `${labelOf(state)} was disposed: the peer's object is no longer reachable through it; ` +
        "ask the peer for a new reference",
    ),
  );
  // Owned, like every call's promise: a call nobody awaits cannot reject unhandled.
  rejected.catch(() => {});
  return rejected;
}

function isReserved(name: string): boolean {
  return RESERVED_NAMES.has(name) || name.startsWith("__") || name.startsWith("@@");
}

/** The member `name` of a proxy; cached unless its name is reserved (the cache answers `get`). */
function member(state: ProxyState, parent: unknown, name: string): DynamicRemote {
  const children = state.children ??= new Map();
  let child = children.get(name);
  if (child === undefined) {
    child = makeProxy({
      caller: state.caller,
      path: state.path === "" ? name : `${state.path}/${name}`,
      label: undefined,
      address: state.address === undefined ? undefined : `${state.address}/${name}`,
      lease: state.lease,
      parent,
      children: undefined,
    });
    if (!isReserved(name)) children.set(name, child);
  }
  return child;
}

const handler: ProxyHandler<ProxyTarget> = {
  get(target, name, receiver) {
    const state = target();
    if (typeof name === "string") {
      // Members made before: the common case, one lookup.
      const child = state.children?.get(name);
      if (child !== undefined) return child;
      if (name === "toString" || name === "toLocaleString") return () => labelOf(state);
      if (isReserved(name)) return undefined;
      return member(state, receiver, name);
    }
    if (name === PROXY_STATE) return state;
    if (name === Symbol.toPrimitive || name === DENO_INSPECT || name === NODE_INSPECT) {
      return () => labelOf(state);
    }
    if (name === Symbol.dispose) return () => state.lease?.release();
    if (name === Symbol.asyncDispose) {
      return () => {
        state.lease?.release();
        return Promise.resolve();
      };
    }
    return undefined;
  },
  apply(target, _thisArg, args: unknown[]) {
    const state = target();
    if (state.lease?.released) return released(state);
    const [positional, keywords] = splitKwargs(args);
    return state.caller.call(state.path, positional, keywords);
  },
  set() {
    return false;
  },
  defineProperty() {
    return false;
  },
};

/**
 * The prototype of proxy targets: inspectors that look through the proxy at
 * its target (as `Deno.inspect` does) find the label here.
 */
const TARGET_PROTOTYPE = Object.create(Function.prototype, {
  [DENO_INSPECT]: {
    value(this: ProxyTarget) {
      return labelOf(this());
    },
  },
  [NODE_INSPECT]: {
    value(this: ProxyTarget) {
      return labelOf(this());
    },
  },
});

/**
 * Targets are bound copies of this function: binding is cheap, keeps
 * `TARGET_PROTOTYPE` (a bound function has its target's prototype), and
 * calling the target gives the state without a property lookup.
 */
const TARGET_TEMPLATE = function (this: ProxyState): ProxyState {
  return this;
};
Object.setPrototypeOf(TARGET_TEMPLATE, TARGET_PROTOTYPE);

/** Make a proxy for `state` (see {@linkcode createProxy}). */
export function makeProxy(state: ProxyState): DynamicRemote {
  const target = TARGET_TEMPLATE.bind(state) as ProxyTarget;
  return new Proxy(target, handler) as unknown as DynamicRemote;
}

/**
 * Make a proxy whose calls go through `caller` under `path` (`""` is the
 * peer's root service). `label` is how the proxy prints (default
 * `RemoteProxy('<path>')`).
 *
 * A proxy answers only remote member names: the names in
 * {@linkcode RESERVED_NAMES}, every name starting with `__` or `@@` and
 * every symbol are `undefined` (so `await proxy`, `JSON.stringify(proxy)`,
 * `String(proxy)` or printing it never become calls), except
 * `Symbol.toPrimitive`, `toString` and the inspection hooks, which give the
 * label, and `Symbol.dispose`/`Symbol.asyncDispose`, which give a lent
 * reference back (see docs/lifetimes.md).
 *
 * @example
 * ```ts
 * import { createProxy } from "@aiomas/aiomas/rpc";
 * const calls: string[] = [];
 * const caller = {
 *   call(path: string, args: unknown[]) {
 *     calls.push(`${path}(${args.join(", ")})`);
 *     return Promise.resolve(null);
 *   },
 * };
 * const proxy = createProxy(caller, "");
 * await proxy.sub.add(1, 2);
 * console.log(calls); // [ "sub/add(1, 2)" ]
 * console.log(`${proxy.sub}`); // RemoteProxy('sub')
 * console.log(JSON.stringify({ proxy }), await proxy === proxy); // {} true
 * ```
 */
export function createProxy(caller: Caller, path: string, label?: string): DynamicRemote {
  return makeProxy({
    caller,
    path,
    label,
    address: undefined,
    lease: undefined,
    parent: undefined,
    children: undefined,
  });
}

/** The state of a proxy made by {@linkcode createProxy}, or `undefined` for anything else. */
export function proxyState(value: unknown): ProxyState | undefined {
  if (typeof value !== "function") return undefined;
  return (value as unknown as { [PROXY_STATE]?: ProxyState })[PROXY_STATE];
}

/**
 * The member `name` of a proxy, for the remote names a proxy does not
 * answer itself (see {@linkcode RESERVED_NAMES}).
 *
 * @example
 * ```ts ignore
 * import { remoteMember } from "@aiomas/aiomas/rpc";
 * const result = await remoteMember(client.remote, "then")(1);
 * ```
 */
export function remoteMember(proxy: unknown, name: string): DynamicRemote {
  const state = proxyState(proxy);
  if (state === undefined) throw new TypeError("remoteMember() takes a proxy");
  return member(state, proxy, name);
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

/**
 * The path of a proxy made by {@linkcode createProxy}, or `undefined`.
 *
 * @example
 * ```ts
 * import { openConnection, proxyPath, startServer } from "@aiomas/aiomas/rpc";
 * const server = await startServer("tcp://127.0.0.1:0", {});
 * const client = await openConnection(server.addr);
 * console.log(proxyPath(client.remote.sub.add), proxyPath({})); // sub/add undefined
 * await client.close();
 * await server.close();
 * ```
 */
export function proxyPath(value: unknown): string | undefined {
  return proxyState(value)?.path;
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
  const state = proxyState(remoteFunction);
  if (state === undefined) {
    return Promise.reject(new TypeError("callWith() takes a remote function (a proxy member)"));
  }
  if (state.lease?.released) return released(state);
  const [positional, keywords] = splitKwargs(args);
  return state.caller.call(state.path, positional, keywords, options) as Promise<R>;
}
