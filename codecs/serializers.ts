/**
 * The custom-type machinery shared by every codec: a registry that numbers
 * serializers in registration order and turns values into the
 * `{"__type__": [typeid, data]}` form of aiomas and back.
 *
 * @module
 */

import { CodecError } from "../errors.ts";
import type {
  Codec,
  Constructor,
  FromPlain,
  SerializerSpec,
  SerializerTriple,
  ToPlain,
} from "./types.ts";

/**
 * The key of aiomas' custom-type tag.
 *
 * @example
 * ```ts
 * import { TYPE_TAG } from "@aiomas/aiomas/codecs";
 * console.log(TYPE_TAG); // __type__
 * ```
 */
export const TYPE_TAG = "__type__";

/** Replaces a number that plain JSON cannot carry; see {@linkcode SerializerRegistry.toPlainTree}. */
export type ReplaceNumber = (value: number | bigint) => unknown;

/** A registered serializer: its `__type__` id and its encoding function. */
export interface SerializerEntry {
  /** The `__type__` id: the number of serializers registered before it. */
  readonly id: number;
  /** Turns a value into data the base codec can encode. */
  readonly toPlain: ToPlain<unknown>;
}

/**
 * Serializers of one codec instance, numbered by registration order (SPEC
 * section 8). Codecs call {@linkcode SerializerRegistry.lookup} for values
 * that are not base types and {@linkcode SerializerRegistry.revive} for
 * decoded tags.
 *
 * @example
 * ```ts
 * import { SerializerRegistry } from "@aiomas/aiomas/codecs";
 * class Point { constructor(public x: number, public y: number) {} }
 * const registry = new SerializerRegistry();
 * registry.add(Point, (p) => [p.x, p.y], ([x, y]) => new Point(x, y));
 * const tagged = registry.toPlainTree({ p: new Point(1, 2) });
 * console.log(JSON.stringify(tagged)); // {"p":{"__type__":[0,[1,2]]}}
 * ```
 */
export class SerializerRegistry {
  #byType = new Map<unknown, SerializerEntry>();
  #fromPlain: FromPlain<unknown>[] = [];
  #fallback: SerializerEntry | undefined;

  /** The number of registered serializers. */
  get size(): number {
    return this.#fromPlain.length;
  }

  /** Register a serializer; see {@linkcode Codec.addSerializer}. */
  add<T>(type: Constructor<T>, toPlain: ToPlain<T>, fromPlain: FromPlain<T>): void {
    const entry: SerializerEntry = {
      id: this.#fromPlain.length,
      toPlain: toPlain as ToPlain<unknown>,
    };
    this.#fromPlain.push(fromPlain);
    if ((type as unknown) === Object) this.#fallback = entry;
    else this.#byType.set(type, entry);
  }

