/**
 * Issue 19.11: the codecs type-check in a project that turns on
 * `noUncheckedIndexedAccess` and `exactOptionalPropertyTypes`.
 */
import assert from "node:assert/strict";

Deno.test("codecs type-check with noUncheckedIndexedAccess and exactOptionalPropertyTypes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = `${dir}/deno.json`;
    await Deno.writeTextFile(
      config,
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noImplicitReturns: true,
          noImplicitOverride: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
        },
      }),
    );
    const root = new URL("../", import.meta.url);
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", config, "codecs/mod.ts", "agent/dates.ts"],
      cwd: root,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
