import assert from "node:assert/strict";
import {
  AiomasError,
  Container,
  MsgPackCodec,
  type Remote,
  RemoteException,
  type SerializerSpec,
} from "@aiomas/aiomas";
import {
  createManagedContainer,
  importSpec,
  type Manager,
  setTimeAll,
  spawnProcessContainer,
  spawnWorkerContainer,
  startContainer,
} from "@aiomas/aiomas/agent";
import { type Battery, Point } from "./fixtures/agents.ts";

const TCP = "tcp://127.0.0.1:0";
const FIXTURES = new URL("./fixtures/agents.ts", import.meta.url).href;
const CLOCK = { external: "2016-01-01T00:00:00Z" };

/** Whether process `pid` is running (not gone, not a zombie). */
function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function waitUntilGone(pid: number, seconds: number): Promise<boolean> {
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return !alive(pid);
}

Deno.test("importSpec resolves paths against the cwd, URLs as they are", async () => {
  const { Battery } = await import("./fixtures/agents.ts");
  assert.equal(await importSpec(`${FIXTURES}#Battery`), Battery);
  const path = new URL(FIXTURES).pathname;
  const cwd = Deno.cwd();
  if (path.startsWith(`${cwd}/`)) {
    assert.equal(await importSpec(`./${path.slice(cwd.length + 1)}#Battery`), Battery);
  }
  assert.equal(await importSpec(`${path}#Battery`), Battery);
  await assert.rejects(importSpec(`${FIXTURES}#Nope`), /has no export "Nope"/);
});

Deno.test("startContainer: a Manager spawns agents, refuses setTime on a realtime clock, stops", async () => {
  const master = await Container.create("local://manager-master");
  let manager: Manager | undefined;
  const running = startContainer("local://managed", { onReady: (m) => void (manager = m) });
  const proxy = await master.connect("local://managed/0", { timeout: 5 });
  assert.equal(manager!.aid, "0");
  const [battery, addr] = await proxy.spawn(`${FIXTURES}#Battery`, 5) as [Remote<Battery>, string];
  assert.equal(addr, "local://managed/1");
  assert.equal(await battery.add(3), 8);
  const same = await master.connect<Battery>(addr);
  assert.equal(await same.getCharge(), 8);
  const [made, madeAddr] = await proxy.spawn(`${FIXTURES}#makeBattery`, 4) as [
    Remote<Battery>,
    string,
  ];
  assert.equal(madeAddr, "local://managed/2");
  assert.equal(await made.getCharge(), 8);
  assert.deepEqual(await proxy.spawn(`${FIXTURES}#Silent`), [null, "local://managed/3"]);
  for (const spec of [`${FIXTURES}#notAnAgent`, `${FIXTURES}#Missing`]) {
    const error = await proxy.spawn(spec).catch((e: unknown) => e);
    assert.ok(error instanceof RemoteException, String(error));
    assert.equal(error.remoteType, "TypeError");
  }
  const error = await proxy.setTime(1).catch((e: unknown) => e) as RemoteException;
  assert.ok(error instanceof RemoteException);
  assert.match(error.remoteMessage, /not an ExternalClock/);
  assert.equal(await proxy.stop(), null);
  await running;
  assert.equal(manager!.container.agents.size, 4);
  // The name is free again.
  const again = await Container.create("local://managed");
  await again.shutdown();
  await master.shutdown();
});

Deno.test("spawnWorkerContainer: spawn, call, setTime, stop", async () => {
  const master = await Container.create(TCP);
  const child = await spawnWorkerContainer(master, TCP, { clock: CLOCK });
  assert.match(child.addr, /^tcp:\/\/127\.0\.0\.1:\d+\/$/);
  assert.notEqual(child.addr, master.addr);
  const [battery, addr] = await child.manager.spawn<Battery>(`${FIXTURES}#Battery`, 1);
  assert.equal(addr, `${child.addr}1`);
  assert.equal(await battery!.add(1), 2);
  assert.deepEqual(await battery!.where(), [Deno.pid, true]);
  const woke = battery!.wakeAfter(5);
  await child.manager.setTime(5);
  assert.deepEqual(await woke, [5, "2016-01-01T00:00:05.000Z"]);
  await child.close();
  await assert.rejects(battery!.getCharge());
  await child.close(); // idempotent
  await master.shutdown();
});

Deno.test("a worker container with the master's codec and serializers given as module specs", async () => {
  const master = await Container.create(TCP, {
    codec: MsgPackCodec,
    extraSerializers: [Point as unknown as SerializerSpec],
  });
  const child = await spawnWorkerContainer(master, TCP, {
    codec: MsgPackCodec,
    extraSerializers: [`${FIXTURES}#Point`],
  });
  const [battery] = await child.manager.spawn<Battery>(`${FIXTURES}#Battery`);
  const moved = await battery!.shift(new Point(2, 4), 1);
  assert.ok(moved instanceof Point);
  assert.equal(moved.norm(), 5);
  await child.close();
  await master.shutdown();
  await assert.rejects(
    spawnWorkerContainer(master, "local://nope"),
    (error: Error) => error instanceof TypeError && /per isolate/.test(error.message),
  );
  await assert.rejects(
    spawnWorkerContainer(master, TCP, { clock: { external: "not a date" } }),
    (error: Error) => error instanceof AiomasError && /not a valid date/.test(error.message),
  );
  class Unknown extends MsgPackCodec {}
  await assert.rejects(spawnWorkerContainer(master, TCP, { codec: Unknown }), /module spec/);
});

