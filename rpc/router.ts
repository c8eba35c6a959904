/**
 * Path resolution: how a request's path (`"agents/0/spam"`) finds an exposed
 * function, and how a local service object finds its own path when it is
 * passed to a peer as a reference. Resolution only ever walks members marked
 * with `expose` (plus the entries of `Map`s and own data properties of plain
 * objects), so a peer can never reach `constructor`, `__proto__`, inherited
 * members, getters or private fields.
 *
 * @module
 */

import { isPlainObject } from "../codecs/serializers.ts";
import { NotExposedError } from "../errors.ts";
import { isExposedField, isExposedFunction } from "./expose.ts";

/** An exposed function found for a path, with the service it belongs to. */
export interface ResolvedCall {
  /** The exposed function. */
  fn: (...args: unknown[]) => unknown;
  /** The service the function is called on (`this`). */
  thisArg: unknown;
}

/** The longest path (in segments) a request may name. */
const MAX_SEGMENTS = 32;

/** A path or name as error messages show it: a peer may send megabytes of it. */
function quoted(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

function notFound(name: string, where: string): NotExposedError {
  return new NotExposedError(`Name "${quoted(name)}" not found in "${quoted(where)}"`);
}

function notExposed(name: string, where: string): NotExposedError {
  return new NotExposedError(`"${quoted(name)}" in "${quoted(where)}" is not exposed`);
}

/** `path` split at `/`; a `NotExposedError` for more than `MAX_SEGMENTS` segments. */
function splitPath(path: string): string[] {
  const segments = path.split("/", MAX_SEGMENTS + 1);
  if (segments.length > MAX_SEGMENTS) {
    throw new NotExposedError(`Path "${quoted(path)}" has too many segments`);
  }
  return segments;
}

/**
 * Walk `segments[start..end)` of `path` from `service` through exposed
 * members; `at` is where `segments[start]` begins in `path`.
 */
function walk(
  service: unknown,
  segments: readonly string[],
  start: number,
  end: number,
  path: string,
  at: number,
): unknown {
  for (let i = start; i < end; i++) {
    const name = segments[i]!;
    if (isRelative(name)) throw relativeSegment(path);
    service = member(service, name, path, at === 0 ? 0 : at - 1);
    at += name.length + 1;
  }
  return service;
}

function isRelative(name: string): boolean {
  return name === "" || name === "." || name === "..";
}

function relativeSegment(path: string): NotExposedError {
  return new NotExposedError(`Invalid path "${quoted(path)}": empty or relative segment`);
}

/**
 * The exposed member `name` of `service`, or a `NotExposedError`. Never runs
 * a getter and never looks at `Object.prototype` or `Function.prototype`.
 * `path.slice(0, at)` is the path of `service`, for error messages (sliced
 * only when one is thrown).
 */
function member(service: unknown, name: string, path: string, at: number): unknown {
  if (typeof service !== "object" || service === null) throw notFound(name, path.slice(0, at));
  if (service instanceof Map) {
    if (!service.has(name)) throw notFound(name, path.slice(0, at));
    return service.get(name);
  }
  if (isPlainObject(service)) {
    const descriptor = Object.getOwnPropertyDescriptor(service, name);
    if (descriptor === undefined) throw notFound(name, path.slice(0, at));
    const value = descriptor.value;
    if (isExposedFunction(value) || (typeof value === "object" && value !== null)) return value;
    throw notExposed(name, path.slice(0, at));
  }
  for (
    let holder: object | null = service;
    holder !== null && holder !== Object.prototype && holder !== Function.prototype;
    holder = Object.getPrototypeOf(holder)
  ) {
    const descriptor = Object.getOwnPropertyDescriptor(holder, name);
    if (descriptor === undefined) continue;
    const value = descriptor.value;
    if ("value" in descriptor) {
      if (holder === service ? isExposedField(service, name) : isExposedFunction(value)) {
        return value;
      }
    }
    throw notExposed(name, path.slice(0, at));
  }
  throw notFound(name, path.slice(0, at));
}

/**
 * Resolve `path` (`"a/b/method"`) from `root` to an exposed function.
 * `refs` holds objects this side passed to the peer under `@<n>` names.
 *
 * @throws {NotExposedError} naming the path when any segment is missing,
 *   not exposed, empty, or when the path does not end at a function.
 *
 * @example
 * ```ts
 * import { expose, resolvePath } from "@aiomas/aiomas/rpc";
 * const service = { sub: { double: expose((x: number) => 2 * x) } };
 * const { fn, thisArg } = resolvePath(service, "sub/double");
 * console.log(fn.call(thisArg, 21)); // 42
 * ```
 */
export function resolvePath(
  root: unknown,
  path: string,
  refs?: ReadonlyMap<string, object>,
): ResolvedCall {
  if (path.indexOf("/") === -1 && path.charCodeAt(0) !== 64 /* @ */) {
    // One segment (the common case): a function of `root`, no split.
    if (isRelative(path)) throw relativeSegment(path);
    return { fn: exposedFunction(member(root, path, path, 0), path), thisArg: root };
  }
  const segments = splitPath(path);
  let service: unknown = root;
  let start = 0;
  const first = segments[0]!;
  if (first.startsWith("@")) {
    service = refs?.get(first);
    if (service === undefined) throw notFound(first, "");
    start = 1;
  }
  const last = segments.length - 1;
  if (last < start) throw new NotExposedError(`Invalid path "${quoted(path)}"`);
  const thisArg = walk(service, segments, start, last, path, start === 0 ? 0 : first.length + 1);
  const fn = walk(thisArg, segments, last, last + 1, path, path.length - segments[last]!.length);
  return { fn: exposedFunction(fn, path), thisArg };
}

/** `fn` if it is an exposed function, else a `NotExposedError` naming `path`. */
function exposedFunction(fn: unknown, path: string): ResolvedCall["fn"] {
  if (!isExposedFunction(fn)) {
    throw new NotExposedError(`"${quoted(path)}" is not an exposed function`);
  }
  return fn as ResolvedCall["fn"];
}

/**
 * The exposed object (or function) at `path` under `root`: `""` is `root`
 * itself. Walks exposed members only, like {@linkcode resolvePath}.
 *
 * @throws {NotExposedError} when a segment is missing or not exposed.
 *
 * @example
 * ```ts
 * import { expose, resolveObject } from "@aiomas/aiomas/rpc";
 * const sub = { double: expose((x: number) => 2 * x) };
 * console.log(resolveObject({ sub }, "sub") === sub); // true
 * ```
 */
export function resolveObject(root: unknown, path: string): unknown {
  if (path === "") return root;
  const segments = splitPath(path);
  return walk(root, segments, 0, segments.length, path, 0);
}

const mounts = new WeakMap<object, { parent: object; name: string }>();

/**
 * Record that `child` is reachable as `name` under `parent` (a service or a
 * `Map`), so that it can be passed to peers as a reference with its path.
 * Containers mount their agents this way.
 *
 * @example
 * ```ts
 * import { mount, servicePath } from "@aiomas/aiomas/rpc";
 * const root = { agents: new Map<string, object>() };
 * const agent = {};
 * root.agents.set("0", agent);
 * mount(root, "agents", root.agents);
 * mount(root.agents, "0", agent);
 * console.log(servicePath(root, agent)); // agents/0
 * ```
 */
export function mount(parent: object, name: string, child: object): void {
  mounts.set(child, { parent, name });
}

/**
 * Forget a mount made with {@linkcode mount}.
 *
 * @example
 * ```ts
 * import { mount, servicePath, unmount } from "@aiomas/aiomas/rpc";
 * const root = {};
 * const child = {};
 * mount(root, "child", child);
 * console.log(servicePath(root, child)); // child
 * unmount(child);
 * console.log(servicePath(root, child)); // undefined
 * ```
 */
export function unmount(child: object): void {
  mounts.delete(child);
}

/**
 * The path of `service` relative to `root`: `""` for the root itself, the
 * mounted path, or the name of an exposed field found within a few levels.
 * `undefined` when `service` is not part of `root`'s tree.
 *
 * @example
 * ```ts
 * import { expose, servicePath } from "@aiomas/aiomas/rpc";
 * class Sub {
 *   @expose
 *   ping(): string {
 *     return "pong";
 *   }
 * }
 * class Root {
 *   @expose
 *   sub = new Sub();
 * }
 * const root = new Root();
 * console.log(servicePath(root, root.sub), servicePath(root, root)); // sub
 * ```
 */
export function servicePath(root: unknown, service: object): string | undefined {
  if (service === root) return "";
  const names: string[] = [];
  for (let node: object | undefined = service; node !== undefined;) {
    const mounted = mounts.get(node);
    if (mounted === undefined) break;
    names.push(mounted.name);
    if (mounted.parent === root) return names.reverse().join("/");
    node = mounted.parent;
  }
  return typeof root === "object" && root !== null ? searchFields(root, service, 3) : undefined;
}

/** Breadth-first search of exposed fields (not `Map`s) for `target`. */
function searchFields(root: object, target: object, depth: number): string | undefined {
  let level: Array<[object, string]> = [[root, ""]];
  for (let d = 0; d < depth && level.length > 0; d++) {
    const next: Array<[object, string]> = [];
    for (const [node, path] of level) {
      if (node instanceof Map) continue;
      for (const name of Object.keys(node)) {
        let value: unknown;
        try {
          value = member(node, name, path, path.length);
        } catch {
          continue;
        }
        if (typeof value !== "object" || value === null) continue;
        const childPath = path === "" ? name : `${path}/${name}`;
        if (value === target) {
          mount(node, name, value);
          return childPath;
        }
        next.push([value, childPath]);
      }
    }
    level = next;
  }
  return undefined;
}

const serviceClasses = new WeakMap<object, boolean>();

/**
 * Whether `value` is a service: an object with at least one exposed method or
 * field (or, for a plain object, an exposed function). Services travel to
 * peers as references.
 *
 * @example
 * ```ts
 * import { expose, isService } from "@aiomas/aiomas/rpc";
 * class Calculator {
 *   @expose
 *   add(a: number, b: number): number {
 *     return a + b;
 *   }
 * }
 * console.log(isService(new Calculator()), isService({ x: 1 })); // true false
 * ```
 */
export function isService(value: object): boolean {
  if (isPlainObject(value)) return Object.values(value).some(isExposedFunction);
  const proto = Object.getPrototypeOf(value);
  let known = serviceClasses.get(proto);
  if (known === undefined) {
    known = false;
    for (
      let holder = proto;
      holder !== null && holder !== Object.prototype && !known;
      holder = Object.getPrototypeOf(holder)
    ) {
      for (const name of Object.getOwnPropertyNames(holder)) {
        const descriptor = Object.getOwnPropertyDescriptor(holder, name)!;
        if (isExposedFunction(descriptor.value)) known = true;
      }
    }
    if (!known) known = Object.keys(value).some((name) => isExposedField(value, name));
    serviceClasses.set(proto, known);
  }
  return known;
}
