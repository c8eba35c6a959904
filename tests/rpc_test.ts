import assert from "node:assert/strict";
import {
  callWith,
  expose,
  kwargs,
  openConnection,
  type Remote,
  type RpcClient,
  startServer,
} from "@aiomas/aiomas/rpc";
import { ConnectionError, RemoteException, TimeoutError } from "@aiomas/aiomas";
import type { TcpAddress } from "@aiomas/aiomas/channel";
import { MsgPackCodec } from "@aiomas/aiomas/codecs";
import { frame, readJsonFrame, writeAll } from "./helpers.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

class Sub {
  @expose
  method(x: number): number {
    return 2 * x;
  }
}

let getterRuns = 0;

class Service {
  #secret = "hidden";
  notExposed = "data";

  @expose
  sub = new Sub();

  plainSub = new Sub(); // a field without @expose

  @expose
  add(a: number, b: number): number {
    return a + b;
  }

  @expose
  async slowAdd(a: number, b: number, delayMs = 10): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    return a + b;
  }

  @expose
  kw(a = 1, options: { b?: number } = {}): number {
    return a * 10 + (options.b ?? 2);
  }

  @expose
  kwOnly({ a = 1, b = 2 }: { a?: number; b?: number }): number {
    return a * 10 + b;
  }

  @expose
  fail(): never {
    throw new RangeError("boom");
  }

  @expose
  async failLater(): Promise<never> {
    await Promise.resolve();
    throw new TypeError("async boom");
  }

  @expose
  async callBack(cb: Remote<Client>): Promise<string> {
    return await cb.pong("from server");
  }

  @expose
  getSub(): Sub {
    return this.sub;
  }

  @expose
  echo(value: unknown): unknown {
    return value;
  }

  hidden(): string {
    return this.#secret;
  }

  get value(): number {
    getterRuns++;
    return 1;
  }
}

class Client {
  @expose
  pong(text: string): string {
    return `pong(${text})`;
  }
}

async function withServer(
  fn: (client: RpcClient<Service>, port: number) => Promise<void>,
  service: unknown = new Service(),
) {
  const server = await startServer(LOCAL, service);
  const client = await openConnection<Service>(server.addr, { router: new Client() });
  try {
    await fn(client, (server.addr as TcpAddress).port);
  } finally {
    await client.close();
    await server.close();
  }
}

Deno.test("calls methods, sub-services, async methods (typed proxy)", async () => {
  await withServer(async (client) => {
    const sum: number = await client.remote.add(2, 3);
    assert.equal(sum, 5);
    assert.equal(await client.remote.sub.method(21), 42);
    assert.equal(await client.remote.slowAdd(1, 2), 3);
    const many = await Promise.all(Array.from({ length: 100 }, (_, i) => client.remote.add(i, i)));
    assert.deepEqual(many, Array.from({ length: 100 }, (_, i) => 2 * i));
  });
});

Deno.test("dict services: expose(fn) in plain objects, nested", async () => {
  const service = {
    mul: expose((a: number, b: number) => a * b),
    nested: { neg: expose((x: number) => -x) },
    data: 42,
  };
  await withServer(async (client) => {
    const remote = client.remote as unknown as Remote<typeof service>;
    assert.equal(await remote.mul(6, 7), 42);
    assert.equal(await remote.nested.neg(3), -3);
  }, service);
});

Deno.test("errors reach the caller as RemoteException with type, message and stack", async () => {
  await withServer(async (client) => {
    const error = await client.remote.fail().catch((e) => e) as RemoteException;
    assert.ok(error instanceof RemoteException);
    assert.equal(error.remoteType, "RangeError");
    assert.equal(error.remoteMessage, "boom");
    assert.match(error.remoteTraceback, /^Traceback \(most recent call last\):\n/);
    assert.match(error.remoteTraceback, /at Service\.fail/);
    const later = await client.remote.failLater().catch((e) => e) as RemoteException;
    assert.equal(later.remoteType, "TypeError");
    assert.equal(later.remoteMessage, "async boom");
  });
});

Deno.test("hostile paths are RemoteExceptions naming the path; the server keeps serving", async () => {
  const dict = { mul: expose((a: number, b: number) => a * b) };
  const service = new Service();
  const hostile = [
    "constructor",
    "__proto__",
    "toString",
    "hasOwnProperty",
    "valueOf",
    "add/call",
    "add/apply",
    "add/bind",
    "add/constructor",
    "#secret",
    "hidden",
    "notExposed",
    "plainSub/method",
    "value",
    "sub/constructor",
    "sub/__proto__",
    "",
    "/add",
    "add/",
    "sub//method",
    "../add",
    "sub/../add",
    "sub",
    "nope",
    "@0/add",
    "constructor/constructor",
    "__proto__/constructor",
  ];
  await withServer(async (client) => {
    for (const path of hostile) {
      const error = await client.call(path, [], {}).catch((e) => e);
      assert.ok(error instanceof RemoteException, `${path}: ${error}`);
      assert.ok(
        ["LookupError"].includes(error.remoteType),
        `${path}: ${error.remoteType}`,
      );
      const shown = path.split("/").find((segment) => segment !== "") ?? path;
      assert.ok(error.remoteMessage.includes(shown) || path === "", `${path}: ${error.message}`);
    }
    assert.equal(getterRuns, 0, "a getter was run by path resolution");
    assert.equal(await client.remote.add(1, 1), 2);
  }, service);
  await withServer(async (client) => {
    for (const path of ["__proto__", "constructor", "toString", "mul/call", "mul/apply"]) {
      const error = await client.call(path, [], {}).catch((e) => e);
      assert.ok(error instanceof RemoteException, path);
    }
    assert.equal(await client.call("mul", [2, 4], {}), 8);
  }, dict);
});