Deno.test("spawnProcessContainer: spawn, call, setTime, stop; the process exits", async () => {
  const master = await Container.create(TCP);
  const child = await spawnProcessContainer(master, TCP, { clock: CLOCK, codec: "JsonCodec" });
  assert.notEqual(child.pid, Deno.pid);
  const [battery, addr] = await child.manager.spawn<Battery>(`${FIXTURES}#Battery`, 10);
  assert.equal(addr, `${child.addr}1`);
  assert.deepEqual(await battery!.where(), [child.pid, false]);
  assert.equal(await battery!.add(-3), 7);
  const woke = battery!.wakeAfter(1.5);
  await child.manager.setTime(1.5);
  assert.deepEqual(await woke, [1.5, "2016-01-01T00:00:01.500Z"]);
  await child.close();
  assert.equal((await child.status).code, 0);
  assert.ok(await waitUntilGone(child.pid, 2), "the child process is still running");
  await master.shutdown();
});

Deno.test("a process container exits by itself when its master process is killed", async () => {
  const intermediate = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./fixtures/orphan_master.ts", import.meta.url).href],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const reader = intermediate.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/child \d+\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const pid = Number(/child (\d+)\n/.exec(text)?.[1]);
  assert.ok(pid > 0, `no child pid in ${JSON.stringify(text)}`);
  assert.ok(alive(pid));
  intermediate.kill("SIGKILL");
  await intermediate.status;
  await reader.cancel();
  const gone = await waitUntilGone(pid, 5);
  if (!gone) Deno.kill(pid, "SIGKILL");
  assert.ok(gone, "the orphaned container process did not exit");
});

Deno.test("clock fan-out: agents in three containers wake in lock step", async () => {
  const master = await Container.create(TCP);
  const children = await Promise.all([
    spawnWorkerContainer(master, TCP, { clock: CLOCK }),
    spawnWorkerContainer(master, TCP, { clock: CLOCK }),
    spawnProcessContainer(master, TCP, { clock: CLOCK }),
  ]);
  // A fourth, in-process container is managed the same way.
  const local = await createManagedContainer(TCP, { clock: CLOCK });
  const managers = [...children.map((child) => child.manager), local];
  const batteries: Array<[string, Remote<Battery>]> = [];
  for (const [c, child] of children.entries()) {
    for (const dt of [1, 2, 3]) {
      const [battery] = await child.manager.spawn<Battery>(`${FIXTURES}#Battery`);
      batteries.push([`${c}:${dt}`, battery!]);
    }
  }
  const woken = new Map<string, number>();
  let step = 0;
  const sleeping = batteries.map(([name, battery]) =>
    battery.wakeAfter(Number(name.split(":")[1])).then((result) => {
      woken.set(name, step);
      return result;
    })
  );
  for (step = 1; step <= 3; step++) {
    await setTimeAll(managers, step);
    // A call after setTime returns after the wake-ups it caused (same connection, FIFO).
    await Promise.all(batteries.map(([, battery]) => battery.getCharge()));
    for (const [name] of batteries) {
      const dt = Number(name.split(":")[1]);
      assert.equal(woken.get(name), dt <= step ? dt : undefined, `${name} at step ${step}`);
    }
  }
  const results = await Promise.all(sleeping);
  assert.deepEqual(
    results.map(([t]) => t),
    batteries.map(([name]) => Number(name.split(":")[1])),
  );
  assert.equal(local.container.clock.time(), 3);
  await Promise.all(children.map((child) => child.close()));
  local.stop();
  await local.stopped;
  await master.shutdown();
});

Deno.test("Manager.spawn imports only local modules unless allowSpawn says otherwise", async () => {
  const client = await Container.create(TCP);
  const strict = await createManagedContainer(TCP, { access: "open" });
  const open = await createManagedContainer(TCP, {
    access: "open",
    allowSpawn: (url) => url === `${FIXTURES.split("#")[0]}`,
  });
  try {
    const manager = await client.connect<Manager>(strict.addr);
    for (
      const spec of ["https://example.com/agents.ts#Evil", "npm:left-pad", "data:text/javascript,1"]
    ) {
      const error = await manager.spawn(spec).catch((e: unknown) => e) as RemoteException;
      assert.ok(error instanceof RemoteException, spec);
      assert.match(error.remoteMessage, /is not allowed/);
    }
    const [, addr] = await manager.spawn(`${FIXTURES}#Battery`, 1);
    assert.equal(addr, `${strict.container.addr}1`);
    const picky = await client.connect<Manager>(open.addr);
    await picky.spawn(`${FIXTURES}#Battery`, 1);
    const other = new URL("./fixtures_cli/agents.ts", import.meta.url).href;
    await assert.rejects(picky.spawn(`${other}#Calculator`), /is not allowed/);
  } finally {
    strict.stop();
    open.stop();
    await Promise.all([strict.stopped, open.stopped]);
    await client.shutdown();
  }
});

