/**
 * What a container on an `ExternalClock` is doing, for the
 * {@linkcode Simulation}: counters of the requests and replies it sent and
 * received, the calls it waits for, and its open handlers with what each one
 * waits on (the simulated clock, a call, or nothing: then it is running).
 *
 * A container whose clock is an `ExternalClock` gets an {@linkcode Activity}
 * when it is created: it is the `monitor` of all of the container's RPC
 * connections and the `observer` of its clock. Every handler runs in an async
 * context of its own (`AsyncLocalStorage`), so that a sleep or an outgoing
 * call started by the handler, however deeply nested in its `await`s, is
 * attributed to it.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import type { Channel } from "../channel/channel.ts";
import type { TimerObserver } from "../clocks/clock.ts";
import { ExternalClock } from "../clocks/external.ts";
import type { RpcMonitor } from "../rpc/client.ts";
import type { Caller } from "../rpc/proxy.ts";
import type { Container } from "./container.ts";

/** The Manager methods a `Simulation` probes with: their calls are not counted. */
const PROBES = ["simStatus", "simPrepare", "simSetTime", "simDelays"];

function isProbe(path: string): boolean {
  for (const name of PROBES) {
    if (path.endsWith(name) && (path.length === name.length || path.at(-name.length - 1) === "/")) {
      return true;
    }
  }
  return false;
}

/** An incoming request whose reply is not sent yet. */
class Handler {
  readonly since = performance.now();
  /** Pending sleeps and timers the handler's context scheduled. */
  sleeps = 0;
  /** Pending outgoing calls the handler's context made. */
  calls = 0;
  /** The due time of the last sleep or timer scheduled in the handler's context. */
  wake: number | undefined;
  open = true;
  constructor(readonly activity: Activity, readonly path: string, readonly peer: string) {}

  /** Whether the handler waits on nothing the simulation knows: it is still working. */
  get running(): boolean {
    return this.open && this.sleeps === 0 && this.calls === 0;
  }

  /** The handler starts waiting on one more sleep (timer, awaited promise) or call. */
  wait(on: "sleeps" | "calls"): void {
    if (this.running) this.activity.running--;
    this[on]++;
  }

  /** One sleep or call the handler waited on is over. */
  resume(on: "sleeps" | "calls"): void {
    this[on]--;
    if (this.running) this.activity.running++;
  }
}

/** An outgoing request whose reply has not arrived yet. */
class Call {
  readonly since = performance.now();
  constructor(
    readonly path: string,
    readonly peer: string,
    readonly parent: Handler | undefined,
  ) {}
}

/** The handler whose code is running (across its `await`s). */
const context = new AsyncLocalStorage<Handler | undefined>();

/** Attributes a clock's timers to the handler that scheduled them. */
const clockObserver: TimerObserver = {
  timerScheduled(when: number): unknown {
    const handler = context.getStore();
    if (handler === undefined || !handler.open) return undefined;
    handler.wait("sleeps");
    handler.wake = when;
    return handler;
  },
  timerDone(token: unknown): void {
    (token as Handler | undefined)?.resume("sleeps");
  },
};

/**
 * Count the handler whose code calls this as waiting on the simulated clock
 * until `promise` settles (see `Simulation.waitFor`). Outside a handler, or
 * on a container that does not count, it only returns `promise`.
 */
export function waitFor<T>(promise: PromiseLike<T>): Promise<T> {
  const result = Promise.resolve(promise);
  const handler = context.getStore();
  if (handler === undefined || !handler.open) return result;
  handler.wait("sleeps");
  const done = () => handler.resume("sleeps");
  result.then(done, done);
  return result;
}

/** One open outgoing call, as {@linkcode SimStatusDetail} lists it. */
export interface OpenCall {
  /** The path called, e.g. `agents/3/report`. */
  path: string;
  /** The peer the request went to. */
  peer: string;
  /** Real seconds since the request was sent. */
  seconds: number;
}

