/**
 * The live view of a container: an HTTP server (`Deno.serve`) with one HTML
 * page (`/`), a JSON snapshot (`/stats`) and server-sent events (`/events`)
 * carrying a new snapshot every second. A master's snapshot includes the
 * containers it spawned, asked through their Managers.
 *
 * Started by `Container.create(addr, { inspect: "tcp://127.0.0.1:0" })`.
 *
 * @module
 */

import { type Address, parseAddress } from "../channel/address.ts";
import { AiomasError } from "../errors.ts";
import { deadline } from "./deadline.ts";
import { INSPECTOR_PAGE } from "./inspector_page.ts";
import { sameSecret } from "./secret.ts";
import type { ContainerStats, TracedCall } from "./stats.ts";

/** What the live view's `/stats` and each `snapshot` event carry. */
export interface InspectorSnapshot {
  /** This container first, then the containers it spawned (without `recentCalls`). */
  containers: ContainerStats[];
  /** Recent calls of all of them, oldest first. */
  calls: TracedCall[];
}

/** A running live view. */
export interface Inspector {
  /** The page's URL, with `?token=` when a token is required. */
  readonly url: string;
  /** Stop serving and end every open event stream. */
  close(): Promise<void>;
}

/** Options of {@linkcode startInspector}. */
export interface InspectorOptions {
  /** A secret every request must carry as `?token=` (required off loopback). */
  token?: string | undefined;
  /** Seconds between two snapshots on `/events` (default `1`). */
  interval?: number | undefined;
}

/** What the inspector needs of a container. */
export interface InspectedContainer {
  /** The container's address. */
  readonly addr: string;
  /** Its snapshot. */
  stats(): Promise<ContainerStats>;
}

const children = new WeakMap<object, Map<string, () => Promise<ContainerStats>>>();
// A spawned container that does not answer within this time is shown as unreachable.
const CHILD_DEADLINE = 1;

/**
 * Include the container at `addr` in `master`'s live view, asking `stats`
 * for its snapshot (spawned containers register this way). Returns a
 * function that removes it again.
 *
 * @example
 * ```ts
 * import { Container, watchContainer } from "@aiomas/aiomas/agent";
 * const master = await Container.create("tcp://127.0.0.1:0");
 * const child = await Container.create("tcp://127.0.0.1:0");
 * const unwatch = watchContainer(master, child.addr, () => child.stats());
 * unwatch();
 * await child.shutdown();
 * await master.shutdown();
 * ```
 */
export function watchContainer(
  master: object,
  addr: string,
  stats: () => Promise<ContainerStats>,
): () => void {
  let watched = children.get(master);
  if (watched === undefined) children.set(master, watched = new Map());
  watched.set(addr, stats);
  return () => {
    if (watched.get(addr) === stats) watched.delete(addr);
  };
}

/** The snapshot of `container` and of the containers it watches. */
async function inspectorSnapshot(
  container: InspectedContainer,
): Promise<InspectorSnapshot> {
  const watched = [...(children.get(container) ?? [])];
  const all = await Promise.all([
    container.stats(),
    ...watched.map(([addr, stats]) => childStats(addr, stats)),
  ]);
  const calls = all.flatMap((stats) => stats.recentCalls).sort((a, b) => a.time - b.time);
  return { containers: all.map((stats) => ({ ...stats, recentCalls: [] })), calls };
}

