/**
 * The `aiomas` command line: serve agents from a module, call an exposed
 * method of a remote agent, ping a container, and print its figures.
 *
 * ```sh
 * deno run -A jsr:@aiomas/aiomas/cli serve tcp://127.0.0.1:5555 --agent ./agents.ts#Calculator
 * deno run -A jsr:@aiomas/aiomas/cli call tcp://127.0.0.1:5555/1 add 1 2    # prints 3
 * deno run -A jsr:@aiomas/aiomas/cli ping tcp://127.0.0.1:5555/
 * ```
 *
 * Commands (each takes `--help`):
 *
 * - `serve ADDR --agent ./file.ts#Class [--count N]`: start a container on
 *   `ADDR` whose first agent (id `0`) is a `Manager` (`spawn`, `setTime`,
 *   `stop`), create `N` agents of the class (the module's default export
 *   without `#Class`; ids `1`, `2`, ...), print their addresses one per line
 *   on stdout, log connections and errors on stderr, and stop cleanly on
 *   SIGINT, SIGTERM or the Manager's `stop()`.
 * - `call AGENT_ADDR METHOD [ARGS...] [--kw key=value]...`: call an exposed
 *   method and print its result as JSON. Each argument and keyword value is
 *   read as JSON if it parses, else as a string.
 * - `ping ADDR`: print the round-trip time of a `validate_aid` call.
 * - `stats ADDR [--json] [--watch S]`: print the figures of the container's
 *   Manager (agents, connections, calls by path), once or like `top`.
 *
 * Exit codes: see {@linkcode ExitCode}.
 *
 * `call`, `ping` and `stats` open one plain RPC connection (no client container): it
 * registers the date serializer first, as a container does, so custom-type
 * ids match the container's.
 *
 * @example Running the command line from code
 * ```ts
 * import { main } from "@aiomas/aiomas/cli";
 * const code = await main(["call", "--help"]); // prints the usage of `call`
 * console.log(code); // 0
 * ```
 *
 * @module
 */

import { run } from "./main.ts";

export { main } from "./main.ts";
export { ExitCode } from "./usage.ts";
export { parseValue } from "./args.ts";
export { formatResult } from "./output.ts";

if (import.meta.main) {
  // Exit explicitly: agents may leave timers behind that would keep the process alive.
  Deno.exit(await run(Deno.args));
}
