/**
 * {@linkcode openSelfConnection}: the in-memory connection a container uses
 * to call its own agents, so that those calls keep RPC semantics (copies,
 * `RemoteException`s) without a socket.
 *
 * @module
 */

import { createMemoryPair } from "../channel/memory.ts";
import { type ConnectionOptions, createChannel } from "../channel/server.ts";
import { RpcClient, type RpcOptions } from "../rpc/client.ts";

/** A container's connection to itself: its client end, and how to close both ends. */
export interface SelfConnection {
  /** The calling end; the other end serves the same service. */
  readonly client: RpcClient;
  /** Settles once the serving end has closed. */
  readonly closed: Promise<void>;
  /** Close both ends; pending calls reject with `ConnectionError`. */
  close(): Promise<void>;
}

/**
 * Connect `service` to itself in memory: both ends serve it, with the
 * container's connection options (codec, serializers, monitor). `addr` is
 * each end's peer address. The options' own `setup` hook is not called.
 */
export function openSelfConnection(
  addr: string,
  service: unknown,
  options: ConnectionOptions & RpcOptions,
): SelfConnection {
  const [near, far] = createMemoryPair([addr, addr]);
  const serving = createChannel(far, {
    ...options,
    setup: (channel) => new RpcClient(channel, service, options),
  });
  let client: RpcClient | undefined;
  createChannel(near, {
    ...options,
    setup: (channel) => client = new RpcClient(channel, service, options),
  });
  return {
    client: client!,
    closed: serving.closed,
    close: async () => {
      await client!.close();
      await serving.close();
    },
  };
}
