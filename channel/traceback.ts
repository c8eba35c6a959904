/**
 * Turning errors into the traceback text of an `EXCEPTION` frame. Python
 * aiomas sends `traceback.format_exception(...)` output, whose last line is
 * `Type: message`; we send the JavaScript stack in the same shape, so Python
 * and Deno users both read a familiar error.
 *
 * A traceback goes to a peer, so by default it carries no local file paths:
 * frames in the working directory (the project) are shown relative to it,
 * frames of aiomas itself, of the runtime and elsewhere on the machine are
 * dropped, and the working directory and aiomas' location are shortened in
 * the message too. The `fullTracebacks` channel option sends full ones.
 *
 * @module
 */

import { NotExposedError } from "../errors.ts";

/** Options of {@linkcode formatTraceback}. */
export interface TracebackOptions {
  /** Keep every frame with its full location (default `false`). */
  full?: boolean | undefined;
}

const LIBRARY_ROOT = new URL("../", import.meta.url).href;
const LIBRARY_DIRS = ["agent/", "channel/", "rpc/", "codecs/", "clocks/", "cli/"];
const LIBRARY_FILES = ["mod.ts", "errors.ts", "cli.ts"];

/**
 * Whether `url` is one of aiomas' own modules (its layers and root modules,
 * not its tests, docs or examples) below `root`, the library's directory URL.
 * @internal
 */
export function isLibraryUrl(url: string, root: string = LIBRARY_ROOT): boolean {
  if (!url.startsWith(root)) return false;
  const rest = url.slice(root.length);
  return LIBRARY_DIRS.some((dir) => rest.startsWith(dir)) ||
    LIBRARY_FILES.some((file) => rest === file || rest.startsWith(`${file}:`));
}

/**
 * The `file:` URL of an absolute path, encoded as Deno encodes
 * `import.meta.url` (so a module imported by both keeps one identity).
 * @internal
 */
export function pathToFileUrl(path: string): string {
  const windows = /^[a-zA-Z]:[\\/]/.test(path);
  const escaped = path.replaceAll("%", "%25").replaceAll("\n", "%0A").replaceAll("\r", "%0D")
    .replaceAll("\t", "%09");
  const url = new URL("file:///");
  // A backslash separates on Windows and is an ordinary character elsewhere.
  url.pathname = windows ? `/${escaped.replaceAll("\\", "/")}` : escaped.replaceAll("\\", "%5C");
  return url.href;
}

/** The working directory as a `file:` URL and a path, both ending in `/`; `undefined` if unknown. */
function project(): { url: string; path: string } | undefined {
  try {
    const cwd = Deno.cwd();
    const slash = cwd.endsWith("/") || cwd.endsWith("\\") ? "" : "/";
    return { url: `${pathToFileUrl(cwd).replace(/\/$/, "")}/`, path: `${cwd}${slash}` };
  } catch {
    return undefined; // no read permission: every local path is dropped
  }
}

const LOCATION = /\b(?:file:\/\/|https?:\/\/|jsr:|npm:|ext:|node:)[^\s()]*/;

/** A stack frame as a peer may see it, or `undefined` to drop it. */
function shortFrame(frame: string, root: { url: string } | undefined): string | undefined {
  const location = LOCATION.exec(frame)?.[0];
  if (location === undefined) return undefined; // <anonymous>, native
  if (isLibraryUrl(location)) return undefined;
  if (location.startsWith("file:")) {
    if (root === undefined || !location.startsWith(root.url)) return undefined;
    return frame.replace(root.url, "");
  }
  if (location.startsWith("ext:") || location.startsWith("node:")) return undefined;
  return frame; // a remote module: its URL is public anyway
}

function shortMessage(message: string, root: { url: string; path: string } | undefined): string {
  let text = root === undefined
    ? message
    : message.replaceAll(root.url, "").replaceAll(root.path, "");
  text = text.replaceAll(LIBRARY_ROOT, "aiomas/");
  if (LIBRARY_ROOT.startsWith("file:")) {
    text = text.replaceAll(decodeURIComponent(new URL(LIBRARY_ROOT).pathname), "aiomas/");
  }
  return text;
}

/**
 * Format `error` as a Python-style traceback ending in `Type: message\n`.
 * `NotExposedError` is sent as Python's `LookupError`. Without
 * `{ full: true }`, local file paths are left out (see the module's
 * description).
 *
 * @example
 * ```ts
 * import { formatTraceback } from "@aiomas/aiomas/channel";
 * const text = formatTraceback(new TypeError("boom"));
 * console.log(text.endsWith("TypeError: boom\n")); // true
 * console.log(text.includes("file://")); // false
 * ```
 */
export function formatTraceback(error: unknown, options: TracebackOptions = {}): string {
  if (!(error instanceof Error)) return `Error: ${String(error)}\n`;
  const type = error instanceof NotExposedError ? "LookupError" : error.name || "Error";
  const root = options.full ? undefined : project();
  const rawMessage = String(error.message).replaceAll("\n", " ");
  const message = options.full ? rawMessage : shortMessage(rawMessage, root);
  const frames: string[] = [];
  for (const line of String(error.stack ?? "").split("\n")) {
    if (!/^\s+at /.test(line)) continue;
    const frame = options.full ? line : shortFrame(line, root);
    if (frame !== undefined) frames.push(frame);
  }
  const head = frames.length > 0
    ? `Traceback (most recent call last):\n${frames.reverse().join("\n")}\n`
    : "";
  return `${head}${type}: ${message}\n`;
}
