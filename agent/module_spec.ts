/**
 * Module specs (`"./agents.ts#Battery"`) and the spawn policy of a
 * {@linkcode Manager}: which modules a peer may make a container import, and
 * which of their exports it may run.
 *
 * A spec's module is checked as the URL that `import()` really loads: for a
 * `file:` URL, the percent-decoded path with every symbolic link and `..`
 * resolved by the file system (`Deno.realPath`). The Manager then imports
 * exactly that canonical URL, so no spelling (`..`, `%2e%2e/`, `.%2E/`,
 * `..%2f`) and no symbolic link leads out of the allowed directories. What
 * remains is the race every file-system check has: someone who can replace a
 * directory inside an allowed root between the check and the import can
 * already put code there.
 *
 * Only `Agent` subclasses and functions marked with
 * {@linkcode agentFactory} can be spawned.
 *
 * @module
 */

import { isLibraryUrl, pathToFileUrl } from "../channel/traceback.ts";
import { AiomasError } from "../errors.ts";
import { Agent } from "./agent.ts";
import type { Container } from "./container.ts";

const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]+:/;
const WINDOWS_DRIVE = /^[a-zA-Z]:[\\/]/;

/** A spec split into its module's absolute URL and the export's name. */
export interface ResolvedSpec {
  /** The module's absolute URL (not yet canonical). */
  url: string;
  /** The export's name (`"default"` for a spec without `#`). */
  name: string;
}

/** The path of a `file:` URL, percent-decoded; `undefined` for another host or a bad escape. */
function fileUrlToPath(url: URL): string | undefined {
  if (url.hostname !== "" && url.hostname !== "localhost") return undefined;
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return undefined;
  }
  if (path.includes("\0")) return undefined;
  return Deno.build.os === "windows" && /^\/[a-zA-Z]:/.test(path) ? path.slice(1) : path;
}

function cwdUrl(): string {
  return `${pathToFileUrl(Deno.cwd())}/`;
}

/**
 * Split a module spec into the module's absolute URL and the export's name.
 * A module with a URL scheme is taken as a URL; a path is resolved against
 * the current working directory.
 */
export function resolveSpec(spec: string): ResolvedSpec {
  if (typeof spec !== "string" || spec === "") {
    throw new TypeError(
      `A module spec must be a string like "./agents.ts#Battery", got ${
        spec === "" ? "an empty string" : typeof spec
      }`,
    );
  }
  const hash = spec.lastIndexOf("#");
  const module = hash < 0 ? spec : spec.slice(0, hash);
  const name = hash < 0 ? "default" : spec.slice(hash + 1);
  const url = SCHEME.test(module) && !WINDOWS_DRIVE.test(module)
    ? module
    : new URL(module.replaceAll("\\", "/"), cwdUrl()).href;
  return { url, name };
}

function notFound(url: string): AiomasError {
  return new AiomasError(`Module ${url} does not exist (or cannot be read): check the spec`);
}

/**
 * The URL `import()` really loads for `url`: for a `file:` URL, the real path
 * of the file (percent-decoded, `..` and symbolic links resolved) as a `file:`
 * URL; any other URL normalized by the URL parser.
 *
 * @throws {AiomasError} when a `file:` module does not exist.
 *
 * @example
 * ```ts
 * import { canonicalModule } from "@aiomas/aiomas/agent";
 * const dir = await Deno.realPath(await Deno.makeTempDir());
 * await Deno.mkdir(`${dir}/sub`);
 * await Deno.writeTextFile(`${dir}/a.ts`, "export {};");
 * console.log(await canonicalModule(`file://${dir}/sub/..%2fa.ts`) === `file://${dir}/a.ts`); // true
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function canonicalModule(url: string): Promise<string> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`Invalid module URL "${url}"`);
  }
  if (parsed.protocol !== "file:") return parsed.href;
  const path = fileUrlToPath(parsed);
  if (path === undefined) throw notFound(url);
  try {
    return pathToFileUrl(await Deno.realPath(path));
  } catch {
    throw notFound(url);
  }
}

/**
 * Like {@linkcode canonicalModule}, but synchronous, and a file that does not
 * exist (yet) is canonical by its real directory; `undefined` if that fails.
 */
function canonicalModuleSync(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== "file:") return parsed.href;
  const path = fileUrlToPath(parsed);
  if (path === undefined) return undefined;
  try {
    return pathToFileUrl(Deno.realPathSync(path));
  } catch {
    const slash = path.lastIndexOf("/");
    const base = path.slice(slash + 1);
    if (slash <= 0 || base === "" || base === "." || base === "..") return undefined;
    try {
      return pathToFileUrl(`${Deno.realPathSync(path.slice(0, slash))}/${base}`);
    } catch {
      return undefined;
    }
  }
}

const LIBRARY_ROOT = new URL("../", import.meta.url);
let libraryRoot: string | undefined;

