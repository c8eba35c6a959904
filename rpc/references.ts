/**
 * {@linkcode ReferenceTable}: what one RPC connection lent to its peer (local
 * objects and forwarded proxies, by name) and borrowed from it (a proxy and
 * a lease per arrival), how borrowed references are given back, and how references
 * travel: a service path, `@<n>`, `^<path>` or an agent address. See
 * docs/lifetimes.md.
 *
 * @module
 */

import type { Channel } from "../channel/channel.ts";
import type { Codec } from "../codecs/types.ts";
import { CodecError, RemoteException } from "../errors.ts";
import { type Caller, createProxy, type Lease, makeProxy, proxyState } from "./proxy.ts";
import { isService, resolveObject, servicePath } from "./router.ts";

/**
 * The path of the request that gives lent references back (docs/lifetimes.md).
 *
 * @example
 * ```ts
 * import { RELEASE_PATH } from "@aiomas/aiomas/rpc";
 * console.log(RELEASE_PATH); // aiomas/release
 * ```
 */
export const RELEASE_PATH = "aiomas/release";

/** Where a codec keeps the reference table whose guards wrap its `encode`. */
const TABLE = Symbol("aiomas.references");
/** A codec whose `encode` methods a {@linkcode ReferenceTable} guards. */
type GuardedCodec = Codec & { [TABLE]: ReferenceTable };

/** Releases are sent when this many names are queued, or after {@linkcode RELEASE_DELAY_MS}. */
const RELEASE_BATCH = 1024;
const RELEASE_DELAY_MS = 20;

/** An object (or a forwarded proxy) this side lent to the peer under `name`. */
interface Export {
  readonly name: string;
  readonly value: object;
  /** How often it was sent and not yet given back. */
  count: number;
}

/**
 * One arrival of a reference the peer lent: each arrival is its own proxy
 * and lease, given back on its own (the owner counts arrivals).
 */
class ImportLease implements Lease {
  released = false;
  readonly name: string;
  readonly #end: (lease: ImportLease) => void;

  constructor(name: string, end: (lease: ImportLease) => void) {
    this.name = name;
    this.#end = end;
  }

  release(): void {
    if (!this.released) this.#end(this);
  }
}

/** Where the agent id of `tcp://host:port/<aid>/...` ends, or -1. */
export function agentAddressEnd(path: string): number {
  const scheme = path.indexOf("://");
  if (scheme <= 0) return -1;
  let i = scheme + 3;
  if (path[i] === "[") {
    i = path.indexOf("]", i);
    if (i < 0) return -1;
  }
  const slash = path.indexOf("/", i);
  if (slash < 0 || slash === path.length - 1) return -1;
  const end = path.indexOf("/", slash + 1);
  return end < 0 ? path.length : end;
}

/**
 * Split a path that starts with a lent name into that name and the rest:
 * `@3/sub/m` into `@3` and `sub/m`, `tcp://h:p/0/m` into `tcp://h:p/0` and
 * `m`; the rest is `undefined` when the path is the name alone (or names
 * nothing lent: then the name is the whole path).
 */
export function splitLentPath(path: string): [name: string, rest: string | undefined] {
  const end = path.charCodeAt(0) === 64 /* @ */ ? path.indexOf("/") : agentAddressEnd(path);
  return end < 0 ? [path, undefined] : [path.slice(0, end), path.slice(end + 1)];
}

/** Options of a {@linkcode ReferenceTable}: the reference options of `RpcOptions`. */
export interface ReferenceOptions {
  /** The path of a local service passed to the peer, tried before the generic search. */
  servicePath?: ((service: object) => string | undefined) | undefined;
  /** Turn an agent address the peer passed into a proxy (containers connect themselves). */
  resolveAgent?: ((address: string) => unknown) | undefined;
  /** Give borrowed references back when their proxy is disposed or collected (default `true`). */
  release?: boolean | undefined;
}

/**
 * The references of one connection. Registers the reference serializer on
 * the channel's codec (last, as SPEC section 8 says) and answers releases.
 */
export class ReferenceTable {
  /** What this side lent to the peer, by name (`@<n>`, or an agent address it forwards). */
  // (Maps, finalizer and the lease callback are made when first needed: an idle
  // connection holds none of them.)
  #exports: Map<string, Export> | undefined;
  // A Map, not a WeakMap: a lent object is held anyway, until it is given back.
  #exportOf: Map<object, Export> | undefined;
  #nextExport = 0;
  /** What the message being encoded lent so far (taken back if it fails). */
  #lending: Export[] | undefined;
  #release: boolean;
  #finalizer: FinalizationRegistry<ImportLease> | undefined;
  #releaseBatch: Map<string, number> | undefined;
  #releaseTimer: ReturnType<typeof setTimeout> | undefined;
  #releaseRefused = false;
  #caller: Caller;
  #channel: Channel;
  #service: unknown;
  #servicePath: ((service: object) => string | undefined) | undefined;
  #resolveAgent: ((address: string) => unknown) | undefined;
  #endLease: ((lease: ImportLease) => void) | undefined;
  /** The codec's own `encode`, `encodeParts` and `encodeInto`, which the guards call. */
  #encode: Codec["encode"];
  #encodeParts: Codec["encodeParts"];
  #encodeInto: Codec["encodeInto"];

