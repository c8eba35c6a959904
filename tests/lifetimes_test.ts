import assert from "node:assert/strict";
import {
  expose,
  openConnection,
  ref,
  RELEASE_PATH,
  type Remote,
  type RpcClient,
  startServer,
} from "@aiomas/aiomas/rpc";
import { AiomasError, CodecError, ConnectionError, Container } from "@aiomas/aiomas";
import { type CodecClass, MsgPackCodec } from "@aiomas/aiomas/codecs";
import { frame, readJsonFrame, writeAll } from "./helpers.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

class Progress {
  reports: number[] = [];
  @expose
  report(percent: number): number {
    this.reports.push(percent);
    return percent;
  }
}

class Session {
  @expose
  name(): string {
    return "session";
  }
}

class Worker {
  kept: Remote<Progress> | undefined;
  session = new Session();

  @expose
  async job(progress: Remote<Progress>): Promise<number> {
    using p = progress;
    return await p.report(100);
  }

  @expose
  keep(progress: Remote<Progress>): void {
    this.kept = progress;
  }

  @expose
  same(progress: Remote<Progress>): boolean {
    using p = progress;
    return p === this.kept;
  }

  @expose
  disposeKept(): void {
    this.kept![Symbol.dispose]();
  }

  @expose
  dispose(progress: Remote<Progress>): void {
    progress[Symbol.dispose]();
  }

  @expose
  async callKept(): Promise<number> {
    return await this.kept!.report(1);
  }

  held: Remote<Progress>[] = [];

  @expose
  hold(progress: Remote<Progress>): void {
    this.held.push(progress);
  }

  @expose
  disposeAll(): void {
    for (const progress of this.held.splice(0)) progress[Symbol.dispose]();
  }

  @expose
  echo(value: unknown): unknown {
    return value;
  }

  @expose
  openSession(): Session {
    // Not part of the service tree: lent under a connection-local name.
    return new Session();
  }

  @expose
  isSession(value: unknown): boolean {
    return value instanceof Session;
  }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(condition(), what);
}

async function withWorker(
  fn: (client: RpcClient<Worker>, worker: Worker) => Promise<void>,
  codec?: CodecClass,
) {
  const worker = new Worker();
  const server = await startServer(LOCAL, worker, { codec });
  const client = await openConnection<Worker>(server.addr, { codec });
  try {
    await fn(client, worker);
  } finally {
    await client.close();
    await server.close();
  }
}

Deno.test("a callback disposed by the peer (using) is released at its owner, in batches", async () => {
  await withWorker(async (client) => {
    const progress = Array.from({ length: 300 }, () => new Progress());
    const results = await Promise.all(progress.map((p) => client.remote.job(ref(p))));
    assert.ok(results.every((result) => result === 100));
    assert.ok(progress.every((p) => p.reports[0] === 100));
    await until(() => client.lentCount === 0, `still lent: ${client.lentCount}`);
  });
});

Deno.test("each arrival is its own proxy and lease; disposed proxies refuse calls", async () => {
  await withWorker(async (client, worker) => {
    const progress = new Progress();
    await client.remote.keep(ref(progress));
    // Lent again: another proxy, given back on its own (here by `using`).
    assert.equal(await client.remote.same(ref(progress)), false);
    await client.remote.dispose(ref(progress));
    // The kept proxy is unaffected by the others' disposal.
    assert.equal(await client.remote.callKept(), 1);
    assert.equal(client.lentCount, 1);
    await client.remote.disposeKept();
    await until(() => client.lentCount === 0, "released after the last proxy was disposed");
    await assert.rejects(client.remote.callKept(), /was disposed/);
    await assert.rejects(worker.kept!.report(2), AiomasError);
    // Lent again: a fresh, working proxy.
    await client.remote.keep(ref(progress));
    assert.equal(await client.remote.callKept(), 1);
    assert.deepEqual(progress.reports, [1, 1]);
  });
});

Deno.test("a reference passed back to its owner arrives as the original object", async () => {
  await withWorker(async (client) => {
    // The client's own object, lent and returned.
    const progress = new Progress();
    assert.equal(await client.remote.echo(ref(progress)), progress);
    // The server's object (lent under @n), passed back by the client.
    const session = await client.remote.openSession() as unknown as Remote<Session>;
    assert.equal(await session.name(), "session");
    assert.equal(await client.remote.isSession(session as never), true);
    // The server's root service, passed back: the server gets itself, and returns a reference.
    const root = await client.remote.echo(client.remote as never) as Remote<Worker>;
    assert.equal(String(root), "RemoteProxy('')");
    assert.equal(await root.echo(7), 7);
  });
});