Deno.test("Python's LookupError text for unknown names", async () => {
  await withServer(async (client) => {
    const error = await client.call("nope", [], {}).catch((e) => e) as RemoteException;
    assert.match(error.remoteTraceback, /LookupError: Name "nope" not found in ""\n$/);
    const sub = await client.call("sub/nope", [], {}).catch((e) => e) as RemoteException;
    assert.match(sub.remoteTraceback, /LookupError: Name "nope" not found in "sub"\n$/);
  });
});

Deno.test("kwargs: a raw [path, args, kwargs] request and the kwargs() marker", async () => {
  const server = await startServer(LOCAL, new Service());
  const raw = await Deno.connect(server.addr as TcpAddress);
  await writeAll(raw, frame('[0, 0, ["kw", [1], {"b": 5}]]'));
  assert.deepEqual(await readJsonFrame(raw), [1, 0, 15]);
  await writeAll(raw, frame('[0, 1, ["kwOnly", [], {"a": 4}]]'));
  assert.deepEqual(await readJsonFrame(raw), [1, 1, 42]);
  await writeAll(raw, frame('[0, 2, ["sub/method", [21], {}]]'));
  assert.deepEqual(await readJsonFrame(raw), [1, 2, 42]);
  // Content that is not [path, args, kwargs] gets an EXCEPTION, not silence.
  await writeAll(raw, frame('[0, 3, "not a call"]'));
  const [type, id, text] = await readJsonFrame(raw) as [number, number, string];
  assert.deepEqual([type, id], [2, 3]);
  assert.match(text, /TypeError: An RPC request's content must be \[path, args, kwargs\]\n$/);
  raw.close();
  const client = await openConnection<Service>(server.addr);
  // A typed proxy takes a kwargs() marker in place of the trailing options object.
  assert.equal(await client.remote.kw(3, kwargs({ b: 7 })), 37);
  assert.equal(await client.remote.kwOnly(kwargs({ a: 4 })), 42);
  await client.close();
  await server.close();
});

Deno.test("callbacks both ways: passed references, returned services, the root", async () => {
  await withServer(async (client) => {
    const local = client.service as Client;
    // The client's own root service passed as an argument.
    assert.equal(await client.remote.callBack(local as never), "pong(from server)");
    // A returned sub-service arrives as a proxy.
    const sub = await client.remote.getSub() as unknown as Remote<Sub>;
    assert.equal(await sub.method(2), 4);
    // An object outside the client's service tree is served under a connection-local name.
    const extra = new Client();
    assert.equal(await client.remote.callBack(extra as never), "pong(from server)");
  });
});

Deno.test("the server calls back into the client's router via onClient", async () => {
  const seen: string[] = [];
  const server = await startServer(LOCAL, new Service(), {
    async onClient(rpc) {
      seen.push(await (rpc.remote as unknown as Remote<Client>).pong("hello client") as string);
    },
  });
  const client = await openConnection(server.addr, { router: new Client() });
  while (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(seen, ["pong(hello client)"]);
  await client.close();
  await server.close();
});

Deno.test("unknown class instances cannot be sent; the connection survives", async () => {
  class Opaque {
    x = 1;
  }
  await withServer(async (client) => {
    await assert.rejects(client.remote.echo(new Opaque() as never), /register a serializer/);
    assert.deepEqual(await client.remote.echo({ a: [1, "b"] }), { a: [1, "b"] });
  });
});

Deno.test("deadlines: client timeout, callWith timeout and signal; late replies dropped", async () => {
  await withServer(async (client) => {
    await assert.rejects(
      callWith({ timeout: 0.02 }, client.remote.slowAdd, 1, 2, 500),
      (error: Error) => error instanceof TimeoutError && /slowAdd/.test(error.message),
    );
    const controller = new AbortController();
    const aborted = callWith({ signal: controller.signal }, client.remote.slowAdd, 1, 2, 50);
    controller.abort(new DOMException("stop", "AbortError"));
    await assert.rejects(aborted, (error: Error) => error.name === "AbortError");
    client.timeout = 0.02;
    await assert.rejects(client.remote.slowAdd(1, 2, 300), TimeoutError);
    client.timeout = undefined;
    // Late replies arrive and are dropped; the connection keeps working.
    await new Promise((resolve) => setTimeout(resolve, 550));
    assert.equal(await client.remote.add(1, 2), 3);
    assert.equal(client.channel.isClosed, false);
    assert.equal(await callWith({ timeout: 5 }, client.remote.add, 2, 2), 4);
  });
});

Deno.test("a disconnect with 100 calls pending rejects all with ConnectionError", async () => {
  const server = await startServer(LOCAL, {
    hang: expose(() => new Promise(() => {})),
  });
  const client = await openConnection(server.addr);
  const calls = Array.from({ length: 100 }, () => client.remote.hang().catch((e) => e));
  await new Promise((resolve) => setTimeout(resolve, 20));
  await server.close();
  const results = await Promise.all(calls);
  assert.ok(results.every((result) => result instanceof ConnectionError));
  await client.close();
});

Deno.test("a result over maxMessageSize is a RemoteException, sync or async; the server lives on", async () => {
  const service = {
    big: expose((n: number) => "z".repeat(n)),
    bigLater: expose(async (n: number) => {
      await Promise.resolve();
      return "z".repeat(n);
    }),
  };
  const server = await startServer(LOCAL, service, { maxMessageSize: 1024 });
  const client = await openConnection(server.addr, { maxMessageSize: 1024 });
  for (const name of ["big", "bigLater"]) {
    const error = await client.remote[name](4096).catch((e: unknown) => e) as RemoteException;
    assert.ok(error instanceof RemoteException, name);
    assert.match(error.remoteMessage, /exceeds maxMessageSize/);
  }
  assert.equal(await client.remote.big(2), "zz");
  await client.close();
  await server.close();
});

Deno.test("@expose on a field holding an arrow function makes it callable (issue 19.4)", async () => {
  class Arrows {
    factor = 3;
    @expose
    double = (x: number) => 2 * x;
    @expose
    triple = (x: number): number => this.factor * x;
    @expose
    later: Sub | null = null;
  }
  const service = new Arrows();
  await withServer(async (client) => {
    const remote = client.remote as unknown as Remote<Arrows>;
    assert.equal(await remote.double(21), 42);
    assert.equal(await remote.triple(2), 6);
    service.later = new Sub();
    assert.equal(await (remote.later as unknown as Remote<Sub>).method(4), 8);
  }, service);
});

Deno.test("@expose refuses static methods and fields that hold plain values (issue 19.12)", () => {
  assert.throws(
    () => {
      class Statics {
        @expose
        static create(): Statics {
          return new Statics();
        }
      }
      return Statics;
    },
    (error: Error) => error instanceof TypeError && /static method create/.test(error.message),
  );
  class Counter {
    // @ts-expect-error: a number cannot be exposed (also refused at run time)
    @expose
    count = 0;
  }
  assert.throws(
    () => new Counter(),
    (error: Error) =>
      error instanceof TypeError && /field count holds a number/.test(error.message),
  );
  class Named {
    // @ts-expect-error: a string cannot be exposed either
    @expose
    name = "spam";
  }
  assert.throws(() => new Named(), /field name holds a string/);
  class Data {
    @expose
    started = new Date(0);
  }
  assert.throws(() => new Data(), /field started holds a Date without exposed members/);
});

Deno.test("openConnection: callTimeout (and the deprecated timeout) is the default deadline", async () => {
  const server = await startServer(LOCAL, new Service());
  try {
    for (const options of [{ callTimeout: 0.02 }, { timeout: 0.02 }]) {
      const client = await openConnection<Service>(server.addr, options);
      assert.equal(client.timeout, 0.02);
      await assert.rejects(client.remote.slowAdd(1, 2, 500), TimeoutError);
      await client.close();
    }
  } finally {
    await server.close();
  }
});

Deno.test("big Uint8Arrays round-trip through RPC (MsgPack), many in flight, each intact", async () => {
  const kept: Uint8Array[] = [];
  const service = {
    echo: expose((data: Uint8Array) => data),
    keep: expose((data: Uint8Array) => {
      kept.push(data);
      return data.length;
    }),
  };
  const server = await startServer(LOCAL, service, { codec: MsgPackCodec });
  const client = await openConnection(server.addr, { codec: MsgPackCodec });
  const sizes = [1 << 20, 1 << 20, 16 << 20, 300 << 10, 1 << 20, 64 << 10, 2 << 20, 1 << 20];
  const data = sizes.map((size, i) => new Uint8Array(size).map((_, j) => (j + 17 * i) & 0xff));
  const remote = client.remote as unknown as {
    echo(data: Uint8Array): Promise<Uint8Array>;
    keep(data: Uint8Array): Promise<number>;
  };
  const [echoed, lengths] = await Promise.all([
    Promise.all(data.map((bytes) => remote.echo(bytes))),
    Promise.all(data.map((bytes) => remote.keep(bytes))),
  ]);
  assert.deepEqual(lengths, sizes);
  for (let i = 0; i < sizes.length; i++) {
    assert.ok(equalBytes(echoed[i]!, data[i]!), `echo #${i} differs`);
    assert.ok(equalBytes(kept[i]!, data[i]!), `upload #${i} differs on the server`);
  }
  await client.close();
  await server.close();
});

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
