/**
 * The client side of the hostile-peer suite: a container CLIENT (in a
 * subprocess with Deno's default behaviour) connects to a hostile server that
 * answers `validate_aid` with hostile values. Every such connect must reject
 * cleanly, the process must survive, and it must still serve a good container.
 *
 * @module
 */

import assert from "node:assert/strict";
import { CODECS } from "./fixtures_hostile/service.ts";
import { attackClient, checkClientLines, hostileAnswers } from "./hostile_client.ts";

for (const codecName of CODECS) {
  Deno.test(`hostile peers vs a container client with ${codecName}: validate_aid answers and call replies`, async () => {
    const answers = hostileAnswers(codecName);
    const run = await attackClient(codecName, answers);
    checkClientLines(answers, run);
    assert.ok(run.answered > 0, "the client answered hostile requests of the container");
  });

  Deno.test({
    name:
      `hostile peers vs a container client with ${codecName}: no call back into hostile answers`,
    async fn() {
      const { callbacks } = await attackClient(codecName, hostileAnswers(codecName));
      // Looking at a hostile answer never turns into a call to the hostile peer.
      assert.deepEqual(callbacks, []);
    },
  });
}
