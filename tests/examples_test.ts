/**
 * The examples are part of the documentation: run each one as a user would
 * and check what it prints, so that none of them can rot.
 *
 * @module
 */

import assert from "node:assert/strict";

async function runExample(name: string): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`../examples/${name}`, import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(stderr);
  assert.equal(code, 0, `examples/${name} failed:\n${err}`);
  return new TextDecoder().decode(stdout);
}

Deno.test("examples/channel.ts prints ohai and cya", async () => {
  assert.equal(await runExample("channel.ts"), "ohai\ncya\n");
});

Deno.test("examples/agents.ts prints what the aiomas guide prints", async () => {
  const lines = (await runExample("agents.ts")).trimEnd().split("\n");
  assert.deepEqual(lines.slice(0, 4), [
    "Monty says:",
    "Hello, World!",
    "Hello, World!",
    "Hello, World!",
  ]);
  const caller = /^Caller\('tcp:\/\/127\.0\.0\.1:\d+\/2'\)/;
  assert.match(
    lines[4],
    new RegExp(`${caller.source} connecting to tcp://127\\.0\\.0\\.1:\\d+/1$`),
  );
  assert.match(lines[5], /connected to CalleeProxy\('tcp:\/\/127\.0\.0\.1:\d+\/1'\)$/);
  assert.match(lines[6], /got spamspamspam$/);
  assert.match(lines[8], /connected to CalleeProxy\('tcp:\/\/127\.0\.0\.1:\d+\/0'\)$/);
  assert.match(lines[9], /got spamspamspam$/);
});

Deno.test("examples/clock.ts wakes at simulated times", async () => {
  const lines = (await runExample("clock.ts")).trimEnd().split("\n");
  assert.deepEqual(lines.map((line) => line.split(" woke at ")[1]), [
    "2016-01-01T00:01:00.000Z",
    "2016-01-01T00:02:00.000Z",
    "2016-01-01T00:03:00.000Z",
  ]);
});

Deno.test("examples/tls.ts calls an agent over mutual TLS", async () => {
  assert.equal(await runExample("tls.ts"), "spamspamspam\n");
});

Deno.test("examples/simulation.ts simulates a day of 1,000 households, the same every run", async () => {
  assert.equal(
    await runExample("simulation.ts"),
    [
      "1000 households in 4 workers, 96 intervals",
      "simulated until 00:00 of the next day",
      "energy: 10560.085 kWh",
      "peak: 998.988 kW in the interval ending 17:15",
      "intervals above the limit: 20",
      "",
    ].join("\n"),
  );
});