/**
 * Whether `url` (canonical) is one of this library's own modules (its layers
 * and root modules, not its tests, docs or examples).
 */
function isLibraryModule(url: string): boolean {
  libraryRoot ??= LIBRARY_ROOT.protocol === "file:"
    ? canonicalModuleSync(LIBRARY_ROOT.href)?.replace(/\/?$/, "/")
    : LIBRARY_ROOT.href;
  return libraryRoot !== undefined && isLibraryUrl(url, libraryRoot);
}

/**
 * The Manager's default spawn policy: only modules of the project, that is
 * `file:` modules whose real path (symbolic links and `..` resolved) lies
 * inside the current working directory's real path, and none of this
 * library's own modules; never code a peer could have put on a web server
 * or elsewhere on the machine.
 *
 * @example
 * ```ts
 * import { isLocalModule } from "@aiomas/aiomas/agent";
 * const here = new URL("agents.ts", `file://${Deno.cwd()}/`).href;
 * console.log(isLocalModule(here)); // true
 * console.log(isLocalModule(new URL("../../../../tmp/evil.ts", here).href)); // false
 * console.log(isLocalModule("https://example.com/agents.ts")); // false
 * ```
 */
export function isLocalModule(moduleUrl: string): boolean {
  const url = canonicalModuleSync(moduleUrl);
  if (url === undefined || !url.startsWith("file:")) return false;
  const cwd = canonicalModuleSync(cwdUrl())?.replace(/\/?$/, "/");
  return cwd !== undefined && url.startsWith(cwd) && !isLibraryModule(url);
}

/**
 * Import `url`, which must be canonical, and return its export `name`.
 *
 * @throws {TypeError} when the module has no such export.
 */
export async function importExport(url: string, name: string, spec: string): Promise<unknown> {
  const namespace = await import(url) as Record<string, unknown>;
  if (!Object.hasOwn(namespace, name)) {
    throw new TypeError(
      `Module ${url} has no export "${name}" (from spec "${spec}"); ` +
        `its exports are: ${Object.keys(namespace).join(", ") || "none"}`,
    );
  }
  return namespace[name];
}

/**
 * Import what a module spec names: `"<module>#<export>"` (the default export
 * without `#`). A module with a URL scheme (`file:`, `https:`, `jsr:`,
 * `npm:`) is imported as is; a path is resolved against the current working
 * directory. This is for specs the program trusts: it applies no policy
 * (a Manager checks peers' specs first, see {@linkcode isLocalModule}).
 *
 * @throws {TypeError} when the module has no such export.
 *
 * @example
 * ```ts
 * import { importSpec } from "@aiomas/aiomas/agent";
 * const JsonCodec = await importSpec(new URL("../codecs/json.ts", import.meta.url).href + "#JsonCodec");
 * console.log(typeof JsonCodec); // function
 * ```
 */
export function importSpec(spec: string): Promise<unknown> {
  const { url, name } = resolveSpec(spec);
  return importExport(url, name, spec);
}

const FACTORY = Symbol.for("aiomas.agentFactory");

/** A function that makes an agent in `container` (see {@linkcode agentFactory}). */
export type AgentFactory<A extends unknown[] = never[]> = (
  container: Container,
  ...args: A
) => Agent | Promise<Agent>;

/**
 * Mark `fn` as an agent factory, so a Manager may call it in `spawn()`:
 * `await fn(container, ...args)` must return an `Agent` of that container.
 * Only `Agent` subclasses and functions marked this way can be spawned, so
 * no other export of a module (and nothing of this library) can be run by a
 * peer. Returns `fn` itself.
 *
 * @example
 * ```ts
 * import { Agent, agentFactory, type Container, isAgentFactory } from "@aiomas/aiomas/agent";
 *
 * export const makeAgent = agentFactory(async (container: Container, name: string) => {
 *   await Promise.resolve(); // e.g. load its data first
 *   return new Agent(container, name);
 * });
 * console.log(isAgentFactory(makeAgent)); // true
 * ```
 */
export function agentFactory<F extends (container: Container, ...args: never[]) => unknown>(
  fn: F,
): F {
  if (typeof fn !== "function") throw new TypeError("agentFactory() takes a function");
  Object.defineProperty(fn, FACTORY, { value: true });
  return fn;
}

/**
 * Whether `value` is a function marked with {@linkcode agentFactory}.
 *
 * @example
 * ```ts
 * import { isAgentFactory } from "@aiomas/aiomas/agent";
 * console.log(isAgentFactory(() => null)); // false
 * ```
 */
export function isAgentFactory(value: unknown): boolean {
  return typeof value === "function" &&
    (value as unknown as Record<symbol, unknown>)[FACTORY] === true;
}

/** Whether `value` is a subclass of `Agent` (and not `Agent` itself). */
export function isAgentClass(value: unknown): value is new (...args: unknown[]) => Agent {
  return typeof value === "function" && value.prototype instanceof Agent;
}
