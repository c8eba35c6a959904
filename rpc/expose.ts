/**
 * Marking what a peer may call: the {@linkcode expose} decorator and
 * function, and the {@linkcode kwargs} marker for keyword arguments.
 *
 * @module
 */

import { isPlainObject } from "../codecs/serializers.ts";
import { isService } from "./router.ts";

const EXPOSED = Symbol("aiomas.exposed");
const FIELD_PREFIX = "aiomas.exposed:";

// Deno ships decorator metadata; `Symbol.metadata` is its key.
const METADATA: symbol = (Symbol as { metadata?: symbol }).metadata ??
  Symbol.for("Symbol.metadata");

function markFunction<F extends object>(fn: F): F {
  if (typeof fn !== "function") {
    throw new TypeError("expose() takes a function; use @expose on methods and fields");
  }
  Object.defineProperty(fn, EXPOSED, { value: true });
  return fn;
}

/**
 * Make a member callable by peers.
 *
 * - As a method decorator: `@expose spam() {...}` exposes the method.
 * - As a field decorator: `@expose sub = new SubService()` exposes a
 *   sub-service under the field's name (`"sub/method"`), and
 *   `@expose double = (x: number) => 2 * x` the function the field starts
 *   with. A field starting with another value (a number, a string, an
 *   object without exposed members that is not a plain object or a `Map`)
 *   is refused when the instance is made.
 * - Static methods, private members and accessors cannot be exposed: the
 *   decorator throws a `TypeError` when the class is defined.
 * - As a function: `expose(fn)` marks a plain function for a plain-object
 *   ("dict") service: `{ add: expose((a, b) => a + b) }`.
 *
 * Only exposed members are reachable through a path; `constructor`,
 * `__proto__`, inherited members, getters and private fields never are.
 *
 * @example
 * ```ts
 * import { expose } from "@aiomas/aiomas/rpc";
 *
 * class Calculator {
 *   @expose
 *   add(a: number, b: number): number {
 *     return a + b;
 *   }
 * }
 * const dictService = { mul: expose((a: number, b: number) => a * b) };
 * console.log(new Calculator().add(1, 2), dictService.mul(2, 3)); // 3 6
 * ```
 */
export function expose<F extends (...args: never[]) => unknown>(fn: F): F;
/** The method-decorator form of {@linkcode expose}. */
export function expose<F extends (...args: never[]) => unknown>(
  method: F,
  context: ClassMethodDecoratorContext,
): F;
/** The field-decorator form of {@linkcode expose}: a sub-service or a function field. */
export function expose<T extends object | null | undefined>(
  value: undefined,
  context: ClassFieldDecoratorContext<unknown, T>,
): (initial: T) => T;
export function expose(
  value: unknown,
  context?: ClassMethodDecoratorContext | ClassFieldDecoratorContext,
): unknown {
  if (context === undefined) return markFunction(value as object);
  const name = String(context.name);
  if (context.kind === "method") {
    if (context.private) {
      throw new TypeError(`@expose: the private method ${name} cannot be exposed`);
    }
    if (context.static) {
      throw new TypeError(
        `@expose: the static method ${name} cannot be exposed: peers call methods of an ` +
          "instance; make it an instance method, or expose an object holding it",
      );
    }
    return markFunction(value as object);
  }
  if (context.kind === "field") {
    if (context.private || context.static || typeof context.name !== "string") {
      throw new TypeError(
        `@expose: the field ${name} cannot be exposed: only public instance fields can`,
      );
    }
    (context.metadata as Record<string, unknown>)[FIELD_PREFIX + context.name] = true;
    return (initial: unknown) => exposedField(name, initial);
  }
  throw new TypeError(
    `@expose does not apply to a ${(context as { kind: string }).kind}: expose a method, or a ` +
      "field holding a function or a sub-service",
  );
}

/**
 * Check the value an exposed field starts with: a function (marked exposed,
 * so `@expose double = (x: number) => 2 * x` is callable), an object to reach
 * into (a sub-service or a `Map` of them), or `undefined`/`null` for one
 * assigned later. Anything else is a mistake, refused when the instance is
 * made.
 */
function exposedField(name: string, initial: unknown): unknown {
  if (typeof initial === "function") return markFunction(initial);
  if (initial === undefined || initial === null) return initial;
  // A sub-service, a Map of them (as a container's agents) or a plain object ("dict" service).
  if (
    typeof initial === "object" &&
    (initial instanceof Map || isPlainObject(initial) || isService(initial))
  ) {
    return initial;
  }
  const what = typeof initial === "object"
    ? `a ${initial.constructor?.name ?? "object"} without exposed members`
    : `a ${typeof initial}`;
  throw new TypeError(
    `@expose: the field ${name} holds ${what}, which peers cannot call: expose methods, ` +
      "functions or sub-services (objects with exposed members), or remove @expose",
  );
}

/**
 * Whether `value` is a function marked with {@linkcode expose}.
 *
 * @example
 * ```ts
 * import { expose, isExposedFunction } from "@aiomas/aiomas/rpc";
 * console.log(isExposedFunction(expose(() => 1)), isExposedFunction(() => 1)); // true false
 * ```
 */
export function isExposedFunction(value: unknown): boolean {
  return typeof value === "function" && (value as { [EXPOSED]?: true })[EXPOSED] === true;
}

/** Whether the class of `instance` declares `name` as an exposed field. */
export function isExposedField(instance: object, name: string): boolean {
  const ctor = (instance as { constructor?: unknown }).constructor;
  if (typeof ctor !== "function") return false;
  const metadata = (ctor as unknown as Record<symbol, Record<string, unknown> | undefined>)[
    METADATA
  ];
  return metadata != null && metadata[FIELD_PREFIX + name] === true;
}

/**
 * Keyword arguments for a call to a Python peer, made by {@linkcode kwargs}.
 *
 * @example
 * ```ts
 * import { Kwargs, kwargs } from "@aiomas/aiomas/rpc";
 * const marker = kwargs({ eggs: 2 });
 * console.log(marker instanceof Kwargs, marker.values); // true { eggs: 2 }
 * ```
 */
export class Kwargs {
  /** The keyword arguments, sent in the request's kwargs slot. */
  readonly values: Readonly<Record<string, unknown>>;

  /** Wrap a plain object of keyword arguments. */
  constructor(values: Record<string, unknown>) {
    this.values = values;
  }
}

/**
 * Mark the last argument of a remote call as keyword arguments:
 * `remote.f(1, kwargs({ eggs: 2 }))` sends `["f", [1], {"eggs": 2}]`, which a
 * Python peer receives as `f(1, eggs=2)`. A Deno callee receives keyword
 * arguments as one trailing plain object.
 *
 * @example
 * ```ts
 * import { kwargs } from "@aiomas/aiomas/rpc";
 * const marker = kwargs({ eggs: 2 });
 * console.log(marker.values); // { eggs: 2 }
 * ```
 */
export function kwargs(values: Record<string, unknown>): Kwargs {
  return new Kwargs(values);
}
