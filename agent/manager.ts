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

import { currentCall } from "../rpc/client.ts";
import { isService } from "../rpc/router.ts";
import { expose } from "../rpc/expose.ts";
import type { RemoteOf } from "../rpc/proxy.ts";
import { type Address, formatAddress, parseAddress } from "../channel/address.ts";
import type { Clock } from "../clocks/clock.ts";
import { ExternalClock } from "../clocks/external.ts";
import type { CodecClass, SerializerSpec } from "../codecs/types.ts";
import type { Channel } from "../channel/channel.ts";
import { AccessError } from "../errors.ts";
import {
  activityOf,
  type LinkDelays,
  registerManagerMethods,
  type SimStatus,
  type SimStatusDetail,
} from "./activity.ts";
import { Agent } from "./agent.ts";
import { Container, type ContainerOptions } from "./container.ts";
import { type ClockSpec, resolveClock, resolveCodec, resolveSerializers } from "./child_options.ts";
import { MIN_TOKEN_LENGTH, sameSecret } from "./secret.ts";
import type { ContainerStats } from "./stats.ts";
import {
  canonicalModule,
  importExport,
  isAgentClass,
  isAgentFactory,
  isLocalModule,
  resolveSpec,
} from "./module_spec.ts";

/** Options of {@linkcode createManagedContainer} and {@linkcode startContainer}. */
export interface ManagedContainerOptions
  extends Omit<ContainerOptions, "clock" | "codec" | "extraSerializers"> {
  /**
   * The codec: a codec class, the name of a codec exported by
   * `@aiomas/aiomas/codecs` (`"JsonCodec"`, `"MsgPackCodec"`,
   * `"MsgPackBloscCodec"`), or a module spec (`"./codec.ts#MyCodec"`).
   */
  codec?: CodecClass | string | undefined;
  /** The clock: a {@linkcode ClockSpec}, or (in-process only) any `Clock`. */
  clock?: ClockSpec | Clock | undefined;
  /**
   * Serializers, in order: `SerializerSpec`s, or module specs naming one
   * (`"./types.ts#Point"` for a `@serializable` class or a function
   * returning `[Type, toPlain, fromPlain]`). Peers register the same list.
   */
  extraSerializers?: readonly (SerializerSpec | string)[] | undefined;
  /**
   * Which modules peers may make the Manager import in `spawn()`, given the
   * module's canonical URL (for a file, its real path: see
   * {@linkcode canonicalModule}). The default, {@linkcode isLocalModule},
   * allows only `file:` modules inside the working directory and none of
   * this library's own: a peer can never make the container download and
   * run code. In-process callers and a spawned child's master are not
   * restricted by it.
   */
  allowSpawn?: ((moduleUrl: string) => boolean) | undefined;
  /**
   * Who may steer the Manager over the network (call `spawn`, `setTime`,
   * `stop`, `stats` and a Simulation's `sim...` methods); see
   * {@linkcode ManagerAccess}. Default: `"local"`, only this process.
   * Ordinary agents answer every peer whatever this says.
   */
  access?: ManagerAccess | undefined;
}

/**
 * Who may steer a {@linkcode Manager} (`spawn`, `setTime`, `stop`, `stats`,
 * and the `sim...` methods of a `Simulation`) through a connection. Direct
 * calls in this process are always allowed, and so are connections over
 * `local://` (they come from this process too).
 *
 * - `"local"`: nobody else.
 * - `{ token }`: connections that called `authenticate(token)` first with
 *   this shared secret (at least 16 characters; use a random one). With
 *   `trusted: true` their `spawn()` calls are not restricted by `allowSpawn`
 *   (spawned worker and process containers give their master this access,
 *   with a random token only the master knows).
 * - `"tls"`: every connection; the container must use TLS (`tls` option),
 *   whose mutual authentication admits only peers with a certificate signed
 *   by its CA.
 * - `"open"`: anyone who can connect. Unsafe on any network you do not
 *   fully trust: a peer can stop the container and spawn any agent that
 *   `allowSpawn` permits.
 */
export type ManagerAccess =
  | "local"
  | "open"
  | "tls"
  | { readonly token: string; readonly trusted?: boolean };

