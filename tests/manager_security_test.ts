/**
 * Attacks on a managed container through its public API: walking the spawn
 * policy out of the working directory, spawning the library's own exports,
 * steering a Manager without authorization. Where the failure mode is running
 * code or crashing, the container runs in a subprocess.
 */

import assert from "node:assert/strict";
import {
  AccessError,
  ConnectionError,
  Container,
  dateSerializer,
  type Remote,
  RemoteException,
} from "@aiomas/aiomas";
import { openConnection } from "@aiomas/aiomas/rpc";
import {
  createManagedContainer,
  type ManagerProxy,
  spawnProcessContainer,
  spawnWorkerContainer,
  startContainer,
} from "@aiomas/aiomas/agent";
import type { Battery } from "./fixtures/agents.ts";
import { createPki, hasOpenssl } from "./pki.ts";

const TCP = "tcp://127.0.0.1:0";
const ROOT = new URL("../", import.meta.url);
const ROOT_PATH = decodeURIComponent(ROOT.pathname).replace(/\/$/, "");
const LIBRARY = new URL("../mod.ts", import.meta.url).href;
const FIXTURES = new URL("./fixtures/agents.ts", import.meta.url).href;
const TOKEN = "0123456789abcdef-test-token";

/** A managed container in a subprocess (`tests/fixtures/managed_server.ts`). */
interface ServerProcess {
  addr: string;
  status: Promise<Deno.CommandStatus>;
  /** Everything the server wrote to stdout and stderr so far. */
  output(): string;
  /** Whether the process is still running. */
  running(): boolean;
  kill(): Promise<void>;
}

async function startServerProcess(
  cwd: string,
  mode: "open" | "token",
): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./fixtures/managed_server.ts", import.meta.url).href,
      mode,
      TOKEN,
    ],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const firstLine = Promise.withResolvers<string>();
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      text += decoder.decode(chunk);
      const match = /^(tcp:\/\/\S+\/)$/m.exec(text);
      if (match) firstLine.resolve(match[1]);
    }
  };
  const reading = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let exited = false;
  const status = child.status.then(async (result) => {
    exited = true;
    await reading;
    firstLine.reject(new Error(`the server exited early: ${text}`));
    return result;
  });
  return {
    addr: await firstLine.promise,
    status,
    output: () => text,
    running: () => !exited,
    async kill() {
      if (!exited) child.kill("SIGKILL");
      await status;
    },
  };
}

/** A proxy for the Manager at `addr`, from `container`. */
async function managerAt(container: Container, addr: string): Promise<ManagerProxy> {
  return await container.connect(addr) as unknown as ManagerProxy;
}

