import assert from "node:assert/strict";
import {
  Agent,
  ConnectionError,
  connectLocal,
  Container,
  expose,
  formatAddress,
  listenLocal,
  openConnection,
  parseAddress,
  type Remote,
  startServer,
} from "@aiomas/aiomas";
import { createManagedContainer } from "@aiomas/aiomas/agent";
import { mulberry32 } from "./prng.ts";

Deno.test("local:// addresses parse and format", () => {
  assert.deepEqual(parseAddress("local://sim"), { local: "sim" });
  assert.deepEqual(parseAddress("local://sim/"), { local: "sim" });
  assert.deepEqual(parseAddress("local://sim/42"), { local: "sim" });
  assert.deepEqual(parseAddress({ local: "sim" }), { local: "sim" });
  assert.equal(formatAddress({ local: "sim" }), "local://sim");
  assert.equal(formatAddress("local://sim/0"), "local://sim");
  assert.throws(() => parseAddress("local://"), TypeError);
  assert.throws(() => parseAddress({ local: "a/b" }), TypeError);
});

Deno.test("a channel over a local:// listener: same framing, no sockets", async () => {
  const server = await startServer("local://echo", async (channel) => {
    for await (const request of channel) await request.reply([request.content, "!"]);
  });
  assert.equal(server.url, "local://echo");
  const channel = await openConnection("local://echo");
  assert.equal(channel.peer, "local://echo");
  assert.deepEqual(await channel.send("ohai"), ["ohai", "!"]);
  assert.throws(() => listenLocal("echo"), Deno.errors.AddrInUse);
  await channel.close();
  await server.close();
  // The name is free again, and nobody listens there any more.
  await assert.rejects(connectLocal("echo"), ConnectionError);
  listenLocal("echo").close();
});

class Callee extends Agent {
  @expose
  spam(times: number): string {
    return "spam".repeat(times);
  }
}

Deno.test("Container.create('local://sim'): agent addresses and calls between containers", async () => {
  const sim = await Container.create("local://sim");
  const other = await Container.create("local://other");
  assert.equal(sim.addr, "local://sim/");
  const callee = new Callee(sim);
  assert.equal(callee.addr, "local://sim/0");
  const proxy = await other.connect<Callee>(callee.addr);
  assert.equal(await proxy.spam(2), "spamspam");
  assert.equal(other.connectionCount, 1);
  await assert.rejects(
    other.connect("local://nobody/0"),
    (error: Error) => error instanceof ConnectionError && error.message.includes("local://nobody"),
  );
  await other.shutdown();
  await sim.shutdown();
});

Deno.test("connect retries until a local container appears (timeout)", async () => {
  const master = await Container.create("local://retry-master");
  const connecting = master.connect("local://late/0", { timeout: 5 });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const manager = await createManagedContainer("local://late");
  const proxy = await connecting;
  assert.equal(String(proxy), "ManagerProxy('local://late/0')");
  await proxy.stop();
  await manager.stopped;
  await master.shutdown();
});

class Gossiper extends Agent {
  #random: () => number;
  #log: string[];
  #peers: string[] = [];
  #proxies = new Map<string, Remote<Gossiper>>();
  #heard = 0;

  constructor(container: Container, seed: number, log: string[]) {
    super(container);
    this.#random = mulberry32(seed);
    this.#log = log;
  }

  setPeers(peers: string[]): void {
    this.#peers = peers;
  }

  @expose
  hear(from: string, round: number, rumor: number): number {
    this.#log.push(`${this.addr} heard ${rumor} from ${from} in round ${round}`);
    return ++this.#heard;
  }

  async gossip(round: number): Promise<void> {
    const peer = this.#peers[Math.floor(this.#random() * this.#peers.length)];
    let proxy = this.#proxies.get(peer);
    if (proxy === undefined) {
      proxy = await this.container.connect<Gossiper>(peer);
      this.#proxies.set(peer, proxy);
    }
    const rumor = Math.floor(this.#random() * 1000);
    const count = await proxy.hear(this.addr, round, rumor);
    this.#log.push(`${this.addr} told ${peer} ${rumor} in round ${round}: #${count}`);
  }
}

/** 3 containers x 100 agents; every agent calls a seeded-random peer in another container. */
async function gossipRun(seed: number, rounds: number): Promise<string[]> {
  const log: string[] = [];
  const containers = await Promise.all(
    [0, 1, 2].map((i) => Container.create(`local://gossip${i}`)),
  );
  const agents = containers.flatMap((container, c) =>
    Array.from({ length: 100 }, (_, i) => new Gossiper(container, seed * 1000 + c * 100 + i, log))
  );
  for (const agent of agents) {
    agent.setPeers(agents.filter((a) => a.container !== agent.container).map((a) => a.addr));
  }
  // Nothing on the local path may use a timer: that would make the order depend on real time.
  const original = { setTimeout, setInterval };
  let timers = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    timers++;
    return original.setTimeout(...args);
  }) as typeof setTimeout;
  globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
    timers++;
    return original.setInterval(...args);
  }) as typeof setInterval;
  try {
    for (let round = 0; round < rounds; round++) {
      await Promise.all(agents.map((agent) => agent.gossip(round)));
    }
  } finally {
    Object.assign(globalThis, original);
  }
  assert.equal(timers, 0, "a timer was used on the local:// path");
  // Each container opened one connection to each other container and accepted one from each.
  for (const container of containers) assert.equal(container.connectionCount, 4);
  await Promise.all(containers.map((container) => container.shutdown()));
  return log;
}

Deno.test("local:// gossip of 300 agents in 3 containers is deterministic", async () => {
  const first = await gossipRun(7, 5);
  const second = await gossipRun(7, 5);
  assert.equal(first.length, 2 * 300 * 5);
  assert.deepEqual(second, first);
  const other = await gossipRun(8, 5);
  assert.notDeepEqual(other, first, "the log should depend on the seed");
});
