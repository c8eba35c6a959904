/**
 * A container client for the hostile-peer suite, run as a subprocess with
 * Deno's default behaviour (a crash ends it with a non-zero code):
 *
 *   deno run -A tests/fixtures_hostile/client.ts <codec> <hostile container url> <count> <calls>
 *
 * Connects to agents `0` ... `count - 1` of the hostile container (which
 * answers `validate_aid` with hostile values) and prints one JSON line per
 * attempt; makes `calls` calls through the last agent it connected to (the
 * hostile container answers them with hostile values too), one line each;
 * then checks that it still serves and calls a good container, and prints
 * `{"good": <result>}`.
 *
 * @module
 */

import { Agent, Container } from "../../agent/mod.ts";
import { callWith, expose } from "../../rpc/mod.ts";
import { codecClass, serializersFor } from "./service.ts";

const [codecName, url, count, calls] = Deno.args;
const codec = codecClass(codecName)!;
const extraSerializers = serializersFor(codecName);
const addr = { hostname: "127.0.0.1", port: 0 };
const container = await Container.create(addr, { codec, extraSerializers });

let connected: unknown;
for (let i = 0; i < Number(count); i++) {
  try {
    connected = await container.connect(`${url}${i}`);
    console.log(JSON.stringify({ attempt: i, connected: true }));
  } catch (error) {
    console.log(JSON.stringify({ attempt: i, rejected: (error as Error).name }));
  }
  // Let closed connections be forgotten before the next attempt.
  await new Promise((resolve) => setTimeout(resolve, 5));
}

// Calls through the one connect that succeeded: the hostile container answers them
// with hostile values too (each call with a deadline: a peer may also never answer).
const remote = connected as { add(a: number, b: number): Promise<unknown> };
for (let i = 0; i < Number(calls ?? 0); i++) {
  try {
    const result = await callWith({ timeout: 5 }, remote.add, i, 1);
    console.log(JSON.stringify({ call: i, result: typeof result }));
  } catch (error) {
    console.log(JSON.stringify({ call: i, rejected: (error as Error).name }));
  }
  await new Promise((resolve) => setTimeout(resolve, 5));
}

class Adder extends Agent {
  @expose
  add(a: number, b: number): number {
    return a + b;
  }
}
const good = await Container.create(addr, { codec, extraSerializers });
const adder = new Adder(good);
const proxy = await container.connect(adder.addr) as unknown as {
  add(a: number, b: number): Promise<number>;
};
console.log(JSON.stringify({ good: await proxy.add(2, 3) }));
await new Promise((resolve) => setTimeout(resolve, 100));
await container.shutdown();
await good.shutdown();
