/**
 * Compatibility entry point: the command line moved to `cli/mod.ts`
 * (still exported as `@aiomas/aiomas/cli`). `deno run -A cli.ts ...` in a
 * checkout keeps working.
 *
 * @example
 * ```ts
 * import { ExitCode } from "./cli.ts";
 * console.log(ExitCode.Usage); // 64
 * ```
 *
 * @deprecated Import `@aiomas/aiomas/cli` or run `deno task cli`.
 * @module
 */

import { run } from "./cli/main.ts";

export * from "./cli/mod.ts";

if (import.meta.main) {
  // Exit explicitly: agents may leave timers behind that would keep the process alive.
  Deno.exit(await run(Deno.args));
}
