/**
 * Addresses of channels and containers: objects (`{ hostname, port }`,
 * `{ path }`, `{ local }`) and URL strings (`tcp://host:port`, `unix://path`,
 * `ipc://[path]`, `local://name`), as SPEC section 2 describes them.
 *
 * @module
 */

/** A TCP address. Port `0` asks the OS for a free port. */
export interface TcpAddress {
  /** Host name or IP literal, such as `"127.0.0.1"`. */
  hostname: string;
  /** Port number; `0` binds any free port. */
  port: number;
}

/** A Unix domain socket address. */
export interface UnixAddress {
  /** File system path of the socket. */
  path: string;
}

/** The address of an in-process listener (`local://<name>`), see `listenLocal()`. */
export interface LocalAddress {
  /** The listener's name: not empty, no `/`. */
  local: string;
}

/** An address as users write it: an object or a URL string. */
export type Address = TcpAddress | UnixAddress | LocalAddress | string;

/** A parsed address: always an object. */
export type ResolvedAddress = TcpAddress | UnixAddress | LocalAddress;

const LOCAL_NAME = /^[^/\s]+$/;

/**
 * Parse an address given as an object or as a `tcp://host:port`,
 * `unix://path`, `ipc://[path]` or `local://name` URL. A trailing `/` (and
 * agent id after it, for TCP and local addresses) is ignored.
 *
 * @example
 * ```ts
 * import { parseAddress } from "@aiomas/aiomas/channel";
 * console.log(parseAddress("tcp://127.0.0.1:5555/")); // { hostname: "127.0.0.1", port: 5555 }
 * console.log(parseAddress("ipc://[run/agents.sock]/0")); // { path: "run/agents.sock" }
 * console.log(parseAddress("local://sim/0")); // { local: "sim" }
 * ```
 */
export function parseAddress(addr: Address): ResolvedAddress {
  if (typeof addr !== "string") {
    if ("local" in addr && typeof addr.local === "string" && LOCAL_NAME.test(addr.local)) {
      return { local: addr.local };
    }
    if ("path" in addr && typeof addr.path === "string") return { path: addr.path };
    if ("hostname" in addr && Number.isInteger(addr.port) && addr.port >= 0 && addr.port < 65536) {
      return { hostname: addr.hostname, port: addr.port };
    }
    throw new TypeError(
      `Invalid address ${JSON.stringify(addr)}: use { hostname, port }, { path } or { local }`,
    );
  }
  const ipc = /^(?:ipc|unix):\/\/\[(.+)\](?:\/.*)?$/.exec(addr);
  if (ipc) return { path: ipc[1]! };
  if (addr.startsWith("unix://")) return { path: addr.slice("unix://".length) };
  const local = /^local:\/\/([^/\s]+)(?:\/.*)?$/.exec(addr);
  if (local) return { local: local[1]! };
  const tcp = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)(?:\/.*)?$/.exec(addr);
  if (tcp) {
    const port = Number(tcp[2]!);
    if (port < 65536) return { hostname: tcp[1]!.replace(/^\[|\]$/g, ""), port };
  }
  throw new TypeError(
    `Invalid address "${addr}": use "tcp://host:port", "unix://path", "ipc://[path]" ` +
      'or "local://name"',
  );
}

/**
 * Format an address as a URL without a trailing slash: `tcp://host:port`,
 * `ipc://[path]` (Python aiomas' form for Unix sockets) or `local://name`.
 *
 * @example
 * ```ts
 * import { formatAddress } from "@aiomas/aiomas/channel";
 * console.log(formatAddress({ hostname: "::1", port: 80 })); // tcp://[::1]:80
 * ```
 */
export function formatAddress(addr: Address): string {
  const resolved = parseAddress(addr);
  if ("local" in resolved) return `local://${resolved.local}`;
  if ("path" in resolved) return `ipc://[${resolved.path}]`;
  const host = resolved.hostname.includes(":") ? `[${resolved.hostname}]` : resolved.hostname;
  return `tcp://${host}:${resolved.port}`;
}
