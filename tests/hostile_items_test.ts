/**
 * Issue 15 items 2, 3, 4, 8 and 9 end to end, as a hostile peer sees them:
 * `cli serve` runs in a subprocess, and a peer with only a TCP socket tries
 * to walk the spawn policy, use the library's exports as factories, steer the
 * Manager, read local paths from tracebacks; and the command line refuses
 * inherited names as codecs.
 *
 * @module
 */

import assert from "node:assert/strict";
import { dateSerializer } from "../agent/mod.ts";
import { AiomasError, RemoteException } from "../errors.ts";
import { openConnection, type RpcClient } from "../rpc/mod.ts";
import { within } from "./hostile_harness.ts";

const ROOT = new URL("../", import.meta.url);
const REPO = ROOT.pathname.replace(/\/$/, "");
const AGENTS = new URL("./fixtures_cli/agents.ts", import.meta.url).pathname;
const TOKEN = "hostile-suite-token-0123456789";

/** The arguments of `deno` for `cli serve` with the Probe agent on a free port, then `extra`. */
function serveArgs(extra: string[]): string[] {
  return [
    "run",
    "-A",
    `${REPO}/cli/mod.ts`,
    "serve",
    "tcp://127.0.0.1:0",
    "--agent",
    `${AGENTS}#Probe`,
    ...extra,
  ];
}

/** A running `cli serve` in `cwd`; the Probe agent is `<url>1`. */
async function serve(cwd: string, access: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: serveArgs(access),
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { AIOMAS_TOKEN: "" },
  }).spawn();
  let stderr = "";
  const stderrDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (stderr += chunk) }),
  ).catch(() => {});
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await within(reader.read(), 30_000, "serve printed no address");
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  const agent = text.split("\n")[0];
  if (!agent.startsWith("tcp://")) {
    await stderrDone;
    throw new Error(`serve did not start: ${text}\n${stderr}`);
  }
  const url = agent.slice(0, agent.lastIndexOf("/") + 1);
  return {
    url,
    alive: () => !exited,
    stderr: () => stderr,
    async stop() {
      if (!exited) child.kill("SIGKILL");
      await status;
      await stderrDone;
      await child.stdout.cancel().catch(() => {});
    },
  };
}

/** A peer: a plain RPC connection with the container's date serializer (as `cli call`). */
function peer(url: string): Promise<RpcClient> {
  return openConnection(url, { extraSerializers: [dateSerializer] });
}

/** A module outside the served directory that leaves a marker when it is evaluated. */
async function evilModule(base: string): Promise<{ dir: string; pwned: () => boolean }> {
  const dir = `${base}/evil`;
  await Deno.mkdir(dir);
  await Deno.writeTextFile(
    `${dir}/evil.ts`,
    'Deno.writeTextFileSync(new URL("./pwned", import.meta.url), "pwned");\n' +
      "export class Evil {}\nexport default Evil;\n",
  );
  return {
    dir,
    pwned: () => {
      try {
        Deno.statSync(`${dir}/pwned`);
        return true;
      } catch {
        return false;
      }
    },
  };
}

async function assertRefused(client: RpcClient, path: string, args: unknown[]): Promise<void> {
  const error = await client.call(path, args, {}).then(
    (value) => new Error(`accepted: ${JSON.stringify(value)}`),
    (e: unknown) => e,
  );
  assert.ok(
    error instanceof RemoteException,
    `${path}(${JSON.stringify(args)}) must be refused, got ${(error as Error)?.message ?? error}`,
  );
}

type Served = Awaited<ReturnType<typeof serve>>;
type Evil = Awaited<ReturnType<typeof evilModule>>;

/**
 * In a temporary directory with an evil module: serve from the directory
 * `cwd(base)` gives (made by `prepare`), let a peer ask the Manager to spawn
 * every one of `attempts`, and check each is refused, evaluates nothing and
 * leaves the process alive; then `after` runs with the peer.
 */
async function spawnAttacks(
  cwd: (base: string, evil: Evil) => Promise<string>,
  attempts: (base: string, evil: Evil) => unknown[][],
  after: (client: RpcClient) => Promise<void>,
): Promise<void> {
  const base = await Deno.makeTempDir({ prefix: "aiomas-hostile-" });
  let server: Served | undefined;
  try {
    const evil = await evilModule(base);
    server = await serve(await cwd(base, evil), ["--open"]);
    const client = await peer(server.url);
    try {
      for (const [spec, ...args] of attempts(base, evil)) {
        await assertRefused(client, "agents/0/spawn", [spec, ...args]);
        assert.ok(!evil.pwned(), `${spec} evaluated a module outside the served directory`);
        assert.ok(server.alive(), `serve died on ${spec}\n${server.stderr()}`);
      }
      await after(client);
    } finally {
      await client.close();
    }
  } finally {
    await server?.stop();
    await Deno.remove(base, { recursive: true });
  }
}

Deno.test("15.2: spawn specs cannot walk out of the served directory", async () => {
  await spawnAttacks(
    async (base, evil) => {
      await Deno.mkdir(`${base}/project`);
      await Deno.symlink(evil.dir, `${base}/project/link`);
      return `${base}/project`;
    },
    (base, evil) =>
      [
        `file://${base}/project/../evil/evil.ts#Evil`,
        `file://${base}/project/%2e%2e/evil/evil.ts#Evil`,
        "./%2e%2e/evil/evil.ts#Evil",
        "./.%2E/evil/evil.ts#Evil",
        "./..%2fevil/evil.ts#Evil",
        "./link/evil.ts#Evil",
        "./link/../link/evil.ts#Evil",
        "../evil/evil.ts#Evil",
        `file://${evil.dir}/evil.ts#Evil`,
        `${evil.dir}/evil.ts#Evil`,
        `data:application/typescript,Deno.writeTextFileSync("${evil.dir}/pwned","x");export class Evil {}#Evil`,
        "https://127.0.0.1:1/evil.ts#Evil",
        "jsr:@std/assert#assert",
        "npm:left-pad#default",
      ].map((spec) => [spec]),
    async (client) => assert.equal(await client.call("agents/1/add", [1, 2], {}), 3),
  );
});

