/**
 * Tests of the public surface: what `deno doc` lists for each entry point of
 * deno.json can be imported from it.
 *
 * @module
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as {
  exports: Record<string, string>;
};

interface DocSymbol {
  name: string;
  declarations: { kind: string; jsDoc?: { tags?: { kind: string }[] } }[];
}

/** The symbols `deno doc` lists for `module` (a path relative to the repository). */
async function docSymbols(module: string): Promise<DocSymbol[]> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", module],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const doc = JSON.parse(new TextDecoder().decode(stdout)) as {
    nodes: Record<string, { symbols?: DocSymbol[] }>;
  };
  return Object.values(doc.nodes).flatMap((node) => node.symbols ?? []);
}

const VALUE_KINDS = new Set(["class", "function", "variable", "enum", "namespace"]);

for (const [entry, path] of Object.entries(config.exports)) {
  Deno.test(`api: every value deno doc lists for "${entry}" can be imported from it`, async () => {
    const symbols = await docSymbols(path);
    assert.ok(symbols.length > 0);
    const module = await import(new URL(path, ROOT).href) as Record<string, unknown>;
    const missing = symbols
      .filter((symbol) => symbol.declarations.some((d) => VALUE_KINDS.has(d.kind)))
      .map((symbol) => symbol.name)
      .filter((name) => !(name in module));
    assert.deepEqual(missing, [], `listed by deno doc ${path} but not exported as values`);
  });
}

Deno.test("api: every exported function, class and constant has an @example", async () => {
  const lacking = new Set<string>();
  for (const path of Object.values(config.exports)) {
    for (const symbol of await docSymbols(path)) {
      const isValue = symbol.declarations.some((d) => VALUE_KINDS.has(d.kind));
      const hasExample = symbol.declarations.some((d) =>
        d.jsDoc?.tags?.some((tag) => tag.kind === "example")
      );
      if (isValue && !hasExample) lacking.add(`${symbol.name} (${path})`);
    }
  }
  assert.deepEqual([...lacking], [], "docs/api.md promises an example for each of these");
});