async function childStats(
  addr: string,
  stats: () => Promise<ContainerStats>,
): Promise<ContainerStats> {
  try {
    return await deadline(
      stats(),
      CHILD_DEADLINE,
      () => new Error(`no answer within ${CHILD_DEADLINE} s`),
    );
  } catch (error) {
    return {
      addr,
      now: Date.now(),
      clock: { time: 0, pendingTimers: null },
      agents: { count: 0, list: [] },
      connections: [],
      calls: { in: [], out: [] },
      recentCalls: [],
      error: `unreachable: ${error instanceof Error ? error.message : typeof error}`,
    };
  }
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/**
 * Serve the live view of `container` on `addr` (a TCP address; port `0`
 * picks a free one). Off loopback a `token` is required, because the view
 * shows every agent and call.
 *
 * @throws {AiomasError} for a non-TCP address, or a non-loopback one without a token.
 *
 * @example
 * ```ts
 * import { Container } from "@aiomas/aiomas/agent";
 * const container = await Container.create("tcp://127.0.0.1:0", {
 *   inspect: "tcp://127.0.0.1:0",
 * });
 * const page = await fetch(container.inspectUrl!);
 * console.log(page.status, (await page.text()).includes("aiomas live view")); // 200 true
 * await container.shutdown();
 * ```
 */
export async function startInspector(
  container: InspectedContainer,
  addr: Address,
  options: InspectorOptions = {},
): Promise<Inspector> {
  const target = parseAddress(addr);
  if (!("hostname" in target)) {
    throw new AiomasError('The live view listens on TCP only: pass inspect: "tcp://127.0.0.1:0"');
  }
  const token = options.token;
  if (!LOOPBACK.test(target.hostname) && !token) {
    throw new AiomasError(
      `The live view shows every agent and call: to serve it on ${target.hostname}, ` +
        "also pass inspectToken (a secret), or bind it to 127.0.0.1",
    );
  }
  const interval = (options.interval ?? 1) * 1000;
  // Each open event stream's way to end itself.
  const streams = new Set<() => void>();
  const abort = new AbortController();
  const encoder = new TextEncoder();

  const handler = (request: Request): Response | Promise<Response> => {
    const url = new URL(request.url);
    if (
      token
        ? !sameSecret(url.searchParams.get("token") ?? "", token)
        : !LOOPBACK.test(hostOf(request))
    ) {
      return new Response("Forbidden: pass the live view's token", { status: 403 });
    }
    if (request.method !== "GET") return new Response("Method not allowed", { status: 405 });
    switch (url.pathname) {
      case "/":
        return new Response(INSPECTOR_PAGE, {
          headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
        });
      case "/stats":
        return inspectorSnapshot(container).then((snapshot) => Response.json(snapshot));
      case "/events":
        return new Response(eventStream(), {
          headers: { "content-type": "text/event-stream", "cache-control": "no-store" },
        });
      default:
        return new Response("Not found", { status: 404 });
    }
  };

  const eventStream = () => {
    let timer: ReturnType<typeof setInterval> | undefined;
    let busy = false;
    let end: (() => void) | undefined;
    return new ReadableStream<Uint8Array>({
      start(controller) {
        end = () => {
          clearInterval(timer);
          streams.delete(end!);
          try {
            controller.close();
          } catch {
            // Already closed or cancelled.
          }
        };
        streams.add(end);
        const send = async () => {
          if (busy) return;
          busy = true;
          try {
            const data = JSON.stringify(await inspectorSnapshot(container));
            controller.enqueue(encoder.encode(`event: snapshot\ndata: ${data}\n\n`));
          } catch {
            // The stream was closed meanwhile, or a snapshot failed: try again next tick.
          } finally {
            busy = false;
          }
        };
        void send();
        timer = setInterval(send, interval);
      },
      cancel() {
        end?.();
      },
    });
  };

  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: target.hostname,
    port: target.port,
    signal: abort.signal,
    onListen: (bound) => listening.resolve(bound as Deno.NetAddr),
    onError: () => new Response("Internal error", { status: 500 }),
  }, handler);
  const bound = await listening.promise;
  const host = bound.hostname.includes(":") ? `[${bound.hostname}]` : bound.hostname;
  const query = token ? `?token=${encodeURIComponent(token)}` : "";
  return {
    url: `http://${host}:${bound.port}/${query}`,
    async close() {
      for (const end of [...streams]) end();
      abort.abort();
      await server.finished;
    },
  };
}

function hostOf(request: Request): string {
  const host = request.headers.get("host") ?? "";
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.split(":")[0]!;
  return name;
}
