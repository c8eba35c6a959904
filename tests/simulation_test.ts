/**
 * Simulation: stepping containers on ExternalClocks to quiescence, with
 * worker containers, local Containers and local Managers as members.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type ContainerHandle,
  createManagedContainer,
  type Manager,
  Simulation,
  SimulationTimeoutError,
  spawnWorkerContainer,
} from "../agent/mod.ts";
import { Container, ExternalClock } from "../mod.ts";
import type { Barrier, Collector, Relay, Reporter, Walker } from "./fixtures/sim_agents.ts";

const TCP = "tcp://127.0.0.1:0";
const START = "2016-01-01T00:00:00Z";
const AGENTS = new URL("./fixtures/sim_agents.ts", import.meta.url).href;

function external(): { clock: ExternalClock } {
  return { clock: new ExternalClock(START) };
}

/**
 * A TCP forwarder to `target` that holds every chunk for `ms` milliseconds, so
 * that messages are in flight for longer than a turn of the event loop.
 */
function slowLink(target: string, ms: number): { addr: string; close(): void } {
  const port = Number(new URL(target.replace(/^tcp:/, "http:")).port);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    const buffer = new Uint8Array(65536);
    try {
      for (let n; (n = await from.read(buffer)) !== null;) {
        const chunk = buffer.slice(0, n);
        await new Promise((resolve) => setTimeout(resolve, ms));
        await to.write(chunk);
      }
    } catch { /* closed */ }
    try {
      to.close();
    } catch { /* already closed */ }
  };
  (async () => {
    for await (const conn of listener) {
      const upstream = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(conn, upstream);
      pipe(conn, upstream);
      pipe(upstream, conn);
    }
  })().catch(() => {});
  return {
    addr: `tcp://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`,
    close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    },
  };
}

async function workers(master: Container, count: number): Promise<ContainerHandle[]> {
  return await Promise.all(
    Array.from(
      { length: count },
      () => spawnWorkerContainer(master, TCP, { clock: { external: START } }),
    ),
  );
}

Deno.test("Simulation: a chain of calls A -> B -> C across workers, each sleeping first", async () => {
  const master = await Container.create(TCP, external());
  const children = await workers(master, 3);
  const links: { close(): void }[] = [];
  try {
    const relays: Relay[] = [];
    const addrs: string[] = [];
    for (const child of children) {
      const [relay, addr] = await child.manager.spawn<Relay>(`${AGENTS}#Relay`);
      relays.push(relay as unknown as Relay);
      // Reach the relay over a link that holds every message for 30 ms.
      const link = slowLink(child.addr, 30);
      links.push(link);
      addrs.push(link.addr + addr.slice(child.addr.length));
    }
    // The master calls A; A sleeps 10, then calls B (a request in flight between
    // workers), which sleeps 10 and calls C, which sleeps 10.
    const chain = relays[0].chain(addrs.slice(1), 10);
    const sim = new Simulation([master, ...children.map((child) => child.manager)]);
    assert.equal(await sim.step(), 20); // at 10, A woke and called B, which sleeps until 20
    assert.equal(sim.time, 10);
    assert.equal(await sim.step(), 30);
    assert.equal(await sim.step(), null);
    assert.equal(sim.time, 30);
    assert.deepEqual(await chain, [10, 20, 30]);
    assert.equal(await sim.step(), null); // nothing left: nothing set
    assert.equal(sim.time, 30);
  } finally {
    for (const link of links) link.close();
    await Promise.all(children.map((child) => child.close()));
    await master.shutdown();
  }
});

Deno.test("Simulation: local Containers and local Managers mixed, run(until)", async () => {
  const a = await Container.create(TCP, external());
  const b = await createManagedContainer(TCP, { clock: { external: START } });
  const c = await createManagedContainer("local://sim-c", { clock: { external: START } });
  try {
    const [, bAddr] = await b.spawn(`${AGENTS}#Relay`);
    const [, cAddr] = await c.spawn(`${AGENTS}#Relay`);
    const proxy = await a.connect<Relay>(bAddr);
    // b sleeps 5 and calls c (in-process transport), c sleeps 5 and calls b again.
    const chain = proxy.chain([cAddr, bAddr], 5);
    const sim = new Simulation([a, b, c]);
    assert.equal(await sim.run(12), 10);
    assert.equal(a.clock.time(), 10);
    assert.equal(await sim.run(100), 15);
    assert.deepEqual(await chain, [5, 10, 15]);
    assert.equal(await sim.run(1000), 15); // no events left
  } finally {
    b.stop();
    c.stop();
    await Promise.all([b.stopped, c.stopped, a.shutdown()]);
  }
});

