/**
 * The hostile-peer suite's client side: a hostile container that answers
 * `validate_aid` and calls with hostile values, and the container client
 * fixture (tests/fixtures_hostile/client.ts) run against it in a subprocess.
 * Used by tests/hostile_client_test.ts and `deno task fuzz`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createCodec } from "../codecs/mod.ts";
import { codecClass, typeIds } from "./fixtures_hostile/service.ts";
import { frame, writeAll } from "./helpers.ts";
import { rawTags, within } from "./hostile_harness.ts";

const ROOT = new URL("../", import.meta.url);

/** A reply the hostile container sends: its msg_type and content. */
export type HostileAnswer = [type: number, value: unknown];

/** What a hostile container answers to `validate_aid`, by codec. */
export function hostileAnswers(codecName: string): HostileAnswer[] {
  const t = typeIds("container", codecName);
  const ref = (path: string) => ({ __type__: [t.ref, path] });
  const probes = { then: ref("x"), toJSON: ref("x"), toString: ref("x"), valueOf: ref("x") };
  const answers: HostileAnswer[] = [
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

/**
 * Serve as a hostile container: answer validate_aid("<i>") with answers[i]
 * and calls with the answers in turn; send the client hostile requests on the
 * first connection; record any other request (a call back into hostile data).
 */
function hostileContainer(codecName: string, answers: HostileAnswer[]) {
  const codec = createCodec(codecClass(codecName)!, []);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const others: unknown[] = [];
  const replies = { count: 0 };
  const conns = new Set<Deno.Conn>();
  // A value the codec cannot carry (bytes in JSON) is answered with null instead.
  const encode = (type: number, id: number, value: unknown) => {
    try {
      return codec.encode(rawTags([type, id, value]));
    } catch {
      return codec.encode([type, id, null]);
    }
  };
  let first = true;
  const sendBurst = async (conn: Deno.Conn) => {
    for (const [i, [, value]] of answers.entries()) {
      for (
        const content of [["validate_aid", [value], {}], ["agents/0/add", [value, 1], {
          k: value,
        }], value]
      ) {
        await writeAll(conn, frame(encode(0, 100_000 + i, content))).catch(() => {});
      }
    }
  };
  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    if (first) {
      // The client serves its container too: the first connection brings it hostile
      // requests, once it has answered a harmless one.
      first = false;
      await writeAll(conn, frame(encode(0, 99_999, ["validate_aid", ["0"], {}]))).catch(() => {});
    }
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
            await writeAll(conn, frame(encode(replyType, id, value)));
          } else if (type === 0 && /^agents\/\d+\/add$/.test(request[0])) {
            // The calls after the connect: answered with the hostile values in turn.
            const [replyType, value] =
              answers[(request[1][0] as unknown as number) % answers.length];
            await writeAll(conn, frame(encode(replyType, id, value)));
          } else if (type === 0) others.push(message);
          else if (id >= 99_999) {
            replies.count++;
            if (id === 99_999) void sendBurst(conn);
          }
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
    replies,
    async close() {
      listener.close();
      for (const conn of conns) conn.close();
      await accepting;
    },
  };
}

/** What the client fixture printed, and which other requests it sent the hostile container. */
export interface ClientRun {
  /** The answers sent, the good one last. */
  answers: HostileAnswer[];
  /** The client's output lines, parsed. */
  lines: Record<string, unknown>[];
  /** Its whole output. */
  out: string;
  /** Requests other than validate_aid and the calls: calls back into hostile answers. */
  callbacks: unknown[];
  /** How many of the hostile requests sent to the client it answered. */
  answered: number;
}

/** Run the container client fixture against a hostile container answering `attack`. */
export async function attackClient(codecName: string, attack: HostileAnswer[]): Promise<ClientRun> {
  const answers = [...attack, [1, "Calculator"] as HostileAnswer]; // The last one connects.
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
    return { answers, lines, out, callbacks: hostile.others, answered: hostile.replies.count };
  } finally {
    await hostile.close();
  }
}

/** A value for an assertion message: JSON with bigints and bytes, cut short. */
function show(value: unknown): string {
  const text = JSON.stringify(
    value,
    (_key, item) =>
      typeof item === "bigint"
        ? `${item}n`
        : item instanceof Uint8Array
        ? `<${item.length} bytes>`
        : item,
  );
  return (text ?? String(value)).slice(0, 300);
}

/** The errors a clean rejection may have. */
const CLEAN = ["ConnectionError", "ProtocolError", "CodecError", "RemoteException", "TimeoutError"];

/**
 * Assert what the client printed for `hostile` answers: every connect
 * rejected with an AiomasError (unless the answer was a string: a class
 * name), the last (good) one connected, every call settled, and the good
 * container served.
 */
export function checkClientLines(
  hostile: HostileAnswer[],
  { lines, out }: Pick<ClientRun, "lines" | "out">,
): void {
  const count = hostile.length + 1;
  assert.equal(lines.length, 2 * count + 1, out);
  for (let i = 0; i < hostile.length; i++) {
    const [type, value] = hostile[i]!;
    // A string result is a class name: that connect may succeed.
    if (type === 1 && typeof value === "string" && lines[i]!.connected === true) continue;
    assert.ok(
      lines[i]!.attempt === i && CLEAN.includes(lines[i]!.rejected as string),
      `answer ${show(hostile[i])} must reject the connect with an AiomasError, ` +
        `got ${show(lines[i])}`,
    );
  }
  assert.deepEqual(lines[hostile.length], { attempt: hostile.length, connected: true });
  for (let i = 0; i < count; i++) {
    const line = lines[count + i]!;
    assert.ok(
      line.call === i && (line.result !== undefined || CLEAN.includes(line.rejected as string)),
      `a call answered with a hostile value gave ${show(line)}`,
    );
  }
  assert.deepEqual(lines[2 * count], { good: 5 });
}