/** Run `deno run -A <module>` in `cwd`; resolve with its exit code and output. */
async function runDeno(
  module: string,
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", module],
    cwd,
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

Deno.test("a master spawns by import.meta.url from another working directory", async () => {
  const elsewhere = await Deno.makeTempDir({ prefix: "aiomas_elsewhere_" });
  try {
    const result = await runDeno(
      new URL("./fixtures/spawn_elsewhere.ts", import.meta.url).href,
      elsewhere,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "4\n4\n", result.stderr);
  } finally {
    await Deno.remove(elsewhere, { recursive: true });
  }
});

Deno.test("a process container uses the application's deno.json import map", async () => {
  const app = await Deno.makeTempDir({ prefix: "aiomas_app_" });
  const library = new URL("../mod.ts", import.meta.url).href;
  const agent = new URL("../agent/mod.ts", import.meta.url).href;
  try {
    await Deno.writeTextFile(`${app}/deno.json`, '{ "imports": { "mylib": "./mylib.ts" } }\n');
    await Deno.writeTextFile(`${app}/mylib.ts`, 'export const greeting = "hello from mylib";\n');
    await Deno.writeTextFile(
      `${app}/agents.ts`,
      `import { Agent, expose } from ${JSON.stringify(library)};\n` +
        'import { greeting } from "mylib";\n' +
        "export class Greeter extends Agent {\n" +
        "  @expose\n  greet(): string {\n    return greeting;\n  }\n}\n",
    );
    await Deno.writeTextFile(
      `${app}/main.ts`,
      `import { Container } from ${JSON.stringify(library)};\n` +
        `import { spawnProcessContainer } from ${JSON.stringify(agent)};\n` +
        'const master = await Container.create("tcp://127.0.0.1:0");\n' +
        'const child = await spawnProcessContainer(master, "tcp://127.0.0.1:0");\n' +
        "const [greeter] = await child.manager.spawn<{ greet(): Promise<string> }>(\n" +
        '  new URL("./agents.ts", import.meta.url).href + "#Greeter",\n);\n' +
        "console.log(await greeter!.greet());\n" +
        "await child.close();\nawait master.shutdown();\n",
    );
    // Started from a subdirectory, as a user might.
    await Deno.mkdir(`${app}/sub`);
    const result = await runDeno(`${app}/main.ts`, `${app}/sub`);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "hello from mylib\n", result.stderr);
  } finally {
    await Deno.remove(app, { recursive: true });
  }
});

Deno.test("a process child that fails to start says why; unknown codec names are errors", async () => {
  const master = await Container.create(TCP);
  try {
    const error = await spawnProcessContainer(master, TCP, {
      codec: "./no_such_codec.ts#NoSuchCodec",
    }).catch((e: unknown) => e);
    assert.ok(error instanceof AiomasError, String(error));
    assert.match(error.message, /exited with code 1 before it was ready:\n/);
    assert.match(error.message, /no_such_codec\.ts/);
    for (const spawn of [spawnWorkerContainer, spawnProcessContainer]) {
      await assert.rejects(
        spawn(master, TCP, { codec: "XmlCodec" }),
        (e: Error) => e instanceof TypeError && /Unknown codec "XmlCodec"/.test(e.message),
      );
    }
    for (const name of ["XmlCodec", "toString", "constructor"]) {
      await assert.rejects(createManagedContainer(TCP, { codec: name }), /Unknown codec/);
    }
  } finally {
    await master.shutdown();
  }
});

Deno.test("Manager.spawn imports a module under the URL Deno gives it (one module, one class)", async () => {
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "aiomas_url_" }));
  const dir = `${tmp}/a b@c+d`;
  await Deno.mkdir(dir);
  const library = new URL("../mod.ts", import.meta.url).href;
  await Deno.writeTextFile(
    `${dir}/agent é.ts`,
    `import { Agent } from ${JSON.stringify(library)};\nexport class Odd extends Agent {}\n`,
  );
  const manager = await createManagedContainer("local://odd-names");
  try {
    const url = new URL(`file://${dir}/agent é.ts`).href;
    const { Odd } = await import(url);
    await manager.spawn(`${url}#Odd`);
    assert.ok(manager.container.agents.get("1") instanceof Odd);
  } finally {
    manager.stop();
    await manager.stopped;
    await Deno.remove(tmp, { recursive: true });
  }
});