/** One open handler, as {@linkcode SimStatusDetail} lists it. */
export interface OpenHandler {
  /** The path of the request, e.g. `agents/3/chargeFor`. */
  path: string;
  /** The peer the request came from. */
  peer: string;
  /**
   * `"sleeping"`: waits on the simulated clock (until `wake`); `"calling"`:
   * waits for calls it made; `"running"`: waits on nothing the simulation
   * knows (it is computing, or awaits a real timer, I/O, or a promise that
   * nothing on the clock resolves).
   */
  state: "running" | "sleeping" | "calling";
  /** For `"sleeping"`: the clock time of the sleep it waits for. */
  wake?: number | undefined;
  /** Real seconds since the request arrived. */
  seconds: number;
}

/**
 * What a member container reports to a `Simulation` (plain data, so it
 * travels from a worker's Manager as it is).
 */
export interface SimStatus {
  /** The container's address. */
  addr: string;
  /** Its clock's time. */
  time: number;
  /** The time of its earliest pending timer or sleeper, `null` if none. */
  next: number | null;
  /** Its clock's pending timers and sleepers. */
  timers: number;
  /** Requests sent since the container started (the Simulation's probes not counted). */
  requestsSent: number;
  /** Requests received since the container started. */
  requestsReceived: number;
  /** Replies sent since the container started. */
  repliesSent: number;
  /** Replies received since the container started. */
  repliesReceived: number;
  /** Requests sent that wait for their reply. */
  callsOpen: number;
  /** Requests received whose reply is not sent yet. */
  handlersOpen: number;
  /** Open handlers that wait neither on the clock nor on a call. */
  running: number;
  /** Whether nothing changed during the last turn of the container's event loop. */
  settled: boolean;
}

/** A {@linkcode SimStatus} with the open calls and handlers, for diagnostics. */
export interface SimStatusDetail extends SimStatus {
  /** The open outgoing calls (at most 20). */
  calls: OpenCall[];
  /** The open handlers (at most 20). */
  handlers: OpenHandler[];
  /** The due times of the pending timers and sleepers, `[time, count]`, earliest first (at most 20). */
  sleepers: [time: number, count: number][];
}

/**
 * Simulated delays of the links between containers, in seconds of clock
 * time, each way (see `SimulationOptions.linkDelays`). Plain data, so that it
 * reaches worker and process containers as it is.
 *
 * @example
 * ```ts
 * import type { LinkDelays } from "@aiomas/aiomas/agent";
 * const delays: LinkDelays = {
 *   default: 0.05, // every link between two different containers
 *   links: [{ from: "tcp://127.0.0.1:5555/", to: "tcp://127.0.0.1:5556/", delay: 0.2 }],
 * };
 * console.log(delays.links?.length); // 1
 * ```
 */
export interface LinkDelays {
  /** The delay of every link between two different containers (default `0`). */
  default?: number;
  /** Delays of single links, by container address (`from` calls `to`); they win over `default`. */
  links?: readonly { from: string; to: string; delay: number }[];
}

function checkDelay(delay: unknown, what: string): number {
  if (typeof delay !== "number" || !Number.isFinite(delay) || delay < 0) {
    throw new RangeError(`${what} must be a number of seconds >= 0, got ${String(delay)}`);
  }
  return delay;
}

const noop = () => {};

/** Methods of the Manager (agent `0` of a managed container): calls of them take no time. */
const managerMethods = new Set<string>();

/** Tell which methods the Manager has (done once by agent/manager.ts). @internal */
export function registerManagerMethods(names: Iterable<string>): void {
  for (const name of names) managerMethods.add(name);
}

/** Whether `path` steers a Manager (`agents/0/<method>`): such calls are never delayed. */
function isSteering(path: string): boolean {
  return path.startsWith("agents/0/") && managerMethods.has(path.slice(9));
}

const DETAIL_LIMIT = 20;
/** Event loop turns a status waits at most for the container to settle. */
const SETTLE_TURNS = 8;

/**
 * Resolve after a turn of the event loop: every microtask queued before has
 * run. A `MessageChannel` message, not `setTimeout(0)`: timers have a
 * granularity of a millisecond or more, messages take microseconds.
 */