/** The rejection of `promise` as a RemoteException (fails if it resolves). */
async function remoteError(promise: Promise<unknown>): Promise<RemoteException> {
  const error = await promise.then(
    (value) => assert.fail(`expected a refusal, got ${JSON.stringify(value)}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof RemoteException, String(error));
  return error;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("a peer cannot walk the spawn policy out of the working directory", async () => {
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "aiomas_policy_" }));
  const project = `${tmp}/project`;
  const outside = `${tmp}/outside`;
  await Deno.mkdir(project);
  await Deno.mkdir(outside);
  const marker = `${outside}/pwned`;
  await Deno.writeTextFile(
    `${outside}/evil.ts`,
    `Deno.writeTextFileSync(${JSON.stringify(marker)}, "evaluated");\n` +
      `import { Agent } from ${JSON.stringify(LIBRARY)};\nexport class Evil extends Agent {}\n`,
  );
  await Deno.writeTextFile(
    `${project}/good.ts`,
    `import { Agent } from ${JSON.stringify(LIBRARY)};\nexport class Good extends Agent {}\n`,
  );
  await Deno.symlink(outside, `${project}/link`);
  await Deno.symlink(`${outside}/evil.ts`, `${project}/evil_link.ts`);
  const server = await startServerProcess(project, "token");
  const client = await Container.create(TCP);
  try {
    const manager = await managerAt(client, `${server.addr}0`);
    assert.equal(await manager.authenticate(TOKEN), true);
    const base = `file://${project}`;
    const attacks = [
      `${base}/../outside/evil.ts#Evil`,
      `${base}/../../../..${outside}/evil.ts#Evil`,
      `${base}/%2e%2e/outside/evil.ts#Evil`,
      `${base}/.%2E/outside/evil.ts#Evil`,
      `${base}/..%2foutside/evil.ts#Evil`,
      `${base}/..%2Foutside%2Fevil.ts#Evil`,
      `${base}/link/evil.ts#Evil`,
      `${base}/evil_link.ts#Evil`,
      "./link/evil.ts#Evil",
      "./evil_link.ts#Evil",
      "../outside/evil.ts#Evil",
      "%2e%2e/outside/evil.ts#Evil",
      "..%2foutside/evil.ts#Evil",
      `${outside}/evil.ts#Evil`,
      `file://localhost${outside}/evil.ts#Evil`,
      LIBRARY.replace("mod.ts", "agent/manager.ts#Manager"),
    ];
    for (const spec of attacks) {
      const error = await remoteError(manager.spawn(spec));
      assert.equal(error.remoteType, "AccessError", `${spec}: ${error.message}`);
      assert.match(error.remoteMessage, /is not allowed/, spec);
    }
    assert.equal(await exists(marker), false, "a module outside the project was evaluated");
    // The project's own modules still work, in any spelling that stays inside.
    const [, addr] = await manager.spawn("./good.ts#Good");
    assert.equal(addr, `${server.addr}1`);
    await manager.spawn(`${base}/link/../good.ts#Good`.replace("/link/..", "/./"));
    await manager.spawn(`${base}/%67ood.ts#Good`);
    assert.ok(server.running(), server.output());
    await manager.stop();
    assert.equal((await server.status).code, 0, server.output());
  } finally {
    await server.kill();
    await client.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a peer cannot spawn the library's own exports or unmarked functions", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "aiomas_factory_" });
  const marker = `${tmp}/ran`;
  // As with `deno task cli serve` in a checkout: the library lies inside the working directory.
  const server = await startServerProcess(ROOT_PATH, "open");
  const client = await Container.create(TCP);
  try {
    const manager = await managerAt(client, `${server.addr}0`);
    const evilCodec = `file://${tmp}/evil.ts#Evil`;
    const library = [
      ["./agent/spawn.ts#spawnWorkerContainer", TCP, { codec: evilCodec }],
      ["./agent/spawn.ts#spawnProcessContainer", TCP, { denoArgs: ["--allow-all"] }],
      ["./agent/manager.ts#createManagedContainer", TCP, { codec: evilCodec }],
      ["./agent/manager.ts#Manager"],
      ["./mod.ts#Agent"],
      ["./cli.ts#main", ["serve", TCP]],
      ["./agent/module_spec.ts#importSpec", evilCodec],
    ] as const;
    for (const [spec, ...args] of library) {
      const error = await remoteError(manager.spawn(spec, ...args));
      assert.equal(error.remoteType, "AccessError", `${spec}: ${error.message}`);
    }
    const unmarked = await remoteError(
      manager.spawn("./tests/fixtures/unmarked.ts#run", marker),
    );
    assert.equal(unmarked.remoteType, "TypeError");
    assert.match(unmarked.remoteMessage, /neither an Agent subclass nor a function marked/);
    assert.equal(await exists(marker), false, "an unmarked function ran");
    // Agent subclasses and marked factories of the project work.
    const [battery] = await manager.spawn<Battery>("./tests/fixtures/agents.ts#Battery", 2);
    assert.equal(await battery!.add(1), 3);
    const [made] = await manager.spawn<Battery>("./tests/fixtures/agents.ts#makeBattery", 2);
    assert.equal(await made!.getCharge(), 4);
    assert.ok(server.running(), server.output());
  } finally {
    await server.kill();
    await client.shutdown();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a Manager with a token obeys only connections that authenticated", async () => {
  const server = await startServerProcess(ROOT_PATH, "token");
  const client = await Container.create(TCP);
  // A peer as Python aiomas would be: a plain RPC connection, dates first (typeid 0).
  const raw = await openConnection(server.addr, { extraSerializers: [dateSerializer] });
  try {
    const manager = await managerAt(client, `${server.addr}0`);
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ["spawn", () => manager.spawn(`${FIXTURES}#Battery`)],
      ["setTime", () => manager.setTime(10)],
      ["stop", () => manager.stop()],
    ];
    for (const [name, attempt] of attempts) {
      const error = await remoteError(attempt());
      assert.equal(error.remoteType, "AccessError", name);
    }
    // A wrong token (or one that is no string) costs the connection: one guess per connection.
    const wrong = ["not the token at all", TOKEN.slice(0, -1), 123, null, ["x"], { token: TOKEN }];
    for (const token of [...wrong, "x".repeat(100_000)]) {
      const guesser = await openConnection(server.addr, { extraSerializers: [dateSerializer] });
      try {
        const error = await remoteError(guesser.call("agents/0/authenticate", [token], {}));
        assert.equal(error.remoteType, "AccessError");
        await guesser.closed;
        await assert.rejects(guesser.call("validate_aid", ["0"], {}), ConnectionError);
      } finally {
        await guesser.close();
      }
    }
    // Ordinary calls need nothing.
    assert.equal(await raw.call("validate_aid", ["0"], {}), "Manager");
    // The Python way: authenticate on the connection, then steer.
    assert.equal(await raw.call("agents/0/authenticate", [TOKEN], {}), true);
    const [, addr] = await raw.call("agents/0/spawn", [`${FIXTURES}#Battery`, 5], {}) as [
      unknown,
      string,
    ];
    assert.equal(addr, `${server.addr}1`);
    assert.equal(await raw.call("agents/1/getCharge", [], {}), 5);
    // Ordinary agents answer connections that never authenticated.
    const battery = await client.connect<Battery>(addr);
    assert.equal(await battery.add(1), 6);
    for (const spec of [42, null, { toString: "x" }, ""]) {
      const error = await remoteError(raw.call("agents/0/spawn", [spec], {}));
      assert.equal(error.remoteType, "TypeError");
    }
    // Authorization is per connection: the other one is still refused.
    assert.equal((await remoteError(manager.stop())).remoteType, "AccessError");
    assert.ok(server.running(), server.output());
    assert.equal(await raw.call("agents/0/stop", [], {}), null);
    assert.equal((await server.status).code, 0, server.output());
    assert.match(server.output(), /stopped/);
  } finally {
    await server.kill();
    await raw.close();
    await client.shutdown();
  }
});

Deno.test("Manager access: the default obeys only this process; the operator must choose", async () => {
  const client = await Container.create(TCP);
  const local = await createManagedContainer(TCP);
  try {
    const manager = await managerAt(client, local.addr);
    for (const attempt of [() => manager.spawn(`${FIXTURES}#Battery`), () => manager.stop()]) {
      const error = await remoteError(attempt());
      assert.equal(error.remoteType, "AccessError");
      assert.match(error.remoteMessage, /obeys only its own process/);
    }
    assert.equal((await remoteError(manager.authenticate(TOKEN))).remoteType, "AccessError");
    // In this process the Manager works as before.
    const [, addr] = await local.spawn(`${FIXTURES}#Battery`);
    assert.equal(addr, `${local.container.addr}1`);
  } finally {
    local.stop();
    await local.stopped;
    await client.shutdown();
  }
  await assert.rejects(
    startContainer(TCP, {}),
    (error: Error) => error instanceof TypeError && /Choose who may steer/.test(error.message),
  );
  await assert.rejects(createManagedContainer(TCP, { access: { token: "short" } }), /16/);
  await assert.rejects(createManagedContainer(TCP, { access: "tls" }), /needs a TLS container/);
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    createManagedContainer(TCP, { access: "everyone" as any }),
    /Invalid Manager access/,
  );
  assert.ok(new AccessError("x") instanceof Error);
});

