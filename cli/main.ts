/**
 * The command dispatcher: `main(args)` and `run(args)` for the entry points.
 *
 * @module
 */

import { lookup, UsageError } from "./args.ts";
import { callCommand, pingCommand } from "./call.ts";
import { serveCommand } from "./serve.ts";
import { statsCommand } from "./stats.ts";
import {
  CALL_USAGE,
  ExitCode,
  PING_USAGE,
  PROGRAM,
  SERVE_USAGE,
  STATS_USAGE,
  TOP_USAGE,
} from "./usage.ts";

/**
 * Run the command line with `args` (without the program name) and resolve
 * with the exit code (see {@linkcode ExitCode}). Output goes to stdout and
 * stderr; `serve` resolves once it was stopped by SIGINT or SIGTERM.
 *
 * @example
 * ```ts
 * import { main } from "@aiomas/aiomas/cli";
 * console.log(await main(["--help"])); // 0 (after printing the usage)
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "serve":
        return await serveCommand(rest);
      case "call":
        return await callCommand(rest);
      case "ping":
        return await pingCommand(rest);
      case "stats":
        return await statsCommand(rest);
      case "-h":
      case "--help":
        console.log(TOP_USAGE);
        return ExitCode.Ok;
      case "help": {
        const usage = lookup(
          { serve: SERVE_USAGE, call: CALL_USAGE, ping: PING_USAGE, stats: STATS_USAGE },
          rest[0] ?? "",
        );
        console.log(usage ?? TOP_USAGE);
        return ExitCode.Ok;
      }
      case undefined:
        throw new UsageError("no command given", "", "use serve, call, ping or stats");
      default:
        throw new UsageError(
          `unknown command "${command}"`,
          "",
          "use serve, call, ping or stats",
        );
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(error.text);
    return ExitCode.Usage;
  }
}

/** `main`, reporting an unexpected error in one line instead of a stack trace (exit 1). */
export async function run(args: string[]): Promise<number> {
  try {
    return await main(args);
  } catch (error) {
    console.error(`${PROGRAM}: ${error instanceof Error ? error.message : String(error)}`);
    return ExitCode.Failure;
  }
}
