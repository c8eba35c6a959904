/**
 * Tests of the command line (cli/), run as a real subprocess:
 * `deno run -A cli/mod.ts ...` from the repository root.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createPki, hasOpenssl } from "./pki.ts";

const ROOT = new URL("../", import.meta.url);
const FIXTURE = "./tests/fixtures_cli/agents.ts";
/** The Manager token of the served containers in these tests. */
const TOKEN = "cli-test-token-0123456789";

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI to its end (killed after 60 s, so a command that hangs fails its test). */
async function cli(...args: string[]): Promise<Output> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/mod.ts", ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** Assert an exit code, showing the output when it differs. */
function assertExit(out: Output, code: number): void {
  assert.equal(out.code, code, `exit ${out.code}, expected ${code}\n${out.stdout}\n${out.stderr}`);
}

/** Collect a byte stream as text; `lines` resolves once `count` lines came (or the end). */
function collect(stream: ReadableStream<Uint8Array>, count = 0) {
  let text = "";
  const { promise: lines, resolve } = Promise.withResolvers<string[]>();
  const done = stream.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(chunk) {
        text += chunk;
        const complete = text.split("\n").slice(0, -1);
        if (complete.length >= count) resolve(complete.slice(0, count));
      },
      close() {
        resolve(text.split("\n").filter((line) => line !== ""));
      },
    }),
  ).catch(() => {});
  return { lines, done, text: () => text };
}

/** A running `cli/mod.ts serve`; always `close()` it (in `finally`). */
class Served {
  readonly #child: Deno.ChildProcess;
  readonly #stdout: ReturnType<typeof collect>;
  readonly #stderr: ReturnType<typeof collect>;
  #status: Promise<Deno.CommandStatus>;