Deno.test("15.3: the library's own exports are no factories, and child options never come from a peer", async () => {
  // The library lies inside the working directory, as with `deno task cli serve` in a checkout.
  await spawnAttacks(
    () => Promise.resolve(REPO),
    (_base, evil) => {
      const evilSpec = `file://${evil.dir}/evil.ts#Evil`;
      return [
        ["./agent/spawn.ts#spawnWorkerContainer", "tcp://127.0.0.1:0", { codec: evilSpec }],
        ["./agent/spawn.ts#spawnWorkerContainer", "tcp://127.0.0.1:0", {
          codec: `data:application/typescript,Deno.writeTextFileSync("${evil.dir}/pwned","x")`,
        }],
        ["./agent/spawn.ts#spawnWorkerContainer", "tcp://127.0.0.1:0", {
          extraSerializers: [evilSpec],
        }],
        ["./agent/spawn.ts#spawnProcessContainer", "tcp://127.0.0.1:0", {
          denoArgs: ["--allow-all", `--preload=${evil.dir}/evil.ts`],
        }],
        ["./agent/manager.ts#createManagedContainer", "tcp://127.0.0.1:0", { codec: evilSpec }],
        ["./agent/mod.ts#startContainer", "tcp://127.0.0.1:0", { codec: evilSpec }],
        ["./mod.ts#startContainer", "tcp://127.0.0.1:0", { codec: evilSpec }],
        ["./cli/mod.ts#main", ["serve", "tcp://127.0.0.1:0", "--agent", evilSpec, "--open"]],
        ["./cli.ts#main", ["serve", "tcp://127.0.0.1:0", "--agent", evilSpec, "--open"]],
        ["./tests/hostile_harness.ts#FixtureServer"],
      ];
    },
    async (client) => {
      // An agent class of the project can still be spawned.
      const [, addr] = await client.call("agents/0/spawn", [
        "./tests/fixtures_cli/agents.ts#Probe",
      ], {}) as [unknown, string];
      const aid = addr.slice(addr.lastIndexOf("/") + 1);
      assert.equal(await client.call(`agents/${aid}/add`, [2, 3], {}), 5);
    },
  );
});

Deno.test("15.4: a peer without the token cannot steer the Manager; the master with it can", async () => {
  const server = await serve(REPO, ["--token", TOKEN]);
  try {
    const hostile = await peer(server.url);
    try {
      await assertRefused(hostile, "agents/0/stop", []);
      await assertRefused(hostile, "agents/0/setTime", [10]);
      await assertRefused(hostile, "agents/0/spawn", ["./tests/fixtures_cli/agents.ts#Probe"]);
      assert.ok(server.alive(), "stop() from a hostile peer ended the container");
      assert.equal(await hostile.call("agents/1/add", [1, 2], {}), 3, "agents still serve peers");
      // A wrong token: refused (and the connection closed: one guess per connection).
      const wrong = await hostile.call("agents/0/authenticate", ["not the token at all"], {})
        .catch((e: unknown) => e);
      assert.ok(wrong === false || wrong instanceof AiomasError, "a wrong token is refused");
    } finally {
      await hostile.close();
    }
    const again = await peer(server.url);
    try {
      await assertRefused(again, "agents/0/stop", []);
      assert.ok(server.alive(), "stop() after a wrong token ended the container");
    } finally {
      await again.close();
    }
    const master = await peer(server.url);
    try {
      await master.call("agents/0/authenticate", [TOKEN], {});
      const [, addr] = await master.call("agents/0/spawn", [
        "./tests/fixtures_cli/agents.ts#Probe",
      ], {}) as [unknown, string];
      assert.match(addr, /\/2$/);
    } finally {
      await master.close();
    }
  } finally {
    await server.stop();
  }
});

Deno.test("15.8: tracebacks sent to peers carry no local file paths", async () => {
  const server = await serve(REPO, ["--open"]);
  try {
    const client = await peer(server.url);
    try {
      for (
        const [path, args] of [
          ["agents/1/fail", ["on purpose"]],
          ["agents/0/spawn", ["./nope/missing.ts#Nope"]],
          ["agents/0/setTime", [-1]],
          ["agents/1/constructor", []],
        ] as const
      ) {
        const error = await client.call(path, [...args], {}).catch((e: unknown) => e);
        assert.ok(error instanceof RemoteException, path);
        assert.doesNotMatch(error.remoteTraceback, new RegExp(`file://|${REPO}`), path);
      }
    } finally {
      await client.close();
    }
  } finally {
    await server.stop();
  }
});

Deno.test({
  name: "15.9: inherited names are no codecs: serve refuses them at once",
  fn: async () => {
    for (const name of ["toString", "constructor", "valueOf", "hasOwnProperty", "__proto__"]) {
      const child = new Deno.Command(Deno.execPath(), {
        args: serveArgs(["--open", "--codec", name]),
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const status = await within(child.status, 15_000, "started").catch(async () => {
        child.kill("SIGKILL");
        await child.status;
        return undefined;
      });
      await child.stderr.cancel();
      assert.equal(status?.code, 64, `--codec ${name} must be a usage error, not a server`);
    }
  },
});
