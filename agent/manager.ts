/**
 * The {@linkcode Manager} agent and {@linkcode startContainer} (Python
 * aiomas' `aiomas.subproc`): a container whose first agent (id `"0"`) lets a
 * master spawn agents in it by module spec, set its external clock, and stop
 * it. `agent/spawn.ts` runs such containers in Web Workers and subprocesses.
 *
 * Everything that configures a managed container can be named by a string,
 * so it can cross a worker or process boundary: agent classes, factories,
 * codecs and serializers are *module specs* (`"./agents.ts#Battery"`,
 * `"file:///abs/agents.ts#Battery"`, `"https://example.com/agents.ts"`);
 * clocks are `"realtime"` or `{ external: utcStart, initTime }`.
 *
 * @module
 */

import { isService } from "../rpc/router.ts";
import { expose } from "../rpc/expose.ts";
import type { RemoteOf } from "../rpc/proxy.ts";
import type { Address } from "../channel/address.ts";
import type { Clock } from "../clocks/clock.ts";
import { ExternalClock } from "../clocks/external.ts";
import { RealtimeClock } from "../clocks/realtime.ts";
import * as codecs from "../codecs/mod.ts";
import type { CodecClass, SerializerSpec } from "../codecs/types.ts";
import { Agent } from "./agent.ts";
import { Container, type ContainerOptions } from "./container.ts";

/**
 * A clock that can be named across a worker or process boundary:
 * `"realtime"` (the default), or an `ExternalClock` starting at the UTC date
 * `external` (an ISO 8601 string) with `time()` equal to `initTime`.
 */
export type ClockSpec = "realtime" | { external: string; initTime?: number };

/** Options of {@linkcode createManagedContainer} and {@linkcode startContainer}. */
export interface ManagedContainerOptions
  extends Omit<ContainerOptions, "clock" | "codec" | "extraSerializers"> {
  /**
   * The codec: a codec class, the name of a codec exported by
   * `@aiomas/aiomas/codecs` (`"JsonCodec"`, `"MsgPackCodec"`,
   * `"MsgPackBloscCodec"`), or a module spec (`"./codec.ts#MyCodec"`).
   */
  codec?: CodecClass | string;
  /** The clock: a {@linkcode ClockSpec}, or (in-process only) any `Clock`. */
  clock?: ClockSpec | Clock;
  /**
   * Serializers, in order: `SerializerSpec`s, or module specs naming one
   * (`"./types.ts#Point"` for a `@serializable` class or a function
   * returning `[Type, toPlain, fromPlain]`). Peers register the same list.
   */
  extraSerializers?: readonly (SerializerSpec | string)[];
  /**
   * Which modules peers may make the Manager import in `spawn()`, given the
   * module's absolute URL. The default, {@linkcode isLocalModule}, allows
   * only `file:` modules inside the working directory: a peer can never make
   * the container download and run code. (Worker and subprocess containers always use the default.)
   */
  allowSpawn?: (moduleUrl: string) => boolean;
}

/** Options of {@linkcode startContainer}. */
export interface StartContainerOptions extends ManagedContainerOptions {
  /** Called once the container listens, with its Manager (e.g. to report `manager.addr`). */
  onReady?: (manager: Manager) => void | Promise<void>;
}

/**
 * A Manager as its master sees it through a proxy (what
 * `spawnWorkerContainer()` and `spawnProcessContainer()` give).
 */
export interface ManagerProxy {
  /**
   * Create an agent from `spec` with `args` after the container and resolve
   * with a proxy for it (`null` if it exposes nothing) and its address.
   */
  spawn<T = unknown>(spec: string, ...args: unknown[]): Promise<[RemoteOf<T> | null, string]>;
  /** Set the container's `ExternalClock` to `t`. */
  setTime(t: number): Promise<void>;
  /** Reply, then shut the container down. */
  stop(): Promise<void>;
}

const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]+:/;

function cwdUrl(): URL {
  const cwd = Deno.cwd().replaceAll("\\", "/");
  const path = cwd.split("/").map(encodeURIComponent).join("/");
  return new URL(`file://${path.startsWith("/") ? "" : "/"}${path}/`);
}

/**
 * Import what a module spec names: `"<module>#<export>"` (the default export
 * without `#`). A module with a URL scheme (`file:`, `https:`, `jsr:`,
 * `npm:`) is imported as is; a path is resolved against the current working
 * directory.
 *
 * @throws {TypeError} when the module has no such export.
 *
 * @example
 * ```ts
 * import { importSpec } from "@aiomas/aiomas/agent";
 * const JsonCodec = await importSpec(new URL("../codecs/json.ts", import.meta.url).href + "#JsonCodec");
 * console.log(typeof JsonCodec); // function
 * ```
 */
export function importSpec(spec: string): Promise<unknown> {
  return importResolved(resolveSpec(spec), spec);
}