  /**
   * The serializer for `value`'s exact class, else the `Object` fallback,
   * else `undefined`.
   */
  lookup(value: object): SerializerEntry | undefined {
    // A function (an RPC proxy) goes to the fallback: reading its `constructor` could be a call.
    if (typeof value === "function") return this.#fallback;
    return this.#byType.get(value.constructor) ??
      (ArrayBuffer.isView(value) ? this.#byType.get(TypedArray) : undefined) ??
      this.#fallback;
  }

  /** Encode `value` with its serializer as a `{"__type__": [id, data]}` tag. */
  tag(value: object): { __type__: [number, unknown] } | undefined {
    const entry = this.lookup(value);
    if (entry === undefined) return undefined;
    return { [TYPE_TAG]: [entry.id, entry.toPlain(value)] } as { __type__: [number, unknown] };
  }

  /** Turn the data of a decoded tag back into its value. */
  revive(tag: unknown): unknown {
    if (!Array.isArray(tag) || tag.length !== 2 || typeof tag[0] !== "number") {
      throw new CodecError(`Malformed ${TYPE_TAG} tag: expected [typeid, data]`);
    }
    const fromPlain = this.#fromPlain[tag[0]];
    if (fromPlain === undefined) {
      throw new CodecError(
        `Unknown ${TYPE_TAG} id ${tag[0]}: both peers must register the same serializers ` +
          `in the same order (${this.size} registered here)`,
      );
    }
    try {
      return fromPlain(tag[1]);
    } catch (cause) {
      if (cause instanceof CodecError) throw cause;
      throw new CodecError(
        `Serializer ${tag[0]} could not decode its data: ${(cause as Error)?.message ?? cause}`,
        { cause },
      );
    }
  }

  /**
   * Copy `value` with every non-plain object replaced by its tag. Objects
   * that need no change are returned as they are (no copy). `Date`s without
   * a serializer become ISO strings (JSON's own behaviour). `replaceNumber`
   * is called for every bigint and for every number that plain JSON cannot
   * carry exactly (non-finite, `-0`, integral beyond 2^53); its result
   * replaces the value.
   */
  toPlainTree(value: unknown, replaceNumber?: ReplaceNumber): unknown {
    return this.#toPlain(value, 0, replaceNumber);
  }

  #toPlain(value: unknown, depth: number, replaceNumber: ReplaceNumber | undefined): unknown {
    if (typeof value !== "object" || value === null) {
      if (typeof value === "number") {
        if (
          replaceNumber !== undefined &&
          (!Number.isFinite(value) || Object.is(value, -0) ||
            (Math.abs(value) > Number.MAX_SAFE_INTEGER && Number.isInteger(value)))
        ) return replaceNumber(value);
        return value;
      }
      if (typeof value === "function") {
        // The RPC layer's reference serializer (the Object fallback) passes proxies on.
        const tagged = this.#fallback === undefined ? undefined : this.tag(value);
        if (tagged !== undefined) return tagged;
      }
      if (typeof value === "function" || typeof value === "symbol") {
        throw new CodecError(`Cannot encode a ${typeof value}: expose it or send data instead`);
      }
      if (typeof value === "bigint") {
        if (replaceNumber !== undefined) return replaceNumber(value);
        throw new CodecError("Cannot encode a bigint here: use MsgPackCodec or a number");
      }
      return value;
    }
    if (depth > MAX_DEPTH) throw new CodecError(`Value nested deeper than ${MAX_DEPTH} levels`);
    if (Array.isArray(value)) {
      let copy: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const item = value[i];
        const plain = this.#toPlain(item, depth + 1, replaceNumber);
        if (plain !== item && copy === undefined) copy = value.slice(0, i);
        if (copy !== undefined) copy.push(plain);
      }
      return copy ?? value;
    }
    if (!isPlainObject(value)) {
      const tagged = this.tag(value);
      if (tagged !== undefined) {
        tagged.__type__[1] = this.#toPlain(tagged.__type__[1], depth + 1, replaceNumber);
        return tagged;
      }
      if (value instanceof Date) return value.toISOString();
      throw new CodecError(
        `Cannot encode an instance of ${value.constructor?.name ?? "an unknown class"}: ` +
          "register a serializer for it (extraSerializers or @serializable)",
      );
    }
    let copy: Record<string, unknown> | undefined;
    for (const key in value) {
      const item = (value as Record<string, unknown>)[key];
      const plain = this.#toPlain(item, depth + 1, replaceNumber);
      if (plain !== item && copy === undefined) copy = { ...value };
      // defineProperty, not assignment: a "__proto__" key is data.
      if (copy !== undefined) Object.defineProperty(copy, key, { value: plain, enumerable: true });
    }
    return copy ?? value;
  }

  /** Replace every decoded map that has a `__type__` key by its value, in place. */
  reviveTree(value: unknown, depth = 0): unknown {
    if (typeof value !== "object" || value === null) return value;
    if (depth > MAX_DEPTH) throw new CodecError(`Value nested deeper than ${MAX_DEPTH} levels`);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = this.reviveTree(value[i], depth + 1);
      return value;
    }
    const record = value as Record<string, unknown>;
    for (const key in record) {
      const item = record[key];
      const revived = this.reviveTree(item, depth + 1);
      // defineProperty, not assignment: a "__proto__" key is data, never the prototype.
      if (revived !== item) Object.defineProperty(record, key, { value: revived });
    }
    if (Object.hasOwn(record, TYPE_TAG)) return this.revive(record[TYPE_TAG]);
    return value;
  }
}

/**
 * The common base class of `Int8Array` ... `Float64Array` (`%TypedArray%`).
 * A serializer registered for it handles every typed array that has no
 * serializer for its exact class.
 *
 * @example
 * ```ts
 * import { TypedArray } from "@aiomas/aiomas/codecs";
 * console.log(new Float32Array(2) instanceof TypedArray); // true
 * ```
 */
