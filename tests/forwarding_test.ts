import assert from "node:assert/strict";
import { Agent, ConnectionError, Container, expose } from "@aiomas/aiomas";
import { dateSerializer } from "@aiomas/aiomas/agent";
import { openConnection, type Remote, startServer } from "@aiomas/aiomas/rpc";
import { frame, readJsonFrame, writeAll } from "./helpers.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

class Callee extends Agent {
  calls = 0;
  @expose
  spam(times: number): string {
    this.calls++;
    return "spam".repeat(times);
  }

  @expose
  hang(): Promise<never> {
    return new Promise(() => {});
  }
}

class Relay extends Agent {
  peer: Remote<Callee> | undefined;

  @expose
  async callIt(callee: Remote<Callee>): Promise<[string, string]> {
    this.peer = callee;
    return [String(callee), await callee.spam(2)];
  }

  @expose
  getPeer(): Remote<Callee> {
    return this.peer!;
  }
}

function port(container: Container): number {
  return Number(new URL(container.addr).port);
}

Deno.test("an agent proxy passed on travels as its address; the receiver connects itself", async () => {
  const [a, b, c] = await Promise.all([1, 2, 3].map(() => Container.create(LOCAL)));
  try {
    const callee = new Callee(b);
    const relay = new Relay(c);
    const calleeProxy = await a.connect<Callee>(callee.addr);
    const relayProxy = await a.connect<Relay>(relay.addr);
    const [label, result] = await relayProxy.callIt(calleeProxy);
    assert.equal(result, "spamspam");
    assert.equal(label, `AgentProxy('${callee.addr}')`);
    // C called B over its own connection: B serves A and C.
    assert.equal(b.connectionCount, 2);
    // Returned: A gets a proxy to the address, over its existing connection to B.
    const returned = await relayProxy.getPeer() as unknown as Remote<Callee>;
    assert.equal(String(returned), `AgentProxy('${callee.addr}')`);
    assert.equal(await returned.spam(1), "spam");
    assert.equal(a.connectionCount, 2);
    assert.equal(callee.calls, 2);
  } finally {
    await Promise.all([a, b, c].map((container) => container.shutdown()));
  }
});

Deno.test("a peer that cannot connect (Python, plain RPC) calls a passed agent through the sender", async () => {
  const [b, c] = await Promise.all([1, 2].map(() => Container.create(LOCAL)));
  try {
    const callee = new Callee(b);
    const relay = new Relay(c);
    await (await c.connect<Relay>(relay.addr)).callIt(await c.connect<Callee>(callee.addr));
    // On the wire: the reference tag (id 1 in a container) with the agent address as its data.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: port(c) });
    await writeAll(conn, frame(`[0, 0, ["agents/${relay.aid}/getPeer", [], {}]]`));
    assert.deepEqual(await readJsonFrame(conn), [1, 0, { __type__: [1, callee.addr] }]);
    // What Python aiomas does with it: calls the path back on the sender, which forwards.
    await writeAll(conn, frame(`[0, 1, ["${callee.addr}/spam", [3], {}]]`));
    assert.deepEqual(await readJsonFrame(conn), [1, 1, "spamspamspam"]);
    // Addresses it never passed are not forwarded.
    await writeAll(conn, frame('[0, 2, ["tcp://127.0.0.1:1/0/spam", [3], {}]]'));
    const [type, id, text] = await readJsonFrame(conn) as [number, number, string];
    assert.deepEqual([type, id], [2, 2]);
    assert.match(text, /not lent on this connection/);
    conn.close();
    // A plain RPC client gets a proxy that calls through the container that sent it.
    const client = await openConnection(c.addr, { extraSerializers: [dateSerializer] });
    const peer = await client.remote.agents[relay.aid].getPeer() as unknown as Remote<Callee>;
    assert.equal(await peer.spam(1), "spam");
    await client.close();
  } finally {
    await Promise.all([b, c].map((container) => container.shutdown()));
  }
});

class Session {
  @expose
  name(): string {
    return "session";
  }
}

