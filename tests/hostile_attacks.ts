/**
 * The hostile-peer suite's batches: each throws one kind of attack (made by
 * tests/hostile_generators.ts) at a fixture server. `deno task test` runs them with small,
 * fixed counts; `deno task fuzz` (tests/hostile_fuzz.ts) runs the same
 * batches with fresh seeds for as long as asked.
 *
 * @module
 */

import { frame } from "./helpers.ts";
import {
  garbage,
  hostileInternalCalls,
  hostilePaths,
  hostileValues,
  mutate,
  paths,
  placements,
  randomValue,
  request,
  type Rng,
} from "./hostile_generators.ts";
import { type FixtureServer, pool, RawPeer, sleep } from "./hostile_harness.ts";

/** How many attacks a batch sends; the fuzz task raises it. */
export interface Scale {
  /** Random mutants per batch. */
  mutants: number;
  /** Random hostile structures per batch. */
  structures: number;
  /** Connections of the connection flood. */
  connections: number;
  /** Pipelined requests of the request flood. */
  requests: number;
}

/** The counts `deno task test` uses. */
export const TEST_SCALE: Scale = { mutants: 40, structures: 40, connections: 150, requests: 5000 };

/**
 * Send each message on a fresh connection, then a probe request, and wait
 * until the probe is answered or the server closes the connection. The
 * server's requests to the attacker get `answer(id, content)` (hostile replies).
 */
export async function sendEach(
  server: FixtureServer,
  messages: readonly unknown[],
  answers: readonly unknown[] = [],
  raw = false,
  check?: (message: unknown, peer: RawPeer) => void,
): Promise<unknown[]> {
  const probeId = 2 ** 31;
  const probed: unknown[] = [];
  const probe = [0, probeId, request(server, paths(server)[0], [1, 2])];
  let answerIndex = 0;
  await pool(messages, 16, async (message) => {
    let peer: RawPeer;
    try {
      peer = await RawPeer.connect(server);
    } catch {
      return; // Refused: the health check after the batch tells whether that is a problem.
    }
    if (answers.length > 0) {
      peer.onRequest = (id) => {
        const value = answers[answerIndex++ % answers.length];
        void peer.send([answerIndex % 2 === 0 ? 1 : 2, id, value]);
        // A second answer to the same id, and one to an id never used.
        void peer.send([1, id, value]);
        void peer.send([1, id + 1000, value]);
      };
    }
    try {
      if (raw) await peer.write(message as Uint8Array);
      else await peer.send(message);
      await peer.send(probe);
      const deadline = performance.now() + 5000;
      while (
        !peer.closed && performance.now() < deadline &&
        !peer.frames.some((f) => Array.isArray(f) && f[1] === probeId)
      ) await peer.waitFrames(peer.frames.length + 1, 500);
      check?.(message, peer);
    } finally {
      await peer.close();
      for (const request of peer.requests) if (!isLegitCallback(request)) probed.push(request);
    }
  });
  return probed;
}

/**
 * Whether a request the server sent to the attacker is one the fixture makes on
 * purpose (`callBack` calls `echo` on the reference it got) or the library's own
 * (`aiomas/...`), as opposed to a call that looking at hostile data turned into.
 */
function isLegitCallback(request: unknown): boolean {
  const content = (request as unknown[])[2];
  const path = Array.isArray(content) ? content[0] : undefined;
  return typeof path === "string" &&
    (path === "echo" || path.endsWith("/echo") || path.startsWith("aiomas/"));
}

/** Nested and mixed `__type__` tags in every place of a message, and as replies. */
export function tagsBatch(server: FixtureServer, rng: Rng, count?: number): Promise<unknown[]> {
  const values = hostileValues(server);
  const all: unknown[] = [];
  for (const value of values) {
    for (const placement of placements(server, value, rng.pick(paths(server)))) all.push(placement);
  }
  // The test runs a seeded sample; the fuzz task all of them.
  const sample = count === undefined ? all : Array.from({ length: count }, () => rng.pick(all));
  return sendEach(server, sample, values);
}

/** Every hostile path through a request. */
export async function pathsBatch(server: FixtureServer): Promise<void> {
  const messages = hostilePaths(server).map((path) => [0, 7, request(server, path, [1, 2])]);
  const reached: string[] = [];
  await sendEach(server, messages, [], false, (message, peer) => {
    // No hostile path reaches anything: the answer is an EXCEPTION (or nothing).
    if (peer.frames.some((f) => Array.isArray(f) && f[0] === 1 && f[1] === 7)) {
      const path = ((message as unknown[])[2] as unknown[])[0];
      if (path !== "aiomas/heartbeat") reached.push(String(path).slice(0, 80));
    }
  });
  if (reached.length > 0) throw new Error(`hostile paths reached something: ${reached}`);
  await sendEach(server, hostileInternalCalls(server));
}