export const TypedArray: Constructor<ArrayBufferView> = Object.getPrototypeOf(Int8Array);

/**
 * Whether `value` is a plain object (`{...}` or `Object.create(null)`): data
 * that codecs encode as a map, as opposed to an instance of a class.
 *
 * @example
 * ```ts
 * import { isPlainObject } from "@aiomas/aiomas/codecs";
 * console.log(isPlainObject({ a: 1 }), isPlainObject(new Date()), isPlainObject([])); // true false false
 * ```
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * How deep a value may nest before a codec refuses it.
 *
 * @example
 * ```ts
 * import { JsonCodec, MAX_DEPTH } from "@aiomas/aiomas/codecs";
 * let deep: unknown = 0;
 * for (let i = 0; i <= MAX_DEPTH; i++) deep = [deep];
 * try {
 *   new JsonCodec().encode(deep);
 * } catch (error) {
 *   console.log((error as Error).name); // CodecError
 * }
 * ```
 */
export const MAX_DEPTH = 512;

/** Resolve an `extraSerializers` entry to its triple. */
export function resolveSerializer(spec: SerializerSpec): SerializerTriple {
  if ("__serializer__" in spec && typeof spec.__serializer__ === "function") {
    return spec.__serializer__();
  }
  if (/^class\b/.test(Function.prototype.toString.call(spec))) {
    throw new TypeError(
      `Class ${(spec as { name?: string }).name} in extraSerializers is not @serializable: ` +
        "decorate it, or pass a function returning [Class, toPlain, fromPlain]",
    );
  }
  return (spec as () => SerializerTriple)();
}

/**
 * Make a codec from its class and register `extraSerializers` in order.
 *
 * @example
 * ```ts
 * import { createCodec, JsonCodec } from "@aiomas/aiomas/codecs";
 * const codec = createCodec(JsonCodec, []);
 * console.log(new TextDecoder().decode(codec.encode({ a: 1 }))); // {"a":1}
 * ```
 */
export function createCodec(
  codecClass: new () => Codec,
  extraSerializers: readonly SerializerSpec[] = [],
): Codec {
  const codec = new codecClass();
  for (const spec of extraSerializers) {
    const [type, toPlain, fromPlain] = resolveSerializer(spec);
    codec.addSerializer(type, toPlain, fromPlain);
  }
  return codec;
}

/** What `@serializable` adds to a class. */
export interface SerializableClass<T> {
  /** Return `[Class, toPlain, fromPlain]`, as aiomas' `__serializer__` does. */
  __serializer__(): SerializerTriple<T>;
}

/**
 * Class decorator: instances round-trip through any codec as the same class.
 * `toPlain` copies the instance's own enumerable fields; `fromPlain` creates
 * an object with the class's prototype and assigns them (the constructor is
 * not called). The class gains a static `__serializer__()` and can be listed
 * in `extraSerializers` directly.
 *
 * @example
 * ```ts
 * import { createCodec, JsonCodec, serializable } from "@aiomas/aiomas/codecs";
 *
 * @serializable
 * class Point {
 *   constructor(public x = 0, public y = 0) {}
 *   norm(): number {
 *     return Math.hypot(this.x, this.y);
 *   }
 * }
 * const codec = createCodec(JsonCodec, [Point]);
 * const copy = codec.decode(codec.encode(new Point(3, 4))) as Point;
 * console.log(copy.norm()); // 5
 * ```
 */
export function serializable<C extends Constructor<object>>(
  target: C,
  _context?: ClassDecoratorContext<C>,
): C & SerializableClass<InstanceType<C>> {
  const toPlain = (value: object) => ({ ...value });
  const fromPlain = (data: Record<string, unknown>) => {
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      throw new CodecError(`Invalid data for ${target.name}: expected an object of its fields`);
    }
    const instance = Object.create(target.prototype);
    for (const key of Object.keys(data)) {
      if (key !== "__proto__") instance[key] = data[key];
    }
    return instance;
  };
  Object.defineProperty(target, "__serializer__", {
    value: () => [target, toPlain, fromPlain],
    configurable: true,
  });
  return target as C & SerializableClass<InstanceType<C>>;
}