function macrotask(): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  return new Promise<void>((resolve) => {
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}

/**
 * Counts the calls of one container and attributes sleeps and calls to the
 * handlers that started them (see the module documentation).
 */
export class Activity implements RpcMonitor {
  /** The container's address (set once it is known). */
  addr = "";
  /** Requests sent since the container started (the Simulation's probes not counted). */
  requestsSent = 0;
  /** Requests received since the container started (probes not counted). */
  requestsReceived = 0;
  /** Replies sent to counted requests. */
  repliesSent = 0;
  /** Replies received to counted requests. */
  repliesReceived = 0;
  /** Open handlers that wait on nothing known. */
  running = 0;
  /** Outgoing calls (and connections being opened) whose reply has not arrived. */
  readonly calls = new Set<Call>();
  /** Incoming requests whose reply is not sent yet. */
  readonly handlers = new Set<Handler>();
  /** The time of the coming step, between {@linkcode Activity.prepare} and `setTime`. */
  #pendingTime: number | undefined;
  /** What `setTime` threw when a message advanced the clock. */
  #setTimeError: unknown;
  #defaultDelay = 0;
  /** Delays of the links from this container, by the other container's address. */
  #delays = new Map<string, number>();

  constructor(readonly clock: ExternalClock) {
    clock.observer = clockObserver;
  }

  /** Take the delays of the links from this container out of `spec`. */
  setDelays(spec: LinkDelays): void {
    const delays = new Map<string, number>();
    for (const [i, link] of (spec.links ?? []).entries()) {
      const delay = checkDelay(link?.delay, `linkDelays.links[${i}].delay`);
      if (link.from === this.addr) delays.set(link.to, delay);
    }
    this.#defaultDelay = checkDelay(spec.default ?? 0, "linkDelays.default");
    this.#delays = delays;
  }

  /** The delay of a call from this container to the container at `to`. */
  delayTo(to: string): number {
    return this.#delays.get(to) ?? (to === this.addr ? 0 : this.#defaultDelay);
  }

  /**
   * Wrap the caller of a proxy for an agent of the container at `to` (its
   * address, `tcp://host:port/`) so that its calls take the link's delay in
   * clock time each way: the request leaves after the delay, and the reply
   * is handed over after the delay.
   */
  linkCaller(caller: Caller, to: string): Caller {
    const clock = this.clock;
    return {
      call: (path, args, kwargs, options) => {
        const delay = this.delayTo(to);
        if (!(delay > 0) || isSteering(path)) return caller.call(path, args, kwargs, options);
        const reply = clock.sleep(delay)
          .then(() => caller.call(path, args, kwargs, options))
          .then((value) => clock.sleep(delay, value));
        reply.catch(noop);
        return reply;
      },
    };
  }

  /**
   * Announce the next step's time `t`: until {@linkcode Activity.setTime},
   * the first message that arrives from a member that has already moved
   * sets the clock to `t` before it is handled.
   */
  prepare(t: number): void {
    if (typeof t !== "number" || !Number.isFinite(t) || t < this.clock.time()) {
      throw new RangeError(
        `Cannot prepare a step to ${t}: the clock of ${this.addr} is at ${this.clock.time()}`,
      );
    }
    this.#pendingTime = t;
  }

  /** Set the clock to `t` (the prepared time, if a message did not do so yet). */
  setTime(t: number): void {
    this.#advance();
    const error = this.#setTimeError;
    this.#setTimeError = undefined;
    this.clock.setTime(t);
    if (error !== undefined) throw error;
  }

  #advance(): void {
    const t = this.#pendingTime;
    if (t === undefined) return;
    this.#pendingTime = undefined;
    try {
      this.clock.setTime(t);
    } catch (error) {
      this.#setTimeError ??= error;
    }
  }

  requestSent(channel: Channel, path: string): unknown {
    if (isProbe(path)) return undefined;
    this.requestsSent++;
    return this.#open(path, channel.peer);
  }

  /**
   * Count `promise` (e.g. opening a connection) as a call to `path` on `peer`
   * until it settles, so the container is busy meanwhile. Returns `promise`.
   */
  track<T>(path: string, peer: string, promise: Promise<T>): Promise<T> {
    const call = this.#open(path, peer);
    const done = () => this.#close(call);
    promise.then(done, done);
    return promise;
  }

  #open(path: string, peer: string): Call {
    let parent = context.getStore();
    if (parent !== undefined && parent.open) parent.wait("calls");
    else parent = undefined;
    const call = new Call(path, peer, parent);
    this.calls.add(call);
    return call;
  }

  replyReceived(token: unknown): void {
    if (token === undefined) return;
    if (this.#pendingTime !== undefined) this.#advance();
    this.repliesReceived++;
    this.#close(token as Call);
  }

  #close(call: Call): void {
    this.calls.delete(call);
    call.parent?.resume("calls");
  }

  requestReceived(channel: Channel, path: string): unknown {
    if (isProbe(path)) return undefined;
    if (this.#pendingTime !== undefined) this.#advance();
    this.requestsReceived++;
    const handler = new Handler(this, path, channel.peer);
    this.handlers.add(handler);
    this.running++;
    return handler;
  }

  replySent(token: unknown): void {
    if (token === undefined) return;
    const handler = token as Handler;
    this.repliesSent++;
    if (handler.running) this.running--;
    handler.open = false;
    this.handlers.delete(handler);
  }

  runHandler<R>(token: unknown, fn: () => R): R {
    return context.run(token as Handler | undefined, fn);
  }

  /** The sum of all counters: changes whenever a message is counted. */
  get version(): number {
    return this.requestsSent + this.requestsReceived + this.repliesSent + this.repliesReceived +
      this.calls.size + this.handlers.size + this.clock.pending;
  }

  /**
   * Wait until a turn of the event loop passes without a message being
   * counted (at most a few turns), then report.
   */
  async status(detail = false): Promise<SimStatus | SimStatusDetail> {
    let settled = false;
    for (let turn = 0; turn < SETTLE_TURNS && !settled; turn++) {
      const before = this.version;
      const running = this.running;
      await macrotask();
      settled = this.version === before && this.running === running;
    }
    const clock = this.clock;
    const status: SimStatus = {
      addr: this.addr,
      time: clock.time(),
      next: clock.nextEventTime() ?? null,
      timers: clock.pending,
      requestsSent: this.requestsSent,
      requestsReceived: this.requestsReceived,
      repliesSent: this.repliesSent,
      repliesReceived: this.repliesReceived,
      callsOpen: this.calls.size,
      handlersOpen: this.handlers.size,
      running: this.running,
      settled,
    };
    if (!detail) return status;
    const now = performance.now();
    const seconds = (since: number) => Math.round(now - since) / 1000;
    const calls: OpenCall[] = [];
    for (const call of this.calls) {
      if (calls.length === DETAIL_LIMIT) break;
      calls.push({ path: call.path, peer: call.peer, seconds: seconds(call.since) });
    }
    const handlers: OpenHandler[] = [];
    for (const handler of this.handlers) {
      if (handlers.length === DETAIL_LIMIT) break;
      const state = handler.running ? "running" : handler.sleeps > 0 ? "sleeping" : "calling";
      handlers.push({
        path: handler.path,
        peer: handler.peer,
        state,
        ...(state === "sleeping" ? { wake: handler.wake } : {}),
        seconds: seconds(handler.since),
      });
    }
    return { ...status, calls, handlers, sleepers: this.clock.pendingTimes(DETAIL_LIMIT) };
  }
}

const activities = new WeakMap<Container, Activity>();

/** The activity of a container's connections, if its clock is an `ExternalClock`. @internal */
export function createActivity(clock: unknown): Activity | undefined {
  return clock instanceof ExternalClock ? new Activity(clock) : undefined;
}

/** Remember `activity` as the one of `container`. @internal */
export function registerActivity(container: Container, activity: Activity | undefined): void {
  if (activity === undefined) return;
  activity.addr = container.addr;
  activities.set(container, activity);
}

/**
 * The activity of `container`.
 *
 * @throws {TypeError} if the container does not run on an `ExternalClock`.
 */
export function activityOf(container: Container): Activity {
  const activity = activities.get(container);
  if (activity === undefined) {
    throw new TypeError(
      `The clock of ${container.addr} is a ${container.clock.constructor.name}, not an ` +
        "ExternalClock: only containers created with an ExternalClock take part in a Simulation",
    );
  }
  return activity;
}