Deno.test("a peer that never lends @-references never receives a release", async () => {
  // A Python-like peer: its references are service paths (`sub`), never `@<n>`.
  const listener = Deno.listen(LOCAL);
  const accepted = listener.accept();
  const client = await openConnection(listener.addr, { router: new Worker() });
  const conn = await accepted;
  const call = client.remote.getSub();
  assert.deepEqual(await readJsonFrame(conn), [0, 0, ["getSub", [], {}]]);
  await writeAll(conn, frame('[1, 0, {"__type__": [0, "sub"]}]'));
  const sub = await call as unknown as Remote<{ spam(): string }>;
  sub[Symbol.dispose]();
  const next = sub.spam();
  assert.deepEqual(await readJsonFrame(conn), [0, 1, ["sub/spam", [], {}]]);
  await writeAll(conn, frame('[1, 1, "spam"]'));
  assert.equal(await next, "spam");
  await client.close();
  // Nothing else was sent: no aiomas/release request.
  assert.equal(await readJsonFrame(conn), null);
  conn.close();
  listener.close();
});

Deno.test("a disposed proxy cannot be passed on", async () => {
  await withWorker(async (client) => {
    const session = await client.remote.openSession() as unknown as Remote<Session>;
    session[Symbol.dispose]();
    await assert.rejects(client.remote.echo(session as never), CodecError);
  });
});

Deno.test("100,000 calls that each lend a fresh callback leave the owner's heap within 10 MiB", async () => {
  const fixture = new URL("./fixtures/release_heap.ts", import.meta.url);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", fixture.pathname, "100000", "on"],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.equal(output.code, 0);
  const result = JSON.parse(new TextDecoder().decode(output.stdout));
  assert.equal(result.lent, 0, "every callback was given back");
  assert.ok(result.growthMiB < 10, `heap grew by ${result.growthMiB.toFixed(1)} MiB`);
});

/** A peer that reads everything and answers only the frames `answer` returns text for. */
function silentPeer(
  answer: (message: unknown[]) => string | undefined = () => undefined,
): { addr: Deno.NetAddr; close(): void } {
  const listener = Deno.listen(LOCAL);
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        for (let message; (message = await readJsonFrame(conn).catch(() => null)) !== null;) {
          const reply = answer(message as unknown[]);
          if (reply !== undefined) await writeAll(conn, frame(reply));
        }
      })();
    }
  })().catch(() => {});
  return {
    addr: listener.addr as Deno.NetAddr,
    close() {
      listener.close();
      for (const conn of conns) conn.close();
    },
  };
}

Deno.test("heartbeat on RPC connections: a silent server fails pending calls; a live one stays", async () => {
  const silent = silentPeer();
  const client = await openConnection(silent.addr, { heartbeat: 0.05 });
  await assert.rejects(client.remote.anything(), ConnectionError);
  silent.close();
  // Our RPC server answers the pings: an idle connection stays open.
  const server = await startServer(LOCAL, new Worker(), { heartbeat: 0.05 });
  const live = await openConnection<Worker>(server.addr, { heartbeat: 0.05 });
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(live.channel.isClosed, false);
  assert.equal(await live.remote.echo(1), 1);
  await live.close();
  await server.close();
});

Deno.test("Container.create({ heartbeat }): a container that stops answering fails pending calls", async () => {
  // Answers validate_aid, then nothing (a host that vanished without a reset).
  const silent = silentPeer((message) =>
    (message[2] as unknown[])[0] === "validate_aid" ? `[1, ${message[1]}, "Callee"]` : undefined
  );
  const container = await Container.create(LOCAL, { heartbeat: 0.05 });
  try {
    const proxy = await container.connect(`tcp://127.0.0.1:${silent.addr.port}/0`);
    await assert.rejects(proxy.spam(1), ConnectionError);
  } finally {
    silent.close();
    await container.shutdown();
  }
});

