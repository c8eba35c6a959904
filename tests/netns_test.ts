/**
 * Several hosts, for real: containers in separate Linux network namespaces
 * joined by a bridge, with added latency, a silent partition and a restart
 * on another host. Needs root (`ip netns`); skipped with a message elsewhere.
 * Traffic goes only to addresses inside the namespaces made here.
 *
 * @module
 */
import assert from "node:assert/strict";

const FIXTURES = new URL("./fixtures/", import.meta.url);
const RUN = `aio${Deno.pid % 10000}${Math.floor(Math.random() * 1e4)}`;
const SUBNET = `10.231.${Math.floor(Math.random() * 250) + 1}`;
const HEARTBEAT = 0.5;

async function ip(...args: string[]): Promise<string> {
  const output = await new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).output();
  if (!output.success) {
    throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  return new TextDecoder().decode(output.stdout);
}

async function tc(ns: string, ...args: string[]): Promise<boolean> {
  const output = await new Deno.Command("ip", {
    args: ["netns", "exec", ns, "tc", ...args],
    stdout: "null",
    stderr: "null",
  }).output();
  return output.success;
}

/** Whether this machine lets us make network namespaces (root, iproute2). */
async function namespacesWork(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return "not Linux";
  const probe = `${RUN}p`;
  try {
    await ip("netns", "add", probe);
    await ip("netns", "del", probe);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

const unavailable = await namespacesWork();
if (unavailable !== undefined) {
  console.log(`netns tests skipped: network namespaces cannot be created here (${unavailable})`);
}

/** Hosts h1..h3 (10.231.x.1-3) and a delay host (.9) on one bridge in a switch namespace. */
class Network {
  readonly names: string[] = [];
  readonly switch = `${RUN}sw`;

  host(i: number): string {
    return `${RUN}h${i}`;
  }

  addr(i: number): string {
    return `${SUBNET}.${i}`;
  }

  async create(hosts: number[]): Promise<void> {
    await ip("netns", "add", this.switch);
    this.names.push(this.switch);
    await ip("-n", this.switch, "link", "add", "br0", "type", "bridge");
    await ip("-n", this.switch, "link", "set", "br0", "up");
    for (const i of hosts) {
      const ns = this.host(i);
      await ip("netns", "add", ns);
      this.names.push(ns);
      await ip(
        "link",
        "add",
        "eth0",
        "netns",
        ns,
        "type",
        "veth",
        "peer",
        "name",
        `p${i}`,
        "netns",
        this.switch,
      );
      await ip("-n", ns, "addr", "add", `${this.addr(i)}/24`, "dev", "eth0");
      await ip("-n", ns, "link", "set", "eth0", "up");
      await ip("-n", ns, "link", "set", "lo", "up");
      await ip("-n", this.switch, "link", "set", `p${i}`, "master", "br0");
      await ip("-n", this.switch, "link", "set", `p${i}`, "up");
    }
  }

  /** Cut (or heal) host `i`'s cable at the switch: packets vanish, nobody is told. */
  async cable(i: number, up: boolean): Promise<void> {
    await ip("-n", this.switch, "link", "set", `p${i}`, up ? "up" : "down");
  }

  async destroy(): Promise<void> {
    for (const name of this.names.reverse()) {
      await ip("netns", "del", name).catch((error) => console.warn(String(error)));
    }
  }
}

/** A Deno process in a namespace that speaks JSON lines. */
class Process {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;

  constructor(ns: string, fixture: string, args: string[]) {
    this.#child = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        ns,
        Deno.execPath(),
        "run",
        "-A",
        new URL(fixture, FIXTURES).pathname,
        ...args,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = lines(this.#child.stdout)[Symbol.asyncIterator]();
  }

  // deno-lint-ignore no-explicit-any
  async next(): Promise<any> {
    const { value, done } = await this.#lines.next();
    if (done) throw new Error("the process ended");
    return JSON.parse(value);
  }

  // deno-lint-ignore no-explicit-any
  async ask(command: Record<string, unknown>): Promise<any> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(command) + "\n"));
    return await this.next();
  }

  async stop(): Promise<void> {
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 5000);
    await this.#child.status;
    clearTimeout(timer);
    await this.#lines.return?.();
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    for (let newline; (newline = buffer.indexOf("\n")) >= 0;) {
      yield buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
    }
  }
}

async function withNetwork(
  hosts: number[],
  fn: (net: Network, processes: Process[]) => Promise<void>,
): Promise<void> {
  const net = new Network();
  const processes: Process[] = [];
  try {
    await net.create(hosts);
    await fn(net, processes);
  } finally {
    await Promise.all(processes.map((process) => process.stop()));
    await net.destroy();
  }
}

function start(
  processes: Process[],
  ns: string,
  fixture: string,
  args: string[],
): Promise<Process> {
  const process = new Process(ns, fixture, args);
  processes.push(process);
  return process.next().then(() => process);
}

