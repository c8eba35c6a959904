/**
 * RPC over the channel layer: {@linkcode startServer} serves a service to
 * every client; {@linkcode openConnection} connects to one.
 *
 * @module
 */

import type { Address } from "../channel/address.ts";
import {
  type ConnectionOptions,
  openConnection as openChannel,
  type Server,
  startServer as startChannelServer,
} from "../channel/server.ts";
import type { Channel } from "../channel/channel.ts";
import { RpcClient, type RpcOptions } from "./client.ts";

/** Options of {@linkcode openConnection}. */
export interface RpcConnectOptions extends ConnectionOptions, RpcOptions {
  /** The local service the server may call back into (aiomas' `rpc_service`). */
  router?: unknown | undefined;
}

/** Options of {@linkcode startServer}. */
export interface RpcServerOptions<C = unknown> extends ConnectionOptions, RpcOptions {
  /** Called with the {@linkcode RpcClient} of each new connection, to call the client back. */
  onClient?: ((client: RpcClient<C>) => void | Promise<void>) | undefined;
}

/**
 * Connect to an RPC server. `remote` of the result calls the server's
 * service; `router` (optional) is served to the server for callbacks.
 *
 * @param options Optional (default `{}`): `router`, `callTimeout`, codec, TLS and the other
 *   {@linkcode RpcConnectOptions}.
 * @example
 * ```ts
 * import { expose, openConnection, startServer } from "@aiomas/aiomas/rpc";
 * const service = { greet: expose((name: string) => `Hello, ${name}!`) };
 * const server = await startServer({ hostname: "127.0.0.1", port: 0 }, service);
 * const client = await openConnection(server.addr);
 * console.log(await client.remote.greet("World")); // Hello, World!
 * await client.close();
 * await server.close();
 * ```
 */
export async function openConnection<T = unknown>(
  addr: Address,
  options: RpcConnectOptions = {},
): Promise<RpcClient<T>> {
  let client: RpcClient<T> | undefined;
  await openChannel(addr, {
    ...options,
    setup(channel) {
      client = new RpcClient<T>(channel, options.router, options);
      options.setup?.(channel);
    },
  });
  return client!;
}

/**
 * Serve `service` to every client that connects to `addr`. Each connection
 * gets its own {@linkcode RpcClient} (passed to `onClient`), so the server can
 * call back into the client's router.
 *
 * @param options Optional (default `{}`): `onClient`, `callTimeout`, codec, TLS, limits and the
 *   other {@linkcode RpcServerOptions}.
 * @example
 * ```ts
 * import { expose, startServer } from "@aiomas/aiomas/rpc";
 * const server = await startServer("tcp://127.0.0.1:0", { ping: expose(() => "pong") });
 * console.log(server.url.startsWith("tcp://127.0.0.1:")); // true
 * await server.close();
 * ```
 */
export function startServer<C = unknown>(
  addr: Address,
  service: unknown,
  options: RpcServerOptions<C> = {},
): Promise<Server> {
  const clients = new WeakMap<Channel, RpcClient<C>>();
  return startChannelServer(
    addr,
    options.onClient === undefined
      ? () => {}
      : async (channel) => await options.onClient!(clients.get(channel)!),
    {
      ...options,
      setup(channel) {
        const client = new RpcClient<C>(channel, service, options);
        // Kept only for onClient (a map entry per connection otherwise for nothing).
        if (options.onClient !== undefined) clients.set(channel, client);
        options.setup?.(channel);
      },
    },
  );
}
