import assert from "node:assert/strict";
import {
  createProxy,
  expose,
  openConnection,
  remoteMember,
  RESERVED_NAMES,
  startServer,
} from "@aiomas/aiomas/rpc";
import { startServer as startChannelServer } from "@aiomas/aiomas/channel";
import { Agent, ConnectionError, Container } from "@aiomas/aiomas";
import { frame, readJsonFrame, writeAll } from "./helpers.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

/** Everything runtimes, test frameworks and libraries read from a value they are shown. */
function probe(proxy: unknown): void {
  const p = proxy as Record<string | symbol, unknown>;
  for (const name of RESERVED_NAMES) {
    if (name === "toString" || name === "toLocaleString") {
      assert.equal((p[name] as () => string)(), String(proxy));
    } else assert.equal(p[name], undefined, name);
  }
  for (
    const symbol of [
      Symbol.iterator,
      Symbol.asyncIterator,
      Symbol.hasInstance,
      Symbol.toStringTag,
      Symbol.species,
      Symbol.isConcatSpreadable,
    ]
  ) assert.equal(p[symbol], undefined, String(symbol));
  for (const name of ["__proto__", "__esModule", "@@iterator", "$$typeof", "then", "toJSON"]) {
    assert.equal(p[name], undefined, name);
  }
  String(proxy);
  `${proxy}`;
  JSON.stringify({ proxy, list: [proxy] });
  Deno.inspect(proxy);
  Deno.inspect({ nested: [proxy] }, { depth: 5 });
  Object.prototype.toString.call(proxy);
  assert.equal(Array.isArray(proxy), false);
  assert.equal("then" in (proxy as object), false);
}

Deno.test("a proxy answers no probed name: await, JSON, String, inspect send nothing", async () => {
  const sent: string[] = [];
  const caller = {
    call(path: string) {
      sent.push(path);
      return Promise.resolve(null);
    },
  };
  const proxy = createProxy(caller, "agents/0", "CalleeProxy('tcp://h:1/0')");
  probe(proxy);
  probe(proxy.sub);
  assert.equal(await proxy, proxy);
  assert.equal(String(proxy), "CalleeProxy('tcp://h:1/0')");
  assert.equal(`${proxy.sub}`, "RemoteProxy('agents/0/sub')");
  assert.equal(proxy.toString(), "CalleeProxy('tcp://h:1/0')");
  assert.ok(Deno.inspect(proxy).includes("CalleeProxy('tcp://h:1/0')"));
  assert.equal(JSON.stringify({ proxy }), "{}");
  assert.deepEqual(sent, []);
  // Real members still work, and remoteMember() reaches a reserved remote name.
  await proxy.spam(1);
  await remoteMember(proxy, "then")(2);
  await remoteMember(proxy.sub, "toJSON")();
  assert.deepEqual(sent, ["agents/0/spam", "agents/0/then", "agents/0/sub/toJSON"]);
  // remoteMember() does not make the proxy answer the name afterwards.
  assert.equal((proxy as unknown as Record<string, unknown>).then, undefined);
  assert.equal(await proxy, proxy);
  assert.throws(() => {
    (proxy as unknown as Record<string, unknown>).x = 1;
  }, TypeError);
});

Deno.test("looking at proxies over a real connection sends no request", async () => {
  const paths: unknown[] = [];
  const server = await startChannelServer(LOCAL, async (channel) => {
    for await (const request of channel) {
      paths.push((request.content as unknown[])[0]);
      await request.reply(paths.length);
    }
  });
  const client = await openConnection(server.addr);
  probe(client.remote);
  probe(client.remote.a.b);
  assert.equal(await client.remote, client.remote);
  assert.equal(await client.remote.count(), 1);
  assert.deepEqual(paths, ["count"]);
  await client.close();
  await server.close();
});

class Adder extends Agent {
  @expose
  add(a: unknown, b: unknown): string {
    return `${typeof a}+${typeof b}`;
  }
}

Deno.test("issue 15.1: a reference inside a date tag neither calls the attacker nor crashes", async () => {
  const container = await Container.create(LOCAL);
  new Adder(container);
  const adder = new Adder(container);
  const url = new URL(container.addr);
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  await writeAll(
    conn,
    frame('[0, 1, ["agents/1/add", [{"__type__": [0, {"__type__": [1, "x"]}]}], {}]]'),
  );
  // The connection is closed for the bad date; no request (x/toJSON) may come first.
  const received: unknown[] = [];
  for (let message; (message = await readJsonFrame(conn).catch(() => null)) !== null;) {
    received.push(message);
  }
  conn.close();
  assert.ok(received.every((message) => (message as unknown[])[0] !== 0), Deno.inspect(received));
  // The container serves good clients as before.
  const other = await Container.create(LOCAL);
  const proxy = await other.connect<Adder>(adder.addr);
  assert.equal(await proxy.add(1, "x"), "number+string");
  await other.shutdown();
  await container.shutdown();
});

Deno.test("calls nobody awaits: a closing connection leaves no unhandled rejection", async () => {
  const server = await startServer(LOCAL, {
    hang: expose(() => new Promise(() => {})),
  });
  const client = await openConnection(server.addr);
  // Fire and forget: nobody ever looks at these promises.
  for (let i = 0; i < 10; i++) client.remote.hang(i);
  const awaited = client.remote.hang("awaited");
  await new Promise((resolve) => setTimeout(resolve, 20));
  await server.close();
  // Whoever awaits still gets the error.
  await assert.rejects(awaited, ConnectionError);
  await client.close();
  // Give the event loop a turn: an unhandled rejection would fail this test.
  await new Promise((resolve) => setTimeout(resolve, 10));
});