Deno.test("a plain-RPC reference handed to a third party is forwarded by the side that holds it", async () => {
  const owner = await startServer(LOCAL, { openSession: expose(() => new Session()) });
  const user = await startServer(LOCAL, {
    useIt: expose(async (session: Remote<Session>) => await session.name()),
  });
  const toOwner = await openConnection(owner.addr);
  const toUser = await openConnection(user.addr);
  try {
    const session = await toOwner.remote.openSession() as unknown as Remote<Session>;
    assert.equal(await toUser.remote.useIt(session as never), "session");
    // The forwarded proxy is lent like an object: released when the user's proxy goes.
    assert.equal(toUser.lentCount, 1);
  } finally {
    await Promise.all([toOwner.close(), toUser.close()]);
    await Promise.all([owner.close(), user.close()]);
  }
});

Deno.test("a proxy is bound to an address: after a restart at the same address it works again", async () => {
  const a = await Container.create(LOCAL);
  let b = await Container.create(LOCAL);
  const address = { hostname: "127.0.0.1", port: port(b) };
  const callee = new Callee(b);
  try {
    const proxy = await a.connect<Callee>(callee.addr);
    assert.equal(await proxy.spam(1), "spam");
    const pending = proxy.hang();
    await b.shutdown();
    // The call in flight rejects; it is never sent again.
    await assert.rejects(pending, ConnectionError);
    await assert.rejects(proxy.spam(1), ConnectionError);
    b = await Container.create(address);
    const restarted = new Callee(b);
    let result: string | undefined;
    for (let attempt = 0; attempt < 100 && result === undefined; attempt++) {
      result = await proxy.spam(2).catch((error) => {
        assert.ok(error instanceof ConnectionError, String(error));
        return new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 50));
      });
    }
    assert.equal(result, "spamspam");
    assert.equal(restarted.calls, 1, "only the call made after the restart arrived");
  } finally {
    await a.shutdown();
    await b.shutdown();
  }
});

Deno.test("on the wire: a peer's own reference passed back is ^<path>; its calls are forwarded back", async () => {
  // A Python-like peer: it lends its service path "sub" and does not know "^" references.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const client = await openConnection(listener.addr);
  const conn = await accepted;
  try {
    const getSub = client.remote.getSub();
    assert.deepEqual(await readJsonFrame(conn), [0, 0, ["getSub", [], {}]]);
    await writeAll(conn, frame('[1, 0, {"__type__": [0, "sub"]}]'));
    const sub = await getSub;
    // Passed back to its owner: the data says "yours, at sub".
    const use = client.remote.use(sub);
    assert.deepEqual(await readJsonFrame(conn), [0, 1, ["use", [{ __type__: [0, "^sub"] }], {}]]);
    // The peer calls what it got (a reference to us at "^sub"); we forward to the peer's "sub".
    await writeAll(conn, frame('[0, 0, ["^sub/spam", [2], {}]]'));
    assert.deepEqual(await readJsonFrame(conn), [0, 2, ["sub/spam", [2], {}]]);
    await writeAll(conn, frame('[1, 2, "spamspam"]'));
    assert.deepEqual(await readJsonFrame(conn), [1, 0, "spamspam"]);
    await writeAll(conn, frame("[1, 1, null]"));
    await use;
  } finally {
    await client.close();
    conn.close();
    listener.close();
  }
});

class Holder extends Agent {
  @expose
  sub = new (class {
    @expose
    name(): string {
      return "sub of holder";
    }
  })();
}

class Asker extends Agent {
  @expose
  async ask(sub: Remote<{ name(): string }>): Promise<[string, string]> {
    return [String(sub), await sub.name()];
  }
}

Deno.test("a member of an agent proxy travels as the agent address plus its path", async () => {
  const [a, b, c] = await Promise.all([1, 2, 3].map(() => Container.create(LOCAL)));
  try {
    const holder = new Holder(b);
    const asker = new Asker(c);
    const holderProxy = await a.connect<Holder>(holder.addr);
    const askerProxy = await a.connect<Asker>(asker.addr);
    const [label, name] = await askerProxy.ask(holderProxy.sub);
    assert.equal(label, `AgentProxy('${holder.addr}/sub')`);
    assert.equal(name, "sub of holder");
  } finally {
    await Promise.all([a, b, c].map((container) => container.shutdown()));
  }
});