Deno.test("a spawned child's Manager obeys only its master", async () => {
  const master = await Container.create(TCP);
  const stranger = await Container.create(TCP);
  const worker = await spawnWorkerContainer(master, TCP);
  const process = await spawnProcessContainer(master, TCP);
  try {
    const cmdline = await Deno.readTextFile(`/proc/${process.pid}/cmdline`).catch(() => "");
    assert.doesNotMatch(cmdline, /token/, "the secret is on the child's command line");
    for (const child of [worker, process]) {
      const manager = await managerAt(stranger, `${child.addr}0`);
      for (const attempt of [() => manager.spawn(`${FIXTURES}#Battery`), () => manager.stop()]) {
        assert.equal((await remoteError(attempt())).remoteType, "AccessError");
      }
      assert.equal((await remoteError(manager.authenticate(TOKEN))).remoteType, "AccessError");
      // The master's handle is authorized transparently.
      const [battery] = await child.manager.spawn<Battery>(`${FIXTURES}#Battery`, 1);
      assert.equal(await (battery as Remote<Battery>).add(1), 2);
    }
  } finally {
    await Promise.all([worker.close(), process.close()]);
    await stranger.shutdown();
    await master.shutdown();
  }
  assert.equal((await process.status).code, 0);
});

Deno.test({
  name: 'Manager access "tls": every peer with a CA-signed certificate may steer it',
  ignore: !hasOpenssl,
  async fn() {
    const pki = await createPki();
    const tls = (i: 0 | 1) => ({ caFile: pki.caFile, ...pki.devices[i], onHandshakeError() {} });
    const managed = await createManagedContainer(TCP, { access: "tls", tls: tls(0) });
    const client = await Container.create(TCP, { tls: tls(1) });
    const rogue = await Container.create(TCP, {
      tls: { caFile: pki.caFile, ...pki.rogue, onHandshakeError() {} },
    });
    try {
      await assert.rejects(rogue.connect(`${managed.container.addr}0`));
      const manager = await managerAt(client, `${managed.container.addr}0`);
      const [battery] = await manager.spawn<Battery>(`${FIXTURES}#Battery`, 2);
      assert.equal(await battery!.add(2), 4);
      await manager.stop();
      await managed.stopped;
    } finally {
      await managed.container.shutdown();
      await rogue.shutdown();
      await client.shutdown();
      await pki.remove();
    }
  },
});

Deno.test("even a permissive allowSpawn lets no peer spawn a Manager; only true allows", async () => {
  const client = await Container.create(TCP);
  const lax = await createManagedContainer(TCP, { access: "open", allowSpawn: () => true });
  const sloppy = await createManagedContainer(TCP, {
    access: "open",
    allowSpawn: (() => "yes") as unknown as () => boolean,
  });
  try {
    const manager = await managerAt(client, lax.addr);
    const spec = new URL("../agent/manager.ts", import.meta.url).href + "#Manager";
    const error = await remoteError(manager.spawn(spec, "1", { access: "open" }));
    assert.equal(error.remoteType, "AccessError");
    assert.match(error.remoteMessage, /may not spawn a Manager/);
    assert.equal(lax.container.agents.size, 1);
    // In this process the Manager may do it.
    await lax.spawn(spec);
    assert.equal(lax.container.agents.size, 2);
    const other = await managerAt(client, sloppy.addr);
    assert.equal((await remoteError(other.spawn(`${FIXTURES}#Battery`))).remoteType, "AccessError");
  } finally {
    lax.stop();
    sloppy.stop();
    await Promise.all([lax.stopped, sloppy.stopped]);
    await client.shutdown();
  }
});