/** Import the export `name` of the module at `url` (resolved from `spec`). */
async function importResolved(
  { url, name }: { url: string; name: string },
  spec: string,
): Promise<unknown> {
  const namespace = await import(url) as Record<string, unknown>;
  if (!(name in namespace)) {
    throw new TypeError(
      `Module ${url} has no export "${name}" (from spec "${spec}"); ` +
        `its exports are: ${Object.keys(namespace).join(", ") || "none"}`,
    );
  }
  return namespace[name];
}

/** Split a module spec into the module's absolute URL and the export's name. */
function resolveSpec(spec: string): { url: string; name: string } {
  if (typeof spec !== "string" || spec === "") {
    throw new TypeError(`A module spec must be a string like "./agents.ts#Battery", got ${spec}`);
  }
  const hash = spec.lastIndexOf("#");
  const module = hash < 0 ? spec : spec.slice(0, hash);
  const name = hash < 0 ? "default" : spec.slice(hash + 1);
  const url = SCHEME.test(module) && !/^[a-zA-Z]:[\\/]/.test(module)
    ? module
    : new URL(module, cwdUrl()).href;
  return { url, name };
}

/**
 * The Manager's default spawn policy: only modules of the project, that is
 * `file:` URLs inside the current working directory; never code a peer could
 * have put on a web server or elsewhere on the machine.
 *
 * @example
 * ```ts
 * import { isLocalModule } from "@aiomas/aiomas/agent";
 * const here = new URL("agents.ts", `file://${Deno.cwd()}/`).href;
 * console.log(isLocalModule(here)); // true
 * console.log(isLocalModule("https://example.com/agents.ts")); // false
 * ```
 */
export function isLocalModule(moduleUrl: string): boolean {
  return moduleUrl.startsWith(cwdUrl().href);
}

/** Resolve a codec given as a class, a codecs export name, or a module spec. */
export async function resolveCodec(
  codec: CodecClass | string | undefined,
): Promise<CodecClass | undefined> {
  if (codec === undefined || typeof codec === "function") return codec;
  const known = (codecs as Record<string, unknown>)[codec];
  const value = /^\w+$/.test(codec) && typeof known === "function"
    ? known
    : await importSpec(codec);
  if (typeof value !== "function") throw new TypeError(`"${codec}" does not name a codec class`);
  return value as CodecClass;
}

/** Resolve `extraSerializers` given as specs or module specs. */
export async function resolveSerializers(
  serializers: readonly (SerializerSpec | string)[] | undefined,
): Promise<SerializerSpec[] | undefined> {
  if (serializers === undefined) return undefined;
  const resolved: SerializerSpec[] = [];
  for (const entry of serializers) {
    const value = typeof entry === "string" ? await importSpec(entry) : entry;
    const ok = typeof value === "function" ||
      typeof (value as { __serializer__?: unknown } | null)?.__serializer__ === "function";
    if (!ok) {
      throw new TypeError(
        `Serializer ${String(entry)} is neither a function returning [Type, toPlain, ` +
          "fromPlain] nor a @serializable class",
      );
    }
    resolved.push(value as SerializerSpec);
  }
  return resolved;
}

/** Make the clock a {@linkcode ClockSpec} names (a `Clock` is returned as is). */
export function resolveClock(clock: ClockSpec | Clock | undefined): Clock {
  if (clock === undefined || clock === "realtime") return new RealtimeClock();
  if (typeof clock === "object" && "external" in clock) {
    return new ExternalClock(clock.external, clock.initTime ?? 0);
  }
  if (typeof clock === "object" && typeof clock.time === "function") return clock;
  throw new TypeError(
    `Invalid clock ${
      JSON.stringify(clock)
    }: use "realtime" or { external: "2016-01-01T00:00:00Z" }`,
  );
}