Deno.test("Simulation: an agent that reports done before it schedules its next sleep is woken on time", async () => {
  const master = await Container.create(TCP, external());
  const children = await workers(master, 2);
  try {
    const [collector, collectorAddr] = await children[0].manager.spawn<Collector>(
      `${AGENTS}#Collector`,
    );
    for (const child of children) {
      for (let i = 0; i < 3; i++) {
        const [reporter] = await child.manager.spawn<Reporter>(`${AGENTS}#Reporter`);
        await reporter!.start(collectorAddr, 60, 5);
      }
    }
    const sim = new Simulation([master, ...children.map((child) => child.manager)]);
    assert.equal(await sim.run(3600), 300);
    const reports = await collector!.all();
    assert.equal(reports.length, 30);
    // Every report came at a multiple of 60: no reporter was woken late.
    const times = reports.map(([, time]) => time).sort((x, y) => x - y);
    assert.deepEqual(times, [60, 120, 180, 240, 300].flatMap((t) => Array(6).fill(t)));
  } finally {
    await Promise.all(children.map((child) => child.close()));
    await master.shutdown();
  }
});

Deno.test("Simulation: a handler that never finishes makes the step fail with a diagnostic", async () => {
  const master = await Container.create(TCP, external());
  const child = await createManagedContainer(TCP, { clock: { external: START } });
  try {
    const [, relayAddr] = await child.spawn(`${AGENTS}#Relay`);
    const relay = await master.connect<Relay>(relayAddr);
    const hanging = relay.hang();
    const napping = relay.chain([], 50);
    const sim = new Simulation([master, child], { timeout: 0.3 });
    const error = await sim.step(10).then(() => undefined, (error) => error);
    assert.ok(error instanceof SimulationTimeoutError, String(error));
    assert.equal(error.time, 10);
    assert.match(error.message, /within 0\.3 s/);
    assert.match(error.message, /1 handler\(s\) running: agents\/1\/hang/);
    assert.match(error.message, /handler\(s\) sleeping: agents\/1\/chain until 50/);
    assert.match(error.message, /2 call\(s\) waiting for a reply: agents\/1\/hang/);
    const report = error.members.find((member) => member.addr === child.container.addr);
    assert.ok(report !== undefined && !("error" in report));
    assert.deepEqual(
      report.handlers.map((handler) => [handler.path, handler.state, handler.wake]),
      [["agents/1/hang", "running", undefined], ["agents/1/chain", "sleeping", 50]],
    );
    assert.deepEqual(report.sleepers, [[50, 1]]);
    assert.match(error.message, /1 timer\(s\) and sleeper\(s\) pending at 50/);
    void hanging.catch(() => {});
    void napping.catch(() => {});
  } finally {
    child.stop();
    await Promise.all([child.stopped, master.shutdown()]);
  }
});

Deno.test("Simulation: the same seeds give the same results, with calls between workers", async () => {
  async function once(): Promise<number[]> {
    const master = await Container.create(TCP, external());
    const children = await workers(master, 2);
    try {
      const walkers: Walker[] = [];
      const addrs: string[] = [];
      for (let i = 0; i < 20; i++) {
        const [walker, addr] = await children[i % 2].manager.spawn<Walker>(
          `${AGENTS}#Walker`,
          i + 1,
        );
        walkers.push(walker as unknown as Walker);
        addrs.push(addr);
      }
      for (const walker of walkers) await walker.start(addrs, 1, 10);
      const sim = new Simulation([master, ...children.map((child) => child.manager)]);
      assert.equal(await sim.run(100), 10);
      return await Promise.all(walkers.map((walker) => walker.total()));
    } finally {
      await Promise.all(children.map((child) => child.close()));
      await master.shutdown();
    }
  }
  const first = await once();
  assert.ok(first.some((total) => total > 0));
  assert.deepEqual(await once(), first);
});

Deno.test("Simulation: members must run on an ExternalClock; one step at a time", async () => {
  const realtime = await Container.create(TCP);
  const simulated = await Container.create(TCP, external());
  try {
    assert.throws(() => new Simulation([realtime]), /not an ExternalClock/);
    assert.throws(() => new Simulation([{} as Manager]), /neither a Container/);
    assert.throws(() => new Simulation([]), /at least one member/);
    const sim = new Simulation([simulated]);
    const first = sim.step(1);
    await assert.rejects(sim.step(2), /one step at a time/);
    assert.equal(await first, null);
    await assert.rejects(sim.step(0), RangeError);
  } finally {
    await realtime.shutdown();
    await simulated.shutdown();
  }
});

