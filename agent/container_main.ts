/**
 * The entry module of worker and process containers (see `agent/spawn.ts`).
 *
 * - In a Web Worker it waits for one message with its `ChildConfig`, runs a
 *   managed container, posts `{ type: "ready", addr }` once it listens and
 *   `{ type: "stopped" }` after its Manager's `stop()`, then closes.
 * - As a process (`deno run container_main.ts`) it reads its `ChildConfig`
 *   as one line of JSON on stdin (not the command line, which other users
 *   of the machine can read: it holds the master's secret), prints
 *   `aiomas-container-ready <addr>` on stdout once it listens, and exits
 *   after `stop()` or as soon as its stdin closes (its master is gone).
 *
 * Either way its Manager obeys only the master: the connection that
 * authenticates with the secret in the config (see `ManagerAccess`).
 *
 * @module
 */

import { type ChildConfig, readLines, READY_LINE } from "./spawn.ts";
import { startContainer, type StartContainerOptions } from "./manager.ts";

interface WorkerScope {
  onmessage: ((event: MessageEvent<ChildConfig>) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
}

function options(config: ChildConfig): StartContainerOptions {
  return {
    access: { token: config.token, trusted: true },
    codec: config.codec,
    extraSerializers: config.extraSerializers,
    clock: config.clock,
    maxMessageSize: config.maxMessageSize,
    trace: config.trace,
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.stack ?? error.message : String(error);
}

/** Run as a Web Worker: configured by the first message. */
function runWorker(scope: WorkerScope): void {
  scope.onmessage = async (event) => {
    scope.onmessage = null;
    const config = event.data;
    try {
      await startContainer(config.addr, {
        ...options(config),
        onReady: (manager) => scope.postMessage({ type: "ready", addr: manager.container.addr }),
      });
      scope.postMessage({ type: "stopped" });
    } catch (error) {
      scope.postMessage({ type: "error", message: describe(error) });
    }
    scope.close();
  };
}

/**
 * Read stdin: resolve with its first line (the config), then keep reading
 * and exit once it closes (the master is gone).
 */
function watchStdin(): Promise<string> {
  const { promise, resolve } = Promise.withResolvers<string>();
  // Only the first line counts: the master writes nothing after the config.
  readLines(Deno.stdin.readable, resolve)
    .catch(() => {}) // a broken pipe also means the master is gone
    .finally(() => Deno.exit(0));
  return promise;
}

/** Run as a process: configured by the first line on stdin; exits with its stdin. */
async function runProcess(): Promise<void> {
  const configLine = watchStdin();
  try {
    const config = JSON.parse(await configLine) as ChildConfig;
    await startContainer(config.addr, {
      ...options(config),
      onReady: (manager) => console.log(`${READY_LINE} ${manager.container.addr}`),
    });
  } catch (error) {
    console.error(`aiomas container process failed: ${describe(error)}`);
    Deno.exit(1);
  }
  Deno.exit(0);
}

if ("WorkerGlobalScope" in globalThis) runWorker(globalThis as unknown as WorkerScope);
else if (import.meta.main) await runProcess();