function isClass(value: unknown): value is new (...args: unknown[]) => unknown {
  return typeof value === "function" &&
    (value.prototype instanceof Agent ||
      /^class[\s{]/.test(Function.prototype.toString.call(value)));
}

/**
 * The first agent (id `"0"`) of a managed container: spawns agents by
 * module spec, sets the container's external clock and stops the
 * container, on behalf of a master in another container.
 *
 * @example
 * ```ts
 * import { createManagedContainer } from "@aiomas/aiomas/agent";
 * const manager = await createManagedContainer("local://managed", {
 *   clock: { external: "2016-01-01T00:00:00Z" },
 * });
 * console.log(manager.addr); // local://managed/0
 * manager.setTime(10);
 * console.log(manager.container.clock.time()); // 10
 * manager.stop();
 * await manager.stopped;
 * ```
 */
export class Manager extends Agent {
  /** Resolves once `stop()` has shut the container down. */
  readonly stopped: Promise<void>;
  #stop: () => void;
  #stopping = false;
  #allowSpawn: (moduleUrl: string) => boolean;

  /**
   * Make the Manager of `container` (do this first, so its id is `"0"`).
   * `allowSpawn` decides which modules `spawn()` may import (default: local files).
   */
  constructor(
    container: Container,
    name?: string,
    allowSpawn: (moduleUrl: string) => boolean = isLocalModule,
  ) {
    super(container, name);
    this.#allowSpawn = allowSpawn;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#stop = resolve;
    this.stopped = promise;
  }

  /**
   * Import `spec` (`"./agents.ts#Battery"`, see {@linkcode importSpec}) and
   * make an agent in this container: `new Class(container, ...args)` for a
   * class, `await factory(container, ...args)` for a function. Resolves
   * with `[agent, agent.addr]`; the agent travels as a reference (a proxy
   * at the caller), or as `null` if it exposes nothing.
   */
  @expose
  async spawn(spec: string, ...args: unknown[]): Promise<[Agent | null, string]> {
    const resolved = resolveSpec(spec);
    const url = resolved.url;
    if (!this.#allowSpawn(url)) {
      throw new TypeError(
        `Spawning from ${url} is not allowed in ${this.container.addr}: only local modules are, ` +
          "unless the container was started with an allowSpawn option that permits it",
      );
    }
    // Import exactly what was checked (the working directory may change meanwhile).
    const target = await importResolved(resolved, spec);
    let agent: unknown;
    if (isClass(target)) agent = new target(this.container, ...args);
    else if (typeof target === "function") agent = await target(this.container, ...args);
    else throw new TypeError(`"${spec}" names neither an agent class nor a factory function`);
    if (!(agent instanceof Agent) || agent.container !== this.container) {
      throw new TypeError(
        `"${spec}" did not make an Agent of the container ${this.container.addr}`,
      );
    }
    return [isService(agent) ? agent : null, agent.addr];
  }

  /**
   * Set the container's `ExternalClock` to `t` (seconds); every sleeper and
   * timer due by then fires.
   *
   * @throws {TypeError} if the container's clock is not an `ExternalClock`.
   */
  @expose
  setTime(t: number): void {
    const clock = this.container.clock;
    if (!(clock instanceof ExternalClock)) {
      throw new TypeError(
        `The clock of ${this.container.addr} is a ${clock.constructor.name}, not an ` +
          'ExternalClock: start the container with clock: { external: "<utc start>" }',
      );
    }
    clock.setTime(t);
  }

  /** Reply, then shut the container down (on the next turn, so the reply goes out first). */
  @expose
  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    setTimeout(() => {
      this.container.shutdown().then(this.#stop, (error) => {
        console.warn(`aiomas: shutting down ${this.container.addr} failed: ${error}`);
        this.#stop();
      });
    }, 0);
  }
}

/**
 * Create a container on `addr` whose first agent is a {@linkcode Manager},
 * resolving the string forms of the codec, clock and serializers.
 *
 * @example
 * ```ts
 * import { createManagedContainer } from "@aiomas/aiomas/agent";
 * const manager = await createManagedContainer("tcp://127.0.0.1:0");
 * console.log(manager.aid); // 0
 * manager.stop();
 * await manager.stopped;
 * ```
 */
export async function createManagedContainer(
  addr: Address,
  options: ManagedContainerOptions = {},
): Promise<Manager> {
  const containerOptions: ContainerOptions = {
    ...options,
    codec: await resolveCodec(options.codec),
    extraSerializers: await resolveSerializers(options.extraSerializers),
    clock: resolveClock(options.clock),
  };
  const container = await Container.create(addr, containerOptions);
  return new Manager(container, undefined, options.allowSpawn);
}

/**
 * Start a managed container on `addr` (Python aiomas' `subproc.start`) and
 * run it until its Manager's `stop()` is called: the promise resolves once
 * the container is shut down. `onReady` gets the Manager as soon as the
 * container listens (its `container.addr` has the real port for port `0`).
 *
 * @example
 * ```ts
 * import { startContainer } from "@aiomas/aiomas/agent";
 * const running = startContainer("local://worker", {
 *   onReady: (manager) => {
 *     console.log(manager.addr); // local://worker/0
 *     manager.stop();
 *   },
 * });
 * await running;
 * ```
 */
export async function startContainer(
  addr: Address,
  options: StartContainerOptions = {},
): Promise<void> {
  const manager = await createManagedContainer(addr, options);
  try {
    await options.onReady?.(manager);
  } catch (error) {
    await manager.container.shutdown();
    throw error;
  }
  await manager.stopped;
}

/**
 * Set the time of every container in `managers` to `t` in one call and wait
 * until all of them have (clock fan-out for lock-step simulations). Works
 * with Manager proxies and local Managers alike.
 *
 * @example
 * ```ts
 * import { createManagedContainer, setTimeAll } from "@aiomas/aiomas/agent";
 * const clock = { external: "2016-01-01T00:00:00Z" };
 * const a = await createManagedContainer("local://fan-a", { clock });
 * const b = await createManagedContainer("local://fan-b", { clock });
 * await setTimeAll([a, b], 5);
 * console.log(a.container.clock.time(), b.container.clock.time()); // 5 5
 * a.stop();
 * b.stop();
 * await Promise.all([a.stopped, b.stopped]);
 * ```
 */
export async function setTimeAll(
  managers: Iterable<{ setTime(t: number): unknown }>,
  t: number,
): Promise<void> {
  await Promise.all(Array.from(managers, (manager) => manager.setTime(t)));
}
