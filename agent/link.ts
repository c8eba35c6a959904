/**
 * {@linkcode ContainerLink}: what agent proxies call through. A link stands
 * for a container address, not a socket: when its connection is gone, the
 * next call opens a new one, with backoff after failures.
 *
 * @module
 */

import { ConnectionError } from "../errors.ts";
import type { RpcClient } from "../rpc/client.ts";
import type { Caller, CallOptions } from "../rpc/proxy.ts";
import { deadline } from "./deadline.ts";
import { openConnection, type RpcConnectOptions } from "../rpc/server.ts";

/** The first pause after a failed reconnect, in milliseconds; it doubles per failure. */
const FIRST_BACKOFF_MS = 100;
/** The longest pause between reconnect attempts, in milliseconds. */
export const MAX_BACKOFF_MS = 2000;

const noop = () => {};

/**
 * The connection to one container address, shared by all proxies of its
 * agents. Calls made while the connection is open go straight to it; a call
 * made after it was lost opens a new one (calls in flight at the loss
 * reject with `ConnectionError` and are never sent again). After a failed
 * attempt, calls within the backoff pause (100 ms, doubling up to 2 s)
 * reject at once instead of knocking again.
 */
export class ContainerLink implements Caller {
  /** The container address (`tcp://host:port/`). */
  readonly addr: string;
  #open: (retryFor: number) => Promise<RpcClient>;
  #retryFor: () => number;
  #client: RpcClient | undefined;
  #opening: Promise<RpcClient> | undefined;
  #failures = 0;
  #retryAt = 0;

  /**
   * `open(retryFor)` opens a connection, retrying refused attempts for
   * `retryFor` seconds; `retryFor()` is the container's reconnect policy.
   */
  constructor(
    addr: string,
    open: (retryFor: number) => Promise<RpcClient>,
    retryFor: () => number,
  ) {
    this.addr = addr;
    this.#open = open;
    this.#retryFor = retryFor;
  }

  /** The open connection, if any. */
  get client(): RpcClient | undefined {
    const client = this.#client;
    return client === undefined || client.channel.isClosed ? undefined : client;
  }

  /**
   * The open connection, or a new one. `retryFor` (seconds) overrides the
   * container's policy; an explicit `connect()` ignores the backoff pause.
   */
  connect(retryFor?: number): Promise<RpcClient> {
    const client = this.client;
    if (client !== undefined) return Promise.resolve(client);
    if (this.#opening !== undefined) return this.#opening;
    if (retryFor === undefined && performance.now() < this.#retryAt) {
      const wait = Math.ceil(this.#retryAt - performance.now());
      return Promise.reject(
        new ConnectionError(
          `${this.addr} is unreachable (${this.#failures} failed attempts); ` +
            `the next call tries again in ${wait} ms`,
        ),
      );
    }
    const opening = this.#open(retryFor ?? this.#retryFor());
    this.#opening = opening;
    opening.then(
      (client) => {
        this.#opening = undefined;
        this.#client = client;
        this.#failures = 0;
        this.#retryAt = 0;
      },
      () => {
        this.#opening = undefined;
        this.#failures++;
        this.#retryAt = performance.now() +
          Math.min(FIRST_BACKOFF_MS * 2 ** (this.#failures - 1), MAX_BACKOFF_MS);
      },
    );
    return opening;
  }

  /** Send a call over the open connection, or over a new one. */
  call(
    path: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    options?: CallOptions,
  ): Promise<unknown> {
    const client = this.#client;
    if (client !== undefined && !client.channel.isClosed) {
      return client.call(path, args, kwargs, options);
    }
    const reply = this.connect().then((client) => client.call(path, args, kwargs, options));
    reply.catch(noop);
    return reply;
  }

  /** Close the connection (or the one being opened). */
  async close(): Promise<void> {
    const client = this.#client;
    const opening = this.#opening;
    this.#client = undefined;
    await Promise.all([
      client?.close(),
      opening?.then((client) => client.close(), noop),
    ]);
  }
}

/** How {@linkcode openRetrying} tries. */
export interface RetryPolicy {
  /** Keep retrying a refused (or timed-out) attempt for this many seconds. */
  retryFor: number;
  /** Give one attempt up after this many seconds (`0`: never). */
  connectTimeout: number;
  /** Why to stop at once (a shut-down container), or `undefined`. */
  stopped: () => string | undefined;
}

/**
 * Wait before the retry that follows failed attempt number `attempt` (from
 * `0`): 10 ms, doubling up to 500 ms, and never past `deadline` (a
 * `performance.now()` time). Resolves `false`, at once, when the deadline
 * has passed: then give up.
 */
export async function waitToRetry(attempt: number, deadline: number): Promise<boolean> {
  const left = deadline - performance.now();
  if (left <= 0) return false;
  const ms = Math.min(10 * 2 ** Math.min(attempt, 6), 500, left);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return true;
}

/**
 * Open an RPC connection to `addr`, retrying refused attempts until
 * `retryFor` has passed (the last attempt is at its end).
 */
export async function openRetrying(
  addr: string,
  options: RpcConnectOptions,
  policy: RetryPolicy,
): Promise<RpcClient> {
  const stop = policy.stopped();
  if (stop !== undefined) throw new ConnectionError(stop);
  const deadline = performance.now() + policy.retryFor * 1000;
  for (let attempt = 0;; attempt++) {
    try {
      const client = await openWithin(addr, options, policy.connectTimeout);
      const stop = policy.stopped();
      if (stop !== undefined) {
        await client.close();
        throw new ConnectionError(stop);
      }
      return client;
    } catch (error) {
      if (!(error instanceof ConnectionError) || policy.stopped() !== undefined) throw error;
      if (!await waitToRetry(attempt, deadline)) throw error;
    }
  }
}

/** One attempt to connect, given up after `seconds` (a late connection is closed). */
async function openWithin(
  addr: string,
  options: RpcConnectOptions,
  seconds: number,
): Promise<RpcClient> {
  const opening = openConnection(addr, options);
  // In-process transports connect at once and must not use timers (deterministic runs).
  if (!(seconds > 0) || addr.startsWith("local://")) return await opening;
  try {
    return await deadline(
      opening,
      seconds,
      () =>
        new ConnectionError(
          `Connecting to ${addr} gave up after ${seconds} s (connectTimeout): ` +
            "the host does not answer",
        ),
    );
  } catch (error) {
    opening.then((client) => client.close(), () => {});
    throw error;
  }
}
