import assert from "node:assert/strict";
import { remoteMember } from "@aiomas/aiomas/rpc";
import { spawnWorkerContainer } from "@aiomas/aiomas/agent";
import {
  AddressError,
  Agent,
  type Channel,
  ConnectionError,
  Container,
  expose,
  ExternalClock,
  type Remote,
  RemoteException,
  TimeoutError,
} from "@aiomas/aiomas";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

class Callee extends Agent {
  calls = 0;

  @expose
  spam(times: number): string {
    this.calls++;
    return "spam".repeat(times);
  }

  @expose
  mutate(list: number[]): number[] {
    list.push(99);
    return list;
  }

  @expose
  fail(): never {
    throw new Error("callee failed");
  }

  @expose
  hang(): Promise<never> {
    return new Promise(() => {});
  }

  @expose
  nextDay(date: Date): Date {
    assert.ok(date instanceof Date);
    return new Date(date.getTime() + 24 * 3600 * 1000);
  }

  @expose
  async callBack(other: Remote<Pinger>): Promise<string> {
    return await other.pong("from callee");
  }

  @expose
  whoAmI(): string {
    return this.addr;
  }
}

class Pinger extends Agent {
  @expose
  pong(text: string): string {
    return `pong(${text}) from ${this.aid}`;
  }
}

class Caller extends Agent {
  async run(calleeAddr: string): Promise<string> {
    const callee = await this.container.connect<Callee>(calleeAddr);
    return await callee.spam(3);
  }
}

