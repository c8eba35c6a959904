/**
 * The live view in a real browser: headless Chromium loads the page of a
 * running system of three containers (a master and two worker containers)
 * and must show their agents and the calls made during the test. It also
 * saves a screenshot (tests/.tmp/live_view.png; docs/images/live_view.png
 * with AIOMAS_UPDATE_SCREENSHOT=1, which the README shows).
 *
 * Needs Chromium (`apt-get install -y chromium`; .ci/run installs it). Without
 * it the test is skipped, except under CI, where it fails.
 */

import assert from "node:assert/strict";
import { Container, type Remote, RemoteException } from "@aiomas/aiomas";
import { spawnWorkerContainer } from "@aiomas/aiomas/agent";
import { CHROMIUM, openPage } from "./chromium.ts";
import type { GridOperator, Household } from "./fixtures/live_agents.ts";

const TCP = "tcp://127.0.0.1:0";
const AGENTS = new URL("./fixtures/live_agents.ts", import.meta.url).href;
Deno.test({
  name: "live view in headless Chromium: three containers, their agents and calls",
  ignore: CHROMIUM === undefined && !Deno.env.get("CI"),
  async fn() {
    if (CHROMIUM === undefined) throw new Error("Chromium is missing: apt-get install -y chromium");
    const master = await Container.create(TCP, { inspect: TCP });
    const north = await spawnWorkerContainer(master, TCP);
    const south = await spawnWorkerContainer(master, TCP);
    try {
      const [grid, gridAddr] = await north.manager.spawn<GridOperator>(`${AGENTS}#GridOperator`);
      const households: Remote<Household>[] = [];
      for (let i = 0; i < 3; i++) {
        const [household] = await south.manager.spawn<Household>(`${AGENTS}#Household`, gridAddr);
        households.push(household!);
      }
      for (const [i, household] of households.entries()) {
        assert.equal(await household.step(1), i + 1);
      }
      await assert.rejects(grid!.reject(-1), RemoteException);

      const page = await openPage(master.inspectUrl!);
      try {
        // The page fills in from /stats, then from the event stream.
        await page.waitFor(`document.querySelector('#state').textContent === "live"`, 20);
        await page.waitFor(`document.querySelectorAll("[data-container]").length === 3`, 20);
        const dom = await page.evaluate<string>("document.documentElement.outerHTML");
        // Every container, with its agents.
        for (const addr of [master.addr, north.addr, south.addr]) {
          assert.ok(dom.includes(`data-container="${addr}"`), `container ${addr} missing`);
        }
        assert.ok(dom.includes(`data-agent="${gridAddr}"`) && dom.includes("GridOperator"));
        for (const id of ["1", "2", "3"]) {
          assert.ok(dom.includes(`data-agent="${south.addr}${id}"`), `household ${id} missing`);
        }
        // Per-method figures and the sequence diagram of the calls made above.
        assert.ok(dom.includes('data-path="in agents/*/report"'));
        assert.ok(dom.includes('data-path="out agents/*/report"'));
        assert.ok(dom.includes(`data-participant="${gridAddr}"`));
        assert.ok(dom.includes('data-call="agents/1/report"'));
        assert.ok(/data-call="agents\/1\/reject"[^>]*>reject \([^)]*failed\)/.test(dom));

        const png = await page.screenshot();
        assert.ok(png.length > 10_000, "the screenshot is empty");
        await Deno.mkdir(new URL("./.tmp/", import.meta.url), { recursive: true });
        await Deno.writeFile(new URL("./.tmp/live_view.png", import.meta.url), png);
        if (Deno.env.get("AIOMAS_UPDATE_SCREENSHOT")) {
          await Deno.writeFile(new URL("../docs/images/live_view.png", import.meta.url), png);
        }
      } finally {
        await page.close();
      }
    } finally {
      await north.close();
      await south.close();
      await master.shutdown();
    }
  },
});
