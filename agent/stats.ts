/**
 * What a container reports about itself: {@linkcode ContainerStats}, made by
 * `container.stats()`, answered by a Manager's `stats()`, printed by the
 * command line's `stats` and shown by the live view. {@linkcode CallRecorder} feeds
 * it from the RPC layer's `onCall` hook.
 *
 * @module
 */

import type { Clock } from "../clocks/clock.ts";
import type { Channel } from "../channel/channel.ts";
import type { RpcMonitor } from "../rpc/client.ts";
import {
  type CallDirection,
  type CallEvent,
  CallMetrics,
  type CallMetricsSnapshot,
  type CallToken,
  CallTrace,
  cutText,
} from "../rpc/metrics.ts";

/** An agent as listed in {@linkcode ContainerStats}. */
export interface AgentInfo {
  /** The agent's id in its container (`"0"`, `"1"`, or its name). */
  id: string;
  /** The agent's class name. */
  type: string;
}

/** One connection of a container. */
export interface LinkStats {
  /** `"out"`: this container opened it; `"in"`: a peer connected; `"self"`: calls to own agents. */
  kind: "out" | "in" | "self";
  /** The container address (`"out"`) or the peer's socket address (`"in"`). */
  peer: string;
  /** Bytes received, frame headers included. */
  bytesIn: number;
  /** Bytes sent, frame headers included. */
  bytesOut: number;
  /** Bytes queued for sending that the socket has not taken yet. */
  queuedBytes: number;
  /** Calls sent on this connection still waiting for their reply. */
  pendingCalls: number;
}

/** A call in the trace, numbered per container. */
export interface TracedCall extends CallEvent {
  /** The address of the container that recorded the call. */
  container: string;
  /** The call's number in its container's trace (increasing). */
  seq: number;
}

/** A snapshot of one container, as plain data. */
export interface ContainerStats {
  /** The container's address (`tcp://host:port/`). */
  addr: string;
  /** Wall-clock time of the snapshot in milliseconds since the epoch. */
  now: number;
  /** The container clock's time and its pending timers (`null`: the clock does not say). */
  clock: { time: number; pendingTimers: number | null };
  /** Number of agents, and the first `agentLimit` of them (default 200). */
  agents: { count: number; list: AgentInfo[] };
  /** Open connections. */
  connections: LinkStats[];
  /** Calls in and out by path (agent ids folded to `*`). */
  calls: CallMetricsSnapshot;
  /** The most recent calls, oldest first (empty unless the container keeps a trace). */
  recentCalls: TracedCall[];
  /** Why the snapshot is incomplete (a spawned container that did not answer). */
  error?: string;
}

/** Options of {@linkcode CallRecorder}. */
export interface CallRecorderOptions {
  /** Keep call metrics (default `true`). */
  metrics?: boolean | undefined;
  /** Keep the last `trace` calls for the trace and the live view (default `0`: no trace). */
  trace?: number | undefined;
  /** Called with every finished call. */
  onCall?: ((event: CallEvent) => void) | undefined;
}

/** The longest error message a traced call keeps. */
const MAX_ERROR_TEXT = 500;

/** A traced call in flight: what `requestSent`/`requestReceived` return with a trace or hook. */
class Pending {
  constructor(
    readonly direction: CallDirection,
    readonly path: string,
    readonly peer: string,
    readonly start: number,
  ) {}
}

/**
 * Collects a container's calls as an {@linkcode RpcMonitor}: metrics, the
 * optional trace and the user's `onCall` hook.
 */
export class CallRecorder implements RpcMonitor {
  /** The call metrics (`undefined` when turned off). */
  readonly metrics: CallMetrics | undefined;
  /** The trace of recent calls (`undefined` unless asked for). */
  readonly trace: CallTrace | undefined;
  #onCall: ((event: CallEvent) => void) | undefined;
  // With a trace or hook every call is timed and reported: this recorder is the monitor.
  // Without them only the metrics need each call (and they time a sample): see `monitor`.
  #everyCall: boolean;

  /** Record what `options` asks for. */
  constructor(options: CallRecorderOptions = {}) {
    this.metrics = options.metrics === false ? undefined : new CallMetrics();
    this.trace = options.trace ? new CallTrace(options.trace) : undefined;
    this.#onCall = options.onCall;
    this.#everyCall = this.trace !== undefined || this.#onCall !== undefined;
  }

  /**
   * The monitor to install on connections: `undefined` when nothing is
   * recorded, the metrics alone when there is neither trace nor hook (one
   * call less per event on the hot path), else this recorder.
   */
  get monitor(): RpcMonitor | undefined {
    if (this.#everyCall) return this;
    return this.metrics === undefined ? undefined : new MetricsMonitor(this.metrics);
  }

  /** @inheritdoc */
  requestSent(channel: Channel, path: string): unknown {
    return this.#start("out", channel, path);
  }

  /** @inheritdoc */
  replyReceived(token: unknown, ok: boolean, error?: unknown): void {
    this.#finish(token, ok, error);
  }

  /** @inheritdoc */
  requestReceived(channel: Channel, path: string): unknown {
    return this.#start("in", channel, path);
  }

  /** @inheritdoc */
  replySent(token: unknown, ok: boolean, error?: unknown): void {
    this.#finish(token, ok, error);
  }

  #start(direction: CallDirection, channel: Channel, path: string): Pending {
    return new Pending(direction, path, channel.peer, performance.now());
  }

