/**
 * The custom-type machinery shared by every codec: a registry that numbers
 * serializers in registration order and turns values into the
 * `{"__type__": [typeid, data]}` form of aiomas and back.
 *
 * @module
 */

import { CodecError } from "../errors.ts";
import { addPlace, describe } from "./describe.ts";
import type {
  Codec,
  Constructor,
  FromPlain,
  SerializerOptions,
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

/** The decoding side of a registered serializer. */
interface Decoder {
  readonly fromPlain: FromPlain<unknown>;
  readonly leaf: boolean;
}

/**
 * Serializers of one codec instance, numbered by registration order (SPEC
 * section 8). Codecs call {@linkcode SerializerRegistry.lookup} for values
 * that are not base types and {@linkcode SerializerRegistry.revive} for
 * decoded tags.
 *
 * Nesting: a tag's data may hold other tags (revived first, inner before
 * outer), except inside the data of a serializer registered as a leaf
 * (`{ leaf: true }`): there a tag is a `CodecError`, raised before anything
 * in that data is revived. A map with a `__type__` key must have no other
 * key.
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
  // Every connection has a registry: the map is made for the first class-bound
  // serializer, and the decoders array grows one at a time (no spare slots).
  #byType: Map<unknown, SerializerEntry> | undefined;
  #decoders: readonly Decoder[] = [];
  #fallback: SerializerEntry | undefined;

  /** The number of registered serializers. */
  get size(): number {
    return this.#decoders.length;
  }

  /** Register a serializer; see {@linkcode Codec.addSerializer}. */
  add<T>(
    type: Constructor<T>,
    toPlain: ToPlain<T>,
    fromPlain: FromPlain<T>,
    options: SerializerOptions = {},
  ): void {
    const entry: SerializerEntry = {
      id: this.#decoders.length,
      toPlain: toPlain as ToPlain<unknown>,
    };
    this.#decoders = this.#decoders.concat([{ fromPlain, leaf: options.leaf === true }]);
    if ((type as unknown) === Object) this.#fallback = entry;
    else (this.#byType ??= new Map()).set(type, entry);
  }

  /**
   * The serializer for `value`'s exact class, else the `Object` fallback,
   * else `undefined`.
   */
  lookup(value: object): SerializerEntry | undefined {
    return this.lookupOwn(value) ?? this.#fallback;
  }

  /**
   * The serializer for `value`'s exact class (or, for a typed array, one
   * registered for `TypedArray`), ignoring the `Object` fallback: codecs
   * ask this first for the types they carry natively (such as `Date`).
   */
  lookupOwn(value: object): SerializerEntry | undefined {
    // A function (an RPC proxy) has no class of its own: reading its `constructor` could be a call.
    if (typeof value === "function") return undefined;
    const byType = this.#byType;
    if (byType === undefined) return undefined;
    return byType.get(value.constructor) ??
      (ArrayBuffer.isView(value) ? byType.get(TypedArray) : undefined);
  }

  /** The `Object` fallback serializer, if one is registered. */
  get fallback(): SerializerEntry | undefined {
    return this.#fallback;
  }

  /**
   * Run `entry`'s `toPlain` on `value`; an error it throws becomes a
   * `CodecError` naming the class.
   */
  toPlain(entry: SerializerEntry, value: object): unknown {
    try {
      return entry.toPlain(value);
    } catch (cause) {
      if (cause instanceof CodecError) throw cause;
      throw new CodecError(
        `Serializer ${entry.id} could not encode an instance of ${className(value)}: ${
          errorText(cause)
        }`,
        { cause },
      );
    }
  }

  /** Encode `value` with its serializer as a `{"__type__": [id, data]}` tag. */
  tag(value: object): { __type__: [number, unknown] } | undefined {
    const entry = this.lookup(value);
    if (entry === undefined) return undefined;
    return { [TYPE_TAG]: [entry.id, this.toPlain(entry, value)] } as {
      __type__: [number, unknown];
    };
  }

  /**
   * Whether serializer `id` takes plain data only; a `CodecError` for an
   * id that is not an integer or not registered.
   */
  isLeaf(id: unknown): boolean {
    return this.#decoder(id).leaf;
  }

  #decoder(id: unknown): Decoder {
    const decoder = typeof id === "number" ? this.#decoders[id] : undefined;
    if (decoder === undefined) {
      if (typeof id !== "number" || !Number.isInteger(id)) {
        throw new CodecError(
          `Malformed ${TYPE_TAG} tag: the typeid must be an integer, got ${describe(id)}`,
        );
      }
      throw new CodecError(
        `Unknown ${TYPE_TAG} id ${id}: both peers must register the same serializers ` +
          `in the same order (${this.size} registered here)`,
      );
    }
    return decoder;
  }

  /**
   * Turn the data of serializer `id` back into its value. `data` must be
   * final: revived already where the serializer allows nesting, plain where
   * it is a leaf (the caller checks).
   */
  fromPlain(id: unknown, data: unknown): unknown {
    const { fromPlain } = this.#decoder(id);
    try {
      return fromPlain(data);
    } catch (cause) {
      if (cause instanceof CodecError) throw cause;
      throw new CodecError(`Serializer ${id} could not decode its data: ${errorText(cause)}`, {
        cause,
      });
    }
  }

  /**
   * Turn the value of a decoded `__type__` key (`[typeid, data]`, its data
   * already revived where nesting is allowed) back into its value. For a
   * leaf serializer, a tag or a function (a revived proxy) inside the data
   * is a `CodecError`.
   */
  revive(tag: unknown): unknown {
    if (!Array.isArray(tag) || tag.length !== 2) {
      throw new CodecError(`Malformed ${TYPE_TAG} tag: expected [typeid, data]`);
    }
    const [id, data] = tag as [unknown, unknown];
    if (this.isLeaf(id)) assertPlain(data, id, 0);
    return this.fromPlain(id, data);
  }

  /**
   * Copy `value` with every non-plain object replaced by its tag. Objects
   * that need no change are returned as they are (no copy). `Date`s without
   * a serializer of their own become ISO strings (JSON's own behaviour), and
   * `Map`s with string keys plain objects (written as they are: a
   * `__type__` key in a `Map` is a raw tag on purpose).
   * `replaceNumber` is called for every bigint and for every number that
   * plain JSON cannot carry exactly (non-finite, `-0`, integral beyond
   * 2^53); its result replaces the value. A plain object with a `__type__`
   * key is refused: the peer would read it as a custom type. A `CodecError`
   * says where it arose (see {@linkcode placed}).
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
      if (typeof value === "function" && this.#fallback !== undefined) {
        // The RPC layer's reference serializer (the Object fallback) passes proxies on.
        const entry = this.#fallback;
        const data = this.toPlain(entry, value);
        return { [TYPE_TAG]: [entry.id, this.#toPlain(data, depth + 1, replaceNumber)] };
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
    if (depth >= MAX_DEPTH) throw tooDeep();
    if (Array.isArray(value)) {
      let copy: unknown[] | undefined;
      let i = 0;
      try {
        for (; i < value.length; i++) {
          const item: unknown = value[i];
          const plain = this.#toPlain(item, depth + 1, replaceNumber);
          if (plain !== item && copy === undefined) copy = value.slice(0, i);
          if (copy !== undefined) copy.push(plain);
        }
      } catch (error) {
        throw addPlace(error, i);
      }
      return copy ?? value;
    }
    if (!isPlainObject(value)) {
      let entry = this.lookupOwn(value);
      if (entry === undefined) {
        if (value instanceof Date) {
          if (Number.isNaN(value.getTime())) throw invalidDate();
          return value.toISOString();
        }
        if (value instanceof Map) return this.#mapToPlain(value, depth, replaceNumber);
        entry = this.#fallback;
      }
      if (entry === undefined) {
        throw new CodecError(
          `Cannot encode an instance of ${className(value)}: ` +
            "register a serializer for it (extraSerializers or @serializable)",
        );
      }
      const data = this.toPlain(entry, value);
      return { [TYPE_TAG]: [entry.id, this.#toPlain(data, depth + 1, replaceNumber)] };
    }
    let copy: Record<string, unknown> | undefined;
    let key = "";
    try {
      for (key in value) {
        if (key === TYPE_TAG) throw typeKey();
        const item = value[key];
        const plain = this.#toPlain(item, depth + 1, replaceNumber);
        if (plain !== item && copy === undefined) copy = { ...value };
        // defineProperty, not assignment: a "__proto__" key is data.
        if (copy !== undefined) {
          Object.defineProperty(copy, key, { value: plain, enumerable: true });
        }
      }
    } catch (error) {
      throw addPlace(error, key);
    }
    return copy ?? value;
  }

  /** A `Map` with string keys as a plain object, written as it is (a `__type__` key too). */
  #mapToPlain(
    map: Map<unknown, unknown>,
    depth: number,
    replaceNumber: ReplaceNumber | undefined,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    let key: unknown;
    try {
      for (const [k, item] of map) {
        key = k;
        if (typeof k !== "string") {
          throw new CodecError(
            `Cannot encode a Map with a key that is not a string (${describe(k)}) here: ` +
              "use MsgPackCodec, or a plain object",
          );
        }
        const plain = this.#toPlain(item, depth + 1, replaceNumber);
        Object.defineProperty(out, k, {
          value: plain,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    } catch (error) {
      throw addPlace(error, key);
    }
    return out;
  }

  /**
   * Replace every decoded map that has a `__type__` key by its value, in
   * place (for codecs that decode to plain data first, such as JSON).
   * Tags are revived top-down: a leaf serializer's data is checked to be
   * plain before anything inside it is revived.
   */
  reviveTree(value: unknown, depth = 0): unknown {
    if (typeof value !== "object" || value === null) return value;
    if (depth > MAX_DEPTH) throw new CodecError(`Value nested deeper than ${MAX_DEPTH} levels`);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = this.reviveTree(value[i], depth + 1);
      return value;
    }
    const record = value as Record<string, unknown>;
    if (Object.hasOwn(record, TYPE_TAG)) {
      for (const key in record) if (key !== TYPE_TAG) throw extraKeys();
      const tag = record[TYPE_TAG];
      if (!Array.isArray(tag) || tag.length !== 2) {
        throw new CodecError(`Malformed ${TYPE_TAG} tag: expected [typeid, data]`);
      }
      const id: unknown = tag[0];
      if (this.isLeaf(id)) {
        assertPlain(tag[1], id, depth + 2);
        return this.fromPlain(id, tag[1]);
      }
      return this.fromPlain(id, this.reviveTree(tag[1], depth + 2));
    }
    for (const key in record) {
      const item = record[key];
      const revived = this.reviveTree(item, depth + 1);
      if (typeof revived === "function" && IMPLICIT_KEYS.has(key)) throw implicitKey(key);
      // defineProperty, not assignment: a "__proto__" key is data, never the prototype.
      if (revived !== item) Object.defineProperty(record, key, { value: revived });
    }
    return value;
  }
}

/** The error for a `__type__` tag inside the data of leaf serializer `id`. */
export function nestedInLeaf(id: unknown): CodecError {
  return new CodecError(
    `A ${TYPE_TAG} tag inside the data of serializer ${describe(id)}, which takes plain data ` +
      "only: custom types may not nest there",
  );
}

/**
 * Keys the runtime and libraries call on ordinary objects without being asked
 * (`await` calls `then`, `JSON.stringify` calls `toJSON`, `String()`, `+` and
 * template literals call `toString`/`valueOf`). A decoded map may not hold a
 * function (a peer's reference) under one of them: looking at the data would
 * call the peer.
 */
export const IMPLICIT_KEYS: ReadonlySet<string> = new Set([
  "then",
  "toJSON",
  "toString",
  "valueOf",
  "toLocaleString",
]);

/** The error for a reference under one of the {@linkcode IMPLICIT_KEYS}. */
export function implicitKey(key: string): CodecError {
  return new CodecError(
    `A reference as the value of the key "${key}", which the runtime calls implicitly ` +
      "(await, String(), JSON.stringify): refused, as looking at the data would call the peer",
  );
}

/** The error for a map that has a `__type__` key and other keys. */
export function extraKeys(): CodecError {
  return new CodecError(`Malformed ${TYPE_TAG} map: it must have no key besides ${TYPE_TAG}`);
}

/** The error for a plain object with a `__type__` key on the way out. */
export function typeKey(): CodecError {
  return new CodecError(
    `Cannot encode a plain object with a "${TYPE_TAG}" key: the peer would read it as a ` +
      "custom type; rename the key, or register a serializer for a class instead",
  );
}

/** The error for an invalid `Date` on the way out. */
export function invalidDate(): CodecError {
  return new CodecError("Cannot encode an invalid Date (its time is NaN)");
}

/** The error for nesting deeper than `MAX_DEPTH` on the way out. */
export function tooDeep(): CodecError {
  return new CodecError(`Value nested deeper than ${MAX_DEPTH} levels (is there a cycle?)`);
}

/** Check that decoded `data` holds no tag and no function (a revived proxy). */
function assertPlain(data: unknown, id: unknown, depth: number): void {
  if (typeof data === "function") throw nestedInLeaf(id);
  if (typeof data !== "object" || data === null) return;
  if (depth > MAX_DEPTH) throw new CodecError(`Value nested deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(data)) {
    for (const item of data) assertPlain(item, id, depth + 1);
  } else if (isPlainObject(data)) {
    if (Object.hasOwn(data, TYPE_TAG)) throw nestedInLeaf(id);
    for (const key in data) assertPlain(data[key], id, depth + 1);
  }
}

/** The class name of a value being encoded (the user's own value). */
function className(value: object): string {
  if (typeof value === "function") return "a function";
  const name: unknown = value.constructor?.name;
  return typeof name === "string" && name !== "" ? name : "an unknown class";
}

/** The message of an error a serializer threw, without calling into anything else. */
function errorText(error: unknown): string {
  if (typeof error === "object" && error !== null && error instanceof Error) {
    const message: unknown = Object.getOwnPropertyDescriptor(error, "message")?.value;
    if (typeof message === "string") return message;
  }
  return describe(error);
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

/**
 * Give a decoded map the key `"__proto__"` as an own data property
 * (assignment would set the map's prototype instead). The decoders call
 * this only for that key and assign every other key directly.
 */
export function defineProtoKey(map: Record<string, unknown>, value: unknown): void {
  Object.defineProperty(map, "__proto__", {
    value,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

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
    const [type, toPlain, fromPlain, options] = resolveSerializer(spec);
    if (options === undefined) codec.addSerializer(type, toPlain, fromPlain);
    else codec.addSerializer(type, toPlain, fromPlain, options);
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
