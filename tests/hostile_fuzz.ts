/**
 * `deno task fuzz`: the hostile-peer suite's generators for as long as asked.
 *
 *   deno task fuzz [--seconds 600] [--seed N] [--layer rpc] [--codec MsgPackCodec]
 *
 * (or FUZZ_SECONDS=600). Every round starts a fixture server of each layer x
 * codec (as tests/hostile_test.ts does), throws seeded batches at it and
 * checks it is alive and answers a good client. A failure prints its seed,
 * layer, codec and batch; replay it with `--seed <seed> --rounds 1` and the
 * same layer and codec. Exits 1 if anything failed.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { CODECS, LAYERS } from "./fixtures_hostile/service.ts";
import { FixtureServer } from "./hostile_harness.ts";
import {
  garbageBatch,
  mutantsBatch,
  pathsBatch,
  repliesBatch,
  Rng,
  structuresBatch,
  tagsBatch,
} from "./hostile_attacks.ts";

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
const layers = values.layer === undefined ? LAYERS : [values.layer];
const codecs = values.codec === undefined ? CODECS : [values.codec];
const end = performance.now() + seconds * 1000;
const failures: string[] = [];
let batches = 0;

console.log(`fuzzing ${layers.join(",")} x ${codecs.join(",")} for ${seconds} s from seed ${seed}`);
for (let round = 0; round < rounds && performance.now() < end; round++) {
  for (const layer of layers) {
    for (const codec of codecs) {
      if (performance.now() >= end && round > 0) break;
      const roundSeed = seed++;
      const rng = new Rng(roundSeed);
      const server = await FixtureServer.start(layer, codec);
      const replay = `--seed ${roundSeed} --rounds 1 --layer ${layer} --codec ${codec}`;
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
            const line = `FAILED ${layer}/${codec} batch ${name} seed ${roundSeed}: replay with ` +
              `deno task fuzz ${replay}\n${(error as Error)?.message ?? error}`;
            console.error(line);
            failures.push(line.split("\n")[0]);
            break;
          }
        }
      } finally {
        await server.stop().catch(() => {});
      }
    }
  }
}
console.log(`${batches} batches passed, ${failures.length} failed`);
for (const line of failures) console.log(line);
Deno.exit(failures.length > 0 ? 1 : 0);