Deno.test({
  name: "netns: calls across hosts with added latency; a passed proxy connects host to host",
  ignore: unavailable !== undefined,
  async fn() {
    await withNetwork([1, 2, 3, 9], async (net, processes) => {
      const b = `tcp://${net.addr(2)}:5555/`;
      const c = `tcp://${net.addr(3)}:5555/`;
      await start(processes, net.host(2), "netns_host.ts", [b]);
      await start(processes, net.host(3), "netns_host.ts", [c]);
      // 50 ms one way: tc netem where the kernel has it, else a relay on host 9.
      let target = b;
      let added = 50;
      if (!await tc(net.host(1), "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "50ms")) {
        console.log("netns: no tc netem in this kernel; latency comes from a delaying relay");
        await start(processes, net.host(9), "netns_delay.ts", [
          `${net.addr(9)}:5555`,
          `${net.addr(2)}:5555`,
          "25",
        ]);
        target = `tcp://${net.addr(9)}:5555/`;
        added = 50;
      }
      const driver = await start(processes, net.host(1), "netns_driver.ts", [
        `tcp://${net.addr(1)}:0`,
      ]);
      assert.match(
        (await driver.ask({ op: "connect", addr: `${target}0`, as: "b" })).value,
        /^CalleeProxy/,
      );
      await driver.ask({ op: "connect", addr: `${c}1`, as: "relay" });
      for (let i = 0; i < 3; i++) {
        const call = await driver.ask({ op: "call", on: "b", method: "spam", args: [2] });
        assert.equal(call.value, "spamspam");
        assert.ok(call.ms >= added - 5, `round trip ${call.ms} ms with ${added} ms added`);
      }
      // Host 1 passes its proxy for B to the relay on host 3, which calls B itself.
      const passed = await driver.ask({ op: "call", on: "relay", method: "callIt", pass: "b" });
      assert.deepEqual(passed.value, [`AgentProxy('${target}0')`, b]);
    });
  },
});

Deno.test({
  name:
    "netns: a silent partition fails pending calls within two heartbeats plus 1 s; the proxy heals",
  ignore: unavailable !== undefined,
  async fn() {
    await withNetwork([1, 2], async (net, processes) => {
      const b = `tcp://${net.addr(2)}:5555/`;
      await start(processes, net.host(2), "netns_host.ts", [b, String(HEARTBEAT)]);
      const driver = await start(processes, net.host(1), "netns_driver.ts", [
        `tcp://${net.addr(1)}:0`,
        String(HEARTBEAT),
        "1",
      ]);
      await driver.ask({ op: "connect", addr: `${b}0`, as: "b" });
      assert.equal(
        (await driver.ask({ op: "call", on: "b", method: "spam", args: [1] })).value,
        "spam",
      );
      await driver.ask({ op: "call", on: "b", method: "hang", args: [], key: "pending" });
      await net.cable(2, false);
      const pending = await driver.ask({ op: "wait", key: "pending" });
      assert.equal(pending.error?.name, "ConnectionError", JSON.stringify(pending));
      assert.ok(
        pending.ms <= 2 * HEARTBEAT * 1000 + 1000,
        `rejected after ${pending.ms} ms (heartbeat ${HEARTBEAT} s)`,
      );
      // While the cable is still cut, a new call tries to reconnect and gives up (connectTimeout 1 s).
      const cut = await driver.ask({ op: "call", on: "b", method: "spam", args: [1] });
      assert.equal(cut.error?.name, "ConnectionError", JSON.stringify(cut));
      assert.ok(cut.ms <= 2000, `gave up after ${cut.ms} ms`);
      await net.cable(2, true);
      const healed = await driver.ask({
        op: "until",
        on: "b",
        method: "spam",
        args: [2],
        limitMs: 20_000,
      });
      assert.equal(healed.value, "spamspam", JSON.stringify(healed));
    });
  },
});

Deno.test({
  name: "netns: a container restarted on another host: the old proxy fails, the new address works",
  ignore: unavailable !== undefined,
  async fn() {
    await withNetwork([1, 2, 3], async (net, processes) => {
      const old = `tcp://${net.addr(2)}:5555/`;
      const moved = `tcp://${net.addr(3)}:5556/`;
      const relayAddr = `tcp://${net.addr(3)}:5555/`;
      const b = await start(processes, net.host(2), "netns_host.ts", [old]);
      await start(processes, net.host(3), "netns_host.ts", [relayAddr]);
      const driver = await start(processes, net.host(1), "netns_driver.ts", [
        `tcp://${net.addr(1)}:0`,
      ]);
      await driver.ask({ op: "connect", addr: `${old}0`, as: "old" });
      await driver.ask({ op: "connect", addr: `${relayAddr}1`, as: "relay" });
      assert.equal((await driver.ask({ op: "call", on: "old", method: "where" })).value, old);
      await b.stop();
      await start(processes, net.host(3), "netns_host.ts", [moved]);
      // Bound to its address: the old proxy reports the loss, it does not follow the move.
      const lost = await driver.ask({ op: "call", on: "old", method: "where" });
      assert.equal(lost.error?.name, "ConnectionError", JSON.stringify(lost));
      // The new address gives a working proxy, which travels on to other hosts.
      await driver.ask({ op: "connect", addr: `${moved}0`, as: "moved" });
      assert.equal((await driver.ask({ op: "call", on: "moved", method: "where" })).value, moved);
      const passed = await driver.ask({ op: "call", on: "relay", method: "callIt", pass: "moved" });
      assert.deepEqual(passed.value, [`AgentProxy('${moved}0')`, moved]);
    });
  },
});
