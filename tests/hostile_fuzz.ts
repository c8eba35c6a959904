/**
 * `deno task fuzz`: the hostile-peer suite's generators for as long as asked.
 *
 *   deno task fuzz [--seconds 600] [--seed N] [--layer rpc] [--codec MsgPackCodec]
 *
 * (or FUZZ_SECONDS=600). Every round starts a fixture server of each layer x
 * codec (as tests/hostile_test.ts does; every other one with recycled read
 * buffers), throws seeded batches at it and
 * checks it is alive and answers a good client; then a container client
 * (layer "client") meets a hostile container with random answers. A failure prints its seed,
 * layer, codec and batch; replay it with `--seed <seed> --rounds 1` and the
 * same layer and codec. Exits 1 if anything failed.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { CODECS, LAYERS, typeIds } from "./fixtures_hostile/service.ts";
import { attackClient, checkClientLines, type HostileAnswer } from "./hostile_client.ts";
import { FixtureServer } from "./hostile_harness.ts";
import {
  garbageBatch,
  mutantsBatch,
  pathsBatch,
  repliesBatch,
  structuresBatch,
  tagsBatch,
} from "./hostile_attacks.ts";
import { randomValue, Rng } from "./hostile_generators.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: Deno.env.get("FUZZ_SECONDS") ?? "60" },
    seed: { type: "string" },
    rounds: { type: "string" },
    layer: { type: "string" },
    codec: { type: "string" },
  },
});
const seconds = Number(values.seconds);
const rounds = values.rounds === undefined ? Infinity : Number(values.rounds);
let seed = values.seed === undefined ? Date.now() % 1_000_000 : Number(values.seed);
// "client" is the container client against a hostile container; the others are servers.
const layers = values.layer === undefined ? [...LAYERS, "client"] : [values.layer];
const codecs = values.codec === undefined ? CODECS : [values.codec];
const end = performance.now() + seconds * 1000;
const failures: string[] = [];
let batches = 0;

/** Record a failure with the command that replays it. */
function failed(what: string, roundSeed: number, layer: string, codec: string, error: unknown) {
  const line = `FAILED ${what} seed ${roundSeed}: replay with deno task fuzz --seed ${roundSeed} ` +
    `--rounds 1 --layer ${layer} --codec ${codec}`;
  console.error(`${line}\n${(error as Error)?.message ?? error}`);
  failures.push(line);
}

/**
 * Seeded batches against a fixture server of `layer` with `codec`; for odd
 * seeds the server recycles its read buffers (`recycleReadBuffers`).
 */
async function fuzzServer(layer: string, codec: string, roundSeed: number): Promise<void> {
  const rng = new Rng(roundSeed);
  const server = await FixtureServer.start(layer, codec, {
    limits: roundSeed % 2 === 1 ? { recycleReadBuffers: true } : {},
  });
  const run: Array<[string, () => Promise<unknown>]> = [
    ["tags", () => tagsBatch(server, rng, 1000)],
    ["mutants", () => mutantsBatch(server, rng, 300)],
    ["structures", () => structuresBatch(server, rng, 300)],
    ["paths", () => pathsBatch(server)],
    ["replies", () => repliesBatch(server)],
    ["garbage", () => garbageBatch(server)],
  ];
  try {
    for (const [name, batch] of run) {
      try {
        await batch();
        await server.assertHealthy(`after ${name}`);
        batches++;
      } catch (error) {
        failed(`${layer}/${codec} batch ${name}`, roundSeed, layer, codec, error);
        return;
      }
    }
  } finally {
    await server.stop().catch(() => {});
  }
}

/** A container client with `codec` against a hostile container with seeded random answers. */
async function fuzzClient(codec: string, roundSeed: number): Promise<void> {
  const rng = new Rng(roundSeed);
  const shape: FixtureServer = Object.assign(Object.create(FixtureServer.prototype), {
    layer: "container",
    codecName: codec,
    types: typeIds("container", codec),
  });
  const answers: HostileAnswer[] = Array.from(
    { length: 30 },
    () => [rng.pick([1, 1, 1, 2, 3]), randomValue(shape, rng)],
  );
  try {
    checkClientLines(answers, await attackClient(codec, answers));
    batches++;
  } catch (error) {
    failed(`client/${codec}`, roundSeed, "client", codec, error);
  }
}

console.log(`fuzzing ${layers.join(",")} x ${codecs.join(",")} for ${seconds} s from seed ${seed}`);
for (let round = 0; round < rounds && performance.now() < end; round++) {
  for (const layer of layers) {
    for (const codec of codecs) {
      if (performance.now() >= end && round > 0) break;
      const roundSeed = seed++;
      if (layer === "client") await fuzzClient(codec, roundSeed);
      else await fuzzServer(layer, codec, roundSeed);
    }
  }
}
console.log(`${batches} batches passed, ${failures.length} failed`);
for (const line of failures) console.log(line);
Deno.exit(failures.length > 0 ? 1 : 0);