  constructor(args: string[], count: number) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "cli/mod.ts", "serve", ...args],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdout = collect(this.#child.stdout, count);
    this.#stderr = collect(this.#child.stderr);
    this.#status = this.#child.status;
  }

  /** The agent addresses printed on stdout (rejects after 10 s). */
  async addresses(): Promise<string[]> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`serve printed no addresses:\n${this.stderr}`)),
        10000,
      );
    });
    try {
      const lines = await Promise.race([this.#stdout.lines, timeout]);
      return lines;
    } finally {
      clearTimeout(timer);
    }
  }

  get stderr(): string {
    return this.#stderr.text();
  }

  /** Send `signal` and wait for the exit (SIGKILL after `graceMs`). */
  async stop(
    signal: Deno.Signal = "SIGTERM",
    graceMs = 5000,
  ): Promise<[Deno.CommandStatus, number]> {
    const start = performance.now();
    try {
      this.#child.kill(signal);
    } catch { /* already exited */ }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch { /* exited */ }
        resolve();
      }, graceMs);
    });
    await Promise.race([this.#status, killed]);
    clearTimeout(timer);
    const status = await this.#status;
    return [status, performance.now() - start];
  }

  /** Kill the process if it still runs and wait for it and its pipes. */
  async close(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already exited */ }
    await this.#status;
    await Promise.all([this.#stdout.done, this.#stderr.done]);
  }
}

/** A TCP port nobody listens on. */
function deadPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

Deno.test("cli: --help on every command exits 0 with usage on stdout", async () => {
  const outs = await Promise.all([
    cli("--help"),
    cli("-h"),
    cli("help", "call"),
    cli("serve", "--help"),
    cli("call", "--help"),
    cli("ping", "-h"),
  ]);
  for (const out of outs) {
    assertExit(out, 0);
    assert.match(out.stdout, /^Usage: aiomas/);
  }
  assert.match(outs[0].stdout, /serve.*\n.*call.*\n.*ping/);
  assert.match(outs[3].stdout, /--agent/);
  assert.match(outs[4].stdout, /--kw/);
  assert.match(outs[5].stdout, /round-trip/);
});

Deno.test("cli: bad usage exits 64 with the problem and a hint, not the usage", async () => {
  const cases: string[][] = [
    [],
    ["frobnicate"],
    ["call"],
    ["call", "tcp://127.0.0.1:5555/0"],
    ["call", "tcp://127.0.0.1:5555", "add"],
    ["call", "nonsense/0", "add"],
    ["call", "tcp://127.0.0.1:5555/0", "add", "--kw", "novalue"],
    ["call", "tcp://127.0.0.1:5555/0", "add", "--codec", "xml"],
    ["call", "tcp://127.0.0.1:5555/0", "add", "--timeout", "soon"],
    ["call", "tcp://127.0.0.1:5555/0", "add", "--timeout"],
    ["call", "tcp://127.0.0.1:5555/0", "add", "--timeout", "--wait", "1"],
    ["call", "tcp://127.0.0.1:5555/0", "add", "--bogus"],
    ["call", "tcp://127.0.0.1:5555/0", "add", "--tls-ca", "ca.pem"],
    ["call", "tcp://127.0.0.1:5555/0", "echo", '{"__type__": [9, 1]}'],
    ["ping"],
    ["serve", "not-an-address", "--agent", FIXTURE],
    ["serve", "tcp://127.0.0.1:0", "--count", "-1"],
    ["serve", "tcp://127.0.0.1:0", "--clock", "sundial"],
    ["serve", "tcp://127.0.0.1:0", "--agent", FIXTURE],
    ["serve", "tcp://127.0.0.1:0", "--agent", FIXTURE, "--token", "short"],
    ["serve", "tcp://127.0.0.1:0", "--agent", FIXTURE, "--token", TOKEN, "--open"],
  ];
  const outs = await Promise.all(cases.map((args) => cli(...args)));
  outs.forEach((out, i) => {
    const what = `${cases[i].join(" ")}:\n${out.stderr}`;
    assert.equal(out.code, 64, `exit ${out.code}: ${what}`);
    assert.equal(out.stdout, "");
    const lines = out.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 2, what);
    assert.match(lines[0], /^aiomas( serve| call| ping)?: /, what);
    assert.match(lines[1], /^hint: .*--help" shows the usage$/, what);
    assert.doesNotMatch(out.stderr, /Usage:|^\s+at /m, what);
  });
  // serve without a choice of who may steer its Manager says how to choose.
  const unchosen = outs[
    cases.findIndex((c) => c.length === 4 && c[1] === "tcp://127.0.0.1:0" && c[2] === "--agent")
  ];
  assert.match(unchosen.stderr, /choose who may steer the Manager[^]*--token[^]*--open/);
  // Node's own message has an unbalanced quote; ours names the option and the way out.
  const bogus = outs[cases.findIndex((c) => c.includes("--bogus"))].stderr;
  assert.match(bogus, /unknown option --bogus\nhint: to pass "--bogus" as an argument, put "--"/);
  assert.equal(bogus.split('"').length % 2, 1, `unbalanced quotes: ${bogus}`);
});

Deno.test("cli: option values are looked up as own properties only (issue 15.9)", async () => {
  const names = ["toString", "constructor", "valueOf", "hasOwnProperty", "__proto__"];
  const outs = await Promise.all(names.flatMap((name) => [
    cli("serve", "tcp://127.0.0.1:0", "--open", "--codec", name, "--agent", FIXTURE),
    cli("call", "tcp://127.0.0.1:5555/0", "add", "--codec", name),
    cli("ping", "tcp://127.0.0.1:5555/", "--codec", name),
  ]));
  for (const out of outs) {
    assertExit(out, 64);
    assert.match(out.stderr, /unknown codec/);
  }
  const help = await cli("help", "constructor");
  assertExit(help, 0);
  assert.match(help.stdout, /^Usage: aiomas <command>/);
});

Deno.test("cli: serve refuses a missing module or export (exit 1)", async () => {
  const [missing, noExport, notClass] = await Promise.all([
    cli("serve", "tcp://127.0.0.1:0", "--open", "--agent", "./tests/fixtures_cli/nope.ts#X"),
    cli("serve", "tcp://127.0.0.1:0", "--open", "--agent", `${FIXTURE}#Nope`),
    cli("serve", "tcp://127.0.0.1:0", "--open", "--agent", `${FIXTURE}#notAClass`),
  ]);
  assertExit(missing, 1);
  assertExit(noExport, 1);
  assert.match(noExport.stderr, /no export "Nope".*Probe/);
  assertExit(notClass, 1);
});

Deno.test("cli: unreachable address exits 2 with one line on stderr", async () => {
  const port = deadPort();
  const [call, ping] = await Promise.all([
    cli("call", `tcp://127.0.0.1:${port}/0`, "add", "1", "2"),
    cli("ping", `tcp://127.0.0.1:${port}/`),
  ]);
  for (const out of [call, ping]) {
    assertExit(out, 2);
    assert.equal(out.stdout, "");
    assert.equal(out.stderr.trim().split("\n").length, 1, out.stderr);
    assert.match(out.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
  }
});

Deno.test("cli: the README session (JSON codec), the Manager, stop()", async () => {
  const served = new Served(
    [
      "tcp://127.0.0.1:0",
      ...["--agent", "./examples/cli_agents.ts#Calculator", "--count", "2", "--token", TOKEN],
    ],
    2,
  );
  try {
    const addrs = await served.addresses();
    assert.equal(addrs.length, 2);
    assert.match(addrs[0], /^tcp:\/\/127\.0\.0\.1:\d+\/\d+$/);
    const agent = addrs[0];
    const container = agent.slice(0, agent.lastIndexOf("/") + 1);
    const [add, greet, store, negative, ping] = await Promise.all([
      cli("call", agent, "add", "1", "2"),
      cli("call", addrs[1], "greet", "Monty", "--kw", "greeting=Hi"),
      cli("call", agent, "memory/store", '{"spam": [1, "2"]}'),
      cli("call", agent, "add", "-1", "-2.5"),
      cli("ping", container),
    ]);
    assertExit(add, 0);
    assert.equal(add.stdout, "3\n");
    assertExit(greet, 0);
    assert.equal(greet.stdout, '"Hi, Monty!"\n');
    assertExit(store, 0);
    assert.deepEqual(JSON.parse(store.stdout), { spam: [1, "2"] });
    assertExit(negative, 0);
    assert.equal(negative.stdout, "-3.5\n");
    assertExit(ping, 0);
    assert.match(ping.stdout, /^tcp:\/\/.*: \d+\.\d+ ms\n$/);

    // README: `call ADDR/ validate_aid 1` names the agent's class (the id 1 is read as "1").
    // Integers beyond 2^53 reach the agent exactly (as a bigint), not rounded.
    const [validate, big, kwBig, setTime] = await Promise.all([
      cli("call", container, "validate_aid", "1"),
      cli("call", agent, "memory/store", "18446744073709551615"),
      cli("call", agent, "memory/store", '{"n": 9007199254740993}'),
      cli("call", `${container}0`, "setTime", "10", "--token", TOKEN),
    ]);
    assertExit(validate, 0);
    assert.equal(validate.stdout, '"Calculator"\n');
    assertExit(big, 0);
    assert.equal(big.stdout, '"18446744073709551615"\n');
    assertExit(kwBig, 0);
    assert.equal(kwBig.stdout, '{"n":"9007199254740993"}\n');
    assertExit(setTime, 1);
    assert.match(setTime.stderr, /--clock external/);

    assert.match(addrs[0], /\/1$/, "id 0 is the Manager");
    // Without the token the Manager refuses; other agents answered above without one.
    const [refused, wrong] = await Promise.all([
      cli("call", `${container}0`, "stop"),
      cli("call", `${container}0`, "stop", "--token", "not-the-right-token"),
    ]);
    for (const out of [refused, wrong]) {
      assertExit(out, 1);
      assert.match(out.stderr, /AccessError/);
    }
    const pingToken = await cli("ping", container, "--token", TOKEN);
    assertExit(pingToken, 0);
    assert.match(pingToken.stdout, /token accepted\n$/);
    const manager = await cli(
      "call",
      `${container}0`,
      "spawn",
      "./examples/cli_agents.ts#Calculator",
      "--token",
      TOKEN,
    );
    assertExit(manager, 0);
    assert.match(manager.stdout, /^\["<proxy agents\/3>","tcp:\/\/127\.0\.0\.1:\d+\/3"\]\n$/);

    // The Manager's stop() ends `serve` with exit code 0.
    const stop = await cli("call", `${container}0`, "stop", "--token", TOKEN);
    assertExit(stop, 0);
    const [status, ms] = await served.stop("SIGCONT", 5000);
    assert.equal(status.code, 0, served.stderr);
    assert.ok(ms < 5000, `took ${ms} ms`);
    assert.match(served.stderr, /connection .* opened/);
    assert.match(served.stderr, /Manager\.stop\(\)/);
  } finally {
    await served.close();
  }
});

Deno.test("cli: call and ping against a MsgPack container with an external clock", async () => {
  const served = new Served([
    "tcp://127.0.0.1:0",
    ...["--agent", `${FIXTURE}#Probe`, "--agent", FIXTURE],
    ...["--codec", "msgpack", "--clock", "external", "--start-date", "2016-01-01T00:00:00Z"],
    "--open",
  ], 2);
  try {
    const [probe, greeter] = await served.addresses();
    const container = probe.slice(0, probe.lastIndexOf("/") + 1);
    const mp = ["--codec", "msgpack"];
    const [
      echo,
      sub,
      odd,
      now,
      greet,
      root,
      unknown,
      fails,
      slow,
      noAgent,
      ping,
      pingAgent,
    ] = await Promise.all([
      cli(
        "call",
        probe,
        "echo",
        "1",
        "spam",
        '"1"',
        "[1,2]",
        "--kw",
        "a=null",
        "--kw",
        "b=x",
        ...mp,
      ),
      cli("call", probe, "sub/double", "21", ...mp),
      cli("call", probe, "odd", ...mp),
      cli("call", probe, "now", ...mp),
      cli("call", greeter, "greet", "Monty", ...mp),
      cli("call", container, "validate_aid", '"1"', ...mp),
      cli("call", probe, "nope", ...mp),
      cli("call", probe, "fail", "boom", ...mp),
      cli("call", probe, "slow", "5", "--timeout", "0.3", ...mp),
      cli("call", `${container}99`, "add", "1", "2", ...mp),
      cli("ping", container, ...mp),
      cli("ping", greeter, ...mp),
    ]);
    assertExit(echo, 0);
    assert.deepEqual(JSON.parse(echo.stdout), [1, "spam", "1", [1, 2], { a: null, b: "x" }]);
    assertExit(sub, 0);
    assert.equal(sub.stdout, "42\n");
    assertExit(odd, 0);
    assert.deepEqual(JSON.parse(odd.stdout), {
      big: "1152921504606846977",
      bytes: "AQL/",
      date: "1970-01-01T00:00:00.000Z",
    });
    assertExit(now, 0);
    assert.equal(now.stdout, '"2016-01-01T00:00:00.000Z"\n');
    assertExit(greet, 0);
    assert.equal(greet.stdout, '"Hi, Monty!"\n');
    assertExit(root, 0);
    assert.equal(root.stdout, '"Probe"\n');

    assertExit(unknown, 1);
    assert.equal(unknown.stdout, "");
    assert.match(unknown.stderr, /LookupError: .*nope/);
    assertExit(fails, 1);
    assert.match(fails.stderr, /RangeError: boom/);
    assertExit(slow, 3);
    assert.match(slow.stderr, /timed out/);
    assertExit(noAgent, 2);
    assert.match(noAgent.stderr, /No agent "99"/);
    assertExit(ping, 0);
    assertExit(pingAgent, 0);
    assert.match(pingAgent.stdout, /\/2 \(Greeter\): \d+\.\d+ ms/);

    // The Manager (id 0) sets the external clock.
    assertExit(await cli("call", `${container}0`, "setTime", "10", ...mp), 0);
    const later = await cli("call", probe, "now", ...mp);
    assert.equal(later.stdout, '"2016-01-01T00:00:10.000Z"\n');

    const [status, ms] = await served.stop("SIGTERM");
    assert.equal(status.code, 0, served.stderr);
    assert.ok(ms < 5000, `took ${ms} ms`);
    assert.match(served.stderr, /SIGTERM/);
  } finally {
    await served.close();
  }
});

Deno.test({
  name: "cli: serve and call over TLS (skipped without openssl)",
  ignore: !hasOpenssl,
  async fn() {
    const pki = await createPki();
    const [server, client] = pki.devices;
    const served = new Served([
      "tcp://127.0.0.1:0",
      ...["--agent", "./examples/cli_agents.ts#Calculator"],
      ...["--tls-ca", pki.caFile, "--tls-cert", server.certFile, "--tls-key", server.keyFile],
    ], 1);
    try {
      const [agent] = await served.addresses();
      const tls = [
        "--tls-ca",
        pki.caFile,
        "--tls-cert",
        client.certFile,
        "--tls-key",
        client.keyFile,
      ];
      const rogue = [
        "--tls-ca",
        pki.caFile,
        "--tls-cert",
        pki.rogue.certFile,
        "--tls-key",
        pki.rogue.keyFile,
      ];
      const [ok, ping, plain, refused] = await Promise.all([
        cli("call", agent, "add", "1", "2", ...tls),
        cli("ping", agent, ...tls),
        cli("call", agent, "add", "1", "2", "--timeout", "5"),
        cli("call", agent, "add", "1", "2", "--timeout", "5", ...rogue),
      ]);
      assertExit(ok, 0);
      assert.equal(ok.stdout, "3\n");
      assertExit(ping, 0);
      assert.notEqual(plain.code, 0);
      assert.equal(plain.stdout, "");
      assertExit(refused, 2);
      assert.equal(refused.stdout, "");
      const [status] = await served.stop("SIGINT");
      assert.equal(status.code, 0, served.stderr);
    } finally {
      await served.close();
      await pki.remove();
    }
  },
});

Deno.test("cli: serve without --agent says so on stderr", async () => {
  const port = deadPort();
  const served = new Served([`tcp://127.0.0.1:${port}`, "--open"], 0);
  try {
    const ping = await cli("ping", `tcp://127.0.0.1:${port}/0`, "--wait", "20");
    assertExit(ping, 0);
    assert.match(ping.stdout, /\(Manager\)/);
    const [status] = await served.stop("SIGTERM");
    assert.equal(status.code, 0, served.stderr);
    assert.match(served.stderr, /no --agent given: only the Manager runs; add agents with/);
  } finally {
    await served.close();
  }
});

Deno.test("cli: an agent that fails to start is reported without the CLI's stack frames", async () => {
  const out = await cli("serve", "tcp://127.0.0.1:0", "--open", "--agent", `${FIXTURE}#Broken`);
  assertExit(out, 1);
  assert.match(out.stderr, /cannot create the agents: Error: broken on purpose/);
  assert.match(out.stderr, /fixtures_cli\/agents\.ts/, "the user's own frame is kept");
  assert.doesNotMatch(out.stderr, /\/cli\/|cli\.ts|ext:/);
});

Deno.test("cli: serve --inspect serves the live view; stats prints the Manager's figures", async () => {
  const served = new Served(
    [
      "tcp://127.0.0.1:0",
      ...["--agent", "./examples/cli_agents.ts#Calculator", "--token", TOKEN],
      ...["--inspect", "127.0.0.1:0"],
    ],
    1,
  );
  try {
    const [agent] = await served.addresses();
    const container = agent.slice(0, agent.lastIndexOf("/") + 1);
    assertExit(await cli("call", agent, "add", "1", "2"), 0);
    const url = /live view at (http:\S+)/.exec(served.stderr)?.[1];
    assert.ok(url, served.stderr);
    // The page needs the token (the URL carries it); without it: 403.
    const snapshot = await (await fetch(url.replace("/?", "/stats?"))).json();
    assert.deepEqual(
      snapshot.containers[0].agents.list.map((a: { type: string }) => a.type),
      ["Manager", "Calculator"],
    );
    const forbidden = await fetch(new URL("/stats", url));
    assert.equal(forbidden.status, 403);
    await forbidden.body?.cancel();

    const json = await cli("stats", agent, "--json", "--token", TOKEN);
    assertExit(json, 0);
    const stats = JSON.parse(json.stdout);
    assert.equal(stats.addr, container);
    const add = stats.calls.in.find((path: { path: string }) => path.path === "agents/*/add");
    assert.equal(add.count, 1);
    const text = await cli("stats", container, "--token", TOKEN);
    assertExit(text, 0);
    assert.match(text.stdout, /^container tcp:\/\/127\.0\.0\.1:\d+\/ .* agents 2 /);
    assert.match(text.stdout, /in\s+agents\/\*\/add\s+1\s+0\s/);
    // The Manager shows its figures only to callers that may steer it.
    const refused = await cli("stats", container);
    assertExit(refused, 1);
    assert.match(refused.stderr, /AccessError/);
    assertExit(await cli("stats", container, "--watch", "0", "--token", TOKEN), 64);
  } finally {
    await served.close();
  }
});

Deno.test("cli: call --wait also waits for an agent id the container does not know yet", async () => {
  const port = deadPort();
  const container = `tcp://127.0.0.1:${port}/`;
  const served = new Served([`tcp://127.0.0.1:${port}`, "--token", TOKEN], 0);
  try {
    const waiting = cli("call", `${container}1`, "add", "1", "2", "--wait", "30");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const spawned = await cli(
      "call",
      `${container}0`,
      "spawn",
      "./examples/cli_agents.ts#Calculator",
      "--token",
      TOKEN,
      "--wait",
      "30",
    );
    assertExit(spawned, 0);
    const out = await waiting;
    assertExit(out, 0);
    assert.equal(out.stdout, "3\n");
  } finally {
    await served.close();
  }
});