Deno.test("the guide's Caller/Callee, in one container and across two", async () => {
  const a = await Container.create(LOCAL);
  const b = await Container.create(LOCAL);
  const callee = new Callee(b);
  const localCallee = new Callee(a);
  const caller = new Caller(a);
  assert.equal(callee.addr, `${b.addr}0`);
  assert.equal(localCallee.addr, `${a.addr}0`);
  assert.equal(caller.addr, `${a.addr}1`);
  assert.match(a.addr, /^tcp:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal(await caller.run(callee.addr), "spamspamspam");
  assert.equal(await caller.run(localCallee.addr), "spamspamspam");
  assert.equal(callee.calls, 1);
  assert.equal(localCallee.calls, 1);
  await a.shutdown();
  await b.shutdown();
});

Deno.test("ids count from 0; names; validateAid; wildcard binds advertise the host name", async () => {
  const container = await Container.create({ hostname: "0.0.0.0", port: 0 });
  assert.match(container.addr, new RegExp(`^tcp://${Deno.hostname()}:\\d+/$`));
  const first = new Callee(container);
  const named = new Pinger(container, "pinger");
  const second = new Pinger(container);
  assert.deepEqual([first.aid, named.aid, second.aid], ["0", "pinger", "1"]);
  assert.equal(container.validateAid("0"), "Callee");
  assert.equal(container.validateAid("pinger"), "Pinger");
  assert.equal(container.validateAid("7"), null);
  assert.throws(() => new Pinger(container, "pinger"), /duplicate agent name/);
  assert.throws(() => new Pinger(container, "a/b"), /Invalid/);
  assert.equal(String(first), `Callee('${container.addr}0')`);
  await container.shutdown();
});

Deno.test("one connection per pair of containers, even for concurrent first connects", async () => {
  const a = await Container.create(LOCAL);
  const b = await Container.create(LOCAL);
  const callees = Array.from({ length: 10 }, () => new Callee(b));
  const proxies = await Promise.all(
    callees.map((callee) => a.connect<Callee>(callee.addr)),
  );
  const results = await Promise.all(proxies.map((proxy, i) => proxy.spam(i)));
  assert.deepEqual(results, callees.map((_, i) => "spam".repeat(i)));
  assert.equal(a.connectionCount, 1);
  assert.equal(b.connectionCount, 1);
  await a.shutdown();
  await b.shutdown();
});

Deno.test("onConnection sees each socket connection opened or accepted, not the in-memory one", async () => {
  const events: string[] = [];
  const watch = (name: string) => (channel: Channel) => {
    events.push(`${name} opened`);
    channel.closed.then(() => events.push(`${name} closed`));
  };
  const a = await Container.create(LOCAL, { onConnection: watch("a") });
  const b = await Container.create(LOCAL, { onConnection: watch("b") });
  const remote = new Callee(b);
  const local = new Callee(a);
  assert.equal(await (await a.connect<Callee>(remote.addr)).spam(1), "spam");
  assert.equal(await (await a.connect<Callee>(local.addr)).spam(1), "spam");
  assert.deepEqual(events.sort(), ["a opened", "b opened"]);
  await a.shutdown();
  await b.shutdown();
  assert.deepEqual(events.sort(), ["a closed", "a opened", "b closed", "b opened"]);
});

Deno.test("either side calls the other's agents over the shared connection", async () => {
  const a = await Container.create(LOCAL);
  const b = await Container.create(LOCAL);
  const callee = new Callee(b);
  const pinger = new Pinger(a);
  const proxy = await a.connect<Callee>(callee.addr);
  // Passing an agent sends a reference "agents/<id>"; B calls back over the same socket.
  assert.equal(await proxy.callBack(pinger as never), "pong(from callee) from 0");
  assert.equal(a.connectionCount, 1);
  assert.equal(b.connectionCount, 1);
  await a.shutdown();
  await b.shutdown();
});

Deno.test("same-container calls keep RPC semantics: copies and RemoteException", async () => {
  const container = await Container.create(LOCAL);
  const callee = new Callee(container);
  const proxy = await container.connect<Callee>(callee.addr);
  const list = [1, 2];
  const result = await proxy.mutate(list);
  assert.deepEqual(list, [1, 2], "the argument was not copied");
  assert.deepEqual(result, [1, 2, 99]);
  const error = await proxy.fail().catch((e) => e) as RemoteException;
  assert.ok(error instanceof RemoteException);
  assert.equal(error.remoteMessage, "callee failed");
  assert.equal(container.connectionCount, 0, "a local call opened a socket");
  await container.shutdown();
});

Deno.test("dates travel as dates between containers", async () => {
  const a = await Container.create(LOCAL);
  const b = await Container.create(LOCAL);
  const proxy = await a.connect<Callee>(new Callee(b).addr);
  const next = await proxy.nextDay(new Date("2010-03-27T00:00:00Z"));
  assert.ok(next instanceof Date);
  assert.equal(next.toISOString(), "2010-03-28T00:00:00.000Z");
  await a.shutdown();
  await b.shutdown();
});

Deno.test("a missing agent, a non-exposed method and hostile paths; the container keeps serving", async () => {
  const a = await Container.create(LOCAL);
  const b = await Container.create(LOCAL);
  const callee = new Callee(b);
  await assert.rejects(
    a.connect(`${b.addr}42`),
    (error: Error) => error instanceof ConnectionError && error.message.includes('"42"'),
  );
  const proxy = await a.connect(callee.addr);
  for (
    const name of ["run", "constructor", "__proto__", "container", "addr", "calls", "toString"]
  ) {
    // The proxy itself does not answer probed names; remoteMember() sends them anyway.
    const error = await remoteMember(proxy, name)().catch((e: unknown) => e) as RemoteException;
    assert.ok(error instanceof RemoteException, name);
    assert.equal(error.remoteType, "LookupError", name);
    assert.ok(error.remoteMessage.includes(name), error.message);
  }
  const root = await a.connect(callee.addr).then(() => proxy);
  assert.equal(await root.spam(1), "spam");
  assert.equal(await (await a.connect<Callee>(callee.addr)).spam(2), "spamspam");
  await a.shutdown();
  await b.shutdown();
});

Deno.test("connect to a dead address: ConnectionError naming it", async () => {
  const container = await Container.create(LOCAL);
  const listener = Deno.listen(LOCAL);
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(
    container.connect(`tcp://127.0.0.1:${port}/0`),
    (error: Error) => error instanceof ConnectionError && error.message.includes(`:${port}`),
  );
  await container.shutdown();
});

Deno.test("connect retries a refused connection until its timeout", async () => {
  const listener = Deno.listen(LOCAL);
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const a = await Container.create(LOCAL);
  // The container binds before `new Callee(b)` runs: the retry also covers an unknown id.
  const connecting = a.connect<Callee>(`tcp://127.0.0.1:${port}/0`, { connectRetry: 30 });
  await new Promise((resolve) => setTimeout(resolve, 150));
  const b = await Container.create({ hostname: "127.0.0.1", port });
  new Callee(b);
  const proxy = await connecting;
  assert.equal(await proxy.spam(1), "spam");
  await a.shutdown();
  await b.shutdown();
});

Deno.test("shutdown rejects pending calls on both sides with ConnectionError", async () => {
  const a = await Container.create(LOCAL);
  const b = await Container.create(LOCAL);
  const remote = await a.connect<Callee>(new Callee(b).addr);
  const local = await a.connect<Callee>(new Callee(a).addr);
  const pending = [remote.hang(), remote.hang(), local.hang()].map((p) => p.catch((e) => e));
  await new Promise((resolve) => setTimeout(resolve, 20));
  await b.shutdown();
  const [first, second] = await Promise.all(pending.slice(0, 2));
  assert.ok(first instanceof ConnectionError && second instanceof ConnectionError);
  await a.shutdown();
  assert.ok((await pending[2]) instanceof ConnectionError);
  await assert.rejects(a.connect(`${b.addr}0`), ConnectionError);
});

Deno.test("an agent's run() finishes only when a driver advances the ExternalClock", async () => {
  const clock = new ExternalClock("2016-01-01T00:00:00+00:00");
  const container = await Container.create(LOCAL, { clock });
  class Sleeper extends Agent {
    async run(): Promise<string> {
      await this.container.clock.sleep(10);
      return this.container.clock.utcnow().toISOString();
    }
  }
  let finished = false;
  const running = new Sleeper(container).run().then((value) => {
    finished = true;
    return value;
  });
  for (let t = 1; t <= 10; t++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    assert.equal(finished, t > 10);
    clock.setTime(t);
  }
  assert.equal(await running, "2016-01-01T00:00:10.000Z");
  await container.shutdown();
});

Deno.test("Unix socket containers use ipc:// addresses", async () => {
  const dir = await Deno.makeTempDir();
  const b = await Container.create({ path: `${dir}/b.sock` });
  const a = await Container.create(LOCAL);
  assert.equal(b.addr, `ipc://[${dir}/b.sock]/`);
  const callee = new Callee(b);
  assert.equal(callee.addr, `ipc://[${dir}/b.sock]/0`);
  const proxy = await a.connect<Callee>(callee.addr);
  assert.equal(await proxy.whoAmI(), callee.addr);
  await a.shutdown();
  await b.shutdown();
  await Deno.remove(dir, { recursive: true });
});

/** A TCP port nobody listens on. */
function deadPort(): number {
  const listener = Deno.listen(LOCAL);
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("connect gives up only once its whole retry window has passed (issue 19.5)", async () => {
  const a = await Container.create(LOCAL);
  try {
    const port = deadPort();
    // Both names of the window: connectRetry and the deprecated timeout.
    const attempts = [{ connectRetry: 1 }, { timeout: 1 }].map(async (options) => {
      const start = performance.now();
      await assert.rejects(a.connect(`tcp://127.0.0.1:${port}/0`, options), ConnectionError);
      return performance.now() - start;
    });
    for (const elapsed of await Promise.all(attempts)) {
      // Before the fix it gave up after 0.64 s (the next pause would have overshot the window).
      assert.ok(elapsed >= 1000, `gave up after ${elapsed.toFixed(0)} ms of a 1 s window`);
    }
  } finally {
    await a.shutdown();
  }
});

Deno.test("connect waits within its window for an agent id the container does not know yet", async () => {
  const a = await Container.create(LOCAL);
  const b = await Container.create(LOCAL);
  try {
    const connecting = a.connect<Callee>(`${b.addr}0`, { connectRetry: 30 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    new Callee(b);
    assert.equal(await (await connecting).spam(2), "spamspam");
    // Without a window, an unknown id is refused at once; with one, once the window is over.
    await assert.rejects(a.connect(`${b.addr}7`), /No agent "7"/);
    await assert.rejects(a.connect(`${b.addr}7`, { connectRetry: 0.2 }), /No agent "7"/);
  } finally {
    await a.shutdown();
    await b.shutdown();
  }
});

Deno.test("callTimeout (and the deprecated timeout) is the default call deadline", async () => {
  for (const options of [{ callTimeout: 0.05 }, { timeout: 0.05 }]) {
    const a = await Container.create(LOCAL, options);
    const b = await Container.create(LOCAL);
    try {
      const callee = await a.connect<Callee>(new Callee(b).addr);
      await assert.rejects(callee.hang(), TimeoutError);
      assert.equal(await callee.spam(1), "spam");
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  }
});

Deno.test("spawn*: startTimeout (and the deprecated timeout) bounds the start-up wait", async () => {
  const master = await Container.create(LOCAL);
  try {
    for (const options of [{ startTimeout: 0.001 }, { timeout: 0.001 }]) {
      await assert.rejects(
        spawnWorkerContainer(master, "tcp://127.0.0.1:0", options),
        /Starting a worker container did not happen within 0\.001 s/,
      );
    }
  } finally {
    await master.shutdown();
  }
});

Deno.test("address errors name the address and say what to do (issue 19.7)", async () => {
  const isAddressError = (pattern: RegExp) => (error: Error) => {
    assert.ok(error instanceof AddressError, `${error.name}: ${error.message}`);
    assert.match(error.message, pattern);
    return true;
  };
  const busy = Deno.listen(LOCAL);
  const port = (busy.addr as Deno.NetAddr).port;
  const a = await Container.create(LOCAL);
  try {
    await assert.rejects(
      Container.create("unix:///nonexistent/dir/sock"),
      isAddressError(/\/nonexistent\/dir\/sock.*directory "\/nonexistent\/dir" does not exist/),
    );
    await assert.rejects(
      Container.create(`tcp://127.0.0.1:${port}`),
      isAddressError(new RegExp(`127\\.0\\.0\\.1:${port}: the address is in use.*port 0`)),
    );
    await assert.rejects(
      Container.create("tcp://256.1.1.1:0"),
      isAddressError(/tcp:\/\/256\.1\.1\.1:0: the host "256\.1\.1\.1" does not resolve/),
    );
    await assert.rejects(
      Container.create(undefined as unknown as string),
      isAddressError(/needs the address to listen on.*got undefined/),
    );
    await assert.rejects(
      Container.create("tcp://127.0.0.1:0/5"),
      isAddressError(/"tcp:\/\/127\.0\.0\.1:0\/5" is an agent address.*"tcp:\/\/127\.0\.0\.1:0"/),
    );
    await assert.rejects(
      a.connect("tcp://127.0.0.1:46729"),
      isAddressError(
        /"tcp:\/\/127\.0\.0\.1:46729" has no agent id.*"tcp:\/\/127\.0\.0\.1:46729\/0"/,
      ),
    );
    await assert.rejects(a.connect("tcp://127.0.0.1:46729/"), isAddressError(/has no agent id/));
  } finally {
    busy.close();
    await a.shutdown();
  }
});

Deno.test("call deadlines run on real time even with an ExternalClock (documented)", async () => {
  const clock = new ExternalClock("2016-01-01T00:00:00Z");
  const a = await Container.create(LOCAL, { clock, callTimeout: 0.05 });
  const b = await Container.create(LOCAL);
  try {
    const callee = await a.connect<Callee>(new Callee(b).addr);
    // The external clock never moves, yet the deadline passes.
    await assert.rejects(callee.hang(), TimeoutError);
    assert.equal(clock.time(), 0);
  } finally {
    await a.shutdown();
    await b.shutdown();
  }
});
