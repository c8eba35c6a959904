/**
 * The client side of the hostile-peer suite: a container CLIENT (in a
 * subprocess with Deno's default behaviour) connects to a hostile server that
 * answers `validate_aid` with hostile values. Every such connect must reject
 * cleanly, the process must survive, and it must still serve a good container.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createCodec } from "../codecs/mod.ts";
import { codecClass, CODECS, typeIds } from "./fixtures_hostile/service.ts";
import { frame, writeAll } from "./helpers.ts";
import { rawTags, within } from "./hostile_harness.ts";

const ROOT = new URL("../", import.meta.url);

/** What a hostile container answers to `validate_aid`, by codec. */
function hostileAnswers(codecName: string): Array<[type: number, value: unknown]> {
  const t = typeIds("container", codecName);
  const ref = (path: string) => ({ __type__: [t.ref, path] });
  const probes = { then: ref("x"), toJSON: ref("x"), toString: ref("x"), valueOf: ref("x") };
  const answers: Array<[number, unknown]> = [
    // Issue 15 item 1: a reference inside a date tag.
    [1, { __type__: [0, { __type__: [t.ref, "x"] }] }],
    [1, ref("x")],
    [1, ref("")],
    [1, probes],
    [1, { __type__: [t.point, probes] }],
    [1, { __type__: [t.point, { x: ref("x") }] }],
    [1, { __type__: [t.money, ref("x")] }],
    [1, { __type__: [0, "2016-01-01T00:00:00+00:00"] }],
    [1, { __type__: [0, probes] }],
    [1, { __type__: [99, "x"] }],
    [1, { __type__: "x" }],
    [1, 123],
    [1, true],
    [1, []],
    [1, {}],
    [1, [ref("x")]],
    [2, probes],
    [2, ref("x")],
    [2, { __type__: [0, { __type__: [t.ref, "x"] }] }],
    [2, "Traceback: no"],
    [3, "unknown msg_type"],
  ];
  if (t.ndarray !== undefined) {
    answers.push([1, { __type__: [t.ndarray, { type: ref("x"), shape: [ref("x")], data: 1 }] }]);
  }
  return answers;
}

/** Serve as a hostile container: answer validate_aid("<i>") with answers[i]. */
function hostileContainer(codecName: string, answers: Array<[number, unknown]>) {
  const codec = createCodec(codecClass(codecName)!, []);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const others: unknown[] = [];
  const conns = new Set<Deno.Conn>();
  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    let buffer = new Uint8Array(0);
    const chunk = new Uint8Array(65536);
    try {
      while (true) {
        const count = await conn.read(chunk);
        if (count === null) break;
        const next = new Uint8Array(buffer.length + count);
        next.set(buffer);
        next.set(chunk.subarray(0, count), buffer.length);
        buffer = next;
        while (buffer.length >= 4) {
          const size = new DataView(buffer.buffer, buffer.byteOffset).getUint32(0);
          if (buffer.length < 4 + size) break;
          const message = codec.decode(buffer.slice(4, 4 + size)) as [number, number, unknown];
          buffer = buffer.slice(4 + size);
          const [type, id, content] = message;
          const request = content as [string, string[], unknown];
          if (type === 0 && request[0] === "validate_aid") {
            const [replyType, value] = answers[Number(request[1][0])] ?? [1, null];
            // (Raw tags as Maps: codecs refuse plain objects with a `__type__` key.)
            await writeAll(conn, frame(codec.encode(rawTags([replyType, id, value]))));
          } else if (type === 0 && /^agents\/\d+\/add$/.test(request[0])) {
            // The calls after the connect: answered with the hostile values in turn.
            const [replyType, value] =
              answers[(request[1][0] as unknown as number) % answers.length];
            await writeAll(conn, frame(codec.encode(rawTags([replyType, id, value]))));
          } else others.push(message);
        }
      }
    } catch {
      // The client hung up after a decode error.
    } finally {
      conns.delete(conn);
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) void serve(conn);
  })().catch(() => {});
  const { port } = listener.addr as Deno.NetAddr;
  return {
    url: `tcp://127.0.0.1:${port}/`,
    others,
    async close() {
      listener.close();
      for (const conn of conns) conn.close();
      await accepting;
    },
  };
}

/** Run the container client fixture against a hostile container; what it printed and was asked. */
async function attackClient(codecName: string) {
  const answers = hostileAnswers(codecName);
  answers.push([1, "Calculator"]); // The last attempt connects: the client still works.
  const hostile = hostileContainer(codecName, answers);
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "tests/fixtures_hostile/client.ts",
        codecName,
        hostile.url,
        String(answers.length),
        String(answers.length),
      ],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    const { code, stdout, stderr } = await within(output, 60_000, "hung").catch(async () => {
      child.kill("SIGKILL");
      const { stdout, stderr } = await output;
      const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      throw new assert.AssertionError({ message: `the container client hung:\n${text}` });
    });
    const out = new TextDecoder().decode(stdout);
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 0, `the container client died (exit ${code})\n${out}\n${err}`);
    const lines = out.trim().split("\n").map((line) => JSON.parse(line));
    return { answers, lines, out, callbacks: hostile.others };
  } finally {
    await hostile.close();
  }
}

for (const codecName of CODECS) {
  Deno.test(`hostile peers vs a container client with ${codecName}: validate_aid answers and call replies`, async () => {
    const { answers, lines, out } = await attackClient(codecName);
    assert.equal(lines.length, 2 * answers.length + 1, out);
    const clean = [
      "ConnectionError",
      "ProtocolError",
      "CodecError",
      "RemoteException",
      "TimeoutError",
    ];
    for (let i = 0; i < answers.length - 1; i++) {
      assert.ok(
        lines[i].attempt === i && clean.includes(lines[i].rejected),
        `answer ${JSON.stringify(answers[i])} must reject the connect with an AiomasError, ` +
          `got ${JSON.stringify(lines[i])}`,
      );
    }
    assert.deepEqual(lines[answers.length - 1], { attempt: answers.length - 1, connected: true });
    // Every call answered with a hostile value settles: a result or an AiomasError.
    for (let i = 0; i < answers.length; i++) {
      const line = lines[answers.length + i];
      assert.ok(
        line.call === i && (line.result !== undefined || clean.includes(line.rejected)),
        `the reply ${JSON.stringify(answers[i])} gave ${JSON.stringify(line)}`,
      );
    }
    assert.deepEqual(lines[2 * answers.length], { good: 5 });
  });

  Deno.test({
    name:
      `hostile peers vs a container client with ${codecName}: no call back into hostile answers`,
    async fn() {
      const { callbacks } = await attackClient(codecName);
      // Looking at a hostile answer never turns into a call to the hostile peer.
      assert.deepEqual(callbacks, []);
    },
  });
}
