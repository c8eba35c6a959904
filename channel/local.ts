/**
 * The `local://<name>` transport: named in-process listeners in one isolate.
 * A connection is a pair of in-memory pipes ({@linkcode createMemoryPair}),
 * so channels, RPC and containers on `local://` addresses run the same
 * framing and codec code as over TCP, but without sockets, system calls or
 * timers. Frames are delivered in FIFO order through promise callbacks only,
 * which makes a run of many containers in one isolate deterministic: the
 * same program produces the same interleaving every time.
 *
 * The registry is per isolate: a Web Worker or another process cannot reach
 * a `local://` listener (use TCP or a Unix socket there).
 *
 * @example Two containers in one isolate
 * ```ts
 * import { Agent, Container, expose } from "@aiomas/aiomas";
 *
 * class Echo extends Agent {
 *   @expose
 *   echo(text: string): string {
 *     return text;
 *   }
 * }
 * const a = await Container.create("local://a");
 * const b = await Container.create("local://b");
 * const echo = new Echo(b);
 * console.log(echo.addr); // local://b/0
 * const proxy = await a.connect<Echo>(echo.addr);
 * console.log(await proxy.echo("ohai")); // ohai
 * await a.shutdown();
 * await b.shutdown();
 * ```
 *
 * @module
 */

import { ConnectionError } from "../errors.ts";
import type { LocalAddress } from "./address.ts";
import { createMemoryPair } from "./memory.ts";
import type { Transport, TransportListener } from "./transport.ts";

const NAME = /^[^/\s]+$/;

/** The open listeners of this isolate by name. */
const registry = new Map<string, LocalListener>();

class LocalListener implements TransportListener {
  readonly addr: LocalAddress;
  #backlog: Transport[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  #accepted = 0;

  constructor(name: string) {
    this.addr = { local: name };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Make a connection: the client's end is returned, the server's end is queued. */
  connect(): Transport {
    const name = this.addr.local;
    const [client, server] = createMemoryPair([
      `local://${name}#${this.#accepted++}`,
      `local://${name}`,
    ]);
    this.#backlog.push(server);
    this.#signal();
    return client;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (registry.get(this.addr.local) === this) registry.delete(this.addr.local);
    // Connections nobody accepted yet are refused: their clients read the end of the stream.
    for (const transport of this.#backlog.splice(0)) transport.close();
    this.#signal();
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Transport> {
    while (true) {
      const next = this.#backlog.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }
}

function checkName(name: string): void {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new TypeError(
      `Invalid local address name ${JSON.stringify(name)}: use a non-empty name without "/" ` +
        'or spaces, as in "local://sim"',
    );
  }
}

/**
 * Listen on `local://<name>` in this isolate. Usually reached through
 * `startServer("local://name", ...)` or `Container.create("local://name")`;
 * the name is free again once the listener is closed.
 *
 * @throws {Deno.errors.AddrInUse} if a listener of this isolate already has the name.
 * @throws {TypeError} for an empty name or one with `/` or spaces.
 *
 * @example
 * ```ts
 * import { connectLocal, listenLocal } from "@aiomas/aiomas/channel";
 * const listener = listenLocal("echo");
 * const client = await connectLocal("echo");
 * for await (const server of listener) {
 *   await client.write(new TextEncoder().encode("ohai"));
 *   const buffer = new Uint8Array(4);
 *   console.log(await server.read(buffer)); // 4
 *   server.close();
 *   break;
 * }
 * listener.close();
 * ```
 */
export function listenLocal(name: string): TransportListener {
  checkName(name);
  if (registry.has(name)) {
    throw new Deno.errors.AddrInUse(
      `local://${name} is already in use in this isolate: close its listener or pick another name`,
    );
  }
  const listener = new LocalListener(name);
  registry.set(name, listener);
  return listener;
}

/**
 * Connect to the in-process listener `local://<name>` of this isolate.
 * Resolves at once: the listener accepts the connection on its next turn.
 *
 * @throws {ConnectionError} naming the address when no listener of this
 *   isolate has that name (containers retry this like a refused TCP port).
 *
 * @example
 * ```ts
 * import { ConnectionError } from "@aiomas/aiomas";
 * import { connectLocal } from "@aiomas/aiomas/channel";
 * const error = await connectLocal("nobody").catch((e) => e);
 * console.log(error instanceof ConnectionError); // true
 * ```
 */
export function connectLocal(name: string): Promise<Transport> {
  try {
    checkName(name);
  } catch (error) {
    return Promise.reject(error);
  }
  const listener = registry.get(name);
  if (listener === undefined || listener.closed) {
    return Promise.reject(
      new ConnectionError(
        `Could not connect to local://${name}: no in-process listener of that name in this ` +
          "isolate. Is a container or server listening there (workers and other processes " +
          "cannot share local:// addresses)?",
      ),
    );
  }
  return Promise.resolve(listener.connect());
}