/** Options of {@linkcode startContainer}. */
export interface StartContainerOptions extends ManagedContainerOptions {
  /** Called once the container listens, with its Manager (e.g. to report `manager.addr`). */
  onReady?: ((manager: Manager) => void | Promise<void>) | undefined;
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
  /** Authorize this connection to steer the Manager (see {@linkcode ManagerAccess}). */
  authenticate(token: string): Promise<boolean>;
  /** What the container is doing, for a `Simulation` (see {@linkcode Manager.simStatus}). */
  simStatus(detail?: boolean): Promise<SimStatus | SimStatusDetail>;
  /** Announce the next step's time (see {@linkcode Manager.simPrepare}). */
  simPrepare(t: number): Promise<void>;
  /** Set simulated link delays (see {@linkcode Manager.simDelays}). */
  simDelays(delays: LinkDelays): Promise<void>;
  /** Set the clock to `t`, then report as `simStatus` (see {@linkcode Manager.simSetTime}). */
  simSetTime(t: number): Promise<SimStatus>;
  /** Reply, then shut the container down. */
  stop(): Promise<void>;
  /** A snapshot of the container: agents, connections, calls, timers (see `Container.stats`). */
  stats(): Promise<ContainerStats>;
}

/** Options of the {@linkcode Manager} constructor. */
export interface ManagerOptions {
  /** Which modules peers may spawn from (default {@linkcode isLocalModule}). */
  allowSpawn?: ((moduleUrl: string) => boolean) | undefined;
  /** Who may steer the Manager over the network (default `"local"`). */
  access?: ManagerAccess | undefined;
}

function isSubclass(value: unknown, base: abstract new (...args: never[]) => unknown): boolean {
  return typeof value === "function" && value.prototype instanceof base;
}

/** How trusted a caller of a Manager method is. */
type Trust = "trusted" | "peer";

/**
 * Check a {@linkcode ManagerAccess} value; `tls` tells whether the container
 * uses TLS (`undefined`: not known here, so `"tls"` is taken on trust).
 */
function checkAccess(access: ManagerAccess, tls: boolean | undefined): ManagerAccess {
  if (access === "local" || access === "open") return access;
  if (access === "tls") {
    if (tls === false) {
      throw new TypeError(
        'Manager access "tls" needs a TLS container: pass the tls option ({ caFile, certFile, ' +
          "keyFile }) too, or use access { token }",
      );
    }
    return access;
  }
  if (
    typeof access === "object" && access !== null && typeof access.token === "string"
  ) {
    if (access.token.length < MIN_TOKEN_LENGTH) {
      throw new TypeError(
        `A Manager token must have at least ${MIN_TOKEN_LENGTH} characters: use a random ` +
          'one, e.g. from "openssl rand -hex 32"',
      );
    }
    return access;
  }
  throw new TypeError(
    `Invalid Manager access ${String(access)}: use "local", { token: "<secret>" }, "tls" or "open"`,
  );
}

