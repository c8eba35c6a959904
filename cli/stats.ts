/**
 * The `stats` command: ask a container's Manager for its figures and print
 * them as tables, as JSON (`--json`), or refreshed like `top` (`--watch`).
 *
 * @module
 */

import type { ContainerStats } from "../agent/stats.ts";
import { CLIENT_OPTIONS, parse, seconds, UsageError } from "./args.ts";
import { clientSettings, singleTarget, withClient } from "./client.ts";
import { ExitCode, STATS_USAGE } from "./usage.ts";

function ms(seconds: number): string {
  return seconds < 0.001 ? `${(seconds * 1e6).toFixed(0)} µs` : `${(seconds * 1e3).toFixed(2)} ms`;
}

function table(rows: string[][], numeric: number): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) =>
    row.map((cell, i) => i >= numeric ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))
      .join("  ").trimEnd()
  ).join("\n");
}

/** The human-readable form of a container's stats. */
function formatStats(stats: ContainerStats): string {
  const lines = [
    `container ${stats.addr}  clock ${stats.clock.time.toFixed(3)} s  ` +
    `timers ${stats.clock.pendingTimers ?? "n/a"}  agents ${stats.agents.count}  ` +
    `connections ${stats.connections.length}`,
  ];
  const types = new Map<string, number>();
  for (const agent of stats.agents.list) types.set(agent.type, (types.get(agent.type) ?? 0) + 1);
  if (types.size > 0) {
    const listed = [...types].map(([type, n]) => `${n} ${type}`).join(", ");
    const more = stats.agents.count - stats.agents.list.length;
    lines.push(`agents: ${listed}${more > 0 ? ` (+${more} not listed)` : ""}`);
  }
  if (stats.connections.length > 0) {
    lines.push(
      "",
      table([
        ["link", "peer", "bytes in", "bytes out", "queued", "pending"],
        ...stats.connections.map((link) => [
          link.kind,
          link.peer,
          String(link.bytesIn),
          String(link.bytesOut),
          String(link.queuedBytes),
          String(link.pendingCalls),
        ]),
      ], 2),
    );
  }
  const calls = [
    ...stats.calls.in.map((path) => ["in", path] as const),
    ...stats.calls.out.map((path) => ["out", path] as const),
  ];
  if (calls.length > 0) {
    lines.push(
      "",
      table([
        ["", "path", "calls", "errors", "p50", "p99"],
        ...calls.map(([direction, path]) => [
          direction,
          path.path,
          String(path.count),
          String(path.errors),
          ms(path.p50),
          ms(path.p99),
        ]),
      ], 2),
    );
  }
  return lines.join("\n");
}

/** `aiomas stats`: resolves with the exit code. */
export async function statsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...CLIENT_OPTIONS,
    json: { type: "boolean" },
    watch: { type: "string" },
  }, "stats");
  if (values.help) {
    console.log(STATS_USAGE);
    return ExitCode.Ok;
  }
  const [containerAddr] = singleTarget(positionals, "stats");
  const settings = clientSettings(values, "stats", 5);
  const { timeout, token } = settings;
  const watch = seconds(values.watch, "watch", "stats");
  if (watch !== undefined && !(watch > 0)) {
    throw new UsageError("--watch takes a number of seconds > 0", "stats", 'as in "--watch 1"');
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  if (watch !== undefined) Deno.addSignalListener("SIGINT", onSignal);
  try {
    return await withClient("stats", containerAddr, settings, async (client) => {
      if (token !== undefined) {
        await client.call("agents/0/authenticate", [token], {}, { timeout });
      }
      while (true) {
        const stats = await client.call("agents/0/stats", [], {}, { timeout }) as ContainerStats;
        const text = values.json ? JSON.stringify(stats) : formatStats(stats);
        // Like top: clear the terminal and print again.
        console.log(watch !== undefined && !values.json ? `\x1b[H\x1b[2J${text}` : text);
        if (watch === undefined) return ExitCode.Ok;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, watch * 1000);
          stop.signal.addEventListener("abort", () => {
            clearTimeout(timer);
            resolve();
          }, { once: true });
        });
        if (stop.signal.aborted) return ExitCode.Ok;
      }
    });
  } finally {
    if (watch !== undefined) Deno.removeSignalListener("SIGINT", onSignal);
  }
}