Deno.test("Simulation: a worker whose event loop is blocked is named in the diagnostic", async () => {
  const master = await Container.create(TCP, external());
  const [child] = await workers(master, 1);
  try {
    const [relay] = await child.manager.spawn<Relay>(`${AGENTS}#Relay`);
    const spinning = relay!.spin(2500);
    await new Promise((resolve) => setTimeout(resolve, 100)); // the worker is spinning now
    const sim = new Simulation([master, child.manager], { timeout: 0.2 });
    const error = await sim.step(1).then(() => undefined, (error) => error);
    assert.ok(error instanceof SimulationTimeoutError, String(error));
    assert.match(
      error.message,
      /member 1 did not answer within 1 s \(is its event loop blocked\?\)/,
    );
    assert.match(error.message, /1 call\(s\) waiting for a reply: agents\/1\/spin/);
    await spinning;
  } finally {
    await child.close();
    await master.shutdown();
  }
});

Deno.test("Simulation: the sim methods of a Manager obey its access rule", async () => {
  const token = "a-secret-of-sixteen-chars-or-more";
  const master = await Container.create(TCP, external());
  const child = await createManagedContainer(TCP, {
    clock: { external: START },
    access: { token },
  });
  try {
    const proxy = await master.connect<Manager>(child.addr);
    const sim = new Simulation([master, proxy]);
    await assert.rejects(sim.step(1), /simStatus\(\) needs authorization/);
    assert.equal(await proxy.authenticate(token), true);
    assert.equal(await sim.step(1), null);
    assert.equal(child.container.clock.time(), 1);
  } finally {
    child.stop();
    await Promise.all([child.stopped, master.shutdown()]);
  }
});

Deno.test("Simulation: simulated link delays, by default and per link, in workers too", async () => {
  const master = await Container.create(TCP, external());
  const [child] = await workers(master, 1);
  const local = await Container.create(TCP, external());
  try {
    const [remote, remoteAddr] = await child.manager.spawn<Relay>(`${AGENTS}#Relay`);
    const near = await master.connect<Relay>(remoteAddr); // made before the delays are set
    const relay = new (await import("./fixtures/sim_agents.ts")).Relay(local);
    const sim = new Simulation([master, child.manager, local], {
      linkDelays: {
        default: 5,
        links: [{ from: child.addr, to: local.addr, delay: 2 }],
      },
    });
    // worker -> local: 2 each way; handled at 2, the reply is back at 4.
    const fromWorker = remote!.ask(relay.addr);
    assert.equal(await sim.run(100), 4);
    assert.deepEqual(await fromWorker, [2, 4]);
    // master -> worker (default 5): the request arrives at 9, the reply is back at 14.
    const fromMaster = near.now();
    assert.equal(await sim.run(100), 14);
    assert.equal(await fromMaster, 9);
    // Calls inside one container take no time.
    assert.deepEqual(await (await local.connect<Relay>(relay.addr)).now(), 14);
  } finally {
    await child.close();
    await Promise.all([master.shutdown(), local.shutdown()]);
  }
});

Deno.test("Simulation.waitFor: a handler awaiting a promise that the clock resolves later", async () => {
  const master = await Container.create(TCP, external());
  const child = await createManagedContainer(TCP, { clock: { external: START } });
  try {
    const [, addr] = await child.spawn(`${AGENTS}#Barrier`);
    const barrier = await master.connect<Barrier>(addr);
    // Marked: the handler waits on the simulation, the step goes on to 10.
    const marked = barrier.waitMarked();
    const sim = new Simulation([master, child], { timeout: 0.3 });
    assert.equal(await sim.run(100), 10);
    assert.equal(await marked, 10);
    // Unmarked: the handler counts as running, and the diagnostic says so.
    const plain = barrier.waitPlain(); // already resolved: it answers at once
    assert.equal(await plain, 10);
    const [, later] = await child.spawn(`${AGENTS}#Barrier`);
    const waiting = (await master.connect<Barrier>(later)).waitPlain();
    const error = await sim.step().then(() => undefined, (error) => error);
    assert.ok(error instanceof SimulationTimeoutError, String(error));
    assert.match(error.message, /1 handler\(s\) running: agents\/2\/waitPlain/);
    void waiting.catch(() => {});
  } finally {
    child.stop();
    await Promise.all([child.stopped, master.shutdown()]);
  }
});