  /** Serve references of `service` to the peer of `channel`; proxies call through `caller`. */
  constructor(caller: Caller, channel: Channel, service: unknown, options: ReferenceOptions) {
    this.#caller = caller;
    this.#channel = channel;
    this.#service = service;
    this.#servicePath = options.servicePath;
    this.#resolveAgent = options.resolveAgent;
    this.#release = options.release !== false;
    const codec = channel.codec;
    codec.addSerializer(
      Object,
      (value: object) => this.#encodeReference(value),
      (path: unknown) => this.#decodeReference(path),
      { leaf: true },
    );
    // A message that fails to encode (or, encoded into a buffer, does not fit)
    // is not sent: what it lent is taken back. The guards are shared functions
    // that find this table on the codec, so a connection pays no closures for them.
    (codec as GuardedCodec)[TABLE] = this;
    this.#encode = codec.encode;
    codec.encode = ReferenceTable.#guardedEncode;
    this.#encodeParts = codec.encodeParts;
    if (codec.encodeParts) codec.encodeParts = ReferenceTable.#guardedEncodeParts;
    this.#encodeInto = codec.encodeInto;
    if (codec.encodeInto) codec.encodeInto = ReferenceTable.#guardedEncodeInto;
  }

  /** The guarded `encode` of a codec with a reference table. */
  static #guardedEncode(this: GuardedCodec, value: unknown): Uint8Array {
    const table = this[TABLE];
    return table.#guarded(table.#encode, this, value);
  }

  /** The guarded `encodeParts` of a codec with a reference table. */
  static #guardedEncodeParts(this: GuardedCodec, value: unknown): Uint8Array | Uint8Array[] {
    const table = this[TABLE];
    return table.#guarded(table.#encodeParts!, this, value);
  }

  /** The guarded `encodeInto`: `-1` (did not fit) takes back what the attempt lent. */
  static #guardedEncodeInto(
    this: GuardedCodec,
    value: unknown,
    target: Uint8Array,
    offset: number,
  ): number {
    const table = this[TABLE];
    const outer = table.#lending;
    table.#lending = undefined;
    let end = -1;
    try {
      end = table.#encodeInto!.call(this, value, target, offset);
      return end;
    } finally {
      if (end < 0 && table.#lending !== undefined) table.#unlend(table.#lending);
      table.#lending = outer;
    }
  }

  /** `encode.call(codec, value)`, taking back what the message lent when it fails. */
  #guarded<T>(encode: (this: Codec, value: unknown) => T, codec: Codec, value: unknown): T {
    const outer = this.#lending;
    this.#lending = undefined;
    try {
      return encode.call(codec, value);
    } catch (error) {
      if (this.#lending !== undefined) this.#unlend(this.#lending);
      throw error;
    } finally {
      this.#lending = outer;
    }
  }

  /** How many objects this side lent to the peer and the peer still holds. */
  get lentCount(): number {
    return this.#exports?.size ?? 0;
  }

  /** The object (or forwarded proxy) lent under `name`, or `undefined`. */
  lent(name: string): object | undefined {
    return this.#exports?.get(name)?.value;
  }

  /** The peer gives back `[names, counts]`: forget what it no longer holds. */
  takeBack(args: unknown[]): void {
    const [names, counts] = args;
    if (!Array.isArray(names) || !Array.isArray(counts) || names.length !== counts.length) {
      throw new TypeError(`${RELEASE_PATH} takes [names, counts]`);
    }
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const count = counts[i];
      if (typeof name !== "string" || typeof count !== "number" || !(count > 0)) continue;
      const lent = name.charCodeAt(0) === 64 ? this.#exports?.get(name) : undefined;
      if (lent === undefined) continue;
      lent.count -= count;
      if (lent.count <= 0) {
        this.#exports!.delete(name);
        this.#exportOf!.delete(lent.value);
      }
    }
  }

  #lend(name: string, value: object): string {
    const lent: Export = { name, value, count: 1 };
    (this.#exports ??= new Map()).set(name, lent);
    (this.#exportOf ??= new Map()).set(value, lent);
    (this.#lending ??= []).push(lent);
    return name;
  }

  /** Take back one sending of each of `entries` (their message was never sent). */
  #unlend(entries: Export[]): void {
    for (const lent of entries) {
      if (--lent.count <= 0 && this.#exports?.get(lent.name) === lent) {
        this.#exports.delete(lent.name);
        this.#exportOf!.delete(lent.value);
      }
    }
  }

  /** The reference data under which the peer can call `value` back. */
  #encodeReference(value: object): string {
    const known = this.#exportOf?.get(value);
    if (known !== undefined) {
      known.count++;
      (this.#lending ??= []).push(known);
      return known.name;
    }
    if (typeof value === "function") return this.#encodeProxy(value);
    if (!isService(value)) {
      throw new CodecError(
        `Cannot encode an instance of ${value.constructor?.name ?? "an unknown class"}: ` +
          "register a serializer for it, or expose its methods to pass it by reference",
      );
    }
    const path = this.#servicePath?.(value) ?? servicePath(this.#service, value);
    if (path !== undefined) return path;
    // Not part of the local service tree: lend it under a connection-local name.
    return this.#lend(`@${this.#nextExport++}`, value);
  }

  /** A proxy passed on: back to its owner, as an agent address, or forwarded. */
  #encodeProxy(value: object): string {
    const state = proxyState(value);
    if (state === undefined) {
      throw new CodecError("Cannot encode a function: expose it or send data instead");
    }
    if (state.lease?.released) {
      throw new CodecError(`${String(value)} was disposed and cannot be passed on`);
    }
    // Back to the side that owns the object: it gets the original.
    if (state.caller === this.#caller) return `^${state.path}`;
    // An agent proxy travels as its address; this side forwards calls of
    // peers that cannot connect to it themselves.
    const address = state.address;
    if (address !== undefined) {
      if (!this.#exports?.has(address)) this.#lend(address, value);
      return address;
    }
    // A reference of another connection: this side forwards its calls.
    return this.#lend(`@${this.#nextExport++}`, value);
  }

  #decodeReference(path: unknown): unknown {
    if (typeof path !== "string") throw new CodecError("A reference's data must be a path");
    const first = path.charCodeAt(0);
    if (first === 64 /* @ */) return this.#import(path);
    if (first === 94 /* ^ */) return this.#original(path.slice(1));
    if (agentAddressEnd(path) > 0) {
      return this.#resolveAgent?.(path) ??
        makeProxy({
          caller: this.#caller,
          path,
          label: undefined, // prints as RemoteProxy('<path>')
          address: path,
          lease: undefined,
          parent: undefined,
          children: undefined,
        });
    }
    return createProxy(this.#caller, path);
  }

  /** A proxy for this arrival of the peer's lent reference `name`, with its own lease. */
  #import(name: string): unknown {
    if (!this.#release) return createProxy(this.#caller, name);
    const finalizer = this.#finalizer ??= new FinalizationRegistry((lease) => {
      if (!lease.released) this.#giveBack(lease);
    });
    const lease = new ImportLease(name, this.#endLease ??= (lease) => this.#giveBack(lease));
    const proxy = makeProxy({
      caller: this.#caller,
      path: name,
      label: undefined,
      address: undefined,
      lease,
      parent: undefined,
      children: undefined,
    });
    // No unregister token: a disposed lease is skipped when its proxy is collected.
    finalizer.register(proxy, lease);
    return proxy;
  }

  /** A reference to this side's own object, passed back by the peer. */
  #original(path: string): unknown {
    const [name, rest] = splitLentPath(path);
    const lent = this.#exports?.get(name);
    try {
      if (lent !== undefined) return resolveObject(lent.value, rest ?? "");
      return resolveObject(this.#service, path);
    } catch (cause) {
      throw new CodecError(
        `The peer passed back "${path.slice(0, 200)}", which this side does not serve`,
        { cause },
      );
    }
  }

  /** The proxy of `lease` is gone: tell the owner, in the next batch. */
  #giveBack(lease: ImportLease): void {
    lease.released = true;
    if (this.#releaseRefused || this.#channel.isClosed) return;
    const batch = this.#releaseBatch ??= new Map();
    batch.set(lease.name, (batch.get(lease.name) ?? 0) + 1);
    if (batch.size >= RELEASE_BATCH) this.#flushReleases();
    else if (this.#releaseTimer === undefined) {
      const timer = setTimeout(() => this.#flushReleases(), RELEASE_DELAY_MS);
      Deno.unrefTimer(timer);
      this.#releaseTimer = timer;
    }
  }

  #flushReleases(): void {
    clearTimeout(this.#releaseTimer);
    this.#releaseTimer = undefined;
    const batch = this.#releaseBatch;
    this.#releaseBatch = undefined;
    if (batch === undefined || this.#channel.isClosed) return;
    this.#channel.send([RELEASE_PATH, [[...batch.keys()], [...batch.values()]], {}]).catch(
      (error) => {
        // A peer that does not know releases (an older version): stop sending them.
        if (error instanceof RemoteException) this.#releaseRefused = true;
      },
    );
  }
}
