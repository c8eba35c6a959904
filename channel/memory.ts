/**
 * An in-memory transport: two connected byte streams in one isolate, with
 * the same framing and codec path as a socket but no system calls. Messages
 * are delivered in FIFO order, so runs are deterministic.
 *
 * @module
 */

import type { Transport } from "./transport.ts";

class Pipe {
  chunks: Uint8Array[] = [];
  offset = 0;
  closed = false;
  reader: ((count: number | null) => void) | undefined;
  target: Uint8Array | undefined;

  push(data: Uint8Array): void {
    this.chunks.push(data);
    this.#serve();
  }

  close(): void {
    this.closed = true;
    this.#serve();
  }

  read(buffer: Uint8Array): Promise<number | null> {
    if (this.reader) return Promise.reject(new Error("Concurrent reads on a memory transport"));
    return new Promise((resolve) => {
      this.reader = resolve;
      this.target = buffer;
      this.#serve();
    });
  }

  #serve(): void {
    const reader = this.reader;
    const target = this.target;
    if (reader === undefined || target === undefined) return;
    if (this.chunks.length === 0) {
      if (!this.closed) return;
      this.reader = this.target = undefined;
      reader(null);
      return;
    }
    let count = 0;
    while (this.chunks.length > 0 && count < target.length) {
      const chunk = this.chunks[0]!;
      const take = Math.min(chunk.length - this.offset, target.length - count);
      target.set(chunk.subarray(this.offset, this.offset + take), count);
      count += take;
      this.offset += take;
      if (this.offset === chunk.length) {
        this.chunks.shift();
        this.offset = 0;
      }
    }
    this.reader = this.target = undefined;
    reader(count);
  }
}

/**
 * Create two connected in-memory transports: what one writes, the other
 * reads. `names` are the peers' addresses as each side reports them.
 *
 * @example
 * ```ts
 * import { Channel, createMemoryPair, JsonCodec } from "@aiomas/aiomas";
 * const [a, b] = createMemoryPair(["local://a", "local://b"]);
 * const server = new Channel(b, new JsonCodec());
 * server.setHandler((request) => request.reply(`${request.content}!`));
 * const client = new Channel(a, new JsonCodec());
 * console.log(await client.send("ohai")); // ohai!
 * await client.close();
 * await server.close();
 * ```
 */
export function createMemoryPair(names: [string, string] = ["memory", "memory"]): [
  Transport,
  Transport,
] {
  const aToB = new Pipe();
  const bToA = new Pipe();
  const end = (incoming: Pipe, outgoing: Pipe, peer: string): Transport => ({
    peer,
    inProcess: true,
    read: (buffer) => incoming.read(buffer),
    write(data) {
      if (outgoing.closed) {
        return Promise.reject(new Error(`Memory transport to ${peer} is closed`));
      }
      outgoing.push(data.slice());
      return Promise.resolve(data.length);
    },
    close() {
      incoming.close();
      outgoing.close();
    },
  });
  return [end(bToA, aToB, names[1]), end(aToB, bToA, names[0])];
}
