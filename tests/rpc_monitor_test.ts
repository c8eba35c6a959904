/**
 * The RpcMonitor hook: every request sent is paired with its reply (also on
 * failure and timeout), every request received with the reply sent, and the
 * handler runs inside `runHandler`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import { expose, openConnection, type RpcMonitor, startServer } from "../rpc/mod.ts";

Deno.test("RpcMonitor: pairs sent/received, reports failures and timeouts, wraps handlers", async () => {
  const context = new AsyncLocalStorage<string>();
  const log: string[] = [];
  let next = 0;
  const monitor = (side: string): RpcMonitor => ({
    requestSent: (_channel, path) => {
      const token = `${side}${next++}:${path}`;
      log.push(`sent ${token}`);
      return token;
    },
    replyReceived: (token, ok, error) =>
      log.push(`reply ${token} ${ok}${error ? ` ${(error as Error).name}` : ""}`),
    requestReceived: (_channel, path) => {
      const token = `${side}${next++}:${path}`;
      log.push(`received ${token}`);
      return token;
    },
    replySent: (token, ok) => log.push(`answered ${token} ${ok}`),
    runHandler: (token, fn) => context.run(token as string, fn),
  });
  const service = {
    where: expose(async () => {
      await null;
      return context.getStore();
    }),
    fail: expose(() => {
      throw new Error("no");
    }),
    slow: expose(() => new Promise((resolve) => setTimeout(resolve, 200))),
  };
  const server = await startServer("tcp://127.0.0.1:0", service, { monitor: monitor("s") });
  const client = await openConnection(server.url, { monitor: monitor("c") });
  try {
    assert.equal(await client.remote.where(), "s1:where");
    await assert.rejects(client.remote.fail());
    await assert.rejects(client.call("slow", [], {}, { timeout: 0.05 }), /timed out/);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const sent = log.filter((line) => line.startsWith("sent c")).length;
    const replies = log.filter((line) => line.startsWith("reply c")).length;
    const received = log.filter((line) => line.startsWith("received s")).length;
    const answered = log.filter((line) => line.startsWith("answered s")).length;
    assert.equal(sent, replies);
    assert.equal(received, answered);
    assert.ok(log.includes("reply c0:where true"));
    assert.ok(log.some((line) => /^reply c\d+:fail false RemoteException$/.test(line)));
    assert.ok(log.some((line) => /^answered s\d+:fail false$/.test(line)));
    assert.ok(log.some((line) => /^reply c\d+:slow false TimeoutError$/.test(line)));
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("RpcMonitor: replyReceived runs before the caller resumes, also for unawaited calls", async () => {
  const log: string[] = [];
  const monitor: RpcMonitor = {
    requestSent: (_channel, path) => path,
    replyReceived: (token, ok, error) =>
      log.push(`${token} ${ok}${error ? ` ${(error as Error).name}` : ""}`),
    requestReceived: () => undefined,
    replySent: () => {},
  };
  const service = {
    ping: expose(() => "pong"),
    fail: expose(() => {
      throw new Error("no");
    }),
  };
  const server = await startServer("tcp://127.0.0.1:0", service);
  const client = await openConnection(server.url, { monitor });
  try {
    assert.equal(await client.remote.ping(), "pong");
    assert.deepEqual(log, ["ping true"]);
    await assert.rejects(client.remote.fail());
    assert.deepEqual(log, ["ping true", "fail false RemoteException"]);
    // A call nobody awaits that fails when the connection closes: reported, and no
    // unhandled rejection (the test would fail on one).
    void client.remote.ping();
    await client.close();
    assert.deepEqual(log.at(-1), "ping false ConnectionError");
    // A call on the closed connection is reported too.
    await assert.rejects(client.remote.ping());
    assert.equal(log.length, 4);
  } finally {
    await client.close();
    await server.close();
  }
});