/** Seeded random mutants of valid frames. */
export async function mutantsBatch(server: FixtureServer, rng: Rng, count: number): Promise<void> {
  const mutants = Array.from({ length: count }, () => mutate(server, rng));
  const framed = mutants.filter((m) => m.framed).map((m) => m.bytes);
  await sendEach(server, framed, [], true);
  // Unframed mutants: send, let the server read, then hang up.
  await pool(mutants.filter((m) => !m.framed), 16, async (mutant) => {
    const peer = await RawPeer.connect(server).catch(() => undefined);
    if (peer === undefined) return;
    await peer.write(mutant.bytes);
    await peer.waitClosed(100);
    await peer.close();
  });
}

/** Random hostile structures (type confusion at any depth) as whole messages. */
export async function structuresBatch(
  server: FixtureServer,
  rng: Rng,
  count: number,
): Promise<void> {
  const messages: unknown[] = [];
  for (let i = 0; i < count; i++) {
    const value = randomValue(server, rng);
    const path = rng.pick(paths(server));
    messages.push(rng.pick(placements(server, value, path)));
  }
  await sendEach(server, messages, messages);
}

/** Bytes that are no frame: HTTP, TLS, empty, deep, lying containers. */
export async function garbageBatch(server: FixtureServer): Promise<void> {
  await pool(garbage(), 8, async (bytes) => {
    const peer = await RawPeer.connect(server).catch(() => undefined);
    if (peer === undefined) return;
    await peer.write(bytes);
    await peer.waitClosed(300);
    await peer.close();
  });
}

/** Replies to request ids the server never issued, and duplicate replies. */
export async function repliesBatch(server: FixtureServer): Promise<void> {
  const messages: unknown[] = [];
  for (const id of [0, 1, 7, -1, 2 ** 31, 2 ** 53, 1.5, "0", null, NaN]) {
    messages.push([1, id, "result"], [2, id, "Traceback"], [2, id, { __type__: [0, "x"] }]);
    messages.push([3, id, null], [-1, id, null], ["1", id, "x"]);
  }
  await sendEach(server, messages);
}

/** Frames started but never finished: the peers hang while a good client is served. */
export async function halfSentBatch(
  server: FixtureServer,
  whileHanging: () => Promise<void>,
): Promise<void> {
  const codec = server.codec();
  const full = frame(codec.encode([0, 0, request(server, paths(server)[0], [1, 2])]));
  const starts: Uint8Array[] = [
    full.subarray(0, 1),
    full.subarray(0, 3),
    full.subarray(0, 4),
    full.subarray(0, 4 + Math.floor((full.length - 4) / 2)),
    full.subarray(0, full.length - 1),
    new Uint8Array([0x00, 0x40, 0x00, 0x00, 1, 2, 3]), // announces 4 MiB, sends 3 bytes
    new Uint8Array([0x04, 0x00, 0x00, 0x00]), // announces exactly 64 MiB
  ];
  // One peer announces 8 MiB and sends most of it.
  const big = new Uint8Array(4 + 6 * 1024 * 1024);
  new DataView(big.buffer).setUint32(0, 8 * 1024 * 1024);
  starts.push(big);
  const peers: RawPeer[] = [];
  try {
    for (const start of starts) {
      for (let i = 0; i < 3; i++) {
        const peer = await RawPeer.connect(server);
        peers.push(peer);
        await peer.write(start);
      }
    }
    await whileHanging();
  } finally {
    await Promise.all(peers.map((peer) => peer.close()));
  }
}

/** Many connections at once, each with one request; many idle ones held open. */
export async function connectionFloodBatch(
  server: FixtureServer,
  count: number,
  whileHeld: () => Promise<void>,
): Promise<void> {
  const codec = server.codec();
  const good = frame(codec.encode([0, 0, request(server, paths(server)[0], [1, 2])]));
  const peers: RawPeer[] = [];
  try {
    const opened = await Promise.allSettled(
      Array.from({ length: count }, () => RawPeer.connect(server)),
    );
    for (const result of opened) if (result.status === "fulfilled") peers.push(result.value);
    await Promise.all(peers.map((peer, i) => i % 2 === 0 ? peer.write(good) : Promise.resolve()));
    await whileHeld();
  } finally {
    await Promise.all(peers.map((peer) => peer.close()));
  }
}

/** Many pipelined requests on one connection: read, and never read. */
export async function requestFloodBatch(server: FixtureServer, count: number): Promise<number> {
  const codec = server.codec();
  const path = paths(server)[0];
  const chunks: Uint8Array[] = [];
  for (let id = 0; id < count; id++) {
    chunks.push(frame(codec.encode([0, id, request(server, path, [id, 1])])));
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  // A reader: every reply must come back.
  const reader = await RawPeer.connect(server);
  let replies: number;
  try {
    await reader.write(all);
    await reader.waitFrames(count, 30_000);
    replies = reader.frames.length;
  } finally {
    await reader.close();
  }
  // A peer that never reads its replies, and hangs up in the middle.
  const deaf = await Deno.connect(server.hostPort);
  try {
    for (let i = 0; i < 4; i++) await deaf.write(all).catch(() => 0);
    await sleep(50);
  } finally {
    deaf.close();
  }
  return replies;
}
