/**
 * Creates 1,000,000 idle agents in one container and prints, as one line of
 * JSON, how long that took and how much heap they hold: `heapUsed` after a
 * forced garbage collection, before and after creating them. Run by
 * `bench/agent_bench.ts` in its own process, with the GC exposed:
 *
 * ```sh
 * deno run -A --v8-flags=--expose-gc bench/one_million.ts [count]
 * ```
 *
 * @module
 */

import { Agent, Container } from "../agent/mod.ts";
import { expose } from "../rpc/mod.ts";

/** What this script prints. */
export interface OneMillionResult {
  /** Agents created. */
  agents: number;
  /** Seconds to create them (constructor calls only). */
  seconds: number;
  /** Heap growth in bytes, measured after a forced GC on both sides. */
  heapBytes: number;
  /** Whether a GC could be forced (`--v8-flags=--expose-gc`). */
  gc: boolean;
}

/** An agent that does nothing until called. */
class Idle extends Agent {
  @expose
  ping(): string {
    return "pong";
  }
}

const gc = (globalThis as { gc?: () => void }).gc;

function heapUsed(): number {
  gc?.();
  gc?.();
  return Deno.memoryUsage().heapUsed;
}

/** Create `count` idle agents in a fresh container and measure time and heap. */
export async function createIdleAgents(count: number): Promise<OneMillionResult> {
  const container = await Container.create({ hostname: "127.0.0.1", port: 0 });
  try {
    // Warm up the constructor and the registry on a throw-away container.
    const warm = await Container.create({ hostname: "127.0.0.1", port: 0 });
    for (let i = 0; i < 10_000; i++) new Idle(warm);
    await warm.shutdown();
    const before = heapUsed();
    const agents: Agent[] = new Array(count);
    const start = performance.now();
    for (let i = 0; i < count; i++) agents[i] = new Idle(container);
    const seconds = (performance.now() - start) / 1000;
    agents.length = 0; // the container alone keeps them alive
    const after = heapUsed();
    if (container.agents.size !== count) throw new Error("lost agents");
    return { agents: count, seconds, heapBytes: after - before, gc: gc !== undefined };
  } finally {
    await container.shutdown();
  }
}

if (import.meta.main) {
  const count = Number(Deno.args[0] ?? 1_000_000);
  console.log(JSON.stringify(await createIdleAgents(count)));
}