/**
 * The first agent (id `"0"`) of a managed container: spawns agents by
 * module spec, sets the container's external clock and stops the
 * container, on behalf of a master in another container.
 *
 * Over the network it obeys only the callers its `access` admits (see
 * {@linkcode ManagerAccess}); calls in this process always work.
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
  #access: ManagerAccess;
  #authorized = new WeakMap<Channel, Trust>();

  /**
   * Make the Manager of `container` (do this first, so its id is `"0"`).
   * `options.allowSpawn` (or, as before, a function in its place) decides
   * which modules peers may spawn from; `options.access` who may steer it.
   */
  constructor(
    container: Container,
    name?: string,
    options: ManagerOptions | ((moduleUrl: string) => boolean) = {},
  ) {
    super(container, name);
    const { allowSpawn, access } = typeof options === "function"
      ? { allowSpawn: options, access: undefined }
      : options;
    this.#allowSpawn = allowSpawn ?? isLocalModule;
    // The container does not say whether it uses TLS: createManagedContainer checks that.
    this.#access = checkAccess(access ?? "local", undefined);
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#stop = resolve;
    this.stopped = promise;
  }

  /**
   * How far the caller of a Manager method is trusted; throws an
   * `AccessError` for a connection that may not steer it. Must run before
   * the method's first `await` (see `currentCall()`).
   */
  #authorize(method: string): Trust {
    const call = currentCall();
    // A direct call in this process (also one made by an agent's own code).
    if (call === undefined || call.thisArg !== this) return "trusted";
    const channel = call.client.channel;
    if (channel.peer.startsWith("local://")) return "trusted";
    const access = this.#access;
    if (access === "open" || access === "tls") return "peer";
    const trust = this.#authorized.get(channel);
    if (trust !== undefined) return trust;
    throw new AccessError(
      access === "local"
        ? `The Manager of ${this.container.addr} obeys only its own process, so ${method}() ` +
          'is refused: start it with the access option ({ token }, "tls" or "open") to ' +
          "steer it from elsewhere"
        : `${method}() needs authorization: call authenticate(token) on this connection first`,
    );
  }

  /**
   * Authorize the calling connection to steer this Manager, with the shared
   * secret of its `{ token }` access. Resolves with `true`; rejects with an
   * `AccessError` for a wrong token (and then closes the connection, so each
   * guess costs a new connection) or when the Manager takes no tokens
   * (`"local"`). With `"tls"` or `"open"` access every connection may steer
   * it already, so any token is accepted.
   */
  @expose
  authenticate(token: string): boolean {
    const call = currentCall();
    if (call === undefined || call.thisArg !== this) return true;
    const access = this.#access;
    if (access === "open" || access === "tls") return true;
    if (access === "local") {
      throw new AccessError(
        `The Manager of ${this.container.addr} takes no token: it obeys only its own process`,
      );
    }
    if (typeof token !== "string" || !sameSecret(token, access.token)) {
      // One guess per connection: the connection closes once this answer is out.
      const channel = call.client.channel;
      setTimeout(() => channel.close().catch(() => {}), 0);
      throw new AccessError(
        `Wrong token for the Manager of ${this.container.addr} (the connection closes)`,
      );
    }
    this.#authorized.set(call.client.channel, access.trusted ? "trusted" : "peer");
    return true;
  }

  /**
   * Import `spec` (`"./agents.ts#Battery"`, see {@linkcode importSpec}) and
   * make an agent in this container: `new Class(container, ...args)` for an
   * `Agent` subclass, `await factory(container, ...args)` for a function
   * marked with {@linkcode agentFactory}; nothing else. A peer's spec must
   * pass `allowSpawn` as the module's canonical URL, which is then imported
   * as checked. Resolves with `[agent, agent.addr]`; the agent travels as a
   * reference (a proxy at the caller), or as `null` if it exposes nothing.
   */
  @expose
  async spawn(spec: string, ...args: unknown[]): Promise<[Agent | null, string]> {
    const trust = this.#authorize("spawn");
    const { url, name } = resolveSpec(spec);
    let canonical: string;
    try {
      canonical = await canonicalModule(url);
    } catch (error) {
      // A peer learns nothing about files it may not spawn from.
      if (trust === "peer" && this.#allowSpawn(url) !== true) throw this.#notAllowed(url);
      throw error;
    }
    if (trust === "peer" && this.#allowSpawn(canonical) !== true) {
      throw this.#notAllowed(canonical);
    }
    // Import exactly the canonical URL that was checked.
    const target = await importExport(canonical, name, spec);
    if (trust === "peer" && (target === Manager || isSubclass(target, Manager))) {
      // A second Manager made with a peer's options could obey that peer.
      throw new AccessError(`A peer may not spawn a Manager ("${spec}")`);
    }
    let agent: unknown;
    if (isAgentClass(target)) agent = new target(this.container, ...args);
    else if (isAgentFactory(target)) {
      agent = await (target as (...args: unknown[]) => unknown)(this.container, ...args);
    } else {
      throw new TypeError(
        `"${spec}" names neither an Agent subclass nor a function marked with agentFactory()`,
      );
    }
    if (!(agent instanceof Agent) || agent.container !== this.container) {
      throw new TypeError(
        `"${spec}" did not make an Agent of the container ${this.container.addr}`,
      );
    }
    return [isService(agent) ? agent : null, agent.addr];
  }

  #notAllowed(url: string): AccessError {
    return new AccessError(
      `Spawning from ${url} is not allowed in ${this.container.addr}: only modules inside its ` +
        "working directory are (and none of aiomas' own), unless the container was started " +
        "with an allowSpawn option that permits it",
    );
  }

  /**
   * Set the container's `ExternalClock` to `t` (seconds); every sleeper and
   * timer due by then fires.
   *
   * @throws {TypeError} if the container's clock is not an `ExternalClock`.
   */
  @expose
  setTime(t: number): void {
    this.#authorize("setTime");
    const clock = this.container.clock;
    if (!(clock instanceof ExternalClock)) {
      throw new TypeError(
        `The clock of ${this.container.addr} is a ${clock.constructor.name}, not an ` +
          'ExternalClock: start the container with clock: { external: "<utc start>" }, ' +
          'or with "--clock external" on the command line ("aiomas serve ADDR --clock external")',
      );
    }
    clock.setTime(t);
  }

  /**
   * What the container is doing, for a `Simulation`: its clock's time and
   * next event, counters of the requests and replies it sent and received,
   * its open calls and handlers. Waits until a turn of the event loop passes
   * without new messages (at most a few turns) first. With `detail`, it lists
   * the open calls and handlers too. Calls of the `sim...` methods
   * themselves are not counted.
   *
   * @throws {TypeError} if the container's clock is not an `ExternalClock`.
   */
  @expose
  simStatus(detail: boolean = false): Promise<SimStatus | SimStatusDetail> {
    this.#authorize("simStatus");
    return activityOf(this.container).status(detail === true);
  }

  /**
   * Announce the time `t` of the coming `Simulation` step: from now on, the
   * first request or reply that arrives (from a container that has already
   * moved to `t`) sets the clock to `t` before it is handled, so no message of
   * the new step is handled at the old time.
   *
   * @throws {TypeError} if the container's clock is not an `ExternalClock`.
   * @throws {RangeError} if `t` is before the clock's time.
   */
  @expose
  simPrepare(t: number): void {
    this.#authorize("simPrepare");
    activityOf(this.container).prepare(t);
  }

  /**
   * Make calls from this container's agents take simulated time: the delays
   * of `delays` for the links that start at this container (see
   * `SimulationOptions.linkDelays`).
   *
   * @throws {TypeError} if the container's clock is not an `ExternalClock`.
   * @throws {RangeError} for a delay that is not a number `>= 0`.
   */
  @expose
  simDelays(delays: LinkDelays): void {
    this.#authorize("simDelays");
    activityOf(this.container).setDelays(delays);
  }

  /**
   * Set the container's `ExternalClock` to `t` (as {@linkcode Manager.setTime}),
   * then report as {@linkcode Manager.simStatus}: one round trip of a
   * `Simulation` step.
   *
   * @throws {TypeError} if the container's clock is not an `ExternalClock`.
   */
  @expose
  simSetTime(t: number): Promise<SimStatus> {
    this.#authorize("simSetTime");
    const activity = activityOf(this.container);
    activity.setTime(t);
    return activity.status();
  }

  /**
   * A snapshot of this container (see {@linkcode Container.stats}), for a
   * master's live view and the command line's `stats`. It shows every agent and call, so
   * only connections that may steer the Manager may read it.
   */
  @expose
  stats(): Promise<ContainerStats> {
    this.#authorize("stats");
    return this.container.stats();
  }

  /** Reply, then shut the container down (on the next turn, so the reply goes out first). */
  @expose
  stop(): void {
    this.#authorize("stop");
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

registerManagerMethods(
  Object.getOwnPropertyNames(Manager.prototype).filter((name) => name !== "constructor"),
);

/**
 * Create a container on `addr` whose first agent is a {@linkcode Manager},
 * resolving the string forms of the codec, clock and serializers.
 *
 * @param options Optional (default `{}`): the container's options, `access` and `allowSpawn` (see
 *   {@linkcode ManagedContainerOptions}).
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
  const { allowSpawn, access: _access, ...rest } = options;
  const containerOptions: ContainerOptions = {
    ...rest,
    codec: await resolveCodec(options.codec),
    extraSerializers: await resolveSerializers(options.extraSerializers),
    clock: resolveClock(options.clock),
  };
  const access = checkAccess(options.access ?? "local", options.tls !== undefined);
  const container = await Container.create(addr, containerOptions);
  return new Manager(container, undefined, { allowSpawn, access });
}

/**
 * Start a managed container on `addr` (Python aiomas' `subproc.start`) and
 * run it until its Manager's `stop()` is called: the promise resolves once
 * the container is shut down. `onReady` gets the Manager as soon as the
 * container listens (its `container.addr` has the real port for port `0`).
 *
 * @param options Optional (default `{}`): as for {@linkcode createManagedContainer}, plus
 *   `onReady` (see {@linkcode StartContainerOptions}).
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
  if (options.access === undefined && !("local" in parseAddress(addr))) {
    throw new TypeError(
      `Choose who may steer the Manager of ${formatAddress(parseAddress(addr))}: pass ` +
        'access: { token: "<secret>" }, "tls" (with the tls option) or "open" (unsafe on ' +
        'networks you do not trust); "local" if only this process should',
    );
  }
  const { onReady: _onReady, ...managed } = options;
  const manager = await createManagedContainer(addr, managed);
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