  #finish(token: unknown, ok: boolean, error: unknown): void {
    const call = token as Pending;
    const seconds = (performance.now() - call.start) / 1000;
    this.metrics?.record({ direction: call.direction, path: call.path, seconds, ok });
    const event: CallEvent = {
      time: Date.now(),
      direction: call.direction,
      peer: call.peer,
      path: call.path,
      seconds,
      ok,
    };
    // One line: a RemoteException's message goes on with the remote traceback. Cut:
    // a message may quote a peer's argument of megabytes, and the trace keeps it.
    if (!ok) {
      event.error = error instanceof Error
        ? cutText(String(error.message).split("\n", 1)[0]!, MAX_ERROR_TEXT)
        : typeof error;
    }
    this.trace?.push(event);
    if (this.#onCall !== undefined) {
      try {
        this.#onCall(event);
      } catch (hookError) {
        console.warn(`aiomas: onCall hook failed: ${hookError}`);
      }
    }
  }
}

/** Feeds {@linkcode CallMetrics} straight from the RPC layer (no trace, no hook). */
class MetricsMonitor implements RpcMonitor {
  constructor(readonly metrics: CallMetrics) {}

  requestSent(_channel: Channel, path: string): unknown {
    return this.metrics.start("out", path);
  }

  replyReceived(token: unknown, ok: boolean): void {
    this.metrics.finish(token as CallToken, ok);
  }

  requestReceived(_channel: Channel, path: string): unknown {
    return this.metrics.start("in", path);
  }

  replySent(token: unknown, ok: boolean): void {
    this.metrics.finish(token as CallToken, ok);
  }
}

/**
 * One monitor that tells both `first` and `second` (either may be
 * `undefined`); `second` sees the calls as `first` does.
 */
export function combineMonitors(
  first: RpcMonitor | undefined,
  second: RpcMonitor | undefined,
): RpcMonitor | undefined {
  if (first === undefined) return second;
  if (second === undefined) return first;
  const combined: RpcMonitor = {
    requestSent: (channel, path) => [
      first.requestSent(channel, path),
      second.requestSent(channel, path),
    ],
    replyReceived(token, ok, error) {
      const [a, b] = token as [unknown, unknown];
      first.replyReceived(a, ok, error);
      second.replyReceived(b, ok, error);
    },
    requestReceived: (channel, path) => [
      first.requestReceived(channel, path),
      second.requestReceived(channel, path),
    ],
    replySent(token, ok, error) {
      const [a, b] = token as [unknown, unknown];
      first.replySent(a, ok, error);
      second.replySent(b, ok, error);
    },
  };
  if (first.runHandler !== undefined || second.runHandler !== undefined) {
    combined.runHandler = <R>(token: unknown, fn: () => R): R => {
      const [a, b] = token as [unknown, unknown];
      const inner = second.runHandler === undefined ? fn : () => second.runHandler!(b, fn);
      return first.runHandler === undefined ? inner() : first.runHandler(a, inner);
    };
  }
  return combined;
}

/** The pending timers of `clock`, if it counts them. */
function pendingTimers(clock: Clock): number | null {
  const pending = (clock as { pending?: unknown }).pending;
  return typeof pending === "number" ? pending : null;
}

/** Describe one channel as a {@linkcode LinkStats}. */
export function linkStats(kind: LinkStats["kind"], peer: string, channel: Channel): LinkStats {
  return {
    kind,
    peer,
    bytesIn: channel.bytesIn,
    bytesOut: channel.bytesOut,
    queuedBytes: channel.bufferedAmount,
    pendingCalls: channel.pendingCount,
  };
}

/** What a container passes to {@linkcode buildStats}. */
export interface StatsSource {
  /** The container's address. */
  addr: string;
  /** The container's clock. */
  clock: Clock;
  /** The container's agents by id. */
  agents: ReadonlyMap<string, object>;
  /** Its open connections, described. */
  links: LinkStats[];
  /** What recorded its calls. */
  recorder: CallRecorder;
}

/** Assemble a {@linkcode ContainerStats} snapshot. */
export function buildStats(source: StatsSource, agentLimit = 200): ContainerStats {
  const list: AgentInfo[] = [];
  for (const [id, agent] of source.agents) {
    if (list.length >= agentLimit) break;
    list.push({ id, type: agent.constructor.name });
  }
  const trace = source.recorder.trace;
  const first = trace === undefined ? 0 : trace.total - Math.min(trace.total, trace.capacity);
  return {
    addr: source.addr,
    now: Date.now(),
    clock: { time: source.clock.time(), pendingTimers: pendingTimers(source.clock) },
    agents: { count: source.agents.size, list },
    connections: source.links,
    calls: source.recorder.metrics?.snapshot() ?? { in: [], out: [] },
    recentCalls: (trace?.events() ?? []).map((event, i) => ({
      ...event,
      container: source.addr,
      seq: first + i,
    })),
  };
}