Deno.test("releases travel in batches: 300 proxies disposed together are one request", async () => {
  const worker = new Worker();
  const server = await startServer(LOCAL, worker);
  const released: unknown[][] = [];
  const client = await openConnection<Worker>(server.addr, {
    setup(channel) {
      // Watch what the owner receives.
      const codec = channel.codec;
      const decode = codec.decode.bind(codec);
      codec.decode = (bytes) => {
        const message = decode(bytes) as [number, number, unknown[]];
        if (message[0] === 0 && message[2]?.[0] === RELEASE_PATH) released.push(message[2]);
        return message;
      };
    },
  });
  try {
    const progress = Array.from({ length: 300 }, () => new Progress());
    await Promise.all(progress.map((p) => client.remote.hold(ref(p))));
    assert.equal(client.lentCount, 300);
    await client.remote.disposeAll();
    await until(() => client.lentCount === 0, `still lent: ${client.lentCount}`);
    assert.equal(released.length, 1);
    const [names, counts] = released[0][1] as [string[], number[]];
    assert.equal(new Set(names).size, 300);
    assert.ok(names.every((name) => /^@\d+$/.test(name)));
    assert.ok(counts.every((count) => count === 1));
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("on the wire: a name sent twice needs both arrivals given back (release counts)", async () => {
  const listener = Deno.listen(LOCAL);
  const accepted = listener.accept();
  const client = await openConnection(listener.addr);
  const conn = await accepted;
  try {
    const progress = new Progress();
    const first = client.remote.take(ref(progress));
    const second = client.remote.take(ref(progress));
    assert.deepEqual(await readJsonFrame(conn), [0, 0, ["take", [{ __type__: [0, "@0"] }], {}]]);
    assert.deepEqual(await readJsonFrame(conn), [0, 1, ["take", [{ __type__: [0, "@0"] }], {}]]);
    await writeAll(conn, frame("[1, 0, null]"));
    await writeAll(conn, frame("[1, 1, null]"));
    await Promise.all([first, second]);
    // The peer gives back one arrival: the object stays lent and callable.
    await writeAll(conn, frame('[0, 0, ["aiomas/release", [["@0"], [1]], {}]]'));
    assert.deepEqual(await readJsonFrame(conn), [1, 0, null]);
    assert.equal(client.lentCount, 1);
    await writeAll(conn, frame('[0, 1, ["@0/report", [5], {}]]'));
    assert.deepEqual(await readJsonFrame(conn), [1, 1, 5]);
    // The second arrival given back: the object is forgotten.
    await writeAll(conn, frame('[0, 2, ["aiomas/release", [["@0"], [1]], {}]]'));
    assert.deepEqual(await readJsonFrame(conn), [1, 2, null]);
    assert.equal(client.lentCount, 0);
    await writeAll(conn, frame('[0, 3, ["@0/report", [6], {}]]'));
    const [type, id, text] = await readJsonFrame(conn) as [number, number, string];
    assert.deepEqual([type, id], [2, 3]);
    assert.match(text, /not lent on this connection/);
    assert.deepEqual(progress.reports, [5]);
  } finally {
    await client.close();
    conn.close();
    listener.close();
  }
});

Deno.test("a lender that answers a release with an EXCEPTION (an older peer) gets no more", async () => {
  const listener = Deno.listen(LOCAL);
  const accepted = listener.accept();
  const client = await openConnection(listener.addr);
  const conn = await accepted;
  try {
    const lend = async (id: number, name: string) => {
      const call = client.remote.lend();
      assert.deepEqual(await readJsonFrame(conn), [0, id, ["lend", [], {}]]);
      await writeAll(conn, frame(`[1, ${id}, {"__type__": [0, "${name}"]}]`));
      return await call as unknown as Remote<Progress>;
    };
    (await lend(0, "@0"))[Symbol.dispose]();
    assert.deepEqual(await readJsonFrame(conn), [0, 1, ["aiomas/release", [["@0"], [1]], {}]]);
    await writeAll(conn, frame('[2, 1, "LookupError: Name \\"aiomas\\" not found"]'));
    // Later disposals stay silent: the next frame is the next call, not a release.
    const second = await lend(2, "@1");
    second[Symbol.dispose]();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const call = client.remote.ping();
    assert.deepEqual(await readJsonFrame(conn), [0, 3, ["ping", [], {}]]);
    await writeAll(conn, frame("[1, 3, null]"));
    await call;
  } finally {
    await client.close();
    conn.close();
    listener.close();
  }
});

// MsgPack encodes straight into the channel's output: the same must hold there.
for (const codec of [undefined, MsgPackCodec]) {
  Deno.test(`a message that fails to encode lends nothing (${codec?.name ?? "JSON"})`, async () => {
    class Opaque {
      x = 1;
    }
    await withWorker(async (client) => {
      const progress = new Progress();
      await assert.rejects(
        client.remote.echo([ref(progress), new Opaque()] as never),
        CodecError,
      );
      assert.equal(client.lentCount, 0);
      // Lent before and sent again in a failing message: the count goes back, the object stays.
      await client.remote.keep(ref(progress));
      await assert.rejects(client.remote.echo([ref(progress), new Opaque()] as never), CodecError);
      assert.equal(client.lentCount, 1);
      assert.equal(await client.remote.callKept(), 1);
    }, codec);
  });
}

Deno.test("MsgPack: a reference in a message too big for an output batch is lent once", async () => {
  await withWorker(async (client) => {
    const progress = new Progress();
    // Too big to encode straight into a batch buffer: encoded again another way.
    const text = "x".repeat(40_000);
    assert.equal(await client.remote.job(ref(progress), text as never), 100);
    await until(() => client.lentCount === 0, `still lent: ${client.lentCount}`);
    await client.remote.keep(ref(progress), text as never);
    assert.equal(client.lentCount, 1);
    await client.remote.disposeKept();
    await until(() => client.lentCount === 0, `still lent: ${client.lentCount}`);
  }, MsgPackCodec);
});
