/**
 * The library type-checks in a project that turns on the strictest flags
 * (`noUncheckedIndexedAccess`, `exactOptionalPropertyTypes`), as when it is
 * vendored into one. Tests and benchmarks are not part of this promise.
 * `deno task check` runs the same check.
 *
 * @module
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

Deno.test("strict: the library type-checks with noUncheckedIndexedAccess and exactOptionalPropertyTypes", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
    compilerOptions: Record<string, unknown>;
    exports: Record<string, string>;
  };
  const strict = JSON.parse(
    await Deno.readTextFile(new URL("tests/strict_config.json", ROOT)),
  ) as { compilerOptions: Record<string, unknown> };
  // The strict configuration is the project's, plus the two flags.
  assert.deepEqual(strict.compilerOptions, {
    ...config.compilerOptions,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
  });
  // Every entry point, plus the modules that only run as a worker or process child.
  const modules = [...Object.values(config.exports), "./cli.ts", "./agent/container_main.ts"];
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", "--config", "tests/strict_config.json", ...modules],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
});
