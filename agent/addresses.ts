/**
 * Agent and container addresses as the agent layer reads and writes them:
 * {@linkcode splitAgentAddress} (public), and the checks and formatting
 * `Container.create` applies to the address it listens on.
 *
 * @module
 */

import {
  type Address,
  formatAddress,
  parseAddress,
  type ResolvedAddress,
} from "../channel/address.ts";
import { describe } from "../codecs/describe.ts";
import { AddressError } from "../errors.ts";

/**
 * Split `tcp://host:port/aid` into the container's address (with `/`) and the id.
 *
 * @example
 * ```ts
 * import { splitAgentAddress } from "@aiomas/aiomas/agent";
 * console.log(splitAgentAddress("tcp://127.0.0.1:5555/3")); // [ "tcp://127.0.0.1:5555/", "3" ]
 * ```
 */
export function splitAgentAddress(addr: string): [container: string, aid: string] {
  if (typeof addr !== "string") {
    throw new AddressError(
      `An agent address is a string such as "tcp://127.0.0.1:5555/0", not ${describe(addr)}`,
    );
  }
  const scheme = /^[a-z]+:\/\//.exec(addr);
  // The container part ends after "]" for "ipc://[path]", else at the first "/" after "://".
  const end = scheme === null
    ? -1
    : addr[scheme[0].length] === "["
    ? addr.indexOf("]", scheme[0].length) + 1
    : addr.indexOf("/", scheme[0].length);
  if (scheme === null || end === 0 || end === scheme[0].length) {
    throw new AddressError(
      `Invalid agent address "${addr}": expected "tcp://host:port/<id>" or "ipc://[path]/<id>"`,
    );
  }
  if (end < 0 || end >= addr.length || addr[end] !== "/" || end === addr.length - 1) {
    const container = end < 0 ? addr : addr.slice(0, end);
    throw new AddressError(
      `"${addr}" has no agent id: an agent address is the container's address, "/" and the ` +
        `agent's id, as in "${container}/0"`,
    );
  }
  const aid = addr.slice(end + 1);
  if (aid.includes("/")) {
    throw new AddressError(
      `Invalid agent address "${addr}": an agent id has no "/"; expected "${
        addr.slice(0, end)
      }/<id>"`,
    );
  }
  return [addr.slice(0, end + 1), aid];
}

/**
 * Check the address given to `Container.create`: defined, a valid address, and
 * (as a string) a container's address without an agent id.
 */
export function checkContainerAddress(addr: unknown): Address {
  if (typeof addr !== "string" && (typeof addr !== "object" || addr === null)) {
    throw new AddressError(
      `Container.create needs the address to listen on, such as "tcp://127.0.0.1:5555" ` +
        `(port 0 picks a free port) or { hostname: "127.0.0.1", port: 0 }; got ${describe(addr)}`,
    );
  }
  try {
    parseAddress(addr as Address);
  } catch (error) {
    throw new AddressError((error as Error).message, { cause: error });
  }
  if (typeof addr === "string" && !addr.startsWith("unix://")) {
    const path = /^[a-z]+:\/\/(?:\[[^\]]*\]|[^/]*)(\/.*)?$/.exec(addr)?.[1];
    if (path !== undefined && path !== "/") {
      const container = addr.slice(0, addr.length - path.length);
      throw new AddressError(
        `"${addr}" is an agent address, not a container's: a container listens on ` +
          `"${container}" and numbers its agents itself`,
      );
    }
  }
  return addr as Address;
}

/** A container's address: the bound address, with the host name for wildcard binds. */
export function advertisedAddress(bound: ResolvedAddress): string {
  if ("hostname" in bound && (bound.hostname === "0.0.0.0" || bound.hostname === "::")) {
    return `${formatAddress({ hostname: Deno.hostname(), port: bound.port })}/`;
  }
  return `${formatAddress(bound)}/`;
}
