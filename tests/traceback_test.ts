/** Tracebacks sent to peers: no local file paths and no aiomas frames, unless asked for. */

import assert from "node:assert/strict";
import { Agent, Container, expose, formatTraceback, RemoteException } from "@aiomas/aiomas";
import { openConnection, startServer } from "@aiomas/aiomas/rpc";

const CWD = Deno.cwd();
const HERE = new URL(import.meta.url).pathname;

class Failing {
  @expose
  fail(): never {
    throw new TypeError(`boom in ${import.meta.url} and ${HERE}`);
  }
}

async function failure(fullTracebacks?: boolean): Promise<RemoteException> {
  const server = await startServer("tcp://127.0.0.1:0", new Failing(), { fullTracebacks });
  const client = await openConnection<Failing>(server.url);
  try {
    const error = await client.remote.fail().catch((e: unknown) => e);
    assert.ok(error instanceof RemoteException, String(error));
    return error;
  } finally {
    await client.close();
    await server.close();
  }
}

Deno.test("a traceback sent to a peer has no local paths and no aiomas frames", async () => {
  assert.ok(HERE.startsWith(`${CWD}/`), "run the tests from the project's directory");
  const error = await failure();
  const text = error.remoteTraceback;
  assert.doesNotMatch(text, /file:\/\//);
  assert.ok(!text.includes(CWD), text);
  // aiomas' own frames (rpc/client.ts, channel/...) are internals of the peer.
  assert.doesNotMatch(text, /rpc\/|channel\/|ext:/);
  // The user's frame stays, relative to the project; so does the type and message.
  assert.match(text, /at Failing\.fail \(tests\/traceback_test\.ts:\d+:\d+\)/);
  assert.match(
    text,
    /TypeError: boom in tests\/traceback_test\.ts and tests\/traceback_test\.ts\n$/,
  );
  assert.equal(error.remoteType, "TypeError");
  // RemoteException.message quotes the remote traceback: no library frames there either.
  assert.doesNotMatch(error.message, /rpc\/client\.ts|channel\/channel\.ts|file:\/\//);
});

Deno.test("fullTracebacks sends every frame with its full location", async () => {
  const error = await failure(true);
  assert.match(error.remoteTraceback, /file:\/\/.*tests\/traceback_test\.ts:\d+:\d+/);
  assert.match(error.remoteTraceback, /rpc\/client\.ts/);
  assert.ok(error.remoteTraceback.includes(HERE));
});

Deno.test("containers take fullTracebacks too; the default hides paths", async () => {
  class Agentish extends Agent {
    @expose
    fail(): never {
      throw new RangeError("bad");
    }
  }
  for (const full of [false, true]) {
    const a = await Container.create("tcp://127.0.0.1:0", { fullTracebacks: full });
    const b = await Container.create("tcp://127.0.0.1:0");
    try {
      const agent = new Agentish(a);
      const proxy = await b.connect<Agentish>(agent.addr);
      const error = await proxy.fail().catch((e: unknown) => e) as RemoteException;
      assert.equal(error.remoteType, "RangeError");
      assert.equal(/file:\/\//.test(error.remoteTraceback), full, error.remoteTraceback);
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  }
});

Deno.test("formatTraceback drops frames outside the project and of the runtime", () => {
  const error = new Error("x");
  error.stack = [
    "Error: x",
    `    at user (file://${CWD}/src/agents.ts:3:4)`,
    "    at elsewhere (file:///home/someone/secret/project/mod.ts:1:1)",
    "    at ext:core/01_core.js:1:1",
    "    at new Promise (<anonymous>)",
    "    at https://example.com/lib.ts:5:6",
  ].join("\n");
  assert.equal(
    formatTraceback(error),
    "Traceback (most recent call last):\n    at https://example.com/lib.ts:5:6\n" +
      "    at user (src/agents.ts:3:4)\nError: x\n",
  );
  assert.match(formatTraceback(error, { full: true }), /secret\/project/);
});
